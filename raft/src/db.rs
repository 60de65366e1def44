//! One sled database per node and the trees inside it.

use crate::durable::{sync_dir, Durable};
use crate::error::StoreError;
use std::path::Path;
use std::time::Duration;

/// Trees of the replicated state machine; all written together in one transaction per entry.
#[derive(Clone)]
pub struct SmTrees {
    /// image id -> Image.
    pub images: sled::Tree,
    /// request id -> (stamped_at, Outcome).
    pub dedup: sled::Tree,
    /// be(stamped_at) + request id -> (), to expire dedup entries oldest first.
    pub dedup_age: sled::Tree,
    /// last applied log id, last membership, newest request stamp.
    pub meta: sled::Tree,
    /// ord(created_at) + id.
    pub idx_created: sled::Tree,
    /// ord(updated_at) + id.
    pub idx_updated: sled::Tree,
    /// field(owner) + ord(created_at) + id.
    pub idx_owner: sled::Tree,
    /// field(status) + ord(created_at) + id.
    pub idx_status: sled::Tree,
    /// field(visibility) + ord(created_at) + id.
    pub idx_visibility: sled::Tree,
    /// field(name) + ord(created_at) + id.
    pub idx_name: sled::Tree,
    /// field(tag) + ord(created_at) + id, one key per tag.
    pub idx_tag: sled::Tree,
    /// kind + NUL + id -> (revision, body): every record that is not an image.
    pub docs: sled::Tree,
    /// project -> its unified-limit usage, following every image change.
    pub usage: sled::Tree,
}

/// Names of the state machine trees, in the order of [`SmTrees::all`].
pub const SM_TREE_NAMES: [&str; 13] = [
    "sm_images",
    "sm_dedup",
    "sm_dedup_age",
    "sm_meta",
    "idx_created",
    "idx_updated",
    "idx_owner",
    "idx_status",
    "idx_visibility",
    "idx_name",
    "idx_tag",
    "sm_docs",
    "sm_usage",
];

impl SmTrees {
    fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let t = |i: usize| db.open_tree(SM_TREE_NAMES[i]);
        Ok(SmTrees {
            images: t(0)?,
            dedup: t(1)?,
            dedup_age: t(2)?,
            meta: t(3)?,
            idx_created: t(4)?,
            idx_updated: t(5)?,
            idx_owner: t(6)?,
            idx_status: t(7)?,
            idx_visibility: t(8)?,
            idx_name: t(9)?,
            idx_tag: t(10)?,
            docs: t(11)?,
            usage: t(12)?,
        })
    }

    /// Every tree, in the order of [`SM_TREE_NAMES`].
    pub fn all(&self) -> [sled::Tree; 13] {
        [
            self.images.clone(),
            self.dedup.clone(),
            self.dedup_age.clone(),
            self.meta.clone(),
            self.idx_created.clone(),
            self.idx_updated.clone(),
            self.idx_owner.clone(),
            self.idx_status.clone(),
            self.idx_visibility.clone(),
            self.idx_name.clone(),
            self.idx_tag.clone(),
            self.docs.clone(),
            self.usage.clone(),
        ]
    }
}

/// The database of one node and its trees.
#[derive(Clone)]
pub struct Db {
    /// The sled database.
    pub db: sled::Db,
    /// Flush + fsync helper for this database.
    pub durable: Durable,
    /// Raft log: be(index) -> Entry.
    pub log: sled::Tree,
    /// Vote, committed and last purged log id.
    pub raft_meta: sled::Tree,
    /// Current snapshot meta and bytes.
    pub snapshot: sled::Tree,
    /// State machine data.
    pub sm: SmTrees,
}

impl Db {
    /// Opens (or creates) the database in `dir`, retrying briefly while a previous instance
    /// in this process still holds sled's file lock (e.g. right after a shutdown).
    pub fn open(dir: &Path) -> Result<Db, StoreError> {
        std::fs::create_dir_all(dir)?;
        let mut tries = 0;
        let db = loop {
            match sled::Config::new().path(dir).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if tries < 50 && e.to_string().contains("could not acquire lock") =>
                {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        };
        // Make the creation of sled's files itself durable.
        sync_dir(dir)?;
        let db = Db {
            durable: Durable::new(db.clone(), dir),
            log: db.open_tree("raft_log")?,
            raft_meta: db.open_tree("raft_meta")?,
            snapshot: db.open_tree("snapshot")?,
            sm: SmTrees::open(&db)?,
            db,
        };
        // A crash during a snapshot install left half a state machine: redo the install.
        crate::snapshot::finish_install(&db)?;
        Ok(db)
    }
}
