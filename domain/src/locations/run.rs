//! Running a `location_import` task under its claim, as Glance's `location_import` flow
//! does: the store reports the data's size; with `do_secure_hash` the data is read (up to
//! `http_retries` times) for its MD5 and `os_hash_value`: before the image becomes active
//! when the client sent `validation_data` (checked against it; a mismatch puts the image
//! back to `queued`, dropping a non-http location with its data as Glance's revert does),
//! after it otherwise (a deleted image cancels the reading). As for imports, the outcome is
//! recorded in the task under the claim before the image changes, so a node taking the task
//! over applies the same one. URLs may carry a store's keys: they are never logged.

use super::{digest, HashAlgo, ValidationData};
use crate::error::DomainError;
use crate::import::{holds_lock, IMPORT_TASK};
use crate::lifecycle;
use crate::service::Glance;
use crate::stores::{Backend, StoreDriver};
use crate::tasks::claim::{Claim, Fenced};
use crate::tasks::{Task, TaskStatus};
use crate::write;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use tessera_raft::{Image, ImageStatus, Location};

/// What a location task decided, recorded before it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Located {
    /// The image becomes active with the location and these fields.
    Active {
        /// Bytes at the location.
        size: u64,
        /// MD5, if computed.
        checksum: Option<String>,
        /// The hash algorithm of `os_hash_value`, if any.
        os_hash_algo: Option<String>,
        /// The hash computed, or vouched for by the client.
        os_hash_value: Option<String>,
        /// The digests are computed once the image is active (`do_secure_hash` without
        /// `validation_data`, as Glance orders it).
        #[serde(default)]
        hash_after: bool,
    },
    /// The image goes back to `queued`. When the digests were checked, Glance had added the
    /// location first and its revert pops it: an http location stays (its `http` store
    /// cannot remove one; Tempest expects `stores` to name it), any other is dropped and its
    /// data deleted (`StoreLocations.pop` deletes from the backend).
    Failed {
        /// Why.
        message: String,
        /// Whether the location stays on the queued image.
        keep_location: bool,
        /// Whether the data at the location is deleted (Glance's pop of a non-http location).
        #[serde(default)]
        remove_data: bool,
    },
}

/// A location task's input.
struct Input {
    image_id: String,
    url: String,
    store: String,
    validation: Option<ValidationData>,
}

fn input(task: &Task) -> Result<Input, String> {
    let text = |k: &str| {
        task.input
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let validation = task
        .input
        .get("validation_data")
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| format!("Task input has bad validation_data: {e}"))?;
    match (text("image_id"), text("loc_url"), text("store")) {
        (Some(image_id), Some(url), Some(store)) => Ok(Input {
            image_id,
            url,
            store,
            validation,
        }),
        _ => Err("Task input names no image, location or store".into()),
    }
}

/// Runs the claimed task to its end; its final status.
pub async fn run_task(glance: &Glance, claim: &Claim, ttl: i64) -> Result<TaskStatus, Fenced> {
    let task = claim.task().await;
    let input = match input(&task) {
        Ok(i) => i,
        Err(message) => return finish(claim, Err(message), ttl).await,
    };
    let located = match task.located.clone() {
        Some(l) => l,
        None => {
            let l = decide(glance, claim.id(), &input).await?;
            claim.update(|t| t.located = Some(l.clone())).await?;
            l
        }
    };
    let outcome = match apply(glance, claim.id(), &input, &located).await {
        Ok(outcome) => outcome,
        Err(DomainError::NotFound(_)) => Err("Image has been deleted, aborting task.".into()),
        Err(e @ DomainError::Conflict(_)) => Err(e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let outcome = match (outcome, &located) {
        (
            Ok(()),
            Located::Active {
                hash_after: true, ..
            },
        ) => hash_active(glance, &input).await?,
        (outcome, _) => outcome,
    };
    let outcome = outcome.map(|()| json!({"image_id": input.image_id}));
    finish(claim, outcome, ttl).await
}

/// The driver of store `id`, if this node has it.
fn driver_of<'a>(glance: &'a Glance, id: &str) -> Option<&'a Arc<dyn StoreDriver>> {
    match glance.stores.get(id).map(|s| &s.backend) {
        Some(Backend::Driver(driver)) => Some(driver),
        _ => None,
    }
}

