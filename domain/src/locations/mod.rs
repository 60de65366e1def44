//! Glance's locations API (2.17): `POST /v2/images/{id}/locations` adds a location to a
//! queued image through a `location_import` task (size read from the store, digests computed
//! when `do_secure_hash` is on and checked against the client's `validation_data`), and
//! `GET /v2/images/{id}/locations` lists an image's copies for the `service` role. A location
//! is in the store whose driver owns its URL; Glance's restricted schemes are refused.

mod digest;
mod legacy;
mod run;

use crate::caller::Caller;
use crate::docs;
use crate::error::DomainError;
use crate::import::IMPORT_TASK;
use crate::service::Glance;
use crate::stores::{Store, StoreKind};
use crate::tasks::{image_task_id, ImageTask, Task};
use crate::write;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tessera_raft::{Expect, ImageStatus};

pub use digest::{digest, digest_len, HashAlgo, Measured};
pub use legacy::{LocationEdit, LocationView};
pub use run::{run_task, Located};

/// Glance's task type of a location added through the locations API.
pub const LOCATION_IMPORT: &str = "location_import";

/// The URL scheme shown for the cluster chunk store's copy of an image (it has no URL of
/// its own: the record names its manifest).
pub const CLUSTER_SCHEME: &str = "tessera";

/// Glance's location settings an operator chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocationSettings {
    /// Glance's `do_secure_hash`: a location's data is read to compute `checksum` and
    /// `os_hash_value` (and check `validation_data`) before the image is active.
    pub do_secure_hash: bool,
    /// Glance's `http_retries`: reads of the data for those digests tried this many times.
    pub http_retries: u32,
    /// Glance's `show_multiple_locations`: images show their `locations` (to those the
    /// `get_image_location` policy lets read them) and the legacy `PATCH` forms on
    /// `/locations` edit them.
    pub show_multiple_locations: bool,
    /// Glance's `show_image_direct_url`: images show their first location as `direct_url`.
    pub show_image_direct_url: bool,
}

impl Default for LocationSettings {
    /// Glance's defaults.
    fn default() -> Self {
        LocationSettings {
            do_secure_hash: true,
            http_retries: 3,
            show_multiple_locations: false,
            show_image_direct_url: false,
        }
    }
}

/// The digests a client vouches for (`validation_data`), checked for form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationData {
    /// Glance's `os_hash_algo`.
    pub os_hash_algo: String,
    /// Glance's `os_hash_value`, lower-case hex.
    pub os_hash_value: String,
}

/// A checked `POST /v2/images/{id}/locations` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddLocation {
    /// The location's URL.
    pub url: String,
    /// The digests the client vouches for, if any.
    pub validation: Option<ValidationData>,
}

fn bad(message: String) -> DomainError {
    DomainError::Invalid(message)
}

impl AddLocation {
    /// Checks `body` as Glance's `add_location` schema and `_validate_hashing_data` do.
    pub fn parse(body: &Value) -> Result<AddLocation, DomainError> {
        let Some(obj) = body.as_object() else {
            return Err(bad("The request body must be a JSON object".into()));
        };
        let url = match obj.get("url") {
            Some(Value::String(u)) => u.clone(),
            Some(other) => {
                return Err(bad(format!("Invalid url: {other} is not of type 'string'")))
            }
            None => return Err(bad("'url' is a required property".into())),
        };
        let validation = match obj.get("validation_data") {
            None | Some(Value::Null) => None,
            Some(Value::Object(v)) => parse_validation(v)?,
            Some(other) => {
                return Err(bad(format!(
                    "Invalid validation_data: {other} is not of type 'object'"
                )))
            }
        };
        Ok(AddLocation { url, validation })
    }
}

