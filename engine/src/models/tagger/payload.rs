//! A tagger version's files: `candidates.parquet` (per cluster, its
//! candidate units), and for a tagger learned from texts `units.parquet`
//! (phrases and how many texts hold each unit) and `pairs.parquet` (how
//! many texts hold each pair of units). Reading checks every id against
//! the models, so a damaged file is an error that names it.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema, UInt32Type};
use datafusion::common::{DataFusionError, Result};

use super::Candidate;
use super::associations::{Associations, Phrase, unordered_key};
use crate::store::objects::{parquet_batches, parquet_bytes};

pub const CANDIDATES_FILE: &str = "candidates.parquet";
pub const UNITS_FILE: &str = "units.parquet";
pub const PAIRS_FILE: &str = "pairs.parquet";
/// Per cluster its commonest tags, and sample texts with their tags, of a
/// tagger learned from texts: what `quiver report` shows.
pub const REPORT_FILE: &str = "report.json";

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<Vec<u8>> {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    parquet_bytes(&batch)
}

/// The candidate lists, with each unit's text from `text`.
pub fn lists_to_parquet(lists: &[Vec<Candidate>], text: impl Fn(u32) -> String) -> Result<Vec<u8>> {
    let (mut cluster, mut rank, mut unit, mut word, mut sim, mut support) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (c, list) in lists.iter().enumerate() {
        for (r, cand) in list.iter().enumerate() {
            cluster.push(c as u32);
            rank.push(r as u32 + 1);
            unit.push(cand.unit);
            word.push(text(cand.unit));
            sim.push(cand.similarity);
            support.push(cand.support);
        }
    }
    batch(
        vec![
            Field::new("cluster_id", DataType::UInt32, false),
            Field::new("rank", DataType::UInt32, false),
            Field::new("word_id", DataType::UInt32, false),
            Field::new("word", DataType::Utf8, false),
            Field::new("similarity", DataType::Float32, false),
            Field::new("support", DataType::UInt32, false),
        ],
        vec![
            Arc::new(UInt32Array::from(cluster)),
            Arc::new(UInt32Array::from(rank)),
            Arc::new(UInt32Array::from(unit)),
            Arc::new(StringArray::from(word)),
            Arc::new(Float32Array::from(sim)),
            Arc::new(UInt32Array::from(support)),
        ],
    )
}

fn bad(file: &str, why: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("tagger model file {file}: {why}"))
}

/// Reads a file's batches and hands each to `f` with a column getter.
fn each_batch(
    bytes: bytes::Bytes,
    file: &str,
    mut f: impl FnMut(&dyn Fn(&str) -> Result<ArrayRef>, usize) -> Result<()>,
) -> Result<()> {
    for batch in parquet_batches(bytes).map_err(|e| bad(file, e))? {
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(file, format!("no column {name}")))
        };
        f(&col, batch.num_rows())?;
    }
    Ok(())
}

fn u32s(a: &ArrayRef, name: &str, file: &str) -> Result<UInt32Array> {
    a.as_primitive_opt::<UInt32Type>()
        .cloned()
        .ok_or_else(|| bad(file, format!("column {name} is not UInt32")))
}

/// Reads lists written by [`lists_to_parquet`] (or by taggers made before
/// the `support` column existed), checking ids against `k` clusters and
/// `units` units.
pub fn lists_from_parquet(
    bytes: bytes::Bytes,
    k: usize,
    units: usize,
    file: &str,
) -> Result<Vec<Vec<Candidate>>> {
    let mut lists = vec![Vec::new(); k];
    each_batch(bytes, file, |col, rows| {
        let c = u32s(&col("cluster_id")?, "cluster_id", file)?;
        let id = u32s(&col("word_id")?, "word_id", file)?;
        let s = col("similarity")?;
        let s = s
            .as_primitive_opt::<Float32Type>()
            .ok_or_else(|| bad(file, "column similarity is not Float32"))?;
        let support = match col("support") {
            Ok(a) => Some(u32s(&a, "support", file)?),
            Err(_) => None,
        };
        for i in 0..rows {
            let (c, unit) = (c.value(i) as usize, id.value(i));
            if c >= k || unit as usize >= units {
                return Err(bad(
                    file,
                    format!("row {i} names cluster {c} or unit {unit}, beyond the models"),
                ));
            }
            lists[c].push(Candidate {
                unit,
                similarity: s.value(i),
                support: support.as_ref().map_or(0, |a| a.value(i)),
            });
        }
        Ok(())
    })?;
    Ok(lists)
}

