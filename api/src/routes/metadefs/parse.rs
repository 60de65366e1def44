//! Metadef request bodies and queries into the domain's inputs. Bodies are checked first
//! against the record's served schema and Glance's read-only attributes; the schema already
//! guarantees every type read here.

use crate::body::json_object;
use crate::error::ApiError;
use crate::metadef_schema::{validate, Record};
use axum::body::Body;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tessera_domain::metadefs::{
    NamespaceFields, NewAssociation, NewNamespace, NewObject, PropertyDef, Visibility,
};

/// Attributes a namespace or object body may not set (403 as Glance).
pub const READ_ONLY_WITH_LINKS: &[&str] = &["self", "schema", "created_at", "updated_at"];
/// Attributes a property, tag or association body may not set.
pub const READ_ONLY: &[&str] = &["created_at", "updated_at"];

/// Reads a JSON object body, refuses read-only attributes, validates it against `record`.
pub async fn body(
    body: Body,
    limit: usize,
    record: Record,
    read_only: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    let doc = json_object(body, limit).await?;
    if let Some(key) = read_only.iter().find(|k| doc.contains_key(**k)) {
        return Err(ApiError::Forbidden(format!(
            "Attribute '{key}' is read-only."
        )));
    }
    validate(record, &Value::Object(doc.clone()))?;
    Ok(doc)
}

fn string(doc: &Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_string)
}

fn definitions(v: Option<&Value>) -> Option<BTreeMap<String, PropertyDef>> {
    let Some(Value::Object(m)) = v else {
        return None;
    };
    Some(
        m.iter()
            .filter_map(|(k, v)| v.as_object().map(|d| (k.clone(), d.clone())))
            .collect(),
    )
}

/// A namespace's own fields.
pub fn namespace_fields(doc: &Map<String, Value>) -> NamespaceFields {
    NamespaceFields {
        namespace: string(doc, "namespace").unwrap_or_default(),
        display_name: string(doc, "display_name"),
        description: string(doc, "description"),
        visibility: doc
            .get("visibility")
            .and_then(Value::as_str)
            .and_then(Visibility::parse),
        protected: doc.get("protected").and_then(Value::as_bool),
        owner: string(doc, "owner"),
    }
}

/// An object.
pub fn object(doc: &Map<String, Value>) -> NewObject {
    NewObject {
        name: string(doc, "name").unwrap_or_default(),
        description: string(doc, "description"),
        required: doc.get("required").and_then(Value::as_array).map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        }),
        properties: definitions(doc.get("properties")),
    }
}

/// A resource-type association.
pub fn association(doc: &Map<String, Value>) -> NewAssociation {
    NewAssociation {
        name: string(doc, "name").unwrap_or_default(),
        prefix: string(doc, "prefix"),
        properties_target: string(doc, "properties_target"),
    }
}

/// A namespace with its contents.
pub fn new_namespace(doc: &Map<String, Value>) -> NewNamespace {
    let list = |key: &str| -> Vec<Map<String, Value>> {
        doc.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_object).cloned().collect())
            .unwrap_or_default()
    };
    NewNamespace {
        fields: namespace_fields(doc),
        properties: definitions(doc.get("properties")).unwrap_or_default(),
        objects: list("objects").iter().map(object).collect(),
        tags: list("tags")
            .iter()
            .filter_map(|t| string(t, "name"))
            .collect(),
        associations: list("resource_type_associations")
            .iter()
            .map(association)
            .collect(),
    }
}