/// Computes the digests of an active image's location and records them, unless the image
/// is deleted (or changes) meanwhile, which cancels the reading as Glance does.
async fn hash_active(glance: &Glance, input: &Input) -> Result<Result<(), String>, DomainError> {
    let canceled = format!(
        "Hash calculation for image {} has been canceled",
        input.image_id
    );
    let Some(driver) = driver_of(glance, &input.store) else {
        return Ok(Err(format!(
            "Store {} is not configured on this node",
            input.store
        )));
    };
    let retries = glance.settings.locations.http_retries;
    let measured = tokio::select! {
        m = measure(driver, input, HashAlgo::Sha512, retries) => m,
        () = until_changed(glance, input) => return Ok(Err(canceled)),
    };
    let Some(m) = measured else {
        tracing::warn!(image_id = %input.image_id, "hash calculation failed; the image stays active without digests");
        return Ok(Ok(()));
    };
    let recorded = write::modify(&glance.meta, &input.image_id, |img| {
        if !holds_location(img, input) {
            return Err(DomainError::Conflict(canceled.clone()));
        }
        if img.os_hash_value.is_none() {
            img.checksum = Some(m.md5.clone());
            img.os_hash_value = Some(m.hash.clone());
        }
        Ok(())
    })
    .await;
    match recorded {
        Ok(_) => Ok(Ok(())),
        Err(DomainError::NotFound(_)) => Ok(Err(canceled)),
        Err(DomainError::Conflict(m)) => Ok(Err(m)),
        Err(e) => Err(e),
    }
}

/// Whether `img` is active with this task's location.
fn holds_location(img: &Image, input: &Input) -> bool {
    img.status == ImageStatus::Active && img.locations.iter().any(|l| l.url == input.url)
}

/// Returns once the image is gone or no longer active with this location (checked every
/// second).
async fn until_changed(glance: &Glance, input: &Input) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        match write::load(&glance.meta, &input.image_id).await {
            Ok(img) if holds_location(&img, input) => {}
            Ok(_) | Err(DomainError::NotFound(_)) => return,
            // The cluster cannot answer now; the reading goes on.
            Err(_) => {}
        }
    }
}

async fn finish(
    claim: &Claim,
    outcome: Result<serde_json::Value, String>,
    ttl: i64,
) -> Result<TaskStatus, Fenced> {
    if let Err(message) = &outcome {
        tracing::warn!(%message, "location task failed");
    }
    Ok(claim.update(|t| t.finish(outcome, ttl)).await?.status)
}

fn failed(message: String, keep_location: bool) -> Located {
    Located::Failed {
        message,
        keep_location,
        remove_data: false,
    }
}

/// A failed check of the digests, after which Glance's revert pops the location it had
/// added: it keeps one whose URL starts with `http`, and deletes any other with its data.
fn check_failed(message: String, url: &str) -> Located {
    let http = url.starts_with("http");
    Located::Failed {
        message,
        keep_location: http,
        remove_data: !http,
    }
}

/// Reads the size (and, with `do_secure_hash`, the digests) of the location.
async fn decide(glance: &Glance, task: &str, input: &Input) -> Result<Located, DomainError> {
    let settings = glance.settings.locations;
    let hashing = settings.do_secure_hash;
    // Glance shows `importing` while it hashes data a client vouched for.
    let marked = write::modify(&glance.meta, &input.image_id, |img| {
        holds_lock(img, task)?;
        if hashing && input.validation.is_some() && img.status == ImageStatus::Queued {
            lifecycle::advance(img, ImageStatus::Importing)?;
        }
        Ok::<_, DomainError>(())
    })
    .await;
    match marked {
        Ok(_) => {}
        Err(DomainError::NotFound(_)) => {
            return Ok(failed(
                "Image has been deleted, aborting task.".into(),
                false,
            ))
        }
        Err(e @ DomainError::Conflict(_)) => return Ok(failed(e.to_string(), false)),
        Err(e) => return Err(e),
    }
    let Some(driver) = driver_of(glance, &input.store) else {
        return Ok(failed(
            format!("Store {} is not configured on this node", input.store),
            false,
        ));
    };
    let size = match driver.size(&input.url).await {
        Ok(size) => size,
        Err(e) => {
            // The driver's error names the location without its credentials; the URL
            // (not logged or shown) may carry them.
            tracing::warn!(image_id = %input.image_id, store = %input.store, error = %e, "location unreadable");
            return Ok(failed(
                format!("Unable to read the image data at the location: {e}"),
                false,
            ));
        }
    };
    let Some(v) = &input.validation else {
        if !hashing {
            return Ok(active(size, None, None, None));
        }
        // Glance activates first and hashes after (a failed read leaves the image active
        // without digests).
        return Ok(Located::Active {
            size,
            checksum: None,
            os_hash_algo: Some(HashAlgo::Sha512.as_str().into()),
            os_hash_value: None,
            hash_after: true,
        });
    };
    if !hashing {
        let hash = (Some(v.os_hash_algo.clone()), Some(v.os_hash_value.clone()));
        return Ok(active(size, None, hash.0, hash.1));
    }
    let Some(algo) = HashAlgo::parse(&v.os_hash_algo) else {
        return Ok(check_failed(
            format!("Cannot compute {}", v.os_hash_algo),
            &input.url,
        ));
    };
    let Some(m) = measure(driver, input, algo, settings.http_retries).await else {
        return Ok(check_failed(
            format!("Hash calculation failed for image {} data", input.image_id),
            &input.url,
        ));
    };
    if m.hash != v.os_hash_value {
        return Ok(check_failed(
            format!(
                "os_hash_value: ({}) not matched with actual os_hash_value: ({})",
                v.os_hash_value, m.hash
            ),
            &input.url,
        ));
    }
    Ok(active(
        m.size,
        Some(m.md5),
        Some(v.os_hash_algo.clone()),
        Some(m.hash),
    ))
}

