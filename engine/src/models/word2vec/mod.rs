//! word2vec: the model (vocabulary, counts and vectors), its options, how it
//! is trained from a query's rows, stored as Parquet, and read back.
//!
//! Payload: `vectors.parquet` with columns `word Utf8, count UInt64, vector
//! FixedSizeList<Float32, dim>`, rows in vocabulary order (descending count).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, RecordBatch, StringArray,
    UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use futures::StreamExt;
use serde_json::{Value as Json, json};

use crate::models::options::OptionReader;
use crate::models::progress::{Progress, ProgressSink, Stage};
use crate::models::stop::Stop;
use crate::models::tokenizer::Tokenizer;
use crate::models::word_index::{Probe, WordIndex, prefetch};
use crate::store::{Manifest, ModelStore};

pub mod corpus;
mod create;
pub mod format;
mod hogwild;
pub mod spill;
pub mod train;

use corpus::CorpusBuilder;
pub use create::Word2VecType;
pub use train::{EpochProgress, EpochStats, TrainParams};

/// The file a word2vec version keeps its vectors in.
pub const VECTORS_FILE: &str = "vectors.parquet";

/// Checked word2vec options. Defaults are gensim's: `dim` 100, `window` 5,
/// `min_count` 5, `negative` 5, `sample` 1e-3, `epochs` 5, `algorithm`
/// 'skipgram', `alpha` 0.025, `min_alpha` 0.0001, `seed` 1, no `max_vocab`,
/// `threads` all cores.
#[derive(Debug, Clone, PartialEq)]
pub struct Word2VecOptions {
    pub params: TrainParams,
    pub min_count: u64,
    pub max_vocab: Option<usize>,
}

impl Word2VecOptions {
    pub fn from_options(options: &[(String, Json)]) -> Result<Self> {
        let mut r = OptionReader::new("word2vec", options);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64;
        let params = TrainParams {
            dim: r.int("dim", Some(100), 1, 4096)?.unwrap_or(100) as usize,
            window: r.int("window", Some(5), 1, 1000)?.unwrap_or(5) as usize,
            negative: r.int("negative", Some(5), 1, 100)?.unwrap_or(5) as usize,
            sample: r.float("sample", 1e-3, 0.0, 1.0)?,
            epochs: r.int("epochs", Some(5), 1, 10_000)?.unwrap_or(5) as usize,
            alpha: r.float("alpha", 0.025, 1e-9, 10.0)? as f32,
            min_alpha: r.float("min_alpha", 0.0001, 0.0, 10.0)? as f32,
            cbow: r.choice("algorithm", "skipgram", &["skipgram", "cbow"])? == "cbow",
            seed: r.int("seed", Some(1), 0, i64::MAX)?.unwrap_or(1) as u64,
            threads: r.int("threads", Some(cores), 1, 1024)?.unwrap_or(cores) as usize,
        };
        let min_count = r.int("min_count", Some(5), 1, i64::MAX)?.unwrap_or(5) as u64;
        let max_vocab = r
            .int("max_vocab", None, 1, u32::MAX as i64 - 1)?
            .map(|v| v as usize);
        r.finish()?;
        if params.min_alpha > params.alpha {
            return Err(DataFusionError::Plan(format!(
                "word2vec option 'min_alpha': {} is larger than alpha = {}",
                params.min_alpha, params.alpha
            )));
        }
        Ok(Self {
            params,
            min_count,
            max_vocab,
        })
    }

    /// The options as stored in the manifest, defaults filled in.
    pub fn to_manifest(&self) -> BTreeMap<String, Json> {
        let p = &self.params;
        let mut m = BTreeMap::new();
        m.insert("dim".into(), json!(p.dim));
        m.insert("window".into(), json!(p.window));
        m.insert("negative".into(), json!(p.negative));
        m.insert("sample".into(), json!(p.sample));
        m.insert("epochs".into(), json!(p.epochs));
        // Through the shortest decimal of the f32, so 0.025 is stored as
        // 0.025 and not as 0.02500000037252903.
        let exact = |x: f32| x.to_string().parse::<f64>().unwrap_or(x as f64);
        m.insert("alpha".into(), json!(exact(p.alpha)));
        m.insert("min_alpha".into(), json!(exact(p.min_alpha)));
        m.insert(
            "algorithm".into(),
            json!(if p.cbow { "cbow" } else { "skipgram" }),
        );
        m.insert("seed".into(), json!(p.seed));
        m.insert("threads".into(), json!(p.threads));
        m.insert("min_count".into(), json!(self.min_count));
        if let Some(v) = self.max_vocab {
            m.insert("max_vocab".into(), json!(v));
        }
        m
    }
}

