//! The demo's product catalogue: realistic, messy product titles across
//! many industries, generated deterministically from a seed.
//!
//! Each title is put together from its industry's words (brand, qualifier,
//! detail, size) around one product type, in one of several shapes, with
//! shared colours and shop noise, varied casing, and a small share of typos
//! in the product type itself. Each row keeps its true product type, for
//! evaluating the tags only; the pipeline never reads it.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use quiver_engine::random::Rng;

use super::words::{COLOURS, INDUSTRIES, Industry, NOISE};

/// Share of titles whose product type is misspelled (a letter dropped): no
/// tagger can find a type that is not in the title.
pub const TYPO_RATE: f32 = 0.01;

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("industry", DataType::Utf8, false),
        Field::new("product_type", DataType::Utf8, false),
        // The word of the product type a right tag contains.
        Field::new("type_word", DataType::Utf8, false),
    ]))
}

/// Generates rows `start..start + rows` of the catalogue for `seed`. Row `i`
/// depends only on `seed` and `i`, so batches can be made in any order.
pub fn batch(seed: u64, start: u64, rows: usize) -> RecordBatch {
    let mut title = StringBuilder::with_capacity(rows, rows * 48);
    let mut industry = StringBuilder::with_capacity(rows, rows * 8);
    let mut product = StringBuilder::with_capacity(rows, rows * 8);
    let mut word = StringBuilder::with_capacity(rows, rows * 8);
    let mut text = String::with_capacity(128);
    for id in start..start + rows as u64 {
        let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ id);
        let i = rng.below(INDUSTRIES.len() as u64) as usize;
        let ind = &INDUSTRIES[i];
        let t = rng.below(ind.types.len() as u64) as usize;
        let (written, key) = ind.types[t];
        text.clear();
        compose(&mut rng, i, t, &mut text);
        title.append_value(&text);
        industry.append_value(ind.name);
        product.append_value(written.to_lowercase());
        word.append_value(key);
    }
    let ids = Int64Array::from_iter_values(start as i64..start as i64 + rows as i64);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids),
        Arc::new(title.finish()),
        Arc::new(industry.finish()),
        Arc::new(product.finish()),
        Arc::new(word.finish()),
    ];
    RecordBatch::try_new(schema(), columns).expect("columns match the schema")
}

fn pick<'a>(rng: &mut Rng, words: &[&'a str]) -> &'a str {
    words[rng.below(words.len() as u64) as usize]
}

/// Pairs that hold in every catalogue, whatever the hash below says: the
/// seed's example titles ("Euro Delight Pizza", "Otterbox case for Apple
/// iPhone pink") are made of them, and a catalogue where Otterbox makes no
/// cases would contradict them (the hash alone gave Otterbox only styluses
/// and lens kits, and Euro Delight no pizza).
const KNOWN_PAIRS: &[(&str, &str)] = &[
    ("Otterbox", "Case"),
    ("for Apple iPhone 15", "Case"),
    ("Euro Delight", "Pizza"),
];

/// Whether `a` goes with `b`: in [`KNOWN_PAIRS`], or in a fixed third of
/// all pairs: which brands make which product types, and which details
/// (flavours, materials) belong to which type. Real catalogues have that
/// structure: Otterbox makes cases, pepperoni goes on pizza.
fn pairs(industry: &str, a: &str, b: &str) -> bool {
    if KNOWN_PAIRS.contains(&(a, b)) {
        return true;
    }
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for byte in industry
        .bytes()
        .chain([0])
        .chain(a.bytes())
        .chain([0])
        .chain(b.bytes())
    {
        h = (h ^ byte as u64).wrapping_mul(0x0100_0000_01B3);
    }
    h.is_multiple_of(3)
}

