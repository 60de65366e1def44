//! Caps on concurrent uploads, per node and per project: each upload holds a pipeline of
//! threads and buffers, so past a cap a new one is refused (503, retry later) before its image
//! changes, rather than slowing every upload on the node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::DomainError;

/// The caps: most uploads running at once on this node, and for one project on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Uploads at once on this node.
    pub per_node: usize,
    /// Uploads at once of one project on this node.
    pub per_project: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            per_node: 64,
            per_project: 32,
        }
    }
}

/// The uploads running on this node, counted against [`UploadLimits`].
#[derive(Debug, Clone, Default)]
pub struct UploadSlots {
    limits: UploadLimits,
    running: Arc<Mutex<Running>>,
}

#[derive(Debug, Default)]
struct Running {
    total: usize,
    per_project: HashMap<String, usize>,
}

/// One running upload; dropping it frees its slot.
#[derive(Debug)]
pub struct UploadSlot {
    running: Arc<Mutex<Running>>,
    project: String,
}

impl UploadSlots {
    /// Slots under `limits`.
    pub fn new(limits: UploadLimits) -> Self {
        UploadSlots {
            limits,
            running: Arc::default(),
        }
    }

    /// A slot for an upload by `project`, or 503 if the node or the project is at its cap.
    pub fn take(&self, project: &str) -> Result<UploadSlot, DomainError> {
        // The counts stay consistent whatever panicked while holding the lock.
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.total >= self.limits.per_node {
            return Err(DomainError::Unavailable(format!(
                "This node is running its maximum of {} concurrent uploads; retry later.",
                self.limits.per_node
            )));
        }
        let mine = running.per_project.entry(project.to_string()).or_default();
        if *mine >= self.limits.per_project {
            return Err(DomainError::Unavailable(format!(
                "Project {project} is running its maximum of {} concurrent uploads on this node; \
                 retry later.",
                self.limits.per_project
            )));
        }
        *mine += 1;
        running.total += 1;
        Ok(UploadSlot {
            running: self.running.clone(),
            project: project.to_string(),
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.total = running.total.saturating_sub(1);
        if let Some(n) = running.per_project.get_mut(&self.project) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.per_project.remove(&self.project);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_node_and_per_project_and_freed_on_drop() {
        let slots = UploadSlots::new(UploadLimits {
            per_node: 3,
            per_project: 2,
        });
        let a1 = slots.take("a").unwrap();
        let _a2 = slots.take("a").unwrap();
        let err = slots.take("a").unwrap_err();
        assert!(matches!(err, DomainError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("Project a"), "{err}");
        let _b1 = slots.take("b").unwrap();
        let err = slots.take("c").unwrap_err();
        assert!(err.to_string().contains("This node"), "{err}");
        drop(a1);
        let _c1 = slots.take("c").unwrap();
    }
}
