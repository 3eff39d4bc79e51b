//! What `VACUUM` may remove from the model store: objects no published
//! version refers to, left by trainings that were killed before or while
//! they published (see the layout in [`super`]).
//!
//! A model keeps `CURRENT`'s folder and, for every claimed number up to the
//! current one, the folder its claim names (older versions stay readable:
//! a tagger may pin one), and the claims themselves. Everything else under
//! the model's folder is unreferenced: folders without a claim, claims and
//! folders above the current number (a publisher killed between its claim
//! and `CURRENT`), claims whose folder has no manifest, and the whole
//! folder of a model that has no `CURRENT` (a first training killed). Only
//! objects last written before `cutoff` are reported, so a training that
//! is publishing in another process right now keeps its files.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use datafusion::common::Result;
use object_store::ObjectMeta;

use super::objects::{child_folders, get_json, list_all};
use super::{ModelStore, Pointer};

impl ModelStore {
    /// The objects under the store that no published version refers to,
    /// last written before `cutoff`, each with why it is unreferenced.
    pub async fn unreferenced(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<(ObjectMeta, &'static str)>> {
        let mut out = Vec::new();
        for name in child_folders(self.store.as_ref(), &self.root).await? {
            let dir = self.model_dir(&name);
            let current =
                get_json::<Pointer>(self.store.as_ref(), &dir.clone().join("CURRENT")).await?;
            let mut kept: HashSet<String> = HashSet::new();
            let mut kept_claims: HashSet<String> = HashSet::new();
            if let Some(current) = &current {
                kept.insert(current.dir.clone());
                kept_claims.insert(current.version.to_string());
                for claim in self.claims(&name).await? {
                    let (number, pointer) = claim;
                    if pointer.version <= current.version
                        && self.read_manifest(&name, &pointer.dir).await?.is_some()
                    {
                        kept.insert(pointer.dir);
                        kept_claims.insert(number);
                    }
                }
                // Versions published before numbers were claimed: folders
                // `v<n>-...` with a manifest and no claim of their number.
                for folder in child_folders(self.store.as_ref(), &dir).await? {
                    if folder == "versions" || kept.contains(&folder) {
                        continue;
                    }
                    // A manifest that cannot be read is kept: VACUUM removes
                    // only what it knows to be unreferenced.
                    let keep = match self.read_manifest(&name, &folder).await {
                        Ok(Some(m)) => {
                            m.version <= current.version
                                && !kept_claims.contains(&m.version.to_string())
                        }
                        Ok(None) => false,
                        Err(_) => true,
                    };
                    if keep {
                        kept.insert(folder);
                    }
                }
            }
            for meta in list_all(self.store.as_ref(), &dir).await? {
                if meta.last_modified >= cutoff {
                    continue;
                }
                let Some(relative) = meta.location.prefix_match(&dir) else {
                    continue;
                };
                let parts: Vec<String> = relative.map(|p| p.as_ref().to_string()).collect();
                let reason = match parts.as_slice() {
                    _ if current.is_none() => "model never published or dropped",
                    [file] if file == "CURRENT" => continue,
                    [versions, number] if versions == "versions" => {
                        if kept_claims.contains(number) {
                            continue;
                        }
                        "claim of a version never published"
                    }
                    [folder, ..] if kept.contains(folder) => continue,
                    _ => "version never published",
                };
                out.push((meta, reason));
            }
        }
        Ok(out)
    }

    /// Every claim of `name`: its number and what it points at.
    async fn claims(&self, name: &str) -> Result<Vec<(String, Pointer)>> {
        let prefix = self.model_dir(name).join("versions");
        let mut out = Vec::new();
        for meta in list_all(self.store.as_ref(), &prefix).await? {
            let Some(number) = meta.location.filename().map(str::to_string) else {
                continue;
            };
            if let Some(pointer) = get_json::<Pointer>(self.store.as_ref(), &meta.location).await? {
                out.push((number, pointer));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use object_store::ObjectStoreExt;
    use object_store::path::Path;

    use super::*;

    async fn publish(models: &ModelStore, name: &str) {
        let mut w = models.begin(name, "test").await.expect("begin");
        w.put("payload.bin", b"x".to_vec()).await.expect("put");
        w.publish(BTreeMap::new(), BTreeMap::new(), None, BTreeMap::new())
            .await
            .expect("publish");
    }

    fn names(found: &[(ObjectMeta, &str)]) -> Vec<String> {
        let mut out: Vec<String> = found
            .iter()
            .map(|(m, why)| format!("{} {why}", m.location))
            .collect();
        out.sort();
        out
    }

    /// What a killed training leaves is reported; every published version,
    /// its claim and CURRENT are not; nothing newer than the cutoff is.
    #[tokio::test]
    async fn only_what_no_version_refers_to() {
        let models = ModelStore::in_memory();
        publish(&models, "m").await;
        publish(&models, "m").await;
        let store = models.object_store();
        // A training killed before it published, and one killed between
        // its claim and CURRENT, and a first training killed.
        store
            .put(&Path::from("models/m/v3-dead/payload.bin"), "x".into())
            .await
            .expect("put");
        store
            .put(
                &Path::from("models/m/versions/3"),
                r#"{"version":3,"dir":"v3-claimed"}"#.into(),
            )
            .await
            .expect("put");
        let mut manifest = models.current("m").await.expect("read").expect("exists");
        manifest.version = 3;
        let manifest = serde_json::to_vec(&manifest).expect("json");
        store
            .put(
                &Path::from("models/m/v3-claimed/manifest.json"),
                manifest.into(),
            )
            .await
            .expect("put");
        store
            .put(&Path::from("models/fresh/v1-x/payload.bin"), "x".into())
            .await
            .expect("put");
        let later = Utc::now() + chrono::Duration::seconds(5);
        assert_eq!(
            names(&models.unreferenced(later).await.expect("vacuum")),
            vec![
                "models/fresh/v1-x/payload.bin model never published or dropped",
                "models/m/v3-claimed/manifest.json version never published",
                "models/m/v3-dead/payload.bin version never published",
                "models/m/versions/3 claim of a version never published",
            ]
        );
        let earlier = Utc::now() - chrono::Duration::hours(1);
        assert!(
            models
                .unreferenced(earlier)
                .await
                .expect("vacuum")
                .is_empty()
        );
        for v in [1, 2] {
            assert!(models.version("m", v).await.expect("read").is_some());
        }
    }
}
