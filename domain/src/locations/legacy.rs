//! Glance's legacy location edits, served when `show_multiple_locations` is on: the `PATCH`
//! operations on `/locations` (add one at a position, replace the list's metadata, remove
//! one), in Glance's order of checks and with its status codes, and the `locations` and
//! `direct_url` fields of the image view.
//!
//! A location added here is read by the store whose driver owns its URL (an http(s) URL by
//! the `http` store; a `swift+http(s)://` or `s3://` one naming a configured Swift or S3
//! store's account and container or bucket, with its credentials); `file://` and
//! `swift+config://` are refused as Glance refuses them. Its size is asked of the store
//! before the record changes (Glance's 400 when it cannot be reached), and a queued image
//! becomes active with it, taking the client's `validation_data` as its digests unchecked
//! (Glance hashes nothing on this path).

use super::{ShownLocation, CLUSTER_SCHEME};
use crate::caller::Caller;
use crate::error::DomainError;
use crate::import::IMPORT_TASK;
use crate::lifecycle;
use crate::record_bounds::MAX_PROPERTY_VALUE;
use crate::service::Glance;
use crate::stores::{redact, Backend, StoreKind};
use crate::write;
use serde_json::{Map, Value};
use std::collections::HashMap;
use tessera_raft::{Image, ImageStatus, Location};

/// The hash algorithm of every image's `os_hash_value` here (Glance's `hashing_algorithm`).
const HASHING_ALGORITHM: &str = "sha512";

/// Longest location URL (Glance's schema).
const MAX_URL: usize = 255;

/// One `PATCH` operation on `/locations`, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum LocationEdit {
    /// `add` at `/locations/{pos}` (`-`: at the end).
    Add {
        /// The position as written in the path (`-` or an index); `None` for `/locations`.
        pos: Option<String>,
        /// The location object.
        value: Value,
    },
    /// `replace` of `/locations` with a whole list.
    Replace(Value),
    /// `remove` at `/locations/{pos}`.
    Remove {
        /// The position as written in the path; `None` for `/locations`.
        pos: Option<String>,
    },
}

/// What the image view shows of an image's locations, when the settings show any.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocationView {
    /// `locations` (with `show_multiple_locations`): empty when the caller may not read them.
    pub locations: Option<Vec<Value>>,
    /// `direct_url` (with `show_image_direct_url`): the first location, if the caller may
    /// read it.
    pub direct_url: Option<String>,
}

/// A location checked against Glance's schema for `locations` items.
struct NewLocation {
    url: String,
    metadata: Map<String, Value>,
    validation: Map<String, Value>,
}

fn bad(message: String) -> DomainError {
    DomainError::Invalid(message)
}

fn conflict(message: String) -> DomainError {
    DomainError::Conflict(message)
}

fn parse_location(v: &Value) -> Result<NewLocation, DomainError> {
    let Some(obj) = v.as_object() else {
        return Err(bad(format!(
            "Invalid location: {v} is not of type 'object'"
        )));
    };
    let url = match obj.get("url") {
        Some(Value::String(u)) if u.chars().count() <= MAX_URL => u.clone(),
        Some(Value::String(u)) => return Err(bad(format!("Invalid location: '{u}' is too long"))),
        Some(other) => {
            return Err(bad(format!(
                "Invalid location: {other} is not of type 'string'"
            )))
        }
        None => return Err(bad("Invalid location: 'url' is a required property".into())),
    };
    let metadata = match obj.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(bad(format!(
                "Invalid location: {other} is not of type 'object'"
            )))
        }
        None => {
            return Err(bad(
                "Invalid location: 'metadata' is a required property".into()
            ))
        }
    };
    if Value::Object(metadata.clone()).to_string().len() > MAX_PROPERTY_VALUE {
        return Err(bad(format!(
            "Invalid location: its metadata is longer than {MAX_PROPERTY_VALUE} bytes"
        )));
    }
    let validation = match obj.get("validation_data") {
        None => Map::new(),
        Some(Value::Object(m)) => check_validation_form(m)?,
        Some(other) => {
            return Err(bad(format!(
                "Invalid location: {other} is not of type 'object'"
            )))
        }
    };
    Ok(NewLocation {
        url,
        metadata,
        validation,
    })
}