/// A word2vec model: a vocabulary with counts and one vector per word.
#[derive(Debug)]
pub struct Word2Vec {
    pub dim: usize,
    pub words: Vec<String>,
    pub counts: Vec<u64>,
    /// `words.len() * dim` floats, row per word.
    pub vectors: Vec<f32>,
    pub tokenizer: Tokenizer,
    index: WordIndex,
    unit: OnceLock<Vec<f32>>,
}

/// What [`Word2Vec::lookup_rows`] reports, in order: each token of a row,
/// then the row's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Known(u32),
    /// A token not in the vocabulary.
    Unknown,
    /// The end of a row; `null` for a NULL text.
    RowEnd {
        null: bool,
    },
}

/// Space [`Word2Vec::lookup_rows`] reuses from block to block.
#[derive(Debug, Default)]
pub struct LookupScratch {
    buf: String,
    /// The block's tokens, end to end.
    bytes: Vec<u8>,
    /// (start, end in `bytes`) of each token.
    tokens: Vec<(usize, usize)>,
    /// Per row, how many tokens end with it, and whether it is NULL.
    row_ends: Vec<(usize, bool)>,
}

impl Word2Vec {
    pub fn new(
        words: Vec<String>,
        counts: Vec<u64>,
        vectors: Vec<f32>,
        dim: usize,
        tokenizer: Tokenizer,
    ) -> Result<Self> {
        if dim == 0 || vectors.len() != words.len() * dim || counts.len() != words.len() {
            return Err(DataFusionError::Internal(format!(
                "word2vec: {} words, {} counts and {} floats do not make {dim}-dimensional vectors",
                words.len(),
                counts.len(),
                vectors.len()
            )));
        }
        let index = WordIndex::new(words.iter().map(String::as_str));
        Ok(Self {
            dim,
            words,
            counts,
            vectors,
            tokenizer,
            index,
            unit: OnceLock::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    #[inline]
    pub fn lookup(&self, word: &str) -> Option<u32> {
        self.index.get(word)
    }

    #[inline(always)]
    pub fn vector(&self, id: u32) -> &[f32] {
        let i = id as usize * self.dim;
        &self.vectors[i..i + self.dim]
    }

    /// Writes the mean vector of the known ones of `tokens` (taken as they
    /// are, not cut again) into `out` (length `dim`); returns false,
    /// leaving `out` zero, when none is known. `ids` is scratch space.
    pub fn embed_tokens<'a>(
        &self,
        tokens: impl Iterator<Item = &'a str>,
        ids: &mut Vec<u32>,
        out: &mut [f32],
    ) -> bool {
        ids.clear();
        ids.extend(tokens.filter_map(|t| self.index.get(t)));
        self.mean_of(ids, out)
    }

    /// Appends the embedding of each text to `values` (`dim` floats per
    /// row, zeros for a row with no known token) and whether it has one to
    /// `valid`. Uses AVX-512 or AVX2 when the processor has it: the same
    /// sums in the same order, sixteen or eight floats at a time.
    pub fn embed_rows<'a>(
        &self,
        texts: impl Iterator<Item = Option<&'a str>>,
        values: &mut Vec<f32>,
        valid: &mut Vec<bool>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx512f() {
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX-512F, checked just above.
            return unsafe { self.embed_rows_avx512(texts, values, valid) };
        }
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { self.embed_rows_avx2(texts, values, valid) };
        }
        self.embed_rows_generic(texts, values, valid)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn embed_rows_avx512<'a>(
        &self,
        texts: impl Iterator<Item = Option<&'a str>>,
        values: &mut Vec<f32>,
        valid: &mut Vec<bool>,
    ) {
        self.embed_rows_generic(texts, values, valid)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn embed_rows_avx2<'a>(
        &self,
        texts: impl Iterator<Item = Option<&'a str>>,
        values: &mut Vec<f32>,
        valid: &mut Vec<bool>,
    ) {
        self.embed_rows_generic(texts, values, valid)
    }

