//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use tessera_raft::db::Db;
use tessera_raft::state_machine::StateMachine;
use tessera_raft::{Command, Filters, Image, ListQuery, Meta, Outcome, Request, Viewer};

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

/// A request creating image `id` (owner `p`, manifest `m-{id}`) under request id `rid`.
pub fn create(rid: &str, id: &str) -> Request {
    let mut img = Image::new(id.into(), Some("p".into()), 100);
    img.data = Some(tessera_raft::DataRef::new(format!("m-{id}")));
    Request {
        request_id: rid.into(),
        stamped_at: 100,
        command: Command::CreateImage {
            image: img,
            limits: vec![],
        },
    }
}

/// An admin listing with the given filters and page size, in the default order.
pub fn admin_query(filters: Filters, limit: usize) -> ListQuery {
    ListQuery {
        viewer: Viewer {
            project: None,
            admin: true,
        },
        filters,
        sort: ListQuery::default_sort(),
        marker: None,
        limit,
    }
}

/// The ids `meta` lists for `q`, in order.
pub async fn list_ids(meta: &Meta, q: &ListQuery) -> Vec<String> {
    meta.list_images(q)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}