/// `units.parquet` and `pairs.parquet` of learned associations.
pub fn associations_to_parquet(a: &Associations) -> Result<(Vec<u8>, Vec<u8>)> {
    let (mut id, mut first, mut second, mut hyphen, mut texts, mut ends) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let ends_of = |u: u32| a.ends.get(u as usize).copied();
    for (u, &df) in a.df.iter().enumerate().take(a.vocabulary as usize) {
        if df > 0 {
            id.push(u as u32);
            first.push(None);
            second.push(None);
            hyphen.push(false);
            texts.push(df);
            ends.push(ends_of(u as u32));
        }
    }
    for (i, p) in a.phrases.iter().enumerate() {
        let u = a.vocabulary + i as u32;
        id.push(u);
        first.push(Some(p.first));
        second.push(Some(p.second));
        hyphen.push(p.hyphen);
        texts.push(a.df(u));
        ends.push(ends_of(u));
    }
    let units = batch(
        vec![
            Field::new("unit_id", DataType::UInt32, false),
            Field::new("first", DataType::UInt32, true),
            Field::new("second", DataType::UInt32, true),
            Field::new("hyphen", DataType::Boolean, false),
            Field::new("texts", DataType::UInt32, false),
            Field::new("ends", DataType::UInt32, true),
        ],
        vec![
            Arc::new(UInt32Array::from(id)),
            Arc::new(UInt32Array::from(first)),
            Arc::new(UInt32Array::from(second)),
            Arc::new(BooleanArray::from(hyphen)),
            Arc::new(UInt32Array::from(texts)),
            Arc::new(UInt32Array::from(ends)),
        ],
    )?;
    let (mut x, mut y, mut n) = (vec![], vec![], vec![]);
    for &(key, count) in &a.pairs {
        x.push((key >> 32) as u32);
        y.push(key as u32);
        n.push(count);
    }
    let pairs = batch(
        vec![
            Field::new("a", DataType::UInt32, false),
            Field::new("b", DataType::UInt32, false),
            Field::new("texts", DataType::UInt32, false),
        ],
        vec![
            Arc::new(UInt32Array::from(x)),
            Arc::new(UInt32Array::from(y)),
            Arc::new(UInt32Array::from(n)),
        ],
    )?;
    Ok((units, pairs))
}

