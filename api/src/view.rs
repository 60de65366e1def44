//! The Glance JSON view of an image and the way a (validated) view becomes a record again.

use crate::error::ApiError;
use serde_json::{json, Map, Value};
use tessera_domain::stores::Stores;
use tessera_raft::{Image, Visibility};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Properties computed by the service; a client may never set them.
pub const READ_ONLY: &[&str] = &[
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "size",
    "virtual_size",
    "status",
    "self",
    "file",
    "schema",
    "direct_url",
    "stores",
];

/// Names Glance keeps for itself.
pub const RESERVED: &[&str] = &["deleted", "deleted_at", "location", "locations", "owner_id"];

/// Why a client may not set `name`, if it may not: read-only, reserved or `os_glance_*`.
pub fn forbidden_property(name: &str) -> Option<ApiError> {
    if READ_ONLY.contains(&name) {
        Some(ApiError::Forbidden(format!(
            "Attribute '{name}' is read-only."
        )))
    } else if RESERVED.contains(&name) || name.starts_with("os_glance") {
        Some(ApiError::Forbidden(format!(
            "Attribute '{name}' is reserved."
        )))
    } else {
        None
    }
}

/// Formats unix seconds the way Glance does (`2024-01-31T12:00:00Z`).
pub fn format_time(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(|s| s.replace("+00:00", "Z"))
        .unwrap_or_default()
}

/// Parses an ISO 8601 / RFC 3339 time as Glance filters accept it.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    // A zone is a `-` after the date part; `get` (not slicing) since byte 10 of client input
    // may fall inside a multi-byte character.
    let zoned_after_date = s.get(10..).is_some_and(|rest| rest.contains('-'));
    let with_zone = if s.ends_with('Z') || s.contains('+') || zoned_after_date {
        s.to_string()
    } else {
        format!("{s}Z")
    };
    OffsetDateTime::parse(&with_zone, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// The image as Glance renders it; `stores` names the stores holding its data.
pub fn image_json(img: &Image, stores: &Stores) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(img.id));
    m.insert("name".into(), opt_str(&img.name));
    m.insert("status".into(), json!(img.status.as_str()));
    m.insert("visibility".into(), json!(img.visibility.as_str()));
    m.insert("protected".into(), json!(img.protected));
    m.insert("os_hidden".into(), json!(img.os_hidden));
    m.insert("checksum".into(), opt_str(&img.checksum));
    m.insert("os_hash_algo".into(), opt_str(&img.os_hash_algo));
    m.insert("os_hash_value".into(), opt_str(&img.os_hash_value));
    m.insert("owner".into(), opt_str(&img.owner));
    m.insert("size".into(), json!(img.size));
    m.insert("virtual_size".into(), json!(img.virtual_size));
    m.insert("min_ram".into(), json!(img.min_ram));
    m.insert("min_disk".into(), json!(img.min_disk));
    m.insert("container_format".into(), opt_str(&img.container_format));
    m.insert("disk_format".into(), opt_str(&img.disk_format));
    m.insert("created_at".into(), json!(format_time(img.created_at)));
    m.insert("updated_at".into(), json!(format_time(img.updated_at)));
    m.insert("tags".into(), json!(img.tags));
    for (k, v) in &img.properties {
        m.insert(k.clone(), json!(v));
    }
    if img.has_data() {
        m.insert("stores".into(), json!(stores.ids_of(img).join(",")));
    }
    m.insert("self".into(), json!(format!("/v2/images/{}", img.id)));
    m.insert("file".into(), json!(format!("/v2/images/{}/file", img.id)));
    m.insert("schema".into(), json!("/v2/schemas/image"));
    m
}

fn get_str(view: &Map<String, Value>, key: &str) -> Option<String> {
    view.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A non-negative integer field (the schema only says "integer"; Glance refuses negatives).
fn get_u64(view: &Map<String, Value>, key: &str) -> Result<u64, ApiError> {
    match view.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid value for {key}: {v}. Cannot be a negative value."
            ))
        }),
    }
}

fn get_bool(view: &Map<String, Value>, key: &str) -> bool {
    view.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Base properties that live in their own record fields (everything else is custom).
const BASE: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "size",
    "virtual_size",
    "min_ram",
    "min_disk",
    "container_format",
    "disk_format",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
    "stores",
];

/// Glance's `image_property_quota`: most custom properties one image may carry.
pub const MAX_PROPERTIES: usize = 128;

/// Writes the client-settable fields of a schema-valid `view` into `img`. Read-only fields
/// of `img` are left as they are whatever the view says.
pub fn apply_view(img: &mut Image, view: &Map<String, Value>) -> Result<(), ApiError> {
    img.name = get_str(view, "name");
    img.visibility = view
        .get("visibility")
        .and_then(Value::as_str)
        .map(|v| {
            Visibility::parse(v)
                .ok_or_else(|| ApiError::BadRequest(format!("Invalid visibility value: {v}")))
        })
        .transpose()?
        .unwrap_or(img.visibility);
    img.protected = get_bool(view, "protected");
    img.os_hidden = get_bool(view, "os_hidden");
    img.owner = get_str(view, "owner");
    img.min_ram = get_u64(view, "min_ram")?;
    img.min_disk = get_u64(view, "min_disk")?;
    img.container_format = get_str(view, "container_format");
    img.disk_format = get_str(view, "disk_format");
    img.tags = view
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    img.properties = view
        .iter()
        .filter(|(k, _)| !BASE.contains(&k.as_str()))
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    if img.properties.len() > MAX_PROPERTIES {
        return Err(ApiError::TooLarge(format!(
            "The limit has been exceeded on the number of allowed image properties. Attempted: {}, Maximum: {MAX_PROPERTIES}",
            img.properties.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip() {
        let t = 1_700_000_000;
        let s = format_time(t);
        assert_eq!(s, "2023-11-14T22:13:20Z");
        assert_eq!(parse_time(&s), Some(t));
        assert_eq!(parse_time("2023-11-14T22:13:20"), Some(t));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Some(t));
        assert_eq!(parse_time("garbage"), None);
        // Byte 10 inside a two-byte character: refused, not a panic.
        assert_eq!(parse_time("2023-11-1\u{e9}"), None);
        assert_eq!(parse_time("2023-11-14\u{e9}-"), None);
    }

    #[test]
    fn view_round_trip_keeps_custom_properties() {
        let mut img = Image::new("i".into(), Some("p".into()), 5);
        img.properties.insert("k".into(), "v".into());
        img.tags.insert("t".into());
        img.name = Some("n".into());
        let view = image_json(&img, &Stores::default());
        let mut back = Image::new("i".into(), None, 5);
        apply_view(&mut back, &view).unwrap();
        assert_eq!(back.properties, img.properties);
        assert_eq!(back.tags, img.tags);
        assert_eq!(back.name, img.name);
        assert_eq!(back.owner, img.owner);
    }
}
