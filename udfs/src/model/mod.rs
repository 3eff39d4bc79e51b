//! Model types: their data structures, training, options and file formats.
//! The store that versions them is [`crate::store`]; the SQL functions that
//! use them are in [`crate::functions`].

pub mod kmeans;
pub mod options;
pub mod tagger;
pub mod tokenizer;
pub mod word2vec;
pub mod word_index;

/// The model types `CREATE MODEL ... TYPE t` accepts.
pub const MODEL_TYPES: &[&str] = &["word2vec", "kmeans", "tagger"];
