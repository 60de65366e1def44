//! Glance's JSON schemas: served at `/v2/schemas/*` and the same documents validate every
//! POST and PATCH, so what a client reads is exactly what the server enforces.

use crate::error::ApiError;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The served documents and their compiled validators.
pub struct Schemas {
    /// `/v2/schemas/image`.
    pub image: Value,
    /// `/v2/schemas/images`.
    pub images: Value,
    /// `/v2/schemas/member`.
    pub member: Value,
    /// `/v2/schemas/members`.
    pub members: Value,
    /// `/v2/schemas/task`.
    pub task: Value,
    /// `/v2/schemas/tasks` (its items without `input`, `result`, `message`).
    pub tasks: Value,
    image_validator: jsonschema::Validator,
    member_validator: jsonschema::Validator,
    task_validator: jsonschema::Validator,
}

fn parse(doc: &str) -> Value {
    // The documents are compiled into the binary and covered by tests, so a parse failure is
    // a build defect, not a runtime condition.
    serde_json::from_str(doc).expect("embedded schema is valid JSON")
}

fn compile(doc: &Value) -> jsonschema::Validator {
    jsonschema::draft4::new(doc).expect("embedded schema compiles")
}

/// The process-wide schemas.
pub fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| {
        let image = parse(include_str!("../schemas/image.json"));
        let member = parse(include_str!("../schemas/member.json"));
        let images = json!({
            "name": "images",
            "properties": {
                "images": {"type": "array", "items": image.clone()},
                "schema": {"type": "string"},
                "first": {"type": "string"},
                "next": {"type": "string"}
            },
            "links": [
                {"href": "{first}", "rel": "first"},
                {"href": "{next}", "rel": "next"},
                {"href": "{schema}", "rel": "describedby"}
            ]
        });
        let members = json!({
            "name": "members",
            "properties": {
                "members": {"type": "array", "items": member.clone()},
                "schema": {"type": "string"}
            },
            "links": [{"href": "{schema}", "rel": "describedby"}]
        });
        let task = parse(include_str!("../schemas/task.json"));
        let mut stub = task.clone();
        if let Some(props) = stub["properties"].as_object_mut() {
            for hidden in ["input", "result", "message"] {
                props.remove(hidden);
            }
        }
        let tasks = json!({
            "name": "tasks",
            "properties": {
                "tasks": {"type": "array", "items": stub},
                "schema": {"type": "string"}
            },
            "links": [{"rel": "describedby", "href": "{schema}"}]
        });
        // Glance serves the task schema's minimal form but validates with its raw form,
        // which refuses fields it does not name.
        let mut raw_task = task.clone();
        raw_task["additionalProperties"] = json!(false);
        Schemas {
            task_validator: compile(&raw_task),
            task,
            tasks,
            image_validator: compile(&image),
            member_validator: compile(&member),
            image,
            images,
            member,
            members,
        }
    })
}

fn check(validator: &jsonschema::Validator, name: &str, doc: &Value) -> Result<(), ApiError> {
    match validator.iter_errors(doc).next() {
        None => Ok(()),
        Some(e) => Err(ApiError::BadRequest(format!(
            "Provided object does not match schema '{name}': {e} (at '{}')",
            e.instance_path()
        ))),
    }
}

/// Validates an image view against the image schema.
pub fn validate_image(doc: &Value) -> Result<(), ApiError> {
    check(&schemas().image_validator, "image", doc)
}

/// Validates a task creation body against the task schema.
pub fn validate_task(doc: &Value) -> Result<(), ApiError> {
    check(&schemas().task_validator, "task", doc)
}

/// Validates a member document against the member schema.
pub fn validate_member(doc: &Value) -> Result<(), ApiError> {
    check(&schemas().member_validator, "member", doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_schema_checks_types_enums_and_extra_properties() {
        assert!(validate_image(&json!({"name": "x", "min_ram": 5, "disk_format": "raw"})).is_ok());
        assert!(validate_image(&json!({"min_ram": "x"})).is_err());
        assert!(validate_image(&json!({"disk_format": "floppy"})).is_err());
        assert!(validate_image(&json!({"custom": 5})).is_err());
        assert!(validate_image(&json!({"custom": "5"})).is_ok());
        assert!(validate_image(&json!({"name": "n".repeat(256)})).is_err());
        assert!(validate_member(&json!({"status": "accepted"})).is_ok());
        assert!(validate_member(&json!({"status": "maybe"})).is_err());
        assert!(schemas().images["properties"]["images"]["items"]["properties"]["id"].is_object());
    }
}
