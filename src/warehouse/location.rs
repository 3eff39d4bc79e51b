//! Where a warehouse or an external table lives: a URL turned into an
//! object store, with credentials from the environment and, for external
//! tables, from `OPTIONS ('aws.region' '...')` as datafusion-cli takes them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::memory::InMemory;
use object_store::path::Path;
use quiver_engine::store::durable::DurableStore;
use url::Url;

/// Option prefixes that configure an object store rather than a file format.
pub const STORE_OPTION_PREFIXES: [&str; 3] = ["aws.", "gcp.", "azure."];

/// A parsed location: the URL of the store's root (`s3://bucket`), the
/// store, and the path of the location inside it.
pub struct Location {
    pub store_url: Url,
    /// Writes through [`DurableStore`]: synced on a local disk, uploads
    /// aborted when dropped.
    pub store: Arc<DurableStore>,
    pub path: Path,
    /// The location as a URL ending in `/`, for building file URLs.
    pub url: String,
}

/// Parses a warehouse location: a local path (created if missing), or a
/// `file://`, `s3://`, `gs://`, `az://` / `abfs://` or `memory://` URL.
pub fn parse(location: &str, options: &HashMap<String, String>) -> Result<Location> {
    let bad = |why: String| DataFusionError::Configuration(format!("location '{location}': {why}"));
    let has_scheme = location.contains("://");
    let url = if has_scheme {
        Url::parse(location).map_err(|e| bad(e.to_string()))?
    } else {
        let path = PathBuf::from(location);
        let absolute = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .map_err(|e| bad(format!("cannot read the current directory: {e}")))?
                .join(path)
        };
        Url::from_directory_path(&absolute)
            .map_err(|_| bad("not a valid local path".to_string()))?
    };
    let scheme = url.scheme().to_string();
    let bucket = url.host_str().unwrap_or_default().to_string();
    let path = Path::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
    let store: Arc<dyn ObjectStore> = match scheme.as_str() {
        "file" => {
            let dir = url
                .to_file_path()
                .map_err(|_| bad("not a valid local path".to_string()))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
            return finish(url, scheme, bucket, path, DurableStore::local());
        }
        "memory" => Arc::new(InMemory::new()),
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_bucket_name(&bucket);
            for (k, v) in store_options(options, "aws.") {
                let key: AmazonS3ConfigKey = k.parse().map_err(|e| bad(format!("{e}")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
        }
        "gs" | "gcs" => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(&bucket);
            for (k, v) in store_options(options, "gcp.") {
                let key: GoogleConfigKey = k.parse().map_err(|e| bad(format!("{e}")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
        }
        "az" | "abfs" | "abfss" | "azure" => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (k, v) in store_options(options, "azure.") {
                let key: AzureConfigKey = k.parse().map_err(|e| bad(format!("{e}")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
        }
        other => {
            return Err(bad(format!(
                "unsupported scheme '{other}' (use a local path, file://, s3://, gs://, az:// \
                 or memory://)"
            )));
        }
    };
    finish(url, scheme, bucket, path, DurableStore::remote(store))
}

fn finish(
    url: Url,
    scheme: String,
    bucket: String,
    path: Path,
    store: DurableStore,
) -> Result<Location> {
    let store_url = Url::parse(&format!("{scheme}://{bucket}")).map_err(|e| {
        DataFusionError::Configuration(format!("location '{url}': cannot form the store URL: {e}"))
    })?;
    let mut full = url.to_string();
    if !full.ends_with('/') {
        full.push('/');
    }
    Ok(Location {
        store_url,
        store: Arc::new(store),
        path,
        url: full,
    })
}

/// The options with `prefix` (e.g. `aws.`), prefix removed, in a stable order.
fn store_options<'a>(
    options: &'a HashMap<String, String>,
    prefix: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = options
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k, v.as_str())))
        .collect();
    out.sort();
    out
}

/// Whether an object store for `url`'s scheme must be built by quiver (the
/// local file system is always registered by DataFusion).
pub fn needs_store(url: &str) -> bool {
    let scheme = url.split("://").next().unwrap_or_default();
    url.contains("://") && !matches!(scheme, "file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_file_urls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wh = dir.path().join("wh");
        let loc = parse(wh.to_str().expect("utf-8"), &HashMap::new()).expect("parse");
        assert_eq!(loc.store_url.as_str(), "file:///");
        assert!(loc.url.ends_with("/wh/"), "{}", loc.url);
        assert!(wh.is_dir(), "the folder is created on first use");
    }

    #[test]
    fn unknown_scheme_is_named() {
        let err = parse("ftp://host/x", &HashMap::new())
            .err()
            .expect("unsupported");
        assert!(
            err.to_string().contains("unsupported scheme 'ftp'"),
            "{err}"
        );
    }

    #[test]
    fn s3_options_are_applied() {
        let opts = HashMap::from([
            ("aws.region".to_string(), "eu-west-1".to_string()),
            ("aws.access_key_id".to_string(), "k".to_string()),
            ("aws.secret_access_key".to_string(), "s".to_string()),
        ]);
        let loc = parse("s3://bucket/some/prefix", &opts).expect("parse");
        assert_eq!(loc.store_url.as_str(), "s3://bucket");
        assert_eq!(loc.path.as_ref(), "some/prefix");
        let bad = HashMap::from([("aws.no_such_key".to_string(), "x".to_string())]);
        assert!(parse("s3://bucket/p", &bad).is_err());
    }
}