fn active(
    size: u64,
    checksum: Option<String>,
    os_hash_algo: Option<String>,
    os_hash_value: Option<String>,
) -> Located {
    Located::Active {
        size,
        checksum,
        os_hash_algo,
        os_hash_value,
        hash_after: false,
    }
}

/// Reads the location's data whole and digests it, trying `retries` times (at least once).
async fn measure(
    driver: &Arc<dyn StoreDriver>,
    input: &Input,
    algo: HashAlgo,
    retries: u32,
) -> Option<digest::Measured> {
    let tries = retries.max(1);
    for attempt in 1..=tries {
        let read = match driver.get(&input.url, 0, None).await {
            Ok(stream) => digest::digest(stream, algo).await,
            Err(e) => Err(std::io::Error::other(e)),
        };
        match read {
            Ok(m) => return Some(m),
            Err(e) => {
                tracing::warn!(image_id = %input.image_id, store = %input.store, attempt, tries, error = %e, "hash calculation failed")
            }
        }
    }
    None
}

/// Whether the image already has this location and is active without this task's lock (a
/// node that took the task over after it was applied finds it so).
fn applied(img: &Image, input: &Input) -> bool {
    holds_location(img, input) && !img.properties.contains_key(IMPORT_TASK)
}

fn put_location(img: &mut Image, input: &Input) {
    img.locations.retain(|l| l.store != input.store);
    img.locations.push(Location {
        store: input.store.clone(),
        url: input.url.clone(),
    });
}

/// Deletes the data at the task's location, as Glance's revert does when it pops a
/// non-http location; a failure is logged (the task fails either way). A node applying the
/// decision again deletes again, which finds the data gone.
async fn remove_data_at(glance: &Glance, input: &Input) {
    let Some(driver) = driver_of(glance, &input.store) else {
        tracing::warn!(image_id = %input.image_id, store = %input.store, "store not configured here; location data left in place");
        return;
    };
    match driver.delete(&input.url).await {
        Ok(()) => {
            tracing::info!(image_id = %input.image_id, store = %input.store, "data of the refused location deleted, as Glance's revert does")
        }
        Err(e) => {
            tracing::warn!(image_id = %input.image_id, store = %input.store, error = %e, "could not delete the data of the refused location")
        }
    }
}

/// Applies `located` to the image; whether the task succeeded (its message if not).
async fn apply(
    glance: &Glance,
    task: &str,
    input: &Input,
    located: &Located,
) -> Result<Result<(), String>, DomainError> {
    match located {
        Located::Active {
            size,
            checksum,
            os_hash_algo,
            os_hash_value,
            ..
        } => {
            write::modify(&glance.meta, &input.image_id, |img| {
                if applied(img, input) {
                    return Ok(());
                }
                holds_lock(img, task)?;
                put_location(img, input);
                img.size = Some(*size);
                img.checksum = checksum.clone();
                img.os_hash_algo = os_hash_algo.clone();
                img.os_hash_value = os_hash_value.clone();
                img.properties.remove(IMPORT_TASK);
                lifecycle::advance(img, ImageStatus::Active)
            })
            .await?;
            tracing::info!(image_id = %input.image_id, store = %input.store, size, "location added, image active");
            Ok(Ok(()))
        }
        Located::Failed {
            message,
            keep_location,
            remove_data,
        } => {
            // Whether this write reverted the image: the data goes only then (a node taking
            // the task over after the write leaves it, never deleting for a changed image).
            let mut held = false;
            let reverted = write::modify(&glance.meta, &input.image_id, |img| {
                held = holds_lock(img, task).is_ok();
                if !held {
                    return Ok(());
                }
                if img.status == ImageStatus::Importing {
                    lifecycle::advance(img, ImageStatus::Queued)?;
                }
                if *keep_location {
                    put_location(img, input);
                }
                img.size = None;
                img.checksum = None;
                img.os_hash_algo = None;
                img.os_hash_value = None;
                img.properties.remove(IMPORT_TASK);
                Ok::<_, DomainError>(())
            })
            .await;
            match reverted {
                Ok(_) => {}
                Err(DomainError::NotFound(_)) => held = false,
                Err(e) => return Err(e),
            }
            if *remove_data && held {
                remove_data_at(glance, input).await;
            }
            Ok(Err(message.clone()))
        }
    }
}
