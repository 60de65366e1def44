//! A single-node Glance service in a temp dir: a real single-voter `Meta` on sled and the
//! local chunk store.

#![allow(dead_code)]

use tessera_domain::{Caller, Glance, Scope, Settings};
use tessera_raft::Meta;
use tessera_replication::Data;

/// The service and what it runs on.
pub struct Node {
    pub glance: Glance,
    pub meta: Meta,
    pub data: Data,
    _dir: tempfile::TempDir,
}

/// A node with default settings.
pub async fn node() -> Node {
    node_with(Settings::default()).await
}

/// A node with `settings`.
pub async fn node_with(settings: Settings) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open(&dir.path().join("meta"), 1).await.unwrap();
    let data = Data::open(&dir.path().join("chunks")).unwrap();
    Node {
        glance: Glance::new(meta.clone(), data.clone(), settings),
        meta,
        data,
        _dir: dir,
    }
}

/// A caller of `project` with `roles`.
pub fn caller(project: &str, roles: &[&str]) -> Caller {
    Caller {
        user: format!("{project}-user"),
        project: project.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        scope: Scope::Project,
    }
}