/// The schema of `validation_data`: three string fields of bounded length, nothing else.
fn check_validation_form(m: &Map<String, Value>) -> Result<Map<String, Value>, DomainError> {
    for (k, v) in m {
        let (min, max) = match k.as_str() {
            "checksum" => (32, 32),
            "os_hash_algo" => (0, 64),
            "os_hash_value" => (0, 128),
            _ => {
                return Err(bad(format!(
                "Invalid location: Additional properties are not allowed ('{k}' was unexpected)"
            )))
            }
        };
        let Some(s) = v.as_str() else {
            return Err(bad(format!(
                "Invalid location: {v} is not of type 'string'"
            )));
        };
        let n = s.chars().count();
        if n < min || n > max {
            return Err(bad(format!("Invalid location: '{s}' is not a valid {k}")));
        }
    }
    Ok(m.clone())
}

/// Glance's `_validate_validation_data`: the digests the locations vouch for must agree with
/// each other and with the image's; the ones it lacks are checked for form (each a 409) and
/// returned, to be set if the image is queued.
fn new_digests(
    img: &Image,
    locations: &[NewLocation],
) -> Result<Vec<(&'static str, String)>, DomainError> {
    let mut vouched: HashMap<&'static str, String> = HashMap::new();
    for loc in locations {
        for key in ["checksum", "os_hash_algo", "os_hash_value"] {
            let Some(v) = loc.validation.get(key).and_then(Value::as_str) else {
                continue;
            };
            if vouched.get(key).is_some_and(|seen| seen != v) {
                return Err(conflict(format!("Conflicting values for {key}")));
            }
            vouched.insert(key, v.to_string());
        }
    }
    let mut new = Vec::new();
    for key in ["checksum", "os_hash_algo", "os_hash_value"] {
        let Some(v) = vouched.remove(key) else {
            continue;
        };
        let current = match key {
            "checksum" => &img.checksum,
            "os_hash_algo" => &img.os_hash_algo,
            _ => &img.os_hash_value,
        };
        match current {
            Some(c) if *c == v => continue,
            Some(_) => {
                return Err(conflict(format!(
                    "{key} is already set with a different value"
                )))
            }
            None => new.push((key, v)),
        }
    }
    if new.is_empty() {
        return Ok(new);
    }
    if img.status != ImageStatus::Queued {
        let keys: Vec<&str> = new.iter().map(|(k, _)| *k).collect();
        return Err(conflict(format!(
            "New value(s) for {} may only be provided when image status is 'queued'",
            keys.join(", ")
        )));
    }
    let value = |k: &str| {
        new.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(sum) = value("checksum") {
        hex_of_len(sum, 16, "checksum", "md5")?;
    }
    let algo = value("os_hash_algo").unwrap_or_default();
    if algo != HASHING_ALGORITHM {
        return Err(conflict(format!(
            "os_hash_algo must be {HASHING_ALGORITHM}, not {algo}"
        )));
    }
    hex_of_len(
        value("os_hash_value").unwrap_or_default(),
        64,
        "os_hash_value",
        algo,
    )?;
    Ok(new)
}

fn hex_of_len(v: &str, bytes: usize, what: &str, algo: &str) -> Result<(), DomainError> {
    if !v.len().is_multiple_of(2) || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(conflict(format!(
            "{what} ({v}) is not a valid hexadecimal value"
        )));
    }
    if v.len() != bytes * 2 {
        return Err(conflict(format!(
            "{what} ({v}) is not the correct size for {algo} (should be {bytes} bytes)"
        )));
    }
    Ok(())
}

/// A position in the path: `-` (adding only) or an index within `len` (`len` itself too
/// when adding).
fn position(pos: Option<&str>, len: usize, adding: bool) -> Option<usize> {
    match pos? {
        "-" if adding => Some(len),
        p => p
            .parse::<usize>()
            .ok()
            .filter(|&i| i < len || (adding && i == len)),
    }
}

