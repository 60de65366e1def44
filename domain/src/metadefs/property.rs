//! How a property definition reads back: Glance models it (`PropertyType`) and shows only
//! the keys that model has, whatever the stored JSON-schema fragment holds (a loaded file
//! can carry more); `items` keeps only `type` and `enum`.

use super::model::PropertyDef;
use serde_json::Value;

/// The keys of Glance's property model.
const KEYS: &[&str] = &[
    "name",
    "type",
    "title",
    "description",
    "operators",
    "default",
    "readonly",
    "minimum",
    "maximum",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "confidential",
    "items",
    "uniqueItems",
    "minItems",
    "maxItems",
    "additionalItems",
];

/// The keys of Glance's `items` model.
const ITEM_KEYS: &[&str] = &["type", "enum"];

fn keep(def: &PropertyDef, keys: &[&str]) -> PropertyDef {
    def.iter()
        .filter(|(k, v)| keys.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The definition as Glance shows it.
pub fn view(def: &PropertyDef) -> PropertyDef {
    let mut out = keep(def, KEYS);
    if let Some(Value::Object(items)) = out.get("items") {
        let items = keep(items, ITEM_KEYS);
        out.insert("items".into(), Value::Object(items));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_and_nulls_are_not_shown() {
        let def = json!({"title": "T", "type": "array", "x": 1, "description": null,
                         "items": {"type": "string", "enum": ["a"], "pattern": "p"}});
        let Value::Object(def) = def else { panic!() };
        let shown = Value::Object(view(&def));
        assert_eq!(
            shown,
            json!({"title": "T", "type": "array", "items": {"type": "string", "enum": ["a"]}})
        );
    }
}
