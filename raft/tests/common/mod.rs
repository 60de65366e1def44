//! Helpers shared by the integration tests.
#![allow(dead_code)]

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use tessera_raft::db::Db;
use tessera_raft::state_machine::StateMachine;
use tessera_raft::{Command, Image, Outcome, Request};

/// A fresh database in a temp dir.
pub fn fresh_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path()).expect("open db");
    (dir, db)
}

/// Applies requests as consecutive normal log entries (starting at `next`).
pub struct Applier {
    pub sm: StateMachine,
    pub next: u64,
}

impl Applier {
    pub fn new(db: &Db) -> Self {
        Applier {
            sm: StateMachine::new(db.clone()),
            next: 1,
        }
    }

    pub async fn apply(&mut self, req: Request) -> Outcome {
        let entry = openraft::Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.next),
            payload: EntryPayload::Normal(req),
        };
        self.next += 1;
        let mut out = self.sm.apply([entry]).await.expect("apply");
        out.pop().expect("one outcome")
    }

    pub async fn cmd(&mut self, rid: &str, at: i64, command: Command) -> Outcome {
        self.apply(Request {
            request_id: rid.into(),
            stamped_at: at,
            command,
        })
        .await
    }
}

/// An image with the given id, owner and creation time.
pub fn image(id: &str, owner: &str, at: i64) -> Image {
    Image::new(id.into(), Some(owner.into()), at)
}