/// Sizes of the new locations an edit needs, asked of their stores before the record changes.
type Sizes = HashMap<String, u64>;

/// The edits applied to one image, and what they unlinked.
struct Editing<'a> {
    glance: &'a Glance,
    img: &'a mut Image,
    shown: Vec<ShownLocation>,
    sizes: &'a Sizes,
    /// New URLs whose size was not yet known (the first, sizing pass collects them).
    wanted: Vec<(String, String)>,
}

impl Editing<'_> {
    fn status_allows(&self, verb: &str) -> Result<(), DomainError> {
        match self.img.status {
            ImageStatus::Queued | ImageStatus::Active => Ok(()),
            s => Err(conflict(format!(
                "It's not allowed to {verb} locations if image status is {}.",
                s.as_str()
            ))),
        }
    }

    /// Checks a URL a client adds (its store, no duplicate) and notes its size; the store.
    fn admit(&mut self, url: &str) -> Result<(String, u64), DomainError> {
        let store = self.glance.store_for_url(url)?;
        if self.shown.iter().any(|l| l.url == url) {
            return Err(bad(format!("The location {url} already exists")));
        }
        let size = match self.sizes.get(url) {
            Some(size) => *size,
            None => {
                self.wanted.push((url.to_string(), store.id.clone()));
                0
            }
        };
        Ok((store.id.clone(), size))
    }

    /// Makes a queued image active with its first location: its size and the digests vouched
    /// for.
    fn activate(&mut self, size: u64, digests: Vec<(&str, String)>) -> Result<(), DomainError> {
        if self.img.status != ImageStatus::Queued {
            return Ok(());
        }
        if self.img.properties.contains_key(IMPORT_TASK) {
            return Err(conflict(format!(
                "New operation on image '{}' is not permitted as prior operation is still in progress",
                self.img.id
            )));
        }
        for (key, v) in digests {
            let field = match key {
                "checksum" => &mut self.img.checksum,
                "os_hash_algo" => &mut self.img.os_hash_algo,
                _ => &mut self.img.os_hash_value,
            };
            *field = Some(v);
        }
        if self.img.size.is_none() {
            self.img.size = Some(size);
        }
        lifecycle::advance(self.img, ImageStatus::Active)
    }

    fn add(&mut self, pos: Option<&str>, value: &Value) -> Result<(), DomainError> {
        self.status_allows("add")?;
        let new = parse_location(value)?;
        let digests = new_digests(self.img, std::slice::from_ref(&new))?;
        let Some(at) = position(pos, self.shown.len(), true) else {
            return Err(bad("Invalid position for adding a location.".into()));
        };
        let (store, size) = self.admit(&new.url)?;
        self.shown.insert(
            at,
            ShownLocation {
                url: new.url,
                store,
                metadata: new.metadata,
            },
        );
        self.activate(size, digests)
    }

    fn replace(&mut self, value: &Value) -> Result<(), DomainError> {
        self.status_allows("replace")?;
        let Some(items) = value.as_array() else {
            return Err(bad(format!(
                "Invalid locations: {value} is not of type 'array'"
            )));
        };
        let new = items
            .iter()
            .map(parse_location)
            .collect::<Result<Vec<_>, _>>()?;
        let digests = new_digests(self.img, &new)?;
        let mut ordered: Vec<&str> = new.iter().map(|l| l.url.as_str()).collect();
        ordered.sort_unstable();
        let mut current: Vec<&str> = self.shown.iter().map(|l| l.url.as_str()).collect();
        current.sort_unstable();
        if ordered == current {
            // The same URLs: only their metadata (and order) change.
            let old = std::mem::take(&mut self.shown);
            for loc in new {
                let store = old
                    .iter()
                    .find(|o| o.url == loc.url)
                    .map(|o| o.store.clone())
                    .unwrap_or_default();
                self.shown.push(ShownLocation {
                    url: loc.url,
                    store,
                    metadata: loc.metadata,
                });
            }
            return Ok(());
        }
        if !current.is_empty() {
            return Err(bad(format!(
                "Original locations is not empty: {}",
                current.join(", ")
            )));
        }
        let mut first = None;
        for loc in new {
            let (store, size) = self.admit(&loc.url)?;
            first.get_or_insert(size);
            self.shown.push(ShownLocation {
                url: loc.url,
                store,
                metadata: loc.metadata,
            });
        }
        match first {
            Some(size) => self.activate(size, digests),
            None => Ok(()),
        }
    }

    fn remove(&mut self, pos: Option<&str>) -> Result<(), DomainError> {
        if self.img.status != ImageStatus::Active {
            return Err(conflict(
                "It's not allowed to remove image data from store if image status is not 'active'"
                    .into(),
            ));
        }
        if self.shown.len() == 1 {
            return Err(DomainError::Forbidden(
                "Cannot remove last location in the image.".into(),
            ));
        }
        let Some(at) = position(pos, self.shown.len(), false) else {
            return Err(bad("Invalid position for removing a location.".into()));
        };
        self.shown.remove(at);
        Ok(())
    }

    /// Writes the edited list back into the record; the driver copies it no longer names,
    /// whose data is to be removed once the record is written (the `http` store's are only
    /// forgotten: it cannot remove anything).
    fn finish(self) -> Vec<(String, String)> {
        let glance = self.glance;
        let img = self.img;
        let cluster_url = |store: &str| format!("{CLUSTER_SCHEME}://{store}/{}", img.id);
        let kept = |url: &str| self.shown.iter().any(|l| l.url == url);
        if let Some(data) = &mut img.data {
            let default = glance.data.config().r;
            let mut copies = glance.stores.cluster_copies(data, default);
            copies.retain(|c| kept(&cluster_url(&c.store)));
            data.stores = copies;
        }
        if img.data.as_ref().is_some_and(|d| d.stores.is_empty()) {
            img.data = None;
        }
        let unlinked = img
            .locations
            .iter()
            .filter(|l| !kept(&l.url))
            .filter(|l| {
                glance
                    .stores
                    .get(&l.store)
                    .is_some_and(|s| s.kind != StoreKind::Http)
            })
            .map(|l| (l.store.clone(), l.url.clone()))
            .collect();
        let clustered: Vec<String> = img
            .data
            .as_ref()
            .map(|d| glance.stores.cluster_copies(d, glance.data.config().r))
            .unwrap_or_default()
            .iter()
            .map(|c| cluster_url(&c.store))
            .collect();
        img.locations = self
            .shown
            .iter()
            .filter(|l| !clustered.contains(&l.url))
            .map(|l| Location {
                store: l.store.clone(),
                url: l.url.clone(),
            })
            .collect();
        img.location_metadata = self
            .shown
            .into_iter()
            .filter(|l| !l.metadata.is_empty())
            .map(|l| (l.url, Value::Object(l.metadata).to_string()))
            .collect();
        unlinked
    }
}