    /// Embeds texts a block of rows at a time, in three passes over the
    /// block so that memory loads overlap instead of waiting one by one:
    /// cut every token and look each up ([`Self::lookup_rows`]); sum each
    /// row's vectors, the next row's vectors prefetched meanwhile.
    #[inline(always)]
    fn embed_rows_generic<'a>(
        &self,
        texts: impl Iterator<Item = Option<&'a str>>,
        values: &mut Vec<f32>,
        valid: &mut Vec<bool>,
    ) {
        const ROWS: usize = 256;
        let dim = self.dim;
        let mut texts = texts.peekable();
        let mut scratch = LookupScratch::default();
        let mut ids: Vec<u32> = Vec::new();
        let mut id_ends: Vec<usize> = Vec::with_capacity(ROWS);
        while texts.peek().is_some() {
            ids.clear();
            id_ends.clear();
            self.lookup_rows(texts.by_ref().take(ROWS), &mut scratch, |t| match t {
                Token::Known(id) => ids.push(id),
                Token::Unknown => {}
                Token::RowEnd { .. } => id_ends.push(ids.len()),
            });
            let mut first = 0;
            for (r, &last) in id_ends.iter().enumerate() {
                let next = id_ends.get(r + 1).copied().unwrap_or(last);
                for &id in &ids[last..next] {
                    let row = &self.vectors[id as usize * dim..(id as usize + 1) * dim];
                    row.iter().step_by(16).for_each(prefetch);
                }
                valid.push(self.push_mean(&ids[first..last], values));
                first = last;
            }
        }
    }

    /// Cuts every token of `texts` (a block of rows: all are read before
    /// the first lookup) and looks each up, hashing it and prefetching its
    /// slot a few tokens ahead so that the loads overlap; calls `f` with
    /// each token's id, in order, and at the end of each row. `embed` and
    /// `tag` read every token of every row this way.
    #[inline(always)]
    pub fn lookup_rows<'a>(
        &self,
        texts: impl Iterator<Item = Option<&'a str>>,
        scratch: &mut LookupScratch,
        mut f: impl FnMut(Token),
    ) {
        const AHEAD: usize = 16;
        let LookupScratch {
            buf,
            bytes,
            tokens,
            row_ends,
        } = scratch;
        bytes.clear();
        tokens.clear();
        row_ends.clear();
        for text in texts {
            if let Some(t) = text {
                self.tokenizer.cut_into(t, bytes, buf, |_, start, end| {
                    tokens.push((start, end));
                });
            }
            row_ends.push((tokens.len(), text.is_none()));
        }
        // Room for 16-byte loads from any token's start.
        bytes.extend_from_slice(&[0; 16]);
        // The probes of the next AHEAD tokens, their slots prefetched.
        let mut ahead = [Probe::default(); AHEAD];
        for (probe, &(start, end)) in ahead.iter_mut().zip(tokens.iter()) {
            *probe = self.index.probe(bytes, start, end);
            self.index.prefetch(probe.hash);
        }
        let mut token = 0;
        for &(end, null) in row_ends.iter() {
            while token < end {
                let probe = ahead[token % AHEAD];
                if let Some(&(start, stop)) = tokens.get(token + AHEAD) {
                    let next = self.index.probe(bytes, start, stop);
                    self.index.prefetch(next.hash);
                    ahead[token % AHEAD] = next;
                }
                let (start, stop) = tokens[token];
                f(match self.index.get_probed(probe, &bytes[start..stop]) {
                    Some(id) => Token::Known(id),
                    None => Token::Unknown,
                });
                token += 1;
            }
            f(Token::RowEnd { null });
        }
    }

    /// The mean of the vectors of `ids` into `out`, summed in the order of
    /// `ids` (looking every token up first lets the loads of their
    /// vectors overlap); false, leaving `out` zero, when `ids` is empty.
    #[inline(always)]
    fn mean_of(&self, ids: &[u32], out: &mut [f32]) -> bool {
        let Some((&first, rest)) = ids.split_first() else {
            out.fill(0.0);
            return false;
        };
        out.copy_from_slice(self.vector(first));
        self.add_and_scale(rest, out);
        true
    }

    /// `mean_of` appended to `values` (zeros when `ids` is empty), writing
    /// each output float once before the sums rather than zeroing it first:
    /// the output is the largest stream `embed` writes.
    #[inline(always)]
    fn push_mean(&self, ids: &[u32], values: &mut Vec<f32>) -> bool {
        let at = values.len();
        let Some((&first, rest)) = ids.split_first() else {
            values.resize(at + self.dim, 0.0);
            return false;
        };
        values.extend_from_slice(self.vector(first));
        self.add_and_scale(rest, &mut values[at..]);
        true
    }

    /// Adds the vectors of `rest` to `out`, which holds the first of the
    /// row's vectors, then divides by the row's count. Each vector is added
    /// to `out` whole, so the additions to different elements are
    /// independent and overlap; each element still sums its ids in order.
    #[inline(always)]
    fn add_and_scale(&self, rest: &[u32], out: &mut [f32]) {
        for &id in rest {
            for (o, x) in out.iter_mut().zip(self.vector(id)) {
                *o += *x;
            }
        }
        let inv = 1.0 / (rest.len() + 1) as f32;
        out.iter_mut().for_each(|x| *x *= inv);
    }

    /// Unit-length copies of the vectors (zero vectors stay zero), built on
    /// first use.
    pub fn unit_vectors(&self) -> &[f32] {
        self.unit.get_or_init(|| {
            let mut unit = self.vectors.clone();
            for row in unit.chunks_mut(self.dim) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    row.iter_mut().for_each(|x| *x /= norm);
                }
            }
            unit
        })
    }

    /// The `k` words most cosine-similar to `query`, best first, leaving out
    /// `exclude`. Ties go to the more frequent word.
    pub fn nearest(&self, query: &[f32], k: usize, exclude: Option<u32>) -> Vec<(u32, f32)> {
        let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 || k == 0 {
            return Vec::new();
        }
        let unit = self.unit_vectors();
        let mut scored: Vec<(u32, f32)> = unit
            .chunks(self.dim)
            .enumerate()
            .filter(|(i, _)| Some(*i as u32) != exclude)
            .map(|(i, row)| {
                let dot: f32 = row.iter().zip(query).map(|(a, b)| a * b).sum();
                (i as u32, dot / norm)
            })
            .collect();
        let k = k.min(scored.len());
        let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if k < scored.len() {
            scored.select_nth_unstable_by(k, by_score);
            scored.truncate(k);
        }
        scored.sort_by(by_score);
        scored
    }

    /// The vectors as a `FixedSizeList<Float32, dim>` array.
    pub fn vector_array(&self) -> Result<FixedSizeListArray> {
        let field = Arc::new(Field::new("item", DataType::Float32, true));
        Ok(FixedSizeListArray::try_new(
            field,
            self.dim as i32,
            Arc::new(Float32Array::from(self.vectors.clone())),
            None,
        )?)
    }

    /// The payload as Parquet bytes.
    pub fn to_parquet(&self) -> Result<Vec<u8>> {
        crate::store::objects::parquet_bytes(&self.to_batch()?)
    }

    /// `word, count, vector`: the payload, and `model_vocabulary`.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("count", DataType::UInt64, false),
            Field::new(
                "vector",
                DataType::FixedSizeList(
                    Arc::new(Field::new("item", DataType::Float32, true)),
                    self.dim as i32,
                ),
                false,
            ),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(&self.words)) as ArrayRef,
                Arc::new(UInt64Array::from(self.counts.clone())),
                Arc::new(self.vector_array()?),
            ],
        )?)
    }

    /// Reads a payload written by [`Self::to_parquet`]; `file` names it in
    /// errors.
    pub fn from_parquet(bytes: bytes::Bytes, tokenizer: Tokenizer, file: &str) -> Result<Self> {
        let bad =
            |why: String| DataFusionError::Execution(format!("word2vec model file {file}: {why}"));
        let batches =
            crate::store::objects::parquet_batches(bytes).map_err(|e| bad(e.to_string()))?;
        // Sized up front: grown by doubling, the vectors were copied and
        // their pages faulted in several times over.
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let width = batches
            .first()
            .and_then(|b| b.column_by_name("vector"))
            .and_then(|v| v.as_fixed_size_list_opt())
            .map_or(0, |v| v.value_length().max(0) as usize);
        let (mut words, mut counts, mut vectors, mut dim) = (
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows * width),
            0usize,
        );
        for batch in batches {
            let (Some(w), Some(c), Some(v)) = (
                batch.column_by_name("word"),
                batch.column_by_name("count"),
                batch.column_by_name("vector"),
            ) else {
                return Err(bad("expected columns word, count, vector".into()));
            };
            let (Some(w), Some(c), Some(v)) = (
                w.as_string_opt::<i32>(),
                c.as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>(),
                v.as_fixed_size_list_opt(),
            ) else {
                return Err(bad(
                    "columns word, count, vector have the wrong types".into()
                ));
            };
            dim = v.value_length() as usize;
            let values = v
                .values()
                .as_primitive_opt::<datafusion::arrow::datatypes::Float32Type>()
                .ok_or_else(|| bad("vectors are not Float32".into()))?;
            words.extend(w.iter().map(|s| s.unwrap_or_default().to_string()));
            counts.extend(c.values().iter().copied());
            let start = v.value_offset(0).max(0) as usize;
            vectors.extend_from_slice(&values.values()[start..start + v.len() * dim]);
        }
        Self::new(words, counts, vectors, dim, tokenizer).map_err(|e| bad(e.to_string()))
    }

    /// Loads the version `manifest` describes, through the store's cache.
    pub async fn load(models: &ModelStore, manifest: &Manifest) -> Result<Arc<Self>> {
        let tokenizer = tokenizer_of(manifest)?;
        let path = models.file_path(manifest, VECTORS_FILE);
        let store = Arc::clone(models.object_store());
        models
            .load(manifest, || async move {
                let bytes = crate::store::objects::get_bytes(store.as_ref(), &path).await?;
                Self::from_parquet(bytes, tokenizer, path.as_ref())
            })
            .await
    }
}

