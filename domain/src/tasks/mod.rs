//! Glance's tasks: the record of an asynchronous operation (today an interoperable image
//! import, `api_image_import`), kept as a document in Raft so every node sees it, and run by
//! the [`executor`] of one node at a time under a [`lease`].
//!
//! A task goes `pending -> processing -> success | failure`; a finished task expires
//! `task_time_to_live` after it finished and the executor then removes it (Glance's tasks
//! are never deleted through the API).

pub mod claim;
pub mod executor;
pub mod lease;
pub mod ops;

use crate::catalog::Delegation;
use crate::docs::DocKind;
use crate::inspector::Detected;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use tessera_replication::Ingested;
use time::OffsetDateTime;

/// Glance's `[task] task_time_to_live` default: how long a finished task is kept.
pub const TIME_TO_LIVE: Duration = Duration::from_secs(48 * 3600);

pub use executor::{ExecutorConfig, TaskExecutor, TASKS_WORKER};
pub use lease::Lease;
pub use ops::{TaskList, TaskQuery};

/// Glance's task type of an interoperable image import.
pub const API_IMAGE_IMPORT: &str = "api_image_import";

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Created, not yet picked up by an executor.
    Pending,
    /// An executor runs it.
    Processing,
    /// Finished; `result` says what it made.
    Success,
    /// Finished; `message` says why it failed.
    Failure,
}

impl TaskStatus {
    /// Every status, in Glance's order.
    pub const ALL: [TaskStatus; 4] = [
        TaskStatus::Pending,
        TaskStatus::Processing,
        TaskStatus::Success,
        TaskStatus::Failure,
    ];

    /// Glance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Processing => "processing",
            TaskStatus::Success => "success",
            TaskStatus::Failure => "failure",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the task has finished.
    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Success | TaskStatus::Failure)
    }
}

/// What an import decided, recorded in its task (under the lease) before the image is
/// changed, so whichever node finishes the task applies the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The image gets this data and becomes active.
    Data(StoredData),
    /// The import failed; the image goes back to `queued` with the failure recorded.
    Failed(String),
}

/// Data stored in the chunk store for an image, with its hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredData {
    /// The manifest chunk id.
    pub manifest: String,
    /// Bytes.
    pub size: u64,
    /// MD5, hex (Glance's `checksum`).
    pub md5: String,
    /// SHA-512, hex (`os_hash_value`).
    pub sha512: String,
    /// What the format inspector saw.
    pub detected: Detected,
    /// The disk format an import plugin converted the data to (the image takes it).
    #[serde(default)]
    pub disk_format: Option<String>,
    /// What a `glance-download` copies from the remote image's record (the image takes it
    /// with the data, before a converted `disk_format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied: Option<Box<CopiedMetadata>>,
}

/// The formats and properties an import copies from another Glance's record of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedMetadata {
    /// The remote image's `disk_format`.
    pub disk_format: String,
    /// The remote image's `container_format`.
    pub container_format: String,
    /// The properties `[glance_download_properties] extra_properties` selects.
    pub properties: std::collections::BTreeMap<String, String>,
}

impl CopiedMetadata {
    /// Gives `image` these formats and properties.
    pub fn apply(&self, image: &mut tessera_raft::Image) {
        image.disk_format = Some(self.disk_format.clone());
        image.container_format = Some(self.container_format.clone());
        for (k, v) in &self.properties {
            image.properties.insert(k.clone(), v.clone());
        }
    }
}

impl StoredData {
    /// The record of data the chunk store took in (the caller keeps `done`, and with it the
    /// hold on the chunks, until the record is written).
    pub fn new(done: &Ingested, detected: Detected) -> Self {
        StoredData {
            manifest: done.manifest.to_string(),
            size: done.size,
            md5: done.md5.clone(),
            sha512: done.sha512.clone(),
            detected,
            disk_format: None,
            copied: None,
        }
    }
}

/// A task record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Glance's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its status.
    pub status: TaskStatus,
    /// What it was asked to do.
    pub input: Value,
    /// What it made, once it succeeded.
    pub result: Option<Value>,
    /// The project that asked.
    pub owner: String,
    /// Progress while it runs, the reason once it failed.
    pub message: String,
    /// The image it works on.
    pub image_id: Option<String>,
    /// The request that created it.
    pub request_id: Option<String>,
    /// The user that asked.
    pub user_id: Option<String>,
    /// That user's roles, for import plugins that depend on them (not shown to users).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Creation time, unix microseconds.
    pub created_at: i64,
    /// Last change, unix microseconds.
    pub updated_at: i64,
    /// When a finished task is removed, unix microseconds.
    pub expires_at: Option<i64>,
    /// The executor that runs it and until when (not shown to users).
    pub lease: Option<Lease>,
    /// How often an executor started it.
    pub attempts: u32,
    /// The outcome decided, before it is applied (not shown to users).
    pub decision: Option<Decision>,
    /// The image a legacy `import` task makes, chosen before it is made (not shown).
    #[serde(default)]
    pub made_image: Option<String>,
    /// What the caller lent a task that acts for it elsewhere (not shown; dropped when the
    /// task finishes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<Delegation>,
    /// What a `location_import` task decided, before it is applied (not shown).
    #[serde(default)]
    pub located: Option<crate::locations::Located>,
}

impl DocKind for Task {
    const KIND: &'static str = "task";
}

/// The index of an image's tasks: an empty document `{image}/{task}`, written with the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageTask {}

impl DocKind for ImageTask {
    const KIND: &'static str = "image_task";
}

/// The id of the index entry of `task` on `image`.
pub fn image_task_id(image: &str, task: &str) -> String {
    format!("{image}/{task}")
}

/// Unix microseconds now; tasks keep Glance's sub-second times.
pub fn now_micros() -> i64 {
    let now = OffsetDateTime::now_utc();
    now.unix_timestamp() * 1_000_000 + i64::from(now.microsecond())
}

impl Task {
    /// A new pending task stamped now.
    pub fn new(kind: &str, owner: &str, input: Value) -> Task {
        let now = now_micros();
        Task {
            kind: kind.to_string(),
            status: TaskStatus::Pending,
            input,
            result: None,
            owner: owner.to_string(),
            message: String::new(),
            image_id: None,
            request_id: None,
            user_id: None,
            roles: Vec::new(),
            created_at: now,
            updated_at: now,
            expires_at: None,
            lease: None,
            attempts: 0,
            decision: None,
            made_image: None,
            delegation: None,
            located: None,
        }
    }

    /// Finishes the task: `success` with `result`, or `failure` with `message`; it expires
    /// `ttl_micros` from now.
    pub fn finish(&mut self, outcome: Result<Value, String>, ttl_micros: i64) {
        let now = now_micros();
        match outcome {
            Ok(result) => {
                self.status = TaskStatus::Success;
                self.result = Some(result);
            }
            Err(message) => {
                self.status = TaskStatus::Failure;
                self.message = message;
            }
        }
        self.lease = None;
        // The caller's token is no longer needed: it does not outlive the task's run.
        self.delegation = None;
        self.updated_at = now;
        self.expires_at = Some(now + ttl_micros);
    }
}
