//! word2vec as a model type: trained `AS` a query's rows, or imported
//! `FROM` a vector file (word2vec text or binary, as gensim and fastText
//! write them).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::Result;
use futures::future::BoxFuture;
use serde_json::{Value as Json, json};

use super::format::{self, VectorFormat};
use super::{VECTORS_FILE, Word2Vec, Word2VecOptions, train_from_stream};
use crate::models::options::OptionReader;
use crate::models::progress::{Progress, Stage};
use crate::models::tokenizer::Tokenizer;
use crate::models::{Built, LoadModel, ModelType, Request, Source, SourceKind, wrong_source};
use crate::store::{Manifest, ModelStore};

/// `CREATE MODEL m TYPE word2vec [OPTIONS (...)] AS query | FROM 'file'`.
#[derive(Debug, Clone, Copy)]
pub struct Word2VecType;

const NAME: &str = "word2vec";

/// The options of an import: the file's format and whether lookups fold
/// case (`auto`: fold unless the file has upper-case words).
struct ImportOptions {
    format: String,
    lowercase: String,
}

impl ImportOptions {
    fn read(options: &[(String, Json)]) -> Result<Self> {
        let mut r = OptionReader::new("word2vec (FROM a file)", options);
        let format = r.choice(
            "format",
            "auto",
            &["auto", "word2vec_text", "word2vec_binary"],
        )?;
        let lowercase = r.choice("lowercase", "auto", &["auto", "true", "false"])?;
        r.finish()?;
        Ok(Self { format, lowercase })
    }
}

#[async_trait]
impl ModelType for Word2VecType {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, options: &[(String, Json)], source: SourceKind) -> Result<()> {
        match source {
            SourceKind::Query => Word2VecOptions::from_options(options).map(|_| ()),
            SourceKind::File => ImportOptions::read(options).map(|_| ()),
            SourceKind::Options => Err(wrong_source(
                NAME,
                "needs AS <query> (to train) or FROM '<file>' (to import)",
            )),
        }
    }

    async fn build(&self, request: Request<'_>) -> Result<Built> {
        match request.source {
            Source::Query { rows, .. } => {
                let options = Word2VecOptions::from_options(request.options)?;
                let progress = Progress::new(&Arc::from(request.name), NAME, Stage::Reading);
                let trained = train_from_stream(
                    rows,
                    &options,
                    progress,
                    request.progress,
                    request.stop,
                    &request.memory,
                )
                .await?;
                Ok(Built {
                    files: vec![(VECTORS_FILE, trained.model.to_parquet()?)],
                    options: options.to_manifest(),
                    metrics: trained.metrics,
                    depends_on: BTreeMap::new(),
                })
            }
            Source::File { location, bytes } => {
                import(ImportOptions::read(request.options)?, &location, &bytes)
            }
            Source::Options => Err(wrong_source(
                NAME,
                "needs AS <query> (to train) or FROM '<file>' (to import)",
            )),
        }
    }
}

/// A version from the vectors in `bytes`, read from `location`.
fn import(options: ImportOptions, location: &str, bytes: &[u8]) -> Result<Built> {
    let format = if options.format == "auto" {
        VectorFormat::sniff(bytes)
    } else {
        VectorFormat::parse(&options.format)?
    };
    let vectors = format::read(location, bytes, format)?;
    // Vectors trained with case (fastText's, say) keep it: lower-case
    // lookups would miss "iPhone".
    let lowercase = match options.lowercase.as_str() {
        "auto" => !vectors
            .words
            .iter()
            .any(|w| w.chars().any(char::is_uppercase)),
        other => other == "true",
    };
    let tokenizer = Tokenizer { lowercase };
    let counts = vec![0; vectors.words.len()];
    let model = Word2Vec::new(
        vectors.words,
        counts,
        vectors.values,
        vectors.dim,
        tokenizer,
    )?;
    let mut manifest_options = BTreeMap::new();
    manifest_options.insert("dim".to_string(), json!(model.dim));
    manifest_options.insert(
        "format".to_string(),
        json!(if format == VectorFormat::Text {
            "word2vec_text"
        } else {
            "word2vec_binary"
        }),
    );
    manifest_options.insert(
        "tokenizer".to_string(),
        serde_json::to_value(tokenizer).unwrap_or_default(),
    );
    let mut metrics = BTreeMap::new();
    metrics.insert("vocabulary".to_string(), json!(model.len()));
    Ok(Built {
        files: vec![(VECTORS_FILE, model.to_parquet()?)],
        options: manifest_options,
        metrics,
        depends_on: BTreeMap::new(),
    })
}

impl LoadModel for Word2Vec {
    const TYPE: &'static str = NAME;

    fn load_version(
        models: Arc<ModelStore>,
        manifest: Manifest,
        _who: String,
    ) -> BoxFuture<'static, Result<Arc<Self>>> {
        Box::pin(async move { Word2Vec::load(&models, &manifest).await })
    }
}