fn parse_validation(
    v: &serde_json::Map<String, Value>,
) -> Result<Option<ValidationData>, DomainError> {
    if let Some(extra) = v
        .keys()
        .find(|k| *k != "os_hash_algo" && *k != "os_hash_value")
    {
        return Err(bad(format!(
            "Additional properties are not allowed ('{extra}' was unexpected)"
        )));
    }
    let field = |name: &str| match v.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!(
            "Invalid {name}: {other} is not of type 'string'"
        ))),
    };
    let (algo, value) = match (field("os_hash_algo")?, field("os_hash_value")?) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(bad(
                "'os_hash_value' is a dependency of 'os_hash_algo'".into()
            ))
        }
        (None, Some(_)) => {
            return Err(bad(
                "'os_hash_algo' is a dependency of 'os_hash_value'".into()
            ))
        }
        (Some(a), Some(h)) => (a, h),
    };
    let Some(want) = digest_len(&algo) else {
        return Err(bad(format!(
            "Invalid os_hash_algo: '{algo}' is not one of ['sha1', 'sha256', 'sha512', 'md5']"
        )));
    };
    if value.len() > 128 {
        return Err(bad(format!("Invalid os_hash_value: '{value}' is too long")));
    }
    let hex = value.len() % 2 == 0 && value.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return Err(bad(format!(
            "os_hash_value ({value}) is not a valid hexadecimal value"
        )));
    }
    if value.len() != want * 2 {
        return Err(bad(format!(
            "os_hash_value: ({value}) is not the correct size for ({algo}) (should be ({want}) bytes)"
        )));
    }
    Ok(Some(ValidationData {
        os_hash_algo: algo,
        os_hash_value: value.to_ascii_lowercase(),
    }))
}

/// One of an image's locations as Glance shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownLocation {
    /// Its URL.
    pub url: String,
    /// The id of the store holding it (Glance's `metadata.store`).
    pub store: String,
    /// The rest of its metadata, as a client set it.
    pub metadata: serde_json::Map<String, Value>,
}

impl ShownLocation {
    /// Glance's JSON form: the metadata with the store in it.
    pub fn to_json(&self) -> Value {
        let mut metadata = self.metadata.clone();
        metadata.insert("store".into(), json!(self.store));
        json!({"url": self.url, "metadata": metadata})
    }
}

/// Glance's `RESTRICTED_URI_SCHEMAS`: schemes its `validate_external_location` refuses for
/// a location a client adds, even one of a configured store, because such a URL reads
/// whatever the store's own access reaches (any file of the node, any object of the
/// configured account: LP #942118, #1400966, #1334196).
const RESTRICTED_SCHEMES: [&str; 3] = ["file", "filesystem", "swift+config"];

/// The scheme of `url` (before `://`), empty when it has none.
fn scheme_of(url: &str) -> &str {
    url.split_once("://").map_or("", |(s, _)| s)
}

impl Glance {
    /// The store a location a client adds is in, as glance_store finds it: the configured
    /// store whose driver owns the URL (scheme and URL prefix). 400 when none does, or when
    /// the scheme is one Glance never accepts from a client.
    fn store_for_url(&self, url: &str) -> Result<&Store, DomainError> {
        let scheme = scheme_of(url).to_ascii_lowercase();
        if RESTRICTED_SCHEMES.contains(&scheme.as_str()) {
            return Err(DomainError::Invalid(format!(
                "Invalid location: {scheme} locations cannot be added (Glance refuses file, filesystem and swift+config locations from clients)"
            )));
        }
        self.stores.owner_of(url).ok_or_else(|| {
            DomainError::Invalid(format!(
                "Invalid location: no configured store holds '{scheme}' locations at that address"
            ))
        })
    }

