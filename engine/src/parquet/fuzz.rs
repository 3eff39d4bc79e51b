//! The fuzz suite of the readers quiver adds for files other people wrote
//! (#23): valid Parquet files with list columns (dictionary and plain
//! pages, data page v1 and v2, zstd and uncompressed) and word2vec vector
//! files (text and binary), mutated byte by byte and field by field with
//! fixed seeds. Every read must give arrow-rs's answer or a clean error:
//! never a panic, an abort or a hang. It runs with the other tests, in
//! seconds; `QUIVER_FUZZ_CASES=N` runs N cases of each kind by hand, and
//! `QUIVER_FUZZ_SAVE=dir` keeps the files that made parquet-rs panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, FixedSizeListBuilder, Float32Builder, Float64Builder, ListBuilder, RecordBatch,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use datafusion::parquet::file::properties::{WriterProperties, WriterVersion};
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use datafusion::parquet::file::serialized_reader::SerializedPageReader;

use super::list_pages::{ListColumn, chunk_qualifies, float_list_item};
use super::nan_safe::nan_safe;
use crate::models::word2vec::format::{self, VectorFormat};
use crate::random::Rng;

/// Cases of each kind in a normal test run.
const CASES: usize = 1500;

/// Keeps a case's file in `QUIVER_FUZZ_SAVE` (a folder), when set, to
/// replay it by hand.
fn save(case: usize, file: &[u8]) {
    if let Some(dir) = std::env::var_os("QUIVER_FUZZ_SAVE") {
        let path = std::path::Path::new(&dir).join(format!("case-{case}.parquet"));
        std::fs::write(&path, file).expect("QUIVER_FUZZ_SAVE is a writable folder");
    }
}

fn cases() -> usize {
    std::env::var("QUIVER_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES)
}

/// 300 rows: `fixed` (4 floats, NaN now and then), `varying` (1 to 3
/// doubles from a few distinct values, so dictionaries pay).
fn batch() -> RecordBatch {
    let mut fixed = FixedSizeListBuilder::new(Float32Builder::new(), 4);
    let mut varying = ListBuilder::new(Float64Builder::new());
    for i in 0..300u32 {
        let x = if i % 37 == 5 { f32::NAN } else { i as f32 };
        fixed.values().append_slice(&[x, -x, 0.5, x * 2.0]);
        fixed.append(true);
        for k in 0..1 + i % 3 {
            varying.values().append_value(f64::from((i + k) % 7));
        }
        varying.append(true);
    }
    let (fixed, varying) = (fixed.finish(), varying.finish());
    let schema = Schema::new(vec![
        Field::new("fixed", fixed.data_type().clone(), false),
        Field::new("varying", varying.data_type().clone(), false),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(fixed), Arc::new(varying)])
        .expect("test data")
}

/// The same rows written eight ways.
fn seeds() -> Vec<Bytes> {
    let batch = batch();
    let mut files = Vec::new();
    for dictionary in [false, true] {
        for v2 in [false, true] {
            for zstd in [false, true] {
                let props = WriterProperties::builder()
                    .set_dictionary_enabled(dictionary)
                    .set_writer_version(if v2 {
                        WriterVersion::PARQUET_2_0
                    } else {
                        WriterVersion::PARQUET_1_0
                    })
                    .set_compression(if zstd {
                        Compression::ZSTD(ZstdLevel::default())
                    } else {
                        Compression::UNCOMPRESSED
                    })
                    .set_max_row_group_row_count(Some(200))
                    .set_data_page_row_count_limit(40)
                    .set_write_batch_size(40)
                    .build();
                let mut out = Vec::new();
                let mut writer =
                    ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("test data");
                writer.write(&batch).expect("test data");
                writer.close().expect("test data");
                files.push(Bytes::from(out));
            }
        }
    }
    files
}

/// Values a mutated field takes: the edges of the integer types that
/// Parquet's headers and lengths are made of.
const EDGES: [u32; 7] = [0, 1, 0x7f, 0xff, 0x7fff_ffff, 0x8000_0000, u32::MAX];

/// One mutation of `file`: a byte flipped or set, a 4-byte field set to an
/// edge value, a varint-sized run of 0xff (a huge length), or a cut.
fn mutate(file: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = file.to_vec();
    let len = out.len() as u64;
    let at = rng.below(len) as usize;
    match rng.below(5) {
        0 => out[at] ^= 1 << rng.below(8),
        1 => out[at] = rng.below(256) as u8,
        2 => {
            let edge = EDGES[rng.below(EDGES.len() as u64) as usize].to_le_bytes();
            for (k, b) in edge.iter().enumerate() {
                if let Some(slot) = out.get_mut(at + k) {
                    *slot = *b;
                }
            }
        }
        3 => {
            for slot in out.iter_mut().skip(at).take(1 + rng.below(9) as usize) {
                *slot = 0xff;
            }
        }
        _ => out.truncate(at),
    }
    out
}

/// What reading gave: the columns, or that it failed cleanly.
type Read = Result<Vec<ArrayRef>, String>;

/// arrow-rs's reading of every column, whole.
fn arrow_read(file: &Bytes) -> Read {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file.clone())
        .map_err(|e| e.to_string())?
        .with_batch_size(1 << 20)
        .build()
        .map_err(|e| e.to_string())?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let all = datafusion::arrow::compute::concat_batches(&first.schema(), &batches)
        .map_err(|e| e.to_string())?;
    Ok(all.columns().to_vec())
}

