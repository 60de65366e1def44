//! Glance's JSON patch for images (`application/openstack-images-v2.1-json-patch`, and the
//! older v2.0 form): single-level paths, `add` that also replaces, `/tags` as a whole list.

use crate::error::ApiError;
use crate::view::forbidden_property;
use serde_json::{Map, Value};
use tessera_domain::locations::LocationEdit;

/// The v2.1 media type.
pub const V21: &str = "application/openstack-images-v2.1-json-patch";
/// The older v2.0 media type.
pub const V20: &str = "application/openstack-images-v2.0-json-patch";

/// One patch operation.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchOp {
    /// Sets a property, adding it if missing.
    Add(String, Value),
    /// Sets a property that must exist.
    Replace(String, Value),
    /// Removes a property that must exist.
    Remove(String),
    /// One of Glance's legacy edits of `/locations`.
    Location(LocationEdit),
}

impl PatchOp {
    /// The property the operation touches.
    pub fn property(&self) -> &str {
        match self {
            Self::Add(p, _) | Self::Replace(p, _) | Self::Remove(p) => p,
            Self::Location(_) => "locations",
        }
    }
}

/// Properties that always exist on an image and therefore cannot be removed.
const BASE_WRITABLE: &[&str] = &[
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "min_ram",
    "min_disk",
    "container_format",
    "disk_format",
    "tags",
];

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// A legacy operation on `/locations` or `/locations/{pos}` (served only with
/// `show_multiple_locations`, which the service checks).
fn location_edit(op: &str, path: &str, value: Option<Value>) -> Result<PatchOp, ApiError> {
    let pos = path.strip_prefix("/locations/").map(str::to_string);
    let need = |v: Option<Value>| {
        v.ok_or_else(|| {
            bad(format!(
                "Unable to find 'value' in JSON Schema change for '{path}'"
            ))
        })
    };
    let edit = match op {
        "add" => LocationEdit::Add {
            pos,
            value: need(value)?,
        },
        "replace" if pos.is_none() => LocationEdit::Replace(need(value)?),
        "replace" => {
            return Err(bad(format!(
                "Invalid JSON pointer for this resource: '{path}'"
            )))
        }
        "remove" => LocationEdit::Remove { pos },
        other => {
            return Err(bad(format!(
            "Invalid operation: `{other}`. It must be one of the following: add, remove, replace."
        )))
        }
    };
    Ok(PatchOp::Location(edit))
}

/// Decodes one JSON pointer into a single property name.
fn property_of(path: &str) -> Result<String, ApiError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(bad(format!(
            "Json path should start with a '/', got '{path}'"
        )));
    };
    let parts: Vec<String> = rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    match parts.as_slice() {
        [one] if !one.is_empty() => Ok(one.clone()),
        _ => Err(bad(format!(
            "Invalid JSON pointer for this resource: '{path}'"
        ))),
    }
}

