//! Copies per chunk. Chunks are content-addressed and shared between images and stores, so
//! a chunk must meet the policy of every live image copy referencing it: when the last copy
//! asking for more (or for other zones) goes, the chunk falls back to what the others ask
//! (the surplus goes the normal handoff way).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::id::ChunkId;
use crate::policy::{Needs, Policy};

/// A manifest that must be kept, and the policies its chunks must meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LiveManifest {
    /// The manifest chunk's id.
    pub id: ChunkId,
    /// The policies of the stores holding it; empty: the configured R anywhere.
    pub policies: Vec<Policy>,
}

impl LiveManifest {
    /// A manifest kept at the configured R anywhere (staged data, legacy records).
    pub fn at_default(id: ChunkId) -> LiveManifest {
        LiveManifest {
            id,
            policies: Vec::new(),
        }
    }
}

/// The distinct manifests of `live`, each with every policy asked of it (`default` for a
/// manifest that names none), in a stable order.
pub(crate) fn by_manifest(live: Vec<LiveManifest>, default: &Policy) -> Vec<(ChunkId, Needs)> {
    let mut all: HashMap<ChunkId, Needs> = HashMap::new();
    for m in live {
        let policies = if m.policies.is_empty() {
            vec![default.clone()]
        } else {
            m.policies
        };
        for p in policies {
            match all.entry(m.id) {
                Entry::Occupied(mut e) => e.get_mut().add(p),
                Entry::Vacant(e) => {
                    e.insert(Needs::of(p));
                }
            }
        }
    }
    let mut out: Vec<(ChunkId, Needs)> = all.into_iter().collect();
    out.sort_unstable_by_key(|(id, _)| *id);
    out
}

/// The policies each referenced chunk must meet: those of every manifest referencing it.
#[derive(Debug, Default)]
pub(crate) struct Required(HashMap<ChunkId, Needs>);

impl Required {
    /// Notes that something live references `id` under `needs`.
    pub(crate) fn add(&mut self, id: ChunkId, needs: &Needs) {
        self.0
            .entry(id)
            .and_modify(|have| have.merge(needs))
            .or_insert_with(|| needs.clone());
    }

    /// Whether anything live references `id`.
    pub(crate) fn contains(&self, id: &ChunkId) -> bool {
        self.0.contains_key(id)
    }

    /// Distinct referenced chunks.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Every referenced chunk and the policies it must meet.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ChunkId, &Needs)> {
        self.0.iter()
    }

    /// Every referenced chunk and the policies it must meet.
    pub(crate) fn into_map(self) -> HashMap<ChunkId, Needs> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ChunkId {
        ChunkId::of(&[n])
    }

    fn zoned(r: usize, zone: &str) -> Policy {
        Policy::in_zones(r, [zone.to_string()])
    }

    #[test]
    fn a_manifest_listed_twice_meets_every_policy() {
        let at = |n, policies| LiveManifest {
            id: id(n),
            policies,
        };
        let live = vec![
            at(1, vec![Policy::everywhere(2)]),
            LiveManifest::at_default(id(2)),
            at(1, vec![Policy::everywhere(3), zoned(1, "b")]),
            at(2, vec![Policy::everywhere(1)]),
        ];
        let got: HashMap<_, _> = by_manifest(live, &Policy::everywhere(2))
            .into_iter()
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[&id(1)].policies(),
            &[Policy::everywhere(3), zoned(1, "b")]
        );
        // The default counts as asked: a staged copy at R=2 keeps 2 beside an R=1 store.
        assert_eq!(got[&id(2)], Needs::of(Policy::everywhere(2)));
    }

    #[test]
    fn a_shared_chunk_meets_what_every_referrer_asks() {
        let mut r = Required::default();
        r.add(id(1), &Needs::of(Policy::everywhere(2)));
        r.add(id(1), &Needs::of(Policy::everywhere(3)));
        r.add(id(1), &Needs::of(zoned(2, "a")));
        r.add(id(2), &Needs::of(Policy::everywhere(2)));
        assert!(r.contains(&id(2)) && !r.contains(&id(3)));
        assert_eq!(r.len(), 2);
        let map = r.into_map();
        assert_eq!(
            map[&id(1)].policies(),
            &[Policy::everywhere(3), zoned(2, "a")]
        );
        // The R=3 referrer gone: the next pass computes 2 again.
        let mut next = Required::default();
        next.add(id(1), &Needs::of(Policy::everywhere(2)));
        assert_eq!(next.into_map()[&id(1)], Needs::of(Policy::everywhere(2)));
    }
}