/// The words of `words` that pair with `product` (all of them, when none
/// does).
fn paired(ind: &Industry, product: &str, words: &[&'static str]) -> Vec<&'static str> {
    let some: Vec<&'static str> = words
        .iter()
        .copied()
        .filter(|w| pairs(ind.name, w, product))
        .collect();
    if some.is_empty() {
        words.to_vec()
    } else {
        some
    }
}

/// Per industry and product type: the brands that make it and the details
/// that go with it, worked out once rather than per title.
struct Pairing {
    brands: Vec<&'static str>,
    details: Vec<&'static str>,
}

static PAIRINGS: LazyLock<Vec<Vec<Pairing>>> = LazyLock::new(|| {
    INDUSTRIES
        .iter()
        .map(|ind| {
            ind.types
                .iter()
                .map(|(product, _)| Pairing {
                    brands: paired(ind, product, ind.brands),
                    details: paired(ind, product, ind.details),
                })
                .collect()
        })
        .collect()
});

/// Writes one title of product type `t` of industry `i` into `out`.
fn compose(rng: &mut Rng, i: usize, t: usize, out: &mut String) {
    let ind = &INDUSTRIES[i];
    let pairing = &PAIRINGS[i][t];
    let (product, key) = ind.types[t];
    let brand = pick(rng, &pairing.brands);
    let qualifier = pick(rng, ind.qualifiers);
    let detail = pick(rng, &pairing.details);
    let size = pick(rng, ind.sizes);
    let colour = pick(rng, COLOURS);
    let typo;
    let product = match product.to_lowercase().find(key) {
        Some(at) if rng.unit() < TYPO_RATE && key.len() > 3 => {
            // Drop one inner letter of the type's own word.
            let at = at + 1 + rng.below(key.len() as u64 - 2) as usize;
            typo = format!("{}{}", &product[..at], &product[at + 1..]);
            typo.as_str()
        }
        _ => product,
    };
    let parts: &[&str] = match rng.below(8) {
        0 => &[brand, detail, product],
        1 => &[brand, qualifier, product, colour],
        2 => &[qualifier, detail, product, "by", brand],
        3 => &[product, detail, size],
        4 => &[brand, product, size, colour],
        5 => &[colour, qualifier, detail, product],
        6 => &[brand, qualifier, detail, product, size],
        _ => &[qualifier, product, "-", colour, size],
    };
    let case = rng.below(10);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match case {
            0 | 1 => out.push_str(&part.to_lowercase()),
            2 => out.push_str(&part.to_uppercase()),
            _ => out.push_str(part),
        }
    }
    if rng.unit() < 0.3 {
        out.push_str(if rng.unit() < 0.5 { " " } else { ", " });
        out.push_str(pick(rng, NOISE));
    }
    if rng.unit() < 0.05 {
        out.push_str(&format!(" SKU{}", 1000 + rng.below(90_000)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use quiver_engine::models::tokenizer::Tokenizer;

    #[test]
    fn deterministic_and_independent_of_batching() {
        let whole = batch(7, 0, 300);
        let parts = [batch(7, 0, 100), batch(7, 100, 200)];
        let title = |b: &RecordBatch, i| b.column(1).as_string::<i32>().value(i).to_string();
        for i in 0..300 {
            let expect = title(&whole, i);
            let got = if i < 100 {
                title(&parts[0], i)
            } else {
                title(&parts[1], i - 100)
            };
            assert_eq!(expect, got);
        }
        assert_ne!(title(&batch(8, 0, 1), 0), title(&whole, 0));
    }

    #[test]
    fn titles_contain_their_type_word_except_typos() {
        let b = batch(1, 0, 20_000);
        let titles = b.column(1).as_string::<i32>();
        let words = b.column(4).as_string::<i32>();
        let industries = b.column(2).as_string::<i32>();
        let mut missing = 0;
        for i in 0..b.num_rows() {
            let tokens = Tokenizer::default().tokens(titles.value(i));
            if !tokens.iter().any(|t| t == words.value(i)) {
                missing += 1;
            }
        }
        // Typos, and a dropped letter that happens to leave the word intact.
        let share = missing as f32 / b.num_rows() as f32;
        assert!(share > 0.0 && share < 2.0 * TYPO_RATE, "share {share}");
        let distinct: std::collections::HashSet<_> = industries.iter().collect();
        assert_eq!(distinct.len(), INDUSTRIES.len());
    }
}