impl Glance {
    /// Every location of `img` with its metadata, highest store weight first: the cluster
    /// stores' copies (as `tessera://<store>/<id>`), then its other locations in order.
    pub fn locations_of(&self, img: &Image) -> Vec<ShownLocation> {
        let cluster = img
            .data
            .as_ref()
            .map(|d| self.stores.cluster_copies(d, self.data.config().r))
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                (
                    format!("{CLUSTER_SCHEME}://{}/{}", c.store, img.id),
                    c.store,
                )
            });
        let others = img
            .locations
            .iter()
            .map(|l| (l.url.clone(), l.store.clone()));
        let mut shown: Vec<ShownLocation> = cluster
            .chain(others)
            .map(|(url, store)| {
                let metadata = img
                    .location_metadata
                    .get(&url)
                    .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
                    .unwrap_or_default();
                ShownLocation {
                    url,
                    store,
                    metadata,
                }
            })
            .collect();
        shown.sort_by_key(|l| std::cmp::Reverse(self.stores.get(&l.store).map_or(0, |s| s.weight)));
        shown
    }

    /// The `locations` and `direct_url` fields of `img`'s view for `who`, as the settings and
    /// Glance's `get_image_location` policy allow.
    pub fn location_view(&self, who: &Caller, img: &Image) -> LocationView {
        let settings = self.settings.locations;
        if !settings.show_multiple_locations && !settings.show_image_direct_url {
            return LocationView::default();
        }
        let readable = self
            .access(who)
            .check_policy(img, "get_image_location")
            .is_ok();
        let shown = if readable {
            self.locations_of(img)
        } else {
            Vec::new()
        };
        LocationView {
            direct_url: settings
                .show_image_direct_url
                .then(|| shown.first().map(|l| l.url.clone()))
                .flatten(),
            locations: settings
                .show_multiple_locations
                .then(|| shown.iter().map(ShownLocation::to_json).collect()),
        }
    }

    /// Applies the legacy location edits of one `PATCH` to image `id` (Glance's
    /// `show_multiple_locations`; 403 without it): the new URLs are sized first, then the
    /// record changes in one write.
    pub async fn edit_locations(
        &self,
        who: &Caller,
        id: &str,
        edits: &[LocationEdit],
    ) -> Result<Image, DomainError> {
        if !self.settings.locations.show_multiple_locations {
            let verb = match edits.first() {
                Some(LocationEdit::Replace(_)) => "update",
                Some(LocationEdit::Remove { .. }) => "remove",
                _ => "add",
            };
            return Err(DomainError::Forbidden(format!(
                "It's not allowed to {verb} locations if locations are invisible."
            )));
        }
        let image = write::load(&self.meta, id).await?;
        self.check_location_edits(who, &image, edits)?;
        // A dry run on the current record names the URLs to size.
        let mut dry = image.clone();
        let wanted = self.edit(&mut dry, edits, &Sizes::new())?.1;
        let mut sizes = Sizes::new();
        for (url, store) in wanted {
            let Some(Backend::Driver(driver)) = self.stores.get(&store).map(|s| &s.backend) else {
                return Err(bad(format!("Store {store} is not configured on this node")));
            };
            match driver.size(&url).await {
                Ok(size) => {
                    sizes.insert(url, size);
                }
                Err(e) => {
                    // The driver's error names the location without its credentials.
                    tracing::warn!(image_id = %id, %store, error = %e, "location unreadable");
                    let what = match self.stores.get(&store).map(|s| s.kind) {
                        Some(StoreKind::Http) => "The HTTP URL is invalid",
                        _ => "Invalid location",
                    };
                    return Err(bad(format!("{what}: {e}")));
                }
            }
        }
        let mut unlinked = Vec::new();
        let stored = write::modify(&self.meta, id, |img| {
            self.check_location_edits(who, img, edits)?;
            let (gone, missing) = self.edit(img, edits, &sizes)?;
            if !missing.is_empty() {
                return Err(conflict(format!(
                    "The locations of image {id} changed meanwhile; try again."
                )));
            }
            unlinked = gone;
            Ok::<_, DomainError>(())
        })
        .await?;
        for (store, url) in unlinked {
            if let Some(Backend::Driver(driver)) = self.stores.get(&store).map(|s| &s.backend) {
                if let Err(e) = driver.delete(&url).await {
                    tracing::warn!(image_id = %id, %store, url = %redact(&url), error = %e, "location removed but its data could not be");
                }
            }
        }
        tracing::info!(image_id = %id, edits = edits.len(), "image locations edited");
        Ok(stored)
    }

    /// The policies the edits need: `set_image_location` to add or replace,
    /// `delete_image_location` to remove.
    fn check_location_edits(
        &self,
        who: &Caller,
        img: &Image,
        edits: &[LocationEdit],
    ) -> Result<(), DomainError> {
        let access = self.access(who);
        access.check_view(img)?;
        access.check_owner_write(img, "modify_image")?;
        for edit in edits {
            let rule = match edit {
                LocationEdit::Remove { .. } => "delete_image_location",
                _ => "set_image_location",
            };
            access.check_policy(img, rule)?;
        }
        Ok(())
    }

    /// Applies `edits` to `img` with the sizes known; the driver copies unlinked and the new
    /// locations still to size.
    #[allow(clippy::type_complexity)]
    fn edit(
        &self,
        img: &mut Image,
        edits: &[LocationEdit],
        sizes: &Sizes,
    ) -> Result<(Vec<(String, String)>, Vec<(String, String)>), DomainError> {
        let shown = self.locations_of(img);
        let mut editing = Editing {
            glance: self,
            img,
            shown,
            sizes,
            wanted: Vec::new(),
        };
        for edit in edits {
            match edit {
                LocationEdit::Add { pos, value } => editing.add(pos.as_deref(), value)?,
                LocationEdit::Replace(value) => editing.replace(value)?,
                LocationEdit::Remove { pos } => editing.remove(pos.as_deref())?,
            }
        }
        let wanted = std::mem::take(&mut editing.wanted);
        Ok((editing.finish(), wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positions_are_read_as_glance_does() {
        assert_eq!(position(Some("-"), 2, true), Some(2));
        assert_eq!(position(Some("-"), 2, false), None);
        assert_eq!(position(Some("2"), 2, true), Some(2));
        assert_eq!(position(Some("2"), 2, false), None);
        assert_eq!(position(Some("1"), 2, false), Some(1));
        assert_eq!(position(Some("x"), 2, true), None);
        assert_eq!(position(None, 2, true), None);
    }

    #[test]
    fn locations_are_checked_against_the_schema() {
        let err = |v: Value| match parse_location(&v) {
            Err(DomainError::Invalid(m)) => m,
            other => panic!("{v} was not refused: {:?}", other.map(|l| l.url)),
        };
        assert!(err(json!({"metadata": {}})).contains("'url' is a required"));
        assert!(err(json!({"url": "http://h/i"})).contains("'metadata' is a required"));
        assert!(err(json!({"url": 1, "metadata": {}})).contains("not of type 'string'"));
        assert!(err(json!({"url": "u", "metadata": [], })).contains("not of type 'object'"));
        let long = "h".repeat(256);
        assert!(err(json!({"url": long, "metadata": {}})).contains("too long"));
        let extra = json!({"url": "u", "metadata": {}, "validation_data": {"size": "1"}});
        assert!(err(extra).contains("'size' was unexpected"));
        let short = json!({"url": "u", "metadata": {}, "validation_data": {"checksum": "1"}});
        assert!(err(short).contains("not a valid checksum"));
        assert!(parse_location(&json!({"url": "u", "metadata": {"a": 1}})).is_ok());
    }

    fn vouching(v: Value) -> NewLocation {
        parse_location(&json!({"url": "u", "metadata": {}, "validation_data": v}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn digests_must_agree_with_the_image_and_be_well_formed() {
        let mut img = Image::new("i".into(), None, 0);
        let good = json!({"checksum": "1".repeat(32), "os_hash_algo": "sha512", "os_hash_value": "ab".repeat(64)});
        let new = new_digests(&img, &[vouching(good.clone())]).unwrap();
        assert_eq!(new.len(), 3);
        let code = |img: &Image, v: Value| match new_digests(img, &[vouching(v)]) {
            Err(DomainError::Conflict(m)) => m,
            other => panic!("not a conflict: {other:?}"),
        };
        let sha256 = json!({"os_hash_algo": "sha256", "os_hash_value": "ab".repeat(32)});
        assert!(code(&img, sha256).contains("must be sha512"));
        let odd = json!({"os_hash_algo": "sha512", "os_hash_value": "abc"});
        assert!(code(&img, odd).contains("not a valid hexadecimal"));
        img.checksum = Some("1".repeat(32));
        img.os_hash_algo = Some("sha512".into());
        img.os_hash_value = Some("ab".repeat(64));
        img.status = ImageStatus::Active;
        assert!(new_digests(&img, &[vouching(good)]).unwrap().is_empty());
        let other = json!({"checksum": "2".repeat(32)});
        assert!(code(&img, other).contains("already set with a different value"));
        let both = [
            vouching(json!({"checksum": "1".repeat(32)})),
            vouching(json!({"checksum": "2".repeat(32)})),
        ];
        assert!(
            matches!(new_digests(&img, &both), Err(DomainError::Conflict(m)) if m.contains("Conflicting"))
        );
    }
}
