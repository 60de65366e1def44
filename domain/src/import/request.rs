//! The body of `POST /v2/images/{id}/import`, checked as Glance's request deserializer and
//! `get_stores_from_request` check it.

use crate::catalog::Delegation;
use crate::error::DomainError;
use crate::stores::{StoreKind, Stores};
use serde_json::Value;

/// Glance's import methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMethod {
    /// Data staged with `PUT /v2/images/{id}/stage`.
    GlanceDirect,
    /// Data fetched from a URL.
    WebDownload,
    /// An active image copied to more stores.
    CopyImage,
    /// An image fetched from another Glance.
    GlanceDownload,
}

impl ImportMethod {
    /// Every method Glance knows.
    pub const ALL: [ImportMethod; 4] = [
        ImportMethod::GlanceDirect,
        ImportMethod::WebDownload,
        ImportMethod::CopyImage,
        ImportMethod::GlanceDownload,
    ];

    /// The methods Tessera can run (`copy-image` is offered only with several stores).
    pub const SERVED: [ImportMethod; 4] = ImportMethod::ALL;

    /// The methods enabled unless configured otherwise (Glance's `enabled_import_methods`
    /// default: not `glance-download`, which needs a second Glance in the catalog).
    pub const DEFAULT: [ImportMethod; 3] = [
        ImportMethod::GlanceDirect,
        ImportMethod::WebDownload,
        ImportMethod::CopyImage,
    ];

    /// Glance's name of the method.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMethod::GlanceDirect => "glance-direct",
            ImportMethod::WebDownload => "web-download",
            ImportMethod::CopyImage => "copy-image",
            ImportMethod::GlanceDownload => "glance-download",
        }
    }

    /// The method named `name`.
    pub fn parse(name: &str) -> Option<ImportMethod> {
        ImportMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// A checked import request.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRequest {
    /// The method.
    pub method: ImportMethod,
    /// The body as sent (kept in the task's `input.import_req`).
    pub body: Value,
    /// The stores to import to.
    pub stores: Vec<String>,
    /// Whether the request named `all_stores`.
    pub all_stores: bool,
    /// Whether a failure in one store fails the whole import (Glance's default: yes).
    pub all_stores_must_succeed: bool,
    /// What the caller lends the task (`glance-download` acts with it on the remote Glance).
    pub delegation: Option<Delegation>,
}

