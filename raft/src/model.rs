//! Glance domain records kept in the replicated state machine.
//!
//! Times are unix seconds stamped by the proposer (never read from a clock in `apply`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Lifecycle states of an image, as Glance names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// Created; no data yet.
    Queued,
    /// Data is being uploaded.
    Saving,
    /// Staging data through the import workflow.
    Uploading,
    /// An import is copying the data in.
    Importing,
    /// Data is stored; the image can be downloaded.
    Active,
    /// An upload failed; the image holds no usable data.
    Killed,
    /// Data download is disabled by an admin.
    Deactivated,
    /// Deleted; its data awaits the scrubber.
    PendingDelete,
    /// Deleted.
    Deleted,
}

impl ImageStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [ImageStatus; 9] = [
        Self::Queued,
        Self::Saving,
        Self::Uploading,
        Self::Importing,
        Self::Active,
        Self::Killed,
        Self::Deactivated,
        Self::PendingDelete,
        Self::Deleted,
    ];

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
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// Who may see an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every project sees it.
    Public,
    /// Only its owner sees it.
    Private,
    /// Its owner and the members it is shared with see it.
    Shared,
    /// Every project may use it; listed only on request.
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
    /// Not answered yet.
    Pending,
    /// Accepted: listed for the member.
    Accepted,
    /// Rejected: hidden from the member's lists.
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
    /// The member's answer.
    pub status: MemberStatus,
    /// When the share was made (unix seconds).
    pub created_at: i64,
    /// When it last changed (unix seconds).
    pub updated_at: i64,
}

/// Where an image's bytes live: the manifest chunk in the chunk store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRef {
    /// Hex BLAKE3 id of the manifest chunk.
    pub manifest: String,
    /// The cluster stores holding it, each with the copies it keeps of every chunk (what
    /// the loops keep: the most any of them asks). Empty in records written before several
    /// cluster stores: the first cluster store, at the configured R.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<ClusterCopy>,
}

impl DataRef {
    /// Manifest `manifest`, held by no named cluster store (staged data).
    pub fn new(manifest: String) -> DataRef {
        DataRef {
            manifest,
            stores: Vec::new(),
        }
    }
}

/// One cluster store's copy of an image: the store, the copies it keeps of each chunk and
/// the zones they go to, recorded with the copy so every node's loops read the same policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCopy {
    /// The cluster store's id.
    pub store: String,
    /// Copies of each chunk it keeps.
    pub replicas: usize,
    /// Zones its copies are confined to; empty: every zone. Last and left out when empty,
    /// so copies recorded (by position) before zones existed still decode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

/// A copy of an image's data in a store that is not the cluster's chunk store (the chunk
/// store's copy is [`Image::data`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The id of the store holding it.
    pub store: String,
    /// The URL the store's driver reads it back from (`file:///...`, `http://...`).
    pub url: String,
}

/// A Glance image record: base properties, custom properties, tags and members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The image id (a UUID).
    pub id: String,
    /// Its name, if any.
    pub name: Option<String>,
    /// Its lifecycle state.
    pub status: ImageStatus,
    /// Who may see it.
    pub visibility: Visibility,
    /// Protected images cannot be deleted.
    pub protected: bool,
    /// Hidden from lists unless asked for.
    pub os_hidden: bool,
    /// The owning project.
    pub owner: Option<String>,
    /// MD5 of the data (hex), once uploaded.
    pub checksum: Option<String>,
    /// The multihash algorithm (`sha512`), once uploaded.
    pub os_hash_algo: Option<String>,
    /// The multihash of the data (hex), once uploaded.
    pub os_hash_value: Option<String>,
    /// Data size in bytes, once uploaded.
    pub size: Option<u64>,
    /// Virtual disk size in bytes, if known.
    pub virtual_size: Option<u64>,
    /// Minimum RAM to boot it, in MiB.
    pub min_ram: u64,
    /// Minimum disk to boot it, in GiB.
    pub min_disk: u64,
    /// Container format (`bare`, `ovf`...).
    pub container_format: Option<String>,
    /// Disk format (`raw`, `qcow2`...).
    pub disk_format: Option<String>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change (unix seconds).
    pub updated_at: i64,
    /// Its tags.
    pub tags: BTreeSet<String>,
    /// Custom (additional) properties; Glance stores them as strings.
    pub properties: BTreeMap<String, String>,
    /// Projects it is shared with, by project id.
    pub members: BTreeMap<String, Member>,
    /// Where its data lives in the cluster's chunk store, once uploaded there.
    pub data: Option<DataRef>,
    /// Its copies in other stores (records written before stores existed have none).
    #[serde(default)]
    pub locations: Vec<Location>,
    /// Bumped by every applied change; the compare-and-set token for writers.
    pub revision: u64,
    /// Glance's per-location `metadata` a client set through the legacy location edits, by
    /// location URL, each a JSON object's text (a location's store is its own, not kept
    /// here). Last, and left out when empty: entries encoded by position before it existed
    /// still decode.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub location_metadata: BTreeMap<String, String>,
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
            locations: Vec::new(),
            revision: 0,
            location_metadata: BTreeMap::new(),
        }
    }

    /// Whether some store holds its data.
    pub fn has_data(&self) -> bool {
        self.data.is_some() || !self.locations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a cluster copy was recorded before zones.
    #[derive(Serialize)]
    struct CopyBeforeZones {
        store: String,
        replicas: usize,
    }

    #[test]
    fn cluster_copies_recorded_before_zones_still_decode() {
        let old = CopyBeforeZones {
            store: "fast".into(),
            replicas: 3,
        };
        for bytes in [
            rmp_serde::to_vec(&old).unwrap(),
            rmp_serde::to_vec_named(&old).unwrap(),
        ] {
            let copy: ClusterCopy = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!((copy.store.as_str(), copy.replicas), ("fast", 3));
            assert!(copy.zones.is_empty());
        }
        let zoned = ClusterCopy {
            zones: vec!["rack-1".into()],
            ..ClusterCopy {
                store: "economy".into(),
                replicas: 2,
                zones: Vec::new(),
            }
        };
        let bytes = rmp_serde::to_vec(&zoned).unwrap();
        assert_eq!(rmp_serde::from_slice::<ClusterCopy>(&bytes).unwrap(), zoned);
    }
}
