//! Leases: chunks another node's in-flight upload still needs, held back from this node's
//! reaper until their expiry. The uploader renews them while it runs, so a dead uploader's
//! leases simply run out and its chunks become ordinary orphans (nothing leaks).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::id::ChunkId;

/// Expiry of every leased chunk of one store (in memory: after a restart the uploader's next
/// renewal leases again, and its final confirmation re-replicates anything lost meanwhile).
#[derive(Debug, Default)]
pub(crate) struct Leases {
    until: Mutex<HashMap<ChunkId, Instant>>,
}

impl Leases {
    fn lock(&self) -> MutexGuard<'_, HashMap<ChunkId, Instant>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds each of `ids` for `ttl` from now (a longer lease already held is kept); expired
    /// entries are dropped on the way, so the map stays as large as the live leases.
    pub(crate) fn lease(&self, ids: &[ChunkId], ttl: Duration) {
        let now = Instant::now();
        let Some(until) = now.checked_add(ttl) else {
            return;
        };
        let mut map = self.lock();
        map.retain(|_, t| *t > now);
        for id in ids {
            let t = map.entry(*id).or_insert(until);
            *t = (*t).max(until);
        }
    }

    /// Whether `id` is leased now.
    pub(crate) fn held(&self, id: &ChunkId) -> bool {
        self.lock().get(id).is_some_and(|t| *t > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_run_out_and_renewals_extend_them() {
        let leases = Leases::default();
        let a = ChunkId::of(b"a");
        let b = ChunkId::of(b"b");
        leases.lease(&[a], Duration::from_millis(50));
        leases.lease(&[b], Duration::from_secs(60));
        assert!(leases.held(&a) && leases.held(&b));
        // A shorter renewal never cuts a lease short.
        leases.lease(&[b], Duration::ZERO);
        std::thread::sleep(Duration::from_millis(80));
        assert!(!leases.held(&a), "expired");
        assert!(leases.held(&b));
        leases.lease(&[], Duration::from_secs(1));
        assert_eq!(leases.lock().len(), 1, "expired entries pruned");
    }
}