/// quiver's reading: the footer through [`nan_safe`], then each list
/// column of each row group through [`ListColumn`] in steps of 64 rows.
/// `Ok(None)` where a page sent the rest to arrow-rs.
fn quiver_read(file: &Bytes) -> Result<Option<Vec<ArrayRef>>, String> {
    let metadata = ParquetMetaDataReader::new()
        .with_page_index_policy(datafusion::parquet::file::metadata::PageIndexPolicy::Optional)
        .parse_and_finish(file)
        .map_err(|e| e.to_string())?;
    nan_safe(Arc::new(metadata)).map_err(|e| e.to_string())?;
    let reader = SerializedFileReader::new(file.clone()).map_err(|e| e.to_string())?;
    let schema = datafusion::parquet::arrow::parquet_to_arrow_schema(
        reader.metadata().file_metadata().schema_descr(),
        reader.metadata().file_metadata().key_value_metadata(),
    )
    .map_err(|e| e.to_string())?;
    let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::new(); schema.fields().len()];
    let metadata = reader.metadata();
    for g in 0..metadata.num_row_groups() {
        let group = metadata.row_group(g);
        let rows = usize::try_from(group.num_rows()).map_err(|e| e.to_string())?;
        for (c, out) in columns.iter_mut().enumerate() {
            let chunk = group.column(c);
            let data_type = schema.field(c).data_type();
            let Some(item) = float_list_item(data_type) else {
                return Ok(None);
            };
            if !chunk_qualifies(chunk, item) {
                return Ok(None);
            }
            let pages = SerializedPageReader::new(Arc::new(file.clone()), chunk, rows, None)
                .map_err(|e| e.to_string())?;
            let Some(mut list) = ListColumn::new(Box::new(pages), chunk.column_descr_ptr(), rows)
            else {
                return Ok(None);
            };
            for start in (0..rows).step_by(64) {
                let end = (start + 64).min(rows);
                match list
                    .take(start..end, data_type)
                    .map_err(|e| e.to_string())?
                {
                    Some(array) => out.push(array),
                    None => return Ok(None),
                }
            }
        }
    }
    columns
        .into_iter()
        .map(|parts| {
            let parts: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            datafusion::arrow::compute::concat(&parts).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

thread_local! {
    /// Where the last panic on this thread happened (file path).
    static PANICKED_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Records where panics on this thread happen instead of printing them
/// (other threads' panics print as before).
fn record_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = PANICKED_AT.with(|p| {
                let mut p = p.borrow_mut();
                if p.is_some() {
                    *p = Some(
                        info.location()
                            .map(|l| l.file().to_string())
                            .unwrap_or_default(),
                    );
                    true
                } else {
                    false
                }
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic and saying where it happened.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    PANICKED_AT.with(|p| *p.borrow_mut() = Some(String::new()));
    let result = catch_unwind(AssertUnwindSafe(f));
    let at = PANICKED_AT
        .with(|p| p.borrow_mut().take())
        .unwrap_or_default();
    result.map_err(|_| at)
}

/// Whether a panic happened in arrow-rs or parquet-rs rather than in
/// quiver's code.
fn upstream(at: &str) -> bool {
    at.contains("/arrow-") || at.contains("/parquet-")
}

/// What the Parquet run found.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    /// Both readers gave the same columns.
    agreed: usize,
    /// quiver failed cleanly (arrow-rs may have read something).
    refused: usize,
    /// quiver handed the column to arrow-rs.
    deferred: usize,
    /// arrow-rs itself panicked (not quiver's to answer for).
    arrow_panics: usize,
    /// parquet-rs panicked under quiver's reading (in its page reader):
    /// quiver's doors turn these into errors (`quiver -c`, `quiver serve`).
    upstream_panics: usize,
    /// Cases where quiver panicked or answered differently from arrow-rs.
    bad: Vec<String>,
}

#[test]
fn mutated_parquet_files_read_as_arrow_reads_them_or_fail_cleanly() {
    record_panics();
    let seeds = seeds();
    let mut rng = Rng::new(23);
    let mut tally = Tally::default();
    for case in 0..cases() {
        let seed = case % seeds.len();
        let file = Bytes::from(mutate(&seeds[seed], &mut rng));
        tally.cases += 1;
        let arrow = guarded(|| arrow_read(&file));
        let ours = guarded(|| quiver_read(&file));
        match (arrow, ours) {
            (_, Err(at)) if upstream(&at) => {
                tally.upstream_panics += 1;
                save(case, &file);
            }
            (_, Err(at)) => tally
                .bad
                .push(format!("case {case} (seed file {seed}): panicked at {at}")),
            (Err(_), Ok(_)) => tally.arrow_panics += 1,
            (Ok(_), Ok(Err(_))) => tally.refused += 1,
            (Ok(_), Ok(Ok(None))) => tally.deferred += 1,
            (Ok(Ok(want)), Ok(Ok(Some(got)))) if want == got => tally.agreed += 1,
            // quiver read what arrow-rs refuses: the page data it reads is
            // arrow-rs's too, so the answers must agree.
            (Ok(want), Ok(Ok(Some(_)))) => tally.bad.push(format!(
                "case {case} (seed file {seed}): quiver read columns, arrow-rs {}",
                match want {
                    Ok(_) => "read others".to_string(),
                    Err(e) => format!("failed: {e}"),
                }
            )),
        }
    }
    println!("parquet fuzz: {tally:?}");
    assert!(tally.bad.is_empty(), "{:#?}", tally.bad);
    assert!(tally.agreed > 0 && tally.refused > 0, "{tally:?}");
}

#[test]
fn mutated_vector_files_read_or_fail_cleanly() {
    let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    let values: Vec<f32> = (0..40 * 5).map(|i| i as f32 * 0.25 - 3.0).collect();
    let seeds = [
        (
            VectorFormat::Text,
            format::write(&words, 5, &values, VectorFormat::Text),
        ),
        (
            VectorFormat::Binary,
            format::write(&words, 5, &values, VectorFormat::Binary),
        ),
    ];
    record_panics();
    let mut rng = Rng::new(7);
    let (mut read, mut refused, mut bad) = (0, 0, Vec::new());
    for case in 0..cases() {
        let (kind, seed) = &seeds[case % 2];
        let file = mutate(seed, &mut rng);
        // Both as written and as sniffed: a reader told the wrong format
        // must fail cleanly too.
        for format in [*kind, VectorFormat::sniff(&file)] {
            match guarded(|| format::read("fuzz.vec", &file, format)) {
                Ok(Ok(v)) if v.words.len() * v.dim == v.values.len() => read += 1,
                Ok(Ok(_)) => bad.push(format!("case {case}: words and values disagree")),
                Ok(Err(_)) => refused += 1,
                Err(at) => bad.push(format!("case {case} ({format:?}): panicked at {at}")),
            }
        }
    }
    println!(
        "vector-file fuzz: {} reads, {read} read, {refused} refused",
        2 * cases()
    );
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(read > 0 && refused > 0);
}
