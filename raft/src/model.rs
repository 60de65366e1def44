//! Glance domain records kept in the replicated state machine.
//!
//! Times are unix seconds stamped by the proposer (never read from a clock in `apply`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Lifecycle states of an image, as Glance names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Queued,
    Saving,
    Uploading,
    Importing,
    Active,
    Killed,
    Deactivated,
    PendingDelete,
    Deleted,
}

impl ImageStatus {
    /// The wire name Glance uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Saving => "saving",
            Self::Uploading => "uploading",
            Self::Importing => "importing",
            Self::Active => "active",
            Self::Killed => "killed",
            Self::Deactivated => "deactivated",
            Self::PendingDelete => "pending_delete",
            Self::Deleted => "deleted",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "saving" => Self::Saving,
            "uploading" => Self::Uploading,
            "importing" => Self::Importing,
            "active" => Self::Active,
            "killed" => Self::Killed,
            "deactivated" => Self::Deactivated,
            "pending_delete" => Self::PendingDelete,
            "deleted" => Self::Deleted,
            _ => return None,
        })
    }
}

/// Who may see an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Private,
    Shared,
    Community,
}

impl Visibility {
    /// The wire name Glance uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Shared => "shared",
            Self::Community => "community",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "public" => Self::Public,
            "private" => Self::Private,
            "shared" => Self::Shared,
            "community" => Self::Community,
            _ => return None,
        })
    }
}

/// A member's answer to a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    /// The wire name Glance uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }
}

/// One project an image is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub status: MemberStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where an image's bytes live: the manifest chunk in the chunk store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRef {
    /// Hex BLAKE3 id of the manifest chunk.
    pub manifest: String,
}

/// A Glance image record: base properties, custom properties, tags and members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub status: ImageStatus,
    pub visibility: Visibility,
    pub protected: bool,
    pub os_hidden: bool,
    pub owner: Option<String>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub size: Option<u64>,
    pub virtual_size: Option<u64>,
    pub min_ram: u64,
    pub min_disk: u64,
    pub container_format: Option<String>,
    pub disk_format: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: BTreeSet<String>,
    /// Custom (additional) properties; Glance stores them as strings.
    pub properties: BTreeMap<String, String>,
    pub members: BTreeMap<String, Member>,
    pub data: Option<DataRef>,
    /// Bumped by every applied change; the compare-and-set token for writers.
    pub revision: u64,
}

impl Image {
    /// A fresh `queued` image owned by `owner`, created at `now`.
    pub fn new(id: String, owner: Option<String>, now: i64) -> Self {
        Image {
            id,
            name: None,
            status: ImageStatus::Queued,
            visibility: Visibility::Shared,
            protected: false,
            os_hidden: false,
            owner,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            size: None,
            virtual_size: None,
            min_ram: 0,
            min_disk: 0,
            container_format: None,
            disk_format: None,
            created_at: now,
            updated_at: now,
            tags: BTreeSet::new(),
            properties: BTreeMap::new(),
            members: BTreeMap::new(),
            data: None,
            revision: 0,
        }
    }
}