/// The tokenizer recorded in a manifest (the default when absent).
pub fn tokenizer_of(manifest: &Manifest) -> Result<Tokenizer> {
    match manifest
        .metrics
        .get("tokenizer")
        .or(manifest.options.get("tokenizer"))
    {
        None => Ok(Tokenizer::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            DataFusionError::Execution(format!(
                "model '{}': bad tokenizer settings: {e}",
                manifest.name
            ))
        }),
    }
}

/// What training produced, for the manifest.
pub struct Trained {
    pub model: Word2Vec,
    pub metrics: BTreeMap<String, Json>,
}

/// Trains a model from the first column of `input`: text (tokenized) or a
/// list of strings (tokens as they are). NULL and empty rows are skipped.
/// `progress` hears of the rows read and of each epoch's advance.
pub async fn train_from_stream(
    mut input: SendableRecordBatchStream,
    options: &Word2VecOptions,
    progress: Progress,
    sink: Arc<dyn ProgressSink>,
    stop: Stop,
    memory: &Arc<dyn MemoryPool>,
) -> Result<Trained> {
    let reservation =
        MemoryConsumer::new(format!("word2vec training of '{}'", progress.model)).register(memory);
    let tokenizer = Tokenizer::default();
    let mut builder = CorpusBuilder::new(tokenizer);
    let column_type = input
        .schema()
        .fields()
        .first()
        .map(|f| f.data_type().clone())
        .ok_or_else(|| DataFusionError::Plan("word2vec: the AS query returns no column".into()))?;
    if input.schema().fields().len() != 1 {
        return Err(DataFusionError::Plan(format!(
            "word2vec: the AS query must return one column of text or of token lists, got {} columns",
            input.schema().fields().len()
        )));
    }
    let started = std::time::Instant::now();
    let mut reading = progress.clone();
    while let Some(batch) = input.next().await {
        stop.check("word2vec")?;
        let batch = batch?;
        add_column(&mut builder, batch.column(0), &column_type)?;
        if reservation.try_resize(builder.memory_bytes()).is_err() {
            // The pool has no more room: keep the corpus on disk instead.
            builder.spill_from_now_on()?;
            reservation.try_resize(builder.memory_bytes())?;
        }
        reading.rows += batch.num_rows() as u64;
        reading.elapsed = started.elapsed().as_secs_f64();
        sink.report(&reading);
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let raw_tokens = builder.len() as u64;
    let skipped = builder.skipped;
    let spilled = builder.spilled();
    let corpus = builder.finish(options.min_count, options.max_vocab)?;
    let params = options.params.clone();
    // The two weight matrices, beside the corpus.
    reservation.try_resize(corpus.words.len() * params.dim * 4 * 2 + corpus.tokens_bytes())?;
    let mut training = reading;
    training.stage = Stage::Training;
    training.epochs = params.epochs;
    let (vectors, stats, corpus) = tokio::task::spawn_blocking(move || {
        let report = |p: EpochProgress| {
            let mut now = training.clone();
            now.epoch = p.epoch;
            now.done = p.done;
            now.words_per_sec = p.words_per_sec;
            now.loss = Some(p.loss);
            now.elapsed = read_seconds + p.elapsed;
            sink.report(&now);
        };
        let trained = train::train(&corpus, &params, &report, &stop);
        trained.map(|(vectors, stats)| (vectors, stats, corpus))
    })
    .await
    .map_err(|e| DataFusionError::Execution(format!("word2vec training failed: {e}")))??;
    let train_seconds: f64 = stats.iter().map(|s| s.seconds).sum();
    let mut metrics = BTreeMap::new();
    metrics.insert("vocabulary".into(), json!(corpus.words.len()));
    metrics.insert("corpus_tokens".into(), json!(raw_tokens));
    metrics.insert("trained_tokens".into(), json!(corpus.total_words()));
    metrics.insert("skipped_rows".into(), json!(skipped));
    metrics.insert("sentences".into(), json!(corpus.ends.len()));
    // 1 when, past QUIVER_WORD2VEC_MEMORY, the encoded corpus was kept on
    // disk.
    metrics.insert("corpus_spilled".into(), json!(u8::from(spilled)));
    metrics.insert(
        "loss".into(),
        json!(stats.iter().map(|s| s.loss).collect::<Vec<_>>()),
    );
    metrics.insert(
        "running_loss".into(),
        json!(stats.iter().map(|s| s.running_loss).collect::<Vec<_>>()),
    );
    metrics.insert(
        "words_per_sec".into(),
        json!(
            stats
                .iter()
                .map(|s| (corpus.total_words() as f64 / s.seconds.max(1e-9)).round())
                .collect::<Vec<_>>()
        ),
    );
    metrics.insert(
        "effective_words".into(),
        json!(stats.iter().map(|s| s.effective_words).collect::<Vec<_>>()),
    );
    metrics.insert("read_seconds".into(), json!(round3(read_seconds)));
    metrics.insert("train_seconds".into(), json!(round3(train_seconds)));
    metrics.insert(
        "tokenizer".into(),
        serde_json::to_value(tokenizer).unwrap_or(Json::Null),
    );
    let model = Word2Vec::new(
        corpus.words,
        corpus.counts,
        vectors,
        options.params.dim,
        tokenizer,
    )?;
    Ok(Trained { model, metrics })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn add_column(builder: &mut CorpusBuilder, column: &ArrayRef, dt: &DataType) -> Result<()> {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let texts = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
            for text in texts.as_string::<i32>() {
                match text {
                    Some(t) => builder.add_text(t)?,
                    None => builder.skip(),
                }
            }
        }
        DataType::List(f) | DataType::LargeList(f)
            if matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            let target = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
            let lists = datafusion::arrow::compute::cast(column, &target)?;
            let lists = lists.as_list::<i32>();
            for i in 0..lists.len() {
                if lists.is_null(i) {
                    builder.skip();
                    continue;
                }
                let tokens = lists.value(i);
                let tokens = tokens.as_string::<i32>();
                builder.add_tokens(tokens.iter().flatten())?;
            }
        }
        other => {
            return Err(DataFusionError::Plan(format!(
                "word2vec: the AS query must return text or a list of strings, got {other}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sentences drawn from two groups of words that never meet: a word's
    /// nearest neighbours must come from its own group.
    fn planted() -> corpus::Corpus {
        let groups = [
            ["pizza", "pepperoni", "cheese", "oven", "crust", "basil"],
            ["iphone", "case", "charger", "cable", "screen", "battery"],
        ];
        let mut rng = crate::random::Rng::new(42);
        let mut b = CorpusBuilder::new(Tokenizer::default());
        for i in 0..3000 {
            let g = &groups[i % 2];
            let words: Vec<&str> = (0..8).map(|_| g[rng.below(6) as usize]).collect();
            b.add_text(&words.join(" ")).expect("add");
        }
        b.finish(1, None).expect("vocabulary")
    }

    fn params(cbow: bool) -> TrainParams {
        TrainParams {
            dim: 16,
            window: 3,
            negative: 5,
            sample: 0.0,
            epochs: 4,
            alpha: 0.025,
            min_alpha: 0.0001,
            cbow,
            seed: 7,
            threads: 1,
        }
    }

    fn model_of(corpus: &corpus::Corpus, vectors: Vec<f32>) -> Word2Vec {
        Word2Vec::new(
            corpus.words.clone(),
            corpus.counts.clone(),
            vectors,
            16,
            Tokenizer::default(),
        )
        .expect("model")
    }

    #[test]
    fn learns_planted_groups_with_falling_loss() {
        let corpus = planted();
        for cbow in [false, true] {
            let (vectors, stats) =
                train::train(&corpus, &params(cbow), &|_| {}, &Stop::new()).expect("train");
            // This corpus is learnt within an epoch, after which the loss
            // only wobbles at its floor; on real text it falls every epoch
            // (see docs/benchmarks.md).
            assert!(
                stats[stats.len() - 1].loss < stats[0].loss,
                "cbow={cbow}: {stats:?}"
            );
            let model = model_of(&corpus, vectors);
            for (word, group) in [
                ("pizza", ["pepperoni", "cheese", "oven", "crust", "basil"]),
                ("cable", ["iphone", "case", "charger", "screen", "battery"]),
            ] {
                let id = model.lookup(word).expect("known");
                let near = model.nearest(model.vector(id), 5, Some(id));
                for (n, _) in near {
                    assert!(
                        group.contains(&model.words[n as usize].as_str()),
                        "cbow={cbow}: {word} ~ {}",
                        model.words[n as usize]
                    );
                }
            }
        }
    }

    #[test]
    fn one_thread_and_a_seed_reproduce_bit_for_bit() {
        let corpus = planted();
        let (a, _) = train::train(&corpus, &params(false), &|_| {}, &Stop::new()).expect("train");
        let (b, _) = train::train(&corpus, &params(false), &|_| {}, &Stop::new()).expect("train");
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        let mut other = params(false);
        other.seed = 8;
        let (c, _) = train::train(&corpus, &other, &|_| {}, &Stop::new()).expect("train");
        assert_ne!(a, c, "another seed gives other vectors");
    }

    #[test]
    fn several_threads_still_learn() {
        let corpus = planted();
        let mut p = params(false);
        p.threads = 3;
        let (vectors, _) = train::train(&corpus, &p, &|_| {}, &Stop::new()).expect("train");
        let model = model_of(&corpus, vectors);
        let id = model.lookup("oven").expect("known");
        let (best, _) = model.nearest(model.vector(id), 1, Some(id))[0];
        assert!(
            ["pizza", "pepperoni", "cheese", "crust", "basil"]
                .contains(&model.words[best as usize].as_str())
        );
    }

    #[test]
    fn embeds_the_mean_of_known_tokens() {
        let model = Word2Vec::new(
            vec!["red".into(), "apple".into()],
            vec![2, 1],
            vec![1.0, 0.0, 0.0, 1.0],
            2,
            Tokenizer::default(),
        )
        .expect("model");
        let long = "apple ".repeat(200_000) + "東京 données";
        let texts = [
            Some("Red APPLE, unknown!"),
            Some("nothing known"),
            Some(""),
            Some(&long),
        ];
        let (mut values, mut valid) = (vec![], vec![]);
        model.embed_rows(texts.into_iter(), &mut values, &mut valid);
        assert_eq!(valid, [true, false, false, true]);
        assert_eq!(values, [0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let mut out = [9.0f32; 2];
        assert!(model.embed_tokens(["red", "RED", "apple"].into_iter(), &mut vec![], &mut out));
        assert_eq!(out, [0.5, 0.5]);
        assert!(!model.embed_tokens(["Red"].into_iter(), &mut vec![], &mut out));
        assert_eq!(out, [0.0, 0.0]);
    }

    #[test]
    fn embed_rows_sums_like_a_plain_loop() {
        // 19 dimensions: two blocks of eight and a remainder of three.
        let (dim, words) = (19, ["a", "b", "c", "d"]);
        let vectors: Vec<f32> = (0..words.len() * dim)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0)
            .collect();
        let model = Word2Vec::new(
            words.iter().map(|w| w.to_string()).collect(),
            vec![4, 3, 2, 1],
            vectors.clone(),
            dim,
            Tokenizer::default(),
        )
        .expect("model");
        // 600 rows: past the 256-row blocks embed_rows works in.
        let kinds = [Some("a b c d a"), None, Some("zzz"), Some("d, D! x c")];
        let texts: Vec<Option<&str>> = kinds.iter().copied().cycle().take(600).collect();
        let (mut values, mut valid) = (vec![], vec![]);
        model.embed_rows(texts.iter().copied(), &mut values, &mut valid);
        assert_eq!(values.len(), texts.len() * dim);
        let expect = |ids: &[usize]| -> Vec<f32> {
            let mut out = vec![0.0f32; dim];
            for &id in ids {
                for (o, v) in out.iter_mut().zip(&vectors[id * dim..(id + 1) * dim]) {
                    *o += v;
                }
            }
            out.iter().map(|x| x * (1.0 / ids.len() as f32)).collect()
        };
        let (first, last) = (expect(&[0, 1, 2, 3, 0]), expect(&[3, 3, 2]));
        for (row, out) in values.chunks(dim).enumerate() {
            match row % 4 {
                0 => assert_eq!(out, &first[..], "row {row}"),
                3 => assert_eq!(out, &last[..], "row {row}"),
                _ => assert!(out.iter().all(|&x| x == 0.0), "row {row}"),
            }
            assert_eq!(valid[row], row % 4 == 0 || row % 4 == 3, "row {row}");
        }
    }

    #[test]
    fn parquet_round_trip_and_corrupt_payload() {
        let model = Word2Vec::new(
            vec!["a".into(), "b".into()],
            vec![3, 1],
            vec![1.0, 2.0, 3.0, 4.0],
            2,
            Tokenizer::default(),
        )
        .expect("model");
        let bytes = model.to_parquet().expect("write");
        let back = Word2Vec::from_parquet(bytes.clone().into(), Tokenizer::default(), "v.parquet")
            .expect("read");
        assert_eq!(
            (
                back.words.clone(),
                back.counts.clone(),
                back.vectors.clone()
            ),
            (
                model.words.clone(),
                model.counts.clone(),
                model.vectors.clone()
            )
        );
        let err = Word2Vec::from_parquet(
            bytes[..bytes.len() / 2].to_vec().into(),
            Tokenizer::default(),
            "v.parquet",
        )
        .expect_err("corrupt")
        .to_string();
        assert!(err.contains("word2vec model file v.parquet"), "{err}");
    }
}