/// Parses a patch document in the given media type.
pub fn parse(body: &[u8], media_type: &str) -> Result<Vec<PatchOp>, ApiError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("Malformed JSON in request body: {e}")))?;
    let Value::Array(items) = doc else {
        return Err(bad(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let ops: Vec<PatchOp> = items
        .into_iter()
        .map(|item| {
            let Value::Object(mut obj) = item else {
                return Err(bad("Operations must be JSON objects."));
            };
            let (op, path) = if media_type == V20 {
                let ops: Vec<&str> = ["add", "replace", "remove"]
                    .into_iter()
                    .filter(|o| obj.contains_key(*o))
                    .collect();
                let [op] = ops.as_slice() else {
                    return Err(bad(
                        "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                    ));
                };
                let path = obj.get(*op).and_then(Value::as_str).unwrap_or_default();
                (op.to_string(), path.to_string())
            } else {
                let op = obj.get("op").and_then(Value::as_str).unwrap_or_default();
                let path = obj
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("Unable to find 'path' in JSON Schema change"))?;
                (op.to_string(), path.to_string())
            };
            let value = obj.remove("value");
            if path == "/locations" || path.starts_with("/locations/") {
                return location_edit(&op, &path, value);
            }
            let prop = property_of(&path)?;
            let need = |v: Option<Value>| v.ok_or_else(|| bad(format!("Unable to find 'value' in JSON Schema change for '{path}'")));
            match op.as_str() {
                "add" => Ok(PatchOp::Add(prop, need(value)?)),
                "replace" => Ok(PatchOp::Replace(prop, need(value)?)),
                "remove" => Ok(PatchOp::Remove(prop)),
                other => Err(bad(format!(
                    "Invalid operation: `{other}`. It must be one of the following: add, remove, replace."
                ))),
            }
        })
        .collect::<Result<_, _>>()?;
    // Like Glance, refuse read-only and reserved names before looking the image up.
    for op in ops.iter().filter(|op| !matches!(op, PatchOp::Location(_))) {
        let prop = op.property();
        if prop == "id" {
            return Err(ApiError::Forbidden("Attribute 'id' is read-only.".into()));
        }
        if let Some(e) = forbidden_property(prop) {
            return Err(e);
        }
    }
    Ok(ops)
}

/// Applies parsed operations to an image view; the result still needs schema validation.
pub fn apply(view: &mut Map<String, Value>, ops: &[PatchOp]) -> Result<(), ApiError> {
    for op in ops {
        match op {
            PatchOp::Add(p, v) => {
                view.insert(p.clone(), v.clone());
            }
            PatchOp::Replace(p, v) => {
                if !view.contains_key(p) {
                    return Err(ApiError::Conflict(format!("Property {p} does not exist.")));
                }
                view.insert(p.clone(), v.clone());
            }
            PatchOp::Remove(p) => {
                if BASE_WRITABLE.contains(&p.as_str()) {
                    return Err(ApiError::Forbidden(format!(
                        "Property {p} may not be removed."
                    )));
                }
                if view.remove(p).is_none() {
                    return Err(ApiError::Conflict(format!("Property {p} does not exist.")));
                }
            }
            // Location edits are the service's (`Glance::edit_locations`), not the view's.
            PatchOp::Location(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn view() -> Map<String, Value> {
        json!({"name": "a", "tags": [], "status": "queued", "k": "v"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn parses_both_media_types() {
        let v21 = br#"[{"op":"replace","path":"/name","value":"b"},{"op":"remove","path":"/k"}]"#;
        let ops = parse(v21, V21).unwrap();
        assert_eq!(ops[0], PatchOp::Replace("name".into(), json!("b")));
        let v20 = br#"[{"replace":"/name","value":"b"}]"#;
        assert_eq!(parse(v20, V20).unwrap(), vec![ops[0].clone()]);
        assert!(parse(b"{", V21).is_err());
        assert!(parse(br#"[{"op":"move","path":"/a"}]"#, V21).is_err());
        assert!(parse(br#"[{"op":"add","path":"/a"}]"#, V21).is_err());
        assert!(parse(br#"[{"op":"add","path":"/a/b","value":1}]"#, V21).is_err());
    }

    #[test]
    fn legacy_location_ops_become_location_edits() {
        for op in ["add", "replace", "remove"] {
            for path in ["/locations", "/locations/-", "/locations/0"] {
                let doc = json!([{"op": op, "path": path, "value": []}]).to_string();
                let parsed = parse(doc.as_bytes(), V21);
                if op == "replace" && path != "/locations" {
                    assert!(
                        matches!(parsed, Err(ApiError::BadRequest(_))),
                        "{op} {path}"
                    );
                    continue;
                }
                let Ok(ops) = parsed else {
                    panic!("{op} {path} was refused");
                };
                assert!(
                    matches!(ops.as_slice(), [PatchOp::Location(_)]),
                    "{op} {path}"
                );
            }
        }
        let add = br#"[{"op":"add","path":"/locations/-"}]"#;
        assert!(parse(add, V21).is_err());
    }

    #[test]
    fn refuses_read_only_reserved_and_missing() {
        let status = parse(
            br#"[{"op":"replace","path":"/status","value":"active"}]"#,
            V21,
        );
        assert!(matches!(status, Err(ApiError::Forbidden(_))));
        let glance = parse(br#"[{"op":"add","path":"/os_glance_x","value":"1"}]"#, V21);
        assert!(matches!(glance, Err(ApiError::Forbidden(_))));
        let id = parse(br#"[{"op":"add","path":"/id","value":"1"}]"#, V21);
        assert!(matches!(id, Err(ApiError::Forbidden(_))));
        let mut v = view();
        let missing = apply(&mut v, &[PatchOp::Replace("nope".into(), json!("1"))]);
        assert!(matches!(missing, Err(ApiError::Conflict(_))));
        let base = apply(&mut v, &[PatchOp::Remove("name".into())]);
        assert!(matches!(base, Err(ApiError::Forbidden(_))));
        assert_eq!(v, view());
    }

    proptest! {
        #[test]
        fn add_then_remove_is_identity(key in "[a-z_]{1,12}", value in "[ -~]{0,20}") {
            prop_assume!(forbidden_property(&key).is_none() && !view().contains_key(&key) && key != "id");
            let mut v = view();
            apply(&mut v, &[PatchOp::Add(key.clone(), json!(value.clone()))]).unwrap();
            prop_assert_eq!(v.get(&key), Some(&json!(value)));
            apply(&mut v, &[PatchOp::Remove(key)]).unwrap();
            prop_assert_eq!(v, view());
        }

        #[test]
        fn add_on_existing_replaces(value in "[ -~]{0,20}") {
            let mut a = view();
            let mut b = view();
            apply(&mut a, &[PatchOp::Add("k".into(), json!(value.clone()))]).unwrap();
            apply(&mut b, &[PatchOp::Replace("k".into(), json!(value))]).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
