//! Tasks: `POST /v2/tasks` (Glance's legacy task API: 201 with the task; the executor
//! runs it), `GET /v2/tasks` (stubs, paged), `GET /v2/tasks/{id}`, `DELETE` refused (405,
//! as Glance: tasks expire on their own), and an image's tasks
//! (`GET /v2/images/{id}/tasks`, API 2.12, rendered as Glance's database rows).

use crate::body::{parse_json, read_limited};
use crate::error::ApiError;
use crate::identity::Identity;
use crate::list::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::request_span::{record_image, RequestId};
use crate::schema::validate_task;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use tessera_domain::docs::Stored;
use tessera_domain::tasks::{Task, TaskQuery, TaskStatus, TASKS_WORKER};
use tessera_domain::Glance;
use time::OffsetDateTime;

/// Unix microseconds as Glance's API renders them (`2026-01-31T12:00:00Z`).
fn iso(micros: i64) -> String {
    crate::view::format_time(micros.div_euclid(1_000_000))
}

/// Unix microseconds as Glance's database rows carry them (`2026-01-31T12:00:00.123456`).
fn db_time(micros: i64) -> Value {
    let nanos = i128::from(micros) * 1000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .map(|t| {
            json!(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            ))
        })
        .unwrap_or(Value::Null)
}

fn opt(v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|s| Value::String(s.clone()))
}

/// The task stub of a list.
fn stub(t: &Stored<Task>) -> Map<String, Value> {
    let task = &t.value;
    let mut v = Map::new();
    v.insert("id".into(), json!(t.id));
    v.insert("type".into(), json!(task.kind));
    v.insert("status".into(), json!(task.status.as_str()));
    v.insert("owner".into(), json!(task.owner));
    v.insert("created_at".into(), json!(iso(task.created_at)));
    v.insert("updated_at".into(), json!(iso(task.updated_at)));
    v.insert("self".into(), json!(format!("/v2/tasks/{}", t.id)));
    v.insert("schema".into(), json!("/v2/schemas/task"));
    if let Some(e) = task.expires_at {
        v.insert("expires_at".into(), json!(iso(e)));
    }
    v
}

/// The full task, as `GET /v2/tasks/{id}` renders it.
fn full(t: &Stored<Task>) -> Value {
    let task = &t.value;
    let mut v = stub(t);
    v.insert("input".into(), task.input.clone());
    v.insert("message".into(), json!(task.message));
    v.insert("result".into(), task.result.clone().unwrap_or(Value::Null));
    for (k, val) in [
        ("image_id", opt(&task.image_id)),
        ("request_id", opt(&task.request_id)),
        ("user_id", opt(&task.user_id)),
    ] {
        if let Some(val) = val {
            v.insert(k.into(), val);
        }
    }
    Value::Object(v)
}

/// A task as Glance's `GET /v2/images/{id}/tasks` renders it (its database row).
fn row(t: &Stored<Task>) -> Value {
    let task = &t.value;
    json!({
        "id": t.id,
        "type": task.kind,
        "status": task.status.as_str(),
        "owner": task.owner,
        "expires_at": task.expires_at.map_or(Value::Null, db_time),
        "created_at": db_time(task.created_at),
        "updated_at": db_time(task.updated_at),
        "deleted_at": null,
        "deleted": false,
        "image_id": task.image_id,
        "request_id": task.request_id,
        "user_id": task.user_id,
        "input": task.input,
        "result": task.result,
        "message": task.message,
    })
}

fn bad(m: String) -> ApiError {
    ApiError::BadRequest(m)
}

/// Glance's task list parameters.
fn parse_query(raw: &str) -> Result<TaskQuery, ApiError> {
    let mut q = TaskQuery {
        status: None,
        kind: None,
        sort_key: "created_at".into(),
        descending: true,
        limit: DEFAULT_LIMIT,
        marker: None,
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = v.to_string();
        match k.as_ref() {
            "limit" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| bad("limit param must be an integer".into()))?;
                if n < 0 {
                    return Err(bad("limit param must be positive".into()));
                }
                q.limit = usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
            }
            "marker" => {
                if uuid::Uuid::parse_str(&v).is_err() {
                    return Err(bad("Invalid marker format".into()));
                }
                q.marker = Some(v);
            }
            "sort_key" => q.sort_key = v,
            "sort_dir" => {
                q.descending = match v.as_str() {
                    "desc" => true,
                    "asc" => false,
                    _ => return Err(bad(format!("Invalid sort direction: {v}"))),
                }
            }
            "status" if !v.is_empty() => {
                q.status = Some(
                    TaskStatus::parse(&v)
                        .ok_or_else(|| bad(format!("Invalid status value: {v}")))?,
                );
            }
            "type" if !v.is_empty() => {
                // Glance's list filter knows only the legacy type.
                if v != "import" {
                    return Err(bad(format!("Invalid type value: {v}")));
                }
                q.kind = Some(v);
            }
            _ => {}
        }
    }
    Ok(q)
}

