//! Peer addresses by node id, learned from the Raft membership.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

/// The QUIC address of every known node; shared by the chunk client and the membership loop.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    inner: Arc<RwLock<HashMap<u64, SocketAddr>>>,
}

impl Addresses {
    /// The address of `node`, if known.
    pub fn get(&self, node: u64) -> Option<SocketAddr> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&node)
            .copied()
    }

    /// Every known (node, address), by node id.
    pub fn all(&self) -> Vec<(u64, SocketAddr)> {
        let table = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<(u64, SocketAddr)> = table.iter().map(|(id, a)| (*id, *a)).collect();
        all.sort_unstable();
        all
    }

    /// Replaces the whole table.
    pub fn set(&self, table: HashMap<u64, SocketAddr>) {
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = table;
    }
}