impl ImportRequest {
    /// Checks `body` against the `enabled` methods and the configured `known` stores;
    /// `store_header` is the request's `x-image-meta-store`.
    pub fn parse(
        body: Value,
        enabled: &[ImportMethod],
        store_header: Option<&str>,
        known: &Stores,
    ) -> Result<ImportRequest, DomainError> {
        let invalid = |m: &str| Err(DomainError::Invalid(m.to_string()));
        let Some(method) = body.get("method") else {
            return invalid("Import request requires a 'method' field.");
        };
        let Some(name) = method.get("name") else {
            return invalid("Import request requires a 'name' field.");
        };
        let name_text = match name {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let Some(method) = ImportMethod::parse(&name_text).filter(|m| enabled.contains(m)) else {
            return invalid(&format!("Unknown import method name '{name_text}'."));
        };
        for (key, default_ok) in [
            (
                "all_stores_must_succeed",
                "'all_stores_must_succeed' must be boolean value only",
            ),
            ("all_stores", "'all_stores' must be boolean value only"),
        ] {
            if body.get(key).is_some_and(|v| !v.is_boolean()) {
                return invalid(default_ok);
            }
        }
        let stores = stores(&body, store_header, known)?;
        let flag =
            |key: &str, default: bool| body.get(key).and_then(Value::as_bool).unwrap_or(default);
        Ok(ImportRequest {
            method,
            all_stores: flag("all_stores", false),
            all_stores_must_succeed: flag("all_stores_must_succeed", true),
            body,
            stores,
            delegation: None,
        })
    }

    /// The URL of a `web-download`, as sent.
    pub fn uri(&self) -> Option<&str> {
        self.body.get("method")?.get("uri")?.as_str()
    }

    /// Glance's checks of a `glance-download` body (400s): `glance_region` and a
    /// `glance_image_id` that reads as a UUID are required; `glance_service_interface`
    /// defaults to `public`, written into the body the task keeps.
    pub(crate) fn check_glance_download(&mut self) -> Result<(), DomainError> {
        let invalid = |m: String| Err(DomainError::Invalid(m));
        let Some(method) = self.body.get_mut("method").and_then(Value::as_object_mut) else {
            return invalid("Import request requires a 'method' field.".into());
        };
        for field in ["glance_region", "glance_image_id"] {
            if !method.contains_key(field) {
                return invalid(format!(
                    "'{field}' needs to be set for glance-download import method"
                ));
            }
        }
        let id = &method["glance_image_id"];
        if id
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .is_none()
        {
            let shown = id.as_str().map_or_else(|| id.to_string(), str::to_string);
            return invalid(format!(
                "Remote image id does not look like a UUID: {shown}"
            ));
        }
        method
            .entry("glance_service_interface")
            .or_insert_with(|| Value::String("public".into()));
        Ok(())
    }
}

/// The stores named by the request (Glance's `get_stores_from_request`): `all_stores` means
/// every store that takes data (not the read-only ones, as Glance leaves out `http`).
fn stores(body: &Value, header: Option<&str>, known: &Stores) -> Result<Vec<String>, DomainError> {
    let stores = if body.get("all_stores").and_then(Value::as_bool) == Some(true) {
        if body.get("stores").is_some() || header.is_some() {
            return Err(DomainError::Invalid(
                "All_stores parameter can't be used with x-image-meta-store header or stores parameter".into(),
            ));
        }
        known
            .all()
            .iter()
            .filter(|s| !s.read_only && s.kind != StoreKind::Http)
            .map(|s| s.id.clone())
            .collect()
    } else if let Some(listed) = body.get("stores") {
        if header.is_some() {
            return Err(DomainError::Invalid(
                "Stores parameter and x-image-meta-store header can't be both specified".into(),
            ));
        }
        let Some(listed) = listed.as_array() else {
            return Err(DomainError::Invalid(
                "'stores' must be a list of store ids".into(),
            ));
        };
        listed
            .iter()
            .map(|s| match s {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    } else {
        vec![header.map_or_else(|| known.default_store().id.clone(), str::to_string)]
    };
    if let Some(unknown) = stores.iter().find(|s| known.get(s).is_none()) {
        return Err(DomainError::Conflict(format!(
            "Store for identifier {unknown} not found"
        )));
    }
    Ok(stores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::CLUSTER_STORE;
    use serde_json::json;

    const ON: &[ImportMethod] = &[ImportMethod::GlanceDirect];

    fn err(body: Value) -> String {
        ImportRequest::parse(body, ON, None, &Stores::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bodies_are_checked_in_glances_order_and_words() {
        assert_eq!(err(json!({})), "Import request requires a 'method' field.");
        assert_eq!(
            err(json!({"method": {}})),
            "Import request requires a 'name' field."
        );
        assert_eq!(
            err(json!({"method": {"name": "nope"}})),
            "Unknown import method name 'nope'."
        );
        assert_eq!(
            err(json!({"method": {"name": "web-download"}})),
            "Unknown import method name 'web-download'."
        );
        assert_eq!(
            err(json!({"method": {"name": "glance-direct"}, "all_stores": "yes"})),
            "'all_stores' must be boolean value only"
        );
        assert_eq!(
            err(json!({"method": {"name": "glance-direct"}, "stores": ["x"]})),
            "Store for identifier x not found"
        );
        let known = Stores::default();
        let ok = ImportRequest::parse(
            json!({"method": {"name": "glance-direct"}}),
            ON,
            None,
            &known,
        )
        .unwrap();
        assert_eq!(ok.method, ImportMethod::GlanceDirect);
        assert_eq!(ok.stores, vec![CLUSTER_STORE.to_string()]);
        assert!(ok.all_stores_must_succeed);
        let all = ImportRequest::parse(
            json!({"method": {"name": "glance-direct"}, "all_stores": true, "all_stores_must_succeed": false}),
            ON,
            None,
            &known,
        )
        .unwrap();
        assert_eq!(all.stores, vec![CLUSTER_STORE.to_string()]);
        assert!(all.all_stores && !all.all_stores_must_succeed);
    }

    #[test]
    fn glance_download_needs_a_region_and_a_uuid() {
        let on = [ImportMethod::GlanceDownload];
        let check = |method: Value| {
            let body = json!({ "method": method });
            let mut req = ImportRequest::parse(body, &on, None, &Stores::default()).unwrap();
            req.check_glance_download().map(|()| req.body)
        };
        let id = "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c";
        let e = |r: Result<Value, DomainError>| r.unwrap_err().to_string();
        assert_eq!(
            e(check(
                json!({"name": "glance-download", "glance_image_id": id})
            )),
            "'glance_region' needs to be set for glance-download import method"
        );
        assert_eq!(
            e(check(
                json!({"name": "glance-download", "glance_region": "R"})
            )),
            "'glance_image_id' needs to be set for glance-download import method"
        );
        assert_eq!(
            e(check(
                json!({"name": "glance-download", "glance_region": "R", "glance_image_id": "foo"})
            )),
            "Remote image id does not look like a UUID: foo"
        );
        assert_eq!(
            e(check(
                json!({"name": "glance-download", "glance_region": "R", "glance_image_id": 7})
            )),
            "Remote image id does not look like a UUID: 7"
        );
        let ok =
            check(json!({"name": "glance-download", "glance_region": "R", "glance_image_id": id}))
                .unwrap();
        assert_eq!(ok["method"]["glance_service_interface"], "public");
        let kept = check(json!({"name": "glance-download", "glance_region": "R",
            "glance_image_id": id, "glance_service_interface": "internal"}))
        .unwrap();
        assert_eq!(kept["method"]["glance_service_interface"], "internal");
    }
}
