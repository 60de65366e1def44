//! Metadef records as Glance renders them: absent fields left out (not `null`), property
//! definitions through Glance's property model, and the `self`/`schema` links.

use crate::view::format_time;
use serde_json::{json, Map, Value};
use tessera_domain::metadefs::{property, Association, Namespace, Object, PropertyDef, Tag};

fn put_opt(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.into(), json!(v));
    }
}

/// A property definition as Glance's model shows it; a non-string `default` reads back as
/// text (Glance's model types it as bytes).
pub fn property_json(def: &PropertyDef) -> Value {
    let mut shown = property::view(def);
    if let Some(d) = shown.get_mut("default") {
        let text = match d {
            Value::Bool(true) => Some("True".to_string()),
            Value::Bool(false) => Some("False".to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        if let Some(text) = text {
            *d = Value::String(text);
        }
    }
    Value::Object(shown)
}

/// Property definitions by name.
pub fn properties_json<'a>(
    props: impl IntoIterator<Item = (&'a String, &'a PropertyDef)>,
) -> Value {
    Value::Object(
        props
            .into_iter()
            .map(|(k, v)| (k.clone(), property_json(v)))
            .collect(),
    )
}

/// A resource-type association.
pub fn association_json(a: &Association) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    put_opt(&mut m, "prefix", &a.prefix);
    put_opt(&mut m, "properties_target", &a.properties_target);
    m.insert("created_at".into(), json!(format_time(a.created_at)));
    m.insert("updated_at".into(), json!(format_time(a.updated_at)));
    Value::Object(m)
}

/// An object of namespace `ns`; `stored` renders it as read back (no required properties
/// and no properties read as empty), otherwise as the request gave it.
pub fn object_json(ns: &str, o: &Object, stored: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(o.name));
    put_opt(&mut m, "description", &o.description);
    match (&o.required, stored) {
        (Some(r), _) => {
            m.insert("required".into(), json!(r));
        }
        (None, true) => {
            m.insert("required".into(), json!([]));
        }
        (None, false) => {}
    }
    match (&o.properties, stored) {
        (Some(p), _) => {
            m.insert("properties".into(), properties_json(p));
        }
        (None, true) => {
            m.insert("properties".into(), json!({}));
        }
        (None, false) => {}
    }
    m.insert("created_at".into(), json!(format_time(o.created_at)));
    m.insert("updated_at".into(), json!(format_time(o.updated_at)));
    m.insert(
        "self".into(),
        json!(format!("/v2/metadefs/namespaces/{ns}/objects/{}", o.name)),
    );
    m.insert("schema".into(), json!("/v2/schemas/metadefs/object"));
    Value::Object(m)
}

/// A tag with its times.
pub fn tag_json(t: &Tag) -> Value {
    json!({
        "name": t.name,
        "created_at": format_time(t.created_at),
        "updated_at": format_time(t.updated_at),
    })
}

/// Tags as lists show them: names only.
pub fn tag_names_json(tags: &[Tag]) -> Value {
    Value::Array(tags.iter().map(|t| json!({"name": t.name})).collect())
}

/// How much of a namespace to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Its fields and associations (a listing).
    Summary,
    /// Everything in it (a show), with property names carrying `prefix`.
    Full,
}

/// A namespace; in `Full` detail with its contents, property names prefixed by `prefix`
/// (Glance's `?resource_type=` on a show).
pub fn namespace_json(ns: &Namespace, detail: Detail, prefix: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("namespace".into(), json!(ns.namespace));
    put_opt(&mut m, "display_name", &ns.display_name);
    put_opt(&mut m, "description", &ns.description);
    m.insert("visibility".into(), json!(ns.visibility.as_str()));
    m.insert("protected".into(), json!(ns.protected));
    put_opt(&mut m, "owner", &ns.owner);
    m.insert("created_at".into(), json!(format_time(ns.created_at)));
    m.insert("updated_at".into(), json!(format_time(ns.updated_at)));
    if !ns.associations.is_empty() {
        m.insert(
            "resource_type_associations".into(),
            Value::Array(ns.associations.iter().map(association_json).collect()),
        );
    }
    if detail == Detail::Full {
        let p = prefix.unwrap_or("");
        if !ns.properties.is_empty() {
            let props: Map<String, Value> = ns
                .properties
                .iter()
                .map(|(k, v)| (format!("{p}{k}"), property_json(v)))
                .collect();
            m.insert("properties".into(), Value::Object(props));
        }
        if !ns.objects.is_empty() {
            let objects = ns
                .objects
                .iter()
                .map(|o| {
                    let mut o = o.clone();
                    o.properties = o.properties.map(|props| {
                        props
                            .into_iter()
                            .map(|(k, v)| (format!("{p}{k}"), v))
                            .collect()
                    });
                    o.required = o
                        .required
                        .map(|r| r.into_iter().map(|k| format!("{p}{k}")).collect());
                    object_json(&ns.namespace, &o, true)
                })
                .collect();
            m.insert("objects".into(), Value::Array(objects));
        }
        if !ns.tags.is_empty() {
            // Glance lists a namespace's tags newest first.
            let tags: Vec<Tag> = ns.tags.iter().rev().cloned().collect();
            m.insert("tags".into(), tag_names_json(&tags));
        }
    }
    m.insert(
        "self".into(),
        json!(format!("/v2/metadefs/namespaces/{}", ns.namespace)),
    );
    m.insert("schema".into(), json!("/v2/schemas/metadefs/namespace"));
    Value::Object(m)
}
