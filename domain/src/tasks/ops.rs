//! Reading tasks: `GET /v2/tasks` (admin-only by default, `tasks_api_access`),
//! `GET /v2/tasks/{id}`, and an image's tasks (`GET /v2/images/{id}/tasks`, which needs only
//! the right to see the image). Non-admins see their own project's tasks only, as Glance's
//! task repository has it.

use super::{ImageTask, Task, TaskStatus};
use crate::caller::Caller;
use crate::docs::{self, Stored};
use crate::error::DomainError;
use crate::service::Glance;
use crate::write;
use std::cmp::Ordering;

/// Glance's task sort keys.
pub const SORT_KEYS: &[&str] = &[
    "id",
    "type",
    "status",
    "owner",
    "created_at",
    "updated_at",
    "expires_at",
];

/// A page request of `GET /v2/tasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskQuery {
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only tasks of this type.
    pub kind: Option<String>,
    /// One of [`SORT_KEYS`].
    pub sort_key: String,
    /// Descending (Glance's default) or ascending.
    pub descending: bool,
    /// Page size.
    pub limit: usize,
    /// The last task of the previous page.
    pub marker: Option<String>,
}

/// One page of tasks; `next_marker` when the page is full.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskList {
    /// The tasks with their ids.
    pub tasks: Vec<Stored<Task>>,
    /// The marker of the next page, if this one is full.
    pub next_marker: Option<String>,
}

fn compare(key: &str, a: &Stored<Task>, b: &Stored<Task>) -> Ordering {
    let (x, y) = (&a.value, &b.value);
    match key {
        "id" => a.id.cmp(&b.id),
        "type" => x.kind.cmp(&y.kind),
        "status" => x.status.as_str().cmp(y.status.as_str()),
        "owner" => x.owner.cmp(&y.owner),
        "updated_at" => x.updated_at.cmp(&y.updated_at),
        "expires_at" => x.expires_at.cmp(&y.expires_at),
        _ => x.created_at.cmp(&y.created_at),
    }
    // Ties keep a stable page order.
    .then_with(|| x.created_at.cmp(&y.created_at))
    .then_with(|| a.id.cmp(&b.id))
}

impl Glance {
    /// `tasks_api_access` and then `action` (`get_tasks`, `get_task`).
    fn check_tasks(&self, who: &Caller, action: &str) -> Result<(), DomainError> {
        let access = self.access(who);
        access.check_reader("tasks_api_access")?;
        access.check_reader(action)
    }

    /// Whether `who` sees `task` (admins see all; others their project's).
    fn sees_task(&self, who: &Caller, task: &Task) -> bool {
        self.access(who).is_admin() || task.owner == who.project
    }

    /// A page of the tasks the caller may see.
    pub async fn list_tasks(&self, who: &Caller, q: &TaskQuery) -> Result<TaskList, DomainError> {
        self.check_tasks(who, "get_tasks")?;
        if !SORT_KEYS.contains(&q.sort_key.as_str()) {
            return Err(DomainError::Invalid(
                "Sort key supplied was not valid.".into(),
            ));
        }
        let mut tasks: Vec<Stored<Task>> = docs::list::<Task>(&self.meta, "")
            .await?
            .into_iter()
            .filter(|t| self.sees_task(who, &t.value))
            .filter(|t| q.status.is_none_or(|s| t.value.status == s))
            .filter(|t| q.kind.as_ref().is_none_or(|k| &t.value.kind == k))
            .collect();
        tasks.sort_by(|a, b| {
            let o = compare(&q.sort_key, a, b);
            if q.descending {
                o.reverse()
            } else {
                o
            }
        });
        if let Some(marker) = &q.marker {
            let at = tasks.iter().position(|t| &t.id == marker).ok_or_else(|| {
                DomainError::Invalid(format!("Task with the given id {marker} was not found"))
            })?;
            tasks.drain(..=at);
        }
        tasks.truncate(q.limit);
        let next_marker = (q.limit > 0 && tasks.len() == q.limit)
            .then(|| tasks.last().map(|t| t.id.clone()))
            .flatten();
        Ok(TaskList { tasks, next_marker })
    }

    /// One task the caller may see.
    pub async fn show_task(&self, who: &Caller, id: &str) -> Result<Stored<Task>, DomainError> {
        self.check_tasks(who, "get_task")?;
        docs::get::<Task>(&self.meta, id)
            .await?
            .filter(|t| self.sees_task(who, &t.value))
            .ok_or_else(|| DomainError::NotFound(format!("Could not find task {id}")))
    }

    /// The tasks of an image the caller may see (404 otherwise, as Glance), oldest first.
    pub async fn image_tasks(
        &self,
        who: &Caller,
        image_id: &str,
    ) -> Result<Vec<Stored<Task>>, DomainError> {
        let image = write::load(&self.meta, image_id)
            .await
            .map_err(|_| not_found())?;
        self.access(who)
            .check_view(&image)
            .map_err(|_| not_found())?;
        let mut out = Vec::new();
        for entry in docs::list::<ImageTask>(&self.meta, &format!("{image_id}/")).await? {
            let task_id = entry.id.rsplit('/').next().unwrap_or_default();
            if let Some(task) = docs::get::<Task>(&self.meta, task_id).await? {
                out.push(task);
            }
        }
        out.sort_by_key(|t| t.value.created_at);
        Ok(out)
    }
}

/// Glance answers a hidden or missing image here with a bare 404.
fn not_found() -> DomainError {
    DomainError::NotFound("The resource could not be found.".into())
}
