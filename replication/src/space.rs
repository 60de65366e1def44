//! Free-space watermarks of the chunk store: where its free-space figure comes from (the node
//! measures its volume) and the reserve no chunk write may cross, so a filling disk refuses
//! new chunks before it is full rather than failing every write, metadata included.

use std::fmt::Debug;
use std::sync::Arc;

/// Bytes available on a volume; the node implements it (statvfs, or a test figure).
pub trait FreeSpace: Send + Sync + Debug {
    /// Bytes an unprivileged writer may still use on the volume.
    fn available(&self) -> std::io::Result<u64>;
}

/// A store's watermark: its volume's free space must stay at or above `bytes` after a write.
#[derive(Debug, Clone)]
pub struct Reserve {
    /// Where the free-space figure comes from.
    pub free: Arc<dyn FreeSpace>,
    /// Bytes that must stay free.
    pub bytes: u64,
}

impl Reserve {
    /// The free bytes, if writing `len` more would take the volume below the reserve.
    pub fn refuses(&self, len: u64) -> std::io::Result<Option<u64>> {
        let free = self.free.available()?;
        Ok((free.saturating_sub(len) < self.bytes).then_some(free))
    }
}

/// A fixed figure: a node's test knob, and tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedSpace(pub u64);

impl FreeSpace for FixedSpace {
    fn available(&self) -> std::io::Result<u64> {
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_may_not_cross_the_reserve() {
        let r = Reserve {
            free: Arc::new(FixedSpace(1000)),
            bytes: 600,
        };
        assert_eq!(r.refuses(400).unwrap(), None);
        assert_eq!(r.refuses(401).unwrap(), Some(1000));
        assert_eq!(r.refuses(u64::MAX).unwrap(), Some(1000));
    }
}
