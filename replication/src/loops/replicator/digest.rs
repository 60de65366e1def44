//! Prefix-bucket digests for anti-entropy: chunk ids are split into [`BUCKETS`] buckets by
//! their first byte (the store's first directory level); a bucket's digest is the BLAKE3 of
//! its sorted ids. Two nodes compare 256 digests and list ids only where they differ.

use crate::id::ChunkId;

/// Number of prefix buckets (one per first byte of a chunk id).
pub const BUCKETS: usize = 256;

/// A bucket digest.
pub type Digest = [u8; 32];

/// The bucket of `id`.
pub fn bucket_of(id: &ChunkId) -> u8 {
    id.as_bytes()[0]
}

/// Ids split into buckets, each sorted.
pub fn by_bucket(ids: impl IntoIterator<Item = ChunkId>) -> Vec<Vec<ChunkId>> {
    let mut buckets = vec![Vec::new(); BUCKETS];
    for id in ids {
        buckets[bucket_of(&id) as usize].push(id);
    }
    for b in &mut buckets {
        b.sort_unstable();
    }
    buckets
}

/// Digest of one bucket's sorted ids.
pub fn digest(sorted: &[ChunkId]) -> Digest {
    let mut h = blake3::Hasher::new();
    for id in sorted {
        h.update(id.as_bytes());
    }
    *h.finalize().as_bytes()
}

/// Digest of every bucket of `ids` (in any order).
pub fn bucket_digests(ids: impl IntoIterator<Item = ChunkId>) -> Vec<Digest> {
    by_bucket(ids).iter().map(|b| digest(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_sensitive_to_membership() {
        let ids: Vec<ChunkId> = (0u32..1000)
            .map(|i| ChunkId::of(&i.to_le_bytes()))
            .collect();
        let mut rev = ids.clone();
        rev.reverse();
        let a = bucket_digests(ids.clone());
        assert_eq!(a.len(), BUCKETS);
        assert_eq!(a, bucket_digests(rev));
        let b = bucket_digests(ids[1..].iter().copied());
        let differing: Vec<usize> = (0..BUCKETS).filter(|&i| a[i] != b[i]).collect();
        assert_eq!(differing, vec![bucket_of(&ids[0]) as usize]);
    }
}