    /// `POST /v2/images/{id}/locations`: Glance's checks in its order, the image's import
    /// lock, then a pending `location_import` task for the executor; the task's id.
    pub async fn add_location(
        &self,
        who: &Caller,
        id: &str,
        req: AddLocation,
        request_id: Option<String>,
    ) -> Result<String, DomainError> {
        let image = write::load(&self.meta, id).await?;
        let access = self.access(who);
        access.check_view(&image)?;
        if image.status != ImageStatus::Queued {
            return Err(DomainError::Conflict(format!(
                "It's not allowed to add locations if image status is {}.",
                image.status.as_str()
            )));
        }
        access.check_policy(&image, "add_image_location")?;
        // Glance's `is_http_store_configured`: only the service role (Nova, Cinder) may add a
        // location in another store than `http`.
        let http = req.url.starts_with("http")
            && self.stores.all().iter().any(|s| s.kind == StoreKind::Http);
        if !http && !who.roles.iter().any(|r| r == "service") {
            return Err(DomainError::Forbidden(
                "http store must be enabled to use location API by normal user.".into(),
            ));
        }
        let store = self.store_for_url(&req.url)?;
        if let Some(v) = &req.validation {
            if self.settings.locations.do_secure_hash && HashAlgo::parse(&v.os_hash_algo).is_none()
            {
                return Err(DomainError::Invalid(format!(
                    "os_hash_algo {} cannot be computed by this service (md5, sha256 and sha512 can)",
                    v.os_hash_algo
                )));
            }
        }
        let stale = match image.properties.get(IMPORT_TASK) {
            Some(holder) => Some(self.break_stale_lock(id, holder).await?),
            None => None,
        };

        let task_id = uuid::Uuid::new_v4().to_string();
        let mut task = Task::new(
            LOCATION_IMPORT,
            &who.project,
            json!({
                "image_id": id,
                "loc_url": req.url,
                "validation_data": req.validation.as_ref().map_or(json!({}), |v| json!(v)),
                "store": store.id,
            }),
        );
        task.image_id = Some(id.to_string());
        task.user_id = Some(who.user.clone());
        task.roles = who.roles.clone();
        task.request_id = request_id;
        write::modify(&self.meta, id, |img| {
            if img.properties.get(IMPORT_TASK) != stale.as_ref() {
                return Err(DomainError::Conflict(format!(
                    "New operation on image '{id}' is not permitted as prior operation is still in progress"
                )));
            }
            if img.status != ImageStatus::Queued {
                return Err(DomainError::Conflict(format!(
                    "It's not allowed to add locations if image status is {}.",
                    img.status.as_str()
                )));
            }
            img.properties.insert(IMPORT_TASK.into(), task_id.clone());
            Ok(())
        })
        .await?;
        let ops = vec![
            docs::put(&task_id, Expect::Absent, &task)?,
            docs::put(&image_task_id(id, &task_id), Expect::Absent, &ImageTask {})?,
        ];
        if let Err(e) = docs::write(&self.meta, ops).await {
            self.drop_lock(id, &task_id).await;
            return Err(e);
        }
        tracing::info!(task_id = %task_id, image_id = %id, store = %store.id, "location task created");
        Ok(task_id)
    }

    /// `GET /v2/images/{id}/locations` (Glance's policy `fetch_image_location`: the service
    /// role, or admin): every copy of the image's data, highest store weight first.
    pub async fn get_locations(
        &self,
        who: &Caller,
        id: &str,
    ) -> Result<Vec<ShownLocation>, DomainError> {
        let image = write::load(&self.meta, id).await?;
        let access = self.access(who);
        access.check_view(&image)?;
        access.check_policy(&image, "fetch_image_location")?;
        Ok(self.locations_of(&image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<AddLocation, String> {
        AddLocation::parse(&v).map_err(|e| e.to_string())
    }

    #[test]
    fn bodies_are_checked_as_glance_does() {
        let ok = parse(json!({"url": "http://h/i"})).unwrap();
        assert_eq!((ok.url.as_str(), ok.validation), ("http://h/i", None));
        let sha = "ab".repeat(32);
        let ok = parse(json!({"url": "u", "validation_data": {"os_hash_algo": "sha256", "os_hash_value": sha}})).unwrap();
        assert_eq!(ok.validation.unwrap().os_hash_algo, "sha256");
        assert!(parse(json!({}))
            .unwrap_err()
            .contains("'url' is a required"));
        assert!(parse(json!({"url": 3})).is_err());
        let only_value = json!({"url": "u", "validation_data": {"os_hash_value": sha}});
        assert!(parse(only_value).unwrap_err().contains("dependency"));
        let algo = json!({"url": "u", "validation_data": {"os_hash_algo": "sha123", "os_hash_value": sha}});
        assert!(parse(algo).unwrap_err().contains("is not one of"));
        let short = json!({"url": "u", "validation_data": {"os_hash_algo": "sha512", "os_hash_value": sha}});
        assert!(parse(short).unwrap_err().contains("should be (64) bytes"));
        let hex =
            json!({"url": "u", "validation_data": {"os_hash_algo": "md5", "os_hash_value": "zz"}});
        assert!(parse(hex).unwrap_err().contains("not a valid hexadecimal"));
        let extra = json!({"url": "u", "validation_data": {"checksum": "00"}});
        assert!(parse(extra)
            .unwrap_err()
            .contains("'checksum' was unexpected"));
    }
}
