//! Who runs a task: the executing node and until when. A node renews its lease while it
//! works; once the lease has run out, any node may take the task over. Every write of a
//! running task is a compare-and-set on the revision its runner last wrote, so a node whose
//! lease was taken over can no longer change the task (it is fenced off).

use serde::{Deserialize, Serialize};

/// A node's hold on a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The executing node.
    pub node: u64,
    /// Until when it holds the task, unix microseconds.
    pub until: i64,
}

impl Lease {
    /// Whether the lease has run out at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.until <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_runs_out_at_its_end() {
        let l = Lease { node: 1, until: 10 };
        assert!(!l.expired(9));
        assert!(l.expired(10));
    }
}
