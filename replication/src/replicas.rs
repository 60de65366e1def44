//! Copies per chunk. Chunks are content-addressed and shared between images and stores, so
//! a chunk needs the most copies any live image copy referencing it asks for: when the last
//! copy asking for more goes, the chunk falls back to what the others ask (the surplus goes
//! the normal handoff way).

use std::collections::HashMap;

use crate::id::ChunkId;

/// A manifest that must be kept, and the copies its chunks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LiveManifest {
    /// The manifest chunk's id.
    pub id: ChunkId,
    /// Copies asked for (the most of the stores holding it); `None`: the configured R.
    pub replicas: Option<usize>,
}

impl LiveManifest {
    /// A manifest kept at the configured R (staged data, legacy records).
    pub fn at_default(id: ChunkId) -> LiveManifest {
        LiveManifest { id, replicas: None }
    }
}

/// The distinct manifests of `live`, each with the most copies asked of it (`default` for
/// `None`), in a stable order.
pub(crate) fn by_manifest(live: Vec<LiveManifest>, default: usize) -> Vec<(ChunkId, usize)> {
    let mut most: HashMap<ChunkId, usize> = HashMap::new();
    for m in live {
        let r = m.replicas.unwrap_or(default);
        most.entry(m.id)
            .and_modify(|have| *have = (*have).max(r))
            .or_insert(r);
    }
    let mut out: Vec<(ChunkId, usize)> = most.into_iter().collect();
    out.sort_unstable_by_key(|(id, _)| *id);
    out
}

/// Copies each referenced chunk needs: the most asked for by the manifests referencing it.
#[derive(Debug, Default)]
pub(crate) struct Required(HashMap<ChunkId, usize>);

impl Required {
    /// Notes that something live references `id` at `r` copies.
    pub(crate) fn add(&mut self, id: ChunkId, r: usize) {
        self.0
            .entry(id)
            .and_modify(|have| *have = (*have).max(r))
            .or_insert(r);
    }

    /// Whether anything live references `id`.
    pub(crate) fn contains(&self, id: &ChunkId) -> bool {
        self.0.contains_key(id)
    }

    /// Distinct referenced chunks.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Every referenced chunk and the copies it needs.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ChunkId, usize)> {
        self.0.iter().map(|(id, r)| (id, *r))
    }

    /// Every referenced chunk and the copies it needs.
    pub(crate) fn into_map(self) -> HashMap<ChunkId, usize> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ChunkId {
        ChunkId::of(&[n])
    }

    #[test]
    fn a_manifest_listed_twice_takes_the_most_copies() {
        let live = vec![
            LiveManifest {
                id: id(1),
                replicas: Some(2),
            },
            LiveManifest::at_default(id(2)),
            LiveManifest {
                id: id(1),
                replicas: Some(3),
            },
            LiveManifest {
                id: id(2),
                replicas: Some(1),
            },
        ];
        let got: HashMap<_, _> = by_manifest(live, 2).into_iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&id(1)], 3);
        // The default counts as asked: a staged copy at R=2 keeps 2 beside an R=1 store.
        assert_eq!(got[&id(2)], 2);
    }

    #[test]
    fn a_shared_chunk_needs_the_most_any_referrer_asks() {
        let mut r = Required::default();
        r.add(id(1), 2);
        r.add(id(1), 3);
        r.add(id(1), 2);
        r.add(id(2), 2);
        assert!(r.contains(&id(2)) && !r.contains(&id(3)));
        assert_eq!(r.len(), 2);
        let map = r.into_map();
        assert_eq!((map[&id(1)], map[&id(2)]), (3, 2));
        // The R=3 referrer gone: the next pass computes 2 again.
        let mut next = Required::default();
        next.add(id(1), 2);
        assert_eq!(next.into_map()[&id(1)], 2);
    }
}