/// Reads what [`associations_to_parquet`] wrote (or wrote before the
/// `ends` column existed: no ends then), for a tagger learned from
/// `texts` texts over a vocabulary of `vocabulary` words.
pub fn associations_from_parquet(
    units: bytes::Bytes,
    pairs: bytes::Bytes,
    texts: u64,
    vocabulary: u32,
    files: (&str, &str),
) -> Result<Associations> {
    let (uf, pf) = files;
    let mut df = vec![0u32; vocabulary as usize];
    let mut ends = vec![0u32; vocabulary as usize];
    let mut counted = true;
    let mut phrases = Vec::new();
    each_batch(units, uf, |col, rows| {
        let id = u32s(&col("unit_id")?, "unit_id", uf)?;
        let first = u32s(&col("first")?, "first", uf)?;
        let second = u32s(&col("second")?, "second", uf)?;
        let hyphen = col("hyphen")?;
        let hyphen = hyphen
            .as_boolean_opt()
            .ok_or_else(|| bad(uf, "column hyphen is not Boolean"))?;
        let n = u32s(&col("texts")?, "texts", uf)?;
        let e = match col("ends") {
            Ok(a) => Some(u32s(&a, "ends", uf)?),
            Err(_) => None,
        };
        for i in 0..rows {
            let u = id.value(i);
            let end = e.as_ref().filter(|e| e.is_valid(i)).map(|e| e.value(i));
            counted &= end.is_some();
            if end.is_some_and(|end| end > n.value(i)) {
                return Err(bad(
                    uf,
                    format!("row {i}: unit {u} ends more texts than hold it"),
                ));
            }
            let end = end.unwrap_or(0);
            if u < vocabulary {
                df[u as usize] = n.value(i);
                ends[u as usize] = end;
                continue;
            }
            let (a, b) = (first.value(i), second.value(i));
            if u != vocabulary + phrases.len() as u32
                || first.is_null(i)
                || second.is_null(i)
                || a >= vocabulary
                || b >= vocabulary
            {
                return Err(bad(
                    uf,
                    format!(
                        "row {i}: phrase {u} is out of order or names words beyond the vocabulary"
                    ),
                ));
            }
            phrases.push(Phrase {
                first: a,
                second: b,
                hyphen: hyphen.value(i),
            });
            df.push(n.value(i));
            ends.push(end);
        }
        Ok(())
    })?;
    if !counted {
        ends.clear();
    }
    let all = vocabulary as usize + phrases.len();
    let mut map = Vec::new();
    each_batch(pairs, pf, |col, rows| {
        let a = u32s(&col("a")?, "a", pf)?;
        let b = u32s(&col("b")?, "b", pf)?;
        let n = u32s(&col("texts")?, "texts", pf)?;
        map.reserve(rows);
        for i in 0..rows {
            let (x, y) = (a.value(i), b.value(i));
            if x as usize >= all || y as usize >= all {
                return Err(bad(
                    pf,
                    format!("row {i} names unit {x} or {y}, beyond the units"),
                ));
            }
            map.push((unordered_key(x, y), n.value(i)));
        }
        Ok(())
    })?;
    Ok(Associations::new(texts, vocabulary, phrases, df, ends, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learned() -> Associations {
        let phrase = Phrase {
            first: 1,
            second: 2,
            hyphen: true,
        };
        let pairs = vec![(unordered_key(0, 3), 4)];
        Associations::new(
            10,
            3,
            vec![phrase],
            vec![6, 5, 5, 4],
            vec![1, 0, 5, 4],
            pairs,
        )
    }

    /// `units.parquet` with its columns changed by `f`.
    fn units_with(f: impl Fn(&RecordBatch) -> RecordBatch) -> Vec<u8> {
        let (units, _) = associations_to_parquet(&learned()).expect("write");
        let batches = parquet_batches(units.into()).expect("read");
        parquet_bytes(&f(&batches[0])).expect("write")
    }

    fn read(units: Vec<u8>) -> Result<Associations> {
        let (_, pairs) = associations_to_parquet(&learned())?;
        associations_from_parquet(units.into(), pairs.into(), 10, 3, ("u", "p"))
    }

    #[test]
    fn ends_round_trip_and_older_files_have_none() {
        let a = read(units_with(|b| b.clone())).expect("read");
        assert_eq!(
            (a.df.clone(), a.ends.clone()),
            (vec![6, 5, 5, 4], vec![1, 0, 5, 4])
        );
        assert_eq!(a.head_share(3), Some((4.0 + 2.5) / (4.0 + 5.0)));
        // A tagger made before ends were counted: none, so no head penalty.
        let older = units_with(|b| {
            let keep: Vec<usize> = (0..b.num_columns() - 1).collect();
            b.project(&keep).expect("columns")
        });
        let a = read(older).expect("read");
        assert!(a.ends.is_empty() && a.head_share(0).is_none());
        assert_eq!(a.df, vec![6, 5, 5, 4]);
    }

    #[test]
    fn a_unit_ending_more_texts_than_hold_it_is_a_damaged_file() {
        let damaged = units_with(|b| {
            let mut columns = b.columns().to_vec();
            let last = columns.len() - 1;
            columns[last] = Arc::new(UInt32Array::from(vec![Some(7), None, Some(0), Some(0)]));
            RecordBatch::try_new(b.schema(), columns).expect("batch")
        });
        let err = read(damaged).expect_err("ends 7 of 6 texts").to_string();
        assert!(
            err.contains("tagger model file u") && err.contains("unit 0"),
            "{err}"
        );
    }
}