/// `GET /v2/tasks`.
pub async fn list(
    State(glance): State<Glance>,
    who: Identity,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let raw = raw.unwrap_or_default();
    let query = parse_query(&raw)?;
    let page = glance.list_tasks(&who, &query).await?;
    let params: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let encode = |extra: Option<&str>| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            s.append_pair(k, v);
        }
        if let Some(m) = extra {
            s.append_pair("marker", m);
        }
        s.finish()
    };
    let first = encode(None);
    let mut body = json!({
        "tasks": page.tasks.iter().map(|t| Value::Object(stub(t))).collect::<Vec<_>>(),
        "first": if first.is_empty() { "/v2/tasks".to_string() } else { format!("/v2/tasks?{first}") },
        "schema": "/v2/schemas/tasks",
    });
    if let Some(m) = page.next_marker {
        body["next"] = json!(format!("/v2/tasks?{}", encode(Some(&m))));
    }
    Ok(Json(body))
}

/// `POST /v2/tasks`: the access rule first, then the body as Glance's deserializer checks
/// it (both fields present, the task schema).
pub async fn create(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    who: Identity,
    body: Body,
) -> Result<Response, ApiError> {
    let AppState {
        glance,
        config,
        workers,
        ..
    } = state;
    glance.check_task_create(&who)?;
    let bytes = read_limited(body, config.max_json_body).await?;
    if bytes.is_empty() {
        return Err(bad("Body expected in request.".into()));
    }
    let body = parse_json(&bytes)?;
    for field in ["type", "input"] {
        if body.get(field).is_none() {
            return Err(bad(format!("Task '{field}' is required")));
        }
    }
    validate_task(&body)?;
    let kind = body["type"].as_str().unwrap_or_default();
    let task = glance
        .create_task(&who, kind, body["input"].clone(), Some(request_id))
        .await?;
    // Start it now rather than at the executor's next poll (any node may run it).
    if let Err(e) = workers.wake(TASKS_WORKER) {
        tracing::debug!(error = %e, "no task executor here to wake");
    }
    let location = format!("/v2/tasks/{}", task.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(full(&task)),
    )
        .into_response())
}

/// `GET /v2/tasks/{id}`.
pub async fn show(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(full(&glance.show_task(&who, &id).await?)))
}

/// `DELETE /v2/tasks/{id}`: refused as Glance refuses it.
pub async fn remove() -> Response {
    let mut resp = ApiError::MethodNotAllowed(
        "This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property.".into(),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    resp
}

/// `GET /v2/images/{id}/tasks`.
pub async fn for_image(
    State(glance): State<Glance>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    record_image(&id);
    let tasks = glance.image_tasks(&who, &id).await?;
    Ok(Json(
        json!({"tasks": tasks.iter().map(row).collect::<Vec<_>>()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked_as_glance_checks_them() {
        assert!(parse_query("").unwrap().descending);
        assert_eq!(parse_query("limit=0").unwrap().limit, 0);
        let e = |q: &str| parse_query(q).unwrap_err().to_string();
        assert_eq!(e("limit=x"), "limit param must be an integer");
        assert_eq!(e("status=x"), "Invalid status value: x");
        assert_eq!(e("sort_dir=up"), "Invalid sort direction: up");
        assert_eq!(e("marker=abc"), "Invalid marker format");
        assert_eq!(
            e("type=api_image_import"),
            "Invalid type value: api_image_import"
        );
    }

    #[test]
    fn database_times_keep_microseconds() {
        assert_eq!(
            db_time(1_000_000 * 86_400 + 42),
            json!("1970-01-02T00:00:00.000042")
        );
        assert_eq!(iso(1_500_000), "1970-01-01T00:00:01Z");
    }
}
