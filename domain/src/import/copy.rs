//! Imports into several stores: the `copy-image` method (an active image's data copied to
//! more stores, each store's outcome recorded as it ends) and the landing of imported data
//! in the stores an import names (`stores`, `all_stores`), with Glance's bookkeeping in
//! `os_glance_importing_to_stores` / `os_glance_failed_import` and its
//! `all_stores_must_succeed` rule.

use super::{FAILED_IMPORT, IMPORTING_TO_STORES};
use crate::error::DomainError;
use crate::service::Glance;
use crate::stores::sink::Landed;
use crate::stores::{Source, Store};
use crate::tasks::{StoredData, Task};
use crate::write;
use serde_json::Value;
use tessera_raft::{Image, ImageStatus};

/// The stores a task's import writes to (its `backend`), in order, and whether a failure in
/// one fails the import (`all_stores_must_succeed`, Glance's default: yes).
pub(crate) fn targets(task: &Task) -> (Vec<String>, bool) {
    let stores = task
        .input
        .get("backend")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let must = task
        .input
        .pointer("/import_req/all_stores_must_succeed")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    (stores, must)
}

/// Appends `store` to the comma-separated list property `key`.
fn list_add(img: &mut Image, key: &str, store: &str) {
    let mut list: Vec<String> = list_of(img, key);
    if !list.iter().any(|s| s == store) {
        list.push(store.to_string());
    }
    img.properties.insert(key.into(), list.join(","));
}

/// Removes `store` from the comma-separated list property `key`.
fn list_remove(img: &mut Image, key: &str, store: &str) {
    let list: Vec<String> = list_of(img, key)
        .into_iter()
        .filter(|s| s != store)
        .collect();
    img.properties.insert(key.into(), list.join(","));
}

fn list_of(img: &Image, key: &str) -> Vec<String> {
    img.properties
        .get(key)
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// What landing imported data in its stores came to.
pub(crate) struct Landings {
    /// The copies made, by store.
    pub made: Vec<(Store, Landed)>,
    /// The stores that failed, with why.
    pub failed: Vec<(String, String)>,
}

impl Landings {
    /// The failed stores' ids, comma-separated.
    pub fn failed_ids(&self) -> String {
        let ids: Vec<&str> = self.failed.iter().map(|(s, _)| s.as_str()).collect();
        ids.join(",")
    }

    /// Why the stores failed, for the task's message.
    pub fn message(&self) -> String {
        let why: Vec<String> = self
            .failed
            .iter()
            .map(|(s, e)| format!("store {s}: {e}"))
            .collect();
        format!("Import to stores failed: {}", why.join("; "))
    }
}

impl Glance {
    /// Lands the imported `data` (staged in the chunk store) in each of the `targets`: the
    /// cluster store takes the manifest as it is, every other store a copy.
    pub(crate) async fn land(
        &self,
        image_id: &str,
        data: &StoredData,
        targets: &[String],
    ) -> Landings {
        let mut out = Landings {
            made: Vec::new(),
            failed: Vec::new(),
        };
        for id in targets {
            let Some(store) = self.stores.get(id).cloned() else {
                out.failed
                    .push((id.clone(), "store is not configured on this node".into()));
                continue;
            };
            match self.land_one(image_id, data, &store).await {
                Ok(landed) => out.made.push((store, landed)),
                Err(e) => {
                    tracing::warn!(image_id, store = %id, error = %e, "import to store failed");
                    out.failed.push((id.clone(), e.to_string()));
                }
            }
        }
        out
    }

    async fn land_one(
        &self,
        image_id: &str,
        data: &StoredData,
        store: &Store,
    ) -> Result<Landed, DomainError> {
        if store.read_only {
            return Err(crate::stores::StoreError::ReadOnly.into());
        }
        let id = crate::download::manifest_id(
            image_id,
            &tessera_raft::DataRef::new(data.manifest.clone()),
        )?;
        if store.kind == crate::stores::StoreKind::Cluster {
            // The staged record keeps these chunks live until the image names them.
            return self
                .share_chunks(id, store, data.size, &data.md5, &data.sha512)
                .await;
        }
        let manifest = self.data.manifest(&id).await?;
        let source = Source::Chunks {
            manifest_id: id,
            manifest,
            data: self.data.clone(),
        };
        self.copy_source(image_id, &source, store, &data.md5, &data.sha512)
            .await
    }

    /// Runs a `copy-image` of the active image `image_id` into `targets` for task `task`,
    /// recording each store's end in the image as it comes; the failure message when a store
    /// failed and `must_succeed`, or when every store failed.
    pub(crate) async fn copy_image(
        &self,
        task: &str,
        image_id: &str,
        targets: &[String],
        must_succeed: bool,
    ) -> Result<Result<(), String>, DomainError> {
        let image = write::modify(&self.meta, image_id, |img| {
            super::run::holds_lock(img, task)?;
            if img.status != ImageStatus::Active {
                return Err(DomainError::Conflict(
                    "Only images with status active can be targeted for copying".into(),
                ));
            }
            img.properties
                .insert(IMPORTING_TO_STORES.into(), targets.join(","));
            img.properties.insert(FAILED_IMPORT.into(), String::new());
            Ok(())
        })
        .await?;
        let mut failed = Vec::new();
        for id in targets {
            let copied = match self.stores.get(id).cloned() {
                Some(store) if store.read_only => Err(crate::stores::StoreError::ReadOnly.into()),
                Some(store) => self.copy_to(&image, &store).await.map(|l| (store, l)),
                None => Err(DomainError::Conflict(format!(
                    "Store for identifier {id} not found"
                ))),
            };
            let recorded = write::modify(&self.meta, image_id, |img| {
                super::run::holds_lock(img, task)?;
                list_remove(img, IMPORTING_TO_STORES, id);
                match &copied {
                    Ok((store, landed)) => self.give_data(img, store, landed),
                    Err(_) => list_add(img, FAILED_IMPORT, id),
                }
                Ok::<_, DomainError>(())
            })
            .await;
            match (&copied, recorded) {
                (Ok(_), Ok(_)) => tracing::info!(image_id, store = %id, "image copied to store"),
                (Err(e), Ok(_)) => {
                    tracing::warn!(image_id, store = %id, error = %e, "copy to store failed");
                    failed.push(format!("store {id}: {e}"));
                }
                (_, Err(e)) => {
                    if let Ok((store, landed)) = &copied {
                        self.discard(store, landed).await;
                    }
                    return Err(e);
                }
            }
        }
        self.drop_lock(image_id, task).await;
        if failed.is_empty() || (!must_succeed && failed.len() < targets.len()) {
            Ok(Ok(()))
        } else {
            Ok(Err(format!("Copy to stores failed: {}", failed.join("; "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lists_are_comma_separated() {
        let mut img = Image::new("i".into(), None, 0);
        list_add(&mut img, FAILED_IMPORT, "a");
        list_add(&mut img, FAILED_IMPORT, "b");
        list_add(&mut img, FAILED_IMPORT, "a");
        assert_eq!(img.properties[FAILED_IMPORT], "a,b");
        list_remove(&mut img, FAILED_IMPORT, "a");
        assert_eq!(img.properties[FAILED_IMPORT], "b");
        list_remove(&mut img, FAILED_IMPORT, "b");
        assert_eq!(img.properties[FAILED_IMPORT], "");
    }
}
