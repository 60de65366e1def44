//! Image manifests: the ordered list of an image's chunks, itself stored as a chunk.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::id::ChunkId;

/// One chunk of an image: its id and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The chunk's id.
    pub id: ChunkId,
    /// The chunk's length in bytes.
    pub len: u32,
}

/// The part of one chunk that a byte range covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Position of the chunk in the manifest.
    pub index: usize,
    /// The chunk's id.
    pub id: ChunkId,
    /// The chunk's full length.
    pub chunk_len: u32,
    /// First byte needed, relative to the chunk.
    pub start: u32,
    /// One past the last byte needed, relative to the chunk.
    pub end: u32,
}

/// Encoded form (MessagePack): a version tag, the total size and the entries.
#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    size: u64,
    chunks: Vec<ManifestEntry>,
}

const VERSION: u8 = 1;

/// An image's ordered chunk list with its total size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<ManifestEntry>,
    /// `ends[i]` is the image offset one past chunk `i` (prefix sums of lengths).
    ends: Vec<u64>,
}

impl Manifest {
    /// Builds a manifest from its entries in image order.
    pub fn new(entries: Vec<ManifestEntry>) -> Manifest {
        let mut total = 0u64;
        let ends = entries
            .iter()
            .map(|e| {
                total += u64::from(e.len);
                total
            })
            .collect();
        Manifest { entries, ends }
    }

    /// Total image size in bytes.
    pub fn size(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The chunks, in image order.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// Serializes to MessagePack (the bytes stored as the manifest chunk).
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            v: VERSION,
            size: self.size(),
            chunks: self.entries.clone(),
        };
        // Serializing plain structs into a Vec cannot fail.
        rmp_serde::to_vec(&wire).unwrap_or_default()
    }

    /// Parses a manifest chunk whose id is `id` (for error messages).
    pub fn decode(id: &ChunkId, bytes: &[u8]) -> Result<Manifest, DataError> {
        let bad = |reason: String| DataError::BadManifest { id: *id, reason };
        let wire: Wire = rmp_serde::from_slice(bytes)
            .map_err(|source| DataError::ManifestDecode { id: *id, source })?;
        if wire.v != VERSION {
            return Err(bad(format!("unknown version {}", wire.v)));
        }
        let m = Manifest::new(wire.chunks);
        if m.size() != wire.size {
            return Err(bad(format!(
                "size {} differs from the sum of chunk lengths {}",
                wire.size,
                m.size()
            )));
        }
        Ok(m)
    }

    /// The chunk parts covering `range` of the image, in order (binary search; O(log n + k)).
    pub fn locate(&self, range: Range<u64>) -> Result<Vec<Span>, DataError> {
        let Range { start, end } = range;
        if start > end || end > self.size() {
            return Err(DataError::BadRange {
                start,
                end,
                size: self.size(),
            });
        }
        let mut out = Vec::new();
        if start == end {
            return Ok(out);
        }
        let first = self.ends.partition_point(|&e| e <= start);
        for index in first..self.entries.len() {
            let entry = self.entries[index];
            let chunk_end = self.ends[index];
            let chunk_start = chunk_end - u64::from(entry.len);
            if chunk_start >= end {
                break;
            }
            if entry.len == 0 {
                continue;
            }
            // Both offsets lie within the chunk, so they fit in u32.
            out.push(Span {
                index,
                id: entry.id,
                chunk_len: entry.len,
                start: (start.max(chunk_start) - chunk_start) as u32,
                end: (end.min(chunk_end) - chunk_start) as u32,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn manifest(lens: &[u32]) -> Manifest {
        Manifest::new(
            lens.iter()
                .enumerate()
                .map(|(i, &len)| ManifestEntry {
                    id: ChunkId::of(&i.to_le_bytes()),
                    len,
                })
                .collect(),
        )
    }

    /// Naive: walk every byte of the range and record (chunk, offset) runs.
    fn naive(m: &Manifest, start: u64, end: u64) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        let mut chunk_start = 0u64;
        for (index, e) in m.entries().iter().enumerate() {
            for off in 0..e.len {
                let pos = chunk_start + u64::from(off);
                if pos >= start && pos < end {
                    match out.last_mut() {
                        Some(s) if s.index == index => s.end = off + 1,
                        _ => out.push(Span {
                            index,
                            id: e.id,
                            chunk_len: e.len,
                            start: off,
                            end: off + 1,
                        }),
                    }
                }
            }
            chunk_start += u64::from(e.len);
        }
        out
    }

    proptest! {
        #[test]
        fn locate_matches_naive(
            lens in prop::collection::vec(0u32..40, 0..30),
            a in 0u64..1300,
            b in 0u64..1300,
        ) {
            let m = manifest(&lens);
            let (start, end) = (a.min(b), a.max(b));
            if end > m.size() {
                prop_assert!(m.locate(start..end).is_err());
            } else {
                prop_assert_eq!(m.locate(start..end).unwrap(), naive(&m, start, end));
            }
        }

        #[test]
        fn encode_roundtrip(lens in prop::collection::vec(any::<u32>(), 0..50)) {
            let m = manifest(&lens);
            let id = ChunkId::of(b"m");
            prop_assert_eq!(Manifest::decode(&id, &m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn decode_rejects_garbage_and_bad_size() {
        let id = ChunkId::of(b"m");
        assert!(Manifest::decode(&id, b"\x01\x02garbage").is_err());
        let wire = Wire {
            v: VERSION,
            size: 5,
            chunks: vec![ManifestEntry { id, len: 4 }],
        };
        let bytes = rmp_serde::to_vec(&wire).unwrap();
        assert!(matches!(
            Manifest::decode(&id, &bytes),
            Err(DataError::BadManifest { .. })
        ));
    }

    #[test]
    fn locate_reverse_range_is_error() {
        let m = manifest(&[10, 10]);
        #[allow(clippy::reversed_empty_ranges)]
        let r = m.locate(5..3);
        assert!(r.is_err());
        assert!(m.locate(20..20).unwrap().is_empty());
    }
}
