//! The ten metadef schema documents Glance 33 serves at `/v2/schemas/metadefs/*`; the
//! documents of single records also validate request bodies, as Glance's do (lengths,
//! types, property definitions as JSON-schema fragments, no unknown keys).

use crate::error::ApiError;
use serde_json::Value;
use std::sync::OnceLock;

/// The documents, by the name they are served under.
const DOCS: &[(&str, &str)] = &[
    (
        "namespace",
        include_str!("../schemas/metadefs/namespace.json"),
    ),
    (
        "namespaces",
        include_str!("../schemas/metadefs/namespaces.json"),
    ),
    ("object", include_str!("../schemas/metadefs/object.json")),
    ("objects", include_str!("../schemas/metadefs/objects.json")),
    (
        "property",
        include_str!("../schemas/metadefs/property.json"),
    ),
    (
        "properties",
        include_str!("../schemas/metadefs/properties.json"),
    ),
    ("tag", include_str!("../schemas/metadefs/tag.json")),
    ("tags", include_str!("../schemas/metadefs/tags.json")),
    (
        "resource_type",
        include_str!("../schemas/metadefs/resource_type.json"),
    ),
    (
        "resource_types",
        include_str!("../schemas/metadefs/resource_types.json"),
    ),
];

/// A record kind whose schema validates request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A namespace (create and update).
    Namespace,
    /// An object.
    Object,
    /// A property.
    Property,
    /// A tag.
    Tag,
    /// A resource-type association.
    ResourceType,
}

impl Record {
    fn name(self) -> &'static str {
        match self {
            Record::Namespace => "namespace",
            Record::Object => "object",
            Record::Property => "property",
            Record::Tag => "tag",
            Record::ResourceType => "resource_type",
        }
    }
}

struct Compiled {
    docs: Vec<(&'static str, Value)>,
    validators: Vec<(Record, jsonschema::Validator)>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        // Compiled into the binary and covered by tests: a failure is a build defect.
        let docs: Vec<(&'static str, Value)> = DOCS
            .iter()
            .map(|(name, text)| (*name, serde_json::from_str(text).expect("embedded schema")))
            .collect();
        let validators = [
            Record::Namespace,
            Record::Object,
            Record::Property,
            Record::Tag,
            Record::ResourceType,
        ]
        .into_iter()
        .map(|r| {
            let doc = &docs.iter().find(|(n, _)| *n == r.name()).expect("listed").1;
            (
                r,
                jsonschema::draft4::new(doc).expect("embedded schema compiles"),
            )
        })
        .collect();
        Compiled { docs, validators }
    })
}

/// The document served as `/v2/schemas/metadefs/{name}`.
pub fn document(name: &str) -> Option<&'static Value> {
    compiled()
        .docs
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| d)
}

/// Validates a request body against `record`'s schema (400 with Glance's wording).
pub fn validate(record: Record, doc: &Value) -> Result<(), ApiError> {
    let validator = compiled()
        .validators
        .iter()
        .find(|(r, _)| *r == record)
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::Internal(format!("no schema for {}", record.name())))?;
    match validator.iter_errors(doc).next() {
        None => Ok(()),
        Some(e) => Err(ApiError::BadRequest(format!(
            "Provided object does not match schema '{}': {e} (at '{}')",
            record.name(),
            e.instance_path()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_document_parses_and_bodies_are_checked() {
        for (name, _) in DOCS {
            assert!(document(name).is_some(), "{name}");
        }
        assert!(validate(Record::Namespace, &json!({"namespace": "a"})).is_ok());
        assert!(validate(Record::Namespace, &json!({"namespace": "a".repeat(81)})).is_err());
        assert!(validate(Record::Namespace, &json!({"display_name": "x"})).is_err());
        assert!(validate(Record::Namespace, &json!({"namespace": "a", "x": 1})).is_err());
        let bad_property = json!({"namespace": "a", "properties": {"p": {"title": "t"}}});
        assert!(validate(Record::Namespace, &bad_property).is_err());
        let bad_type = json!({"name": "p", "title": "t", "type": "float"});
        assert!(validate(Record::Property, &bad_type).is_err());
        assert!(validate(
            Record::Property,
            &json!({"name": "p", "title": "t", "type": "string"})
        )
        .is_ok());
        assert!(validate(Record::Tag, &json!({"name": "t".repeat(81)})).is_err());
        assert!(validate(Record::ResourceType, &json!({"name": "OS::Glance::Image"})).is_ok());
    }
}
