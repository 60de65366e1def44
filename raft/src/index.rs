//! Secondary indexes of images and the list query planner that walks them.
//!
//! Key layouts (all order-preserving so sled's byte order is the list order):
//! - time indexes: `ord(t) ++ id` where `ord` flips the sign bit of a big-endian i64;
//! - equality indexes: `field(value) ++ ord(created_at) ++ id`, with `field` a big-endian u32
//!   length prefix plus the bytes: unlike a 0x00 terminator this stays unambiguous when a
//!   value itself contains 0x00, so a prefix scan returns exactly one value's keys.

use crate::db::SmTrees;
use crate::error::MetaError;
use crate::model::{Image, ImageStatus};
use crate::query::{ListQuery, SortDir, SortKey};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Bound;

/// The secondary indexes, as positions in the state machine's tree list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// By created_at.
    Created,
    /// By updated_at.
    Updated,
    /// By owner, then created_at.
    Owner,
    /// By status, then created_at.
    Status,
    /// By visibility, then created_at.
    Visibility,
    /// By name, then created_at.
    Name,
    /// By tag, then created_at.
    Tag,
}

impl Index {
    /// Position of this index's tree in [`SmTrees::all`].
    pub fn tree_pos(self) -> usize {
        match self {
            Index::Created => 4,
            Index::Updated => 5,
            Index::Owner => 6,
            Index::Status => 7,
            Index::Visibility => 8,
            Index::Name => 9,
            Index::Tag => 10,
        }
    }

    fn tree(self, t: &SmTrees) -> &sled::Tree {
        match self {
            Index::Created => &t.idx_created,
            Index::Updated => &t.idx_updated,
            Index::Owner => &t.idx_owner,
            Index::Status => &t.idx_status,
            Index::Visibility => &t.idx_visibility,
            Index::Name => &t.idx_name,
            Index::Tag => &t.idx_tag,
        }
    }
}

/// Order-preserving encoding of an i64.
pub fn ord_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Length-prefixed field value: the prefix of one value's keys in an equality index.
pub fn field(value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + value.len());
    k.extend_from_slice(&(value.len() as u32).to_be_bytes());
    k.extend_from_slice(value.as_bytes());
    k
}

fn key(prefix: &[u8], t: i64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8 + id.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(&ord_i64(t));
    k.extend_from_slice(id.as_bytes());
    k
}

/// Every index key `image` has: removing them all and inserting the new image's keys keeps
/// the indexes exact across any change of name, tags, owner, status, visibility or times.
pub fn index_keys(image: &Image) -> Vec<(Index, Vec<u8>)> {
    let c = image.created_at;
    let id = image.id.as_str();
    let mut out = vec![
        (Index::Created, key(&[], c, id)),
        (Index::Updated, key(&[], image.updated_at, id)),
        (Index::Status, key(&field(image.status.as_str()), c, id)),
        (
            Index::Visibility,
            key(&field(image.visibility.as_str()), c, id),
        ),
    ];
    if let Some(o) = &image.owner {
        out.push((Index::Owner, key(&field(o), c, id)));
    }
    if let Some(n) = &image.name {
        out.push((Index::Name, key(&field(n), c, id)));
    }
    for t in &image.tags {
        out.push((Index::Tag, key(&field(t), c, id)));
    }
    out
}

/// How a list query is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// Walk `index` within `prefix`, keys ordered by `time` of the image, in `dir`.
    Walk {
        index: Index,
        prefix: Vec<u8>,
        dir: SortDir,
    },
    /// Filter everything, then sort.
    Scan,
}

fn plan(q: &ListQuery) -> Plan {
    let (key, dir) = match q.sort.as_slice() {
        [(k, d)] => (k, *d),
        [(k, d), (SortKey::Id, d2)] if d == d2 => (k, *d),
        _ => return Plan::Scan,
    };
    match key {
        SortKey::UpdatedAt => Plan::Walk {
            index: Index::Updated,
            prefix: Vec::new(),
            dir,
        },
        SortKey::CreatedAt => {
            let (index, prefix) = narrowest(q).unwrap_or((Index::Created, Vec::new()));
            Plan::Walk { index, prefix, dir }
        }
        _ => Plan::Scan,
    }
}

/// The equality index and value prefix that hold every image the query's filters can match,
/// if a filter names one: the owner, a single name, a tag, a single status, the visibility.
fn narrowest(q: &ListQuery) -> Option<(Index, Vec<u8>)> {
    let f = &q.filters;
    if let Some(o) = &f.owner {
        Some((Index::Owner, field(o)))
    } else if let Some([n]) = f.names.as_deref() {
        Some((Index::Name, field(n)))
    } else if let Some(t) = f.tags.first() {
        Some((Index::Tag, field(t)))
    } else if let Some([s]) = f.statuses.as_deref() {
        Some((Index::Status, field(s.as_str())))
    } else if let Some(Some(v)) = f.visibility {
        Some((Index::Visibility, field(v.as_str())))
    } else {
        None
    }
}

fn get_image(t: &SmTrees, id: &[u8]) -> Result<Option<Image>, MetaError> {
    match t.images.get(id)? {
        Some(v) => Ok(Some(rmp_serde::from_slice(&v)?)),
        None => Ok(None),
    }
}

/// The time an index orders by.
fn index_time(index: Index, image: &Image) -> i64 {
    if index == Index::Updated {
        image.updated_at
    } else {
        image.created_at
    }
}

/// Every image in `status`, oldest first, read through the status index.
pub fn images_with_status(t: &SmTrees, status: ImageStatus) -> Result<Vec<Image>, MetaError> {
    let prefix = field(status.as_str());
    let mut out = Vec::new();
    for kv in t.idx_status.scan_prefix(&prefix) {
        let (k, _) = kv?;
        let Some(id) = k.get(prefix.len() + 8..) else {
            continue;
        };
        if let Some(img) = get_image(t, id)? {
            out.push(img);
        }
    }
    Ok(out)
}

/// One page of images for `q`, read from the state machine trees.
pub fn list_images(t: &SmTrees, q: &ListQuery) -> Result<Vec<Image>, MetaError> {
    let marker = match &q.marker {
        Some(m) => match get_image(t, m.as_bytes())? {
            // Glance answers an invisible marker exactly like a missing one.
            Some(img) if ListQuery::can_view(&q.viewer, &img) => Some(img),
            _ => return Err(MetaError::MarkerNotFound(m.clone())),
        },
        None => None,
    };
    if q.limit == 0 {
        return Ok(Vec::new());
    }
    match plan(q) {
        Plan::Scan => scan(t, q, marker.as_ref()),
        Plan::Walk { index, prefix, dir } => walk(t, q, marker.as_ref(), index, &prefix, dir),
    }
}

fn walk(
    t: &SmTrees,
    q: &ListQuery,
    marker: Option<&Image>,
    index: Index,
    prefix: &[u8],
    dir: SortDir,
) -> Result<Vec<Image>, MetaError> {
    let tree = index.tree(t);
    let lo: Bound<Vec<u8>>;
    let hi: Bound<Vec<u8>>;
    let start = marker.map(|m| key(prefix, index_time(index, m), &m.id));
    let prefix_lo = Bound::Included(prefix.to_vec());
    let prefix_hi = match prefix_end(prefix) {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    match (dir, start) {
        (SortDir::Asc, Some(s)) => {
            lo = Bound::Excluded(s);
            hi = prefix_hi;
        }
        (SortDir::Desc, Some(s)) => {
            lo = prefix_lo;
            hi = Bound::Excluded(s);
        }
        (_, None) => {
            lo = prefix_lo;
            hi = prefix_hi;
        }
    }
    let iter = tree.range::<Vec<u8>, _>((lo, hi));
    let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match dir {
        SortDir::Asc => Box::new(iter),
        SortDir::Desc => Box::new(iter.rev()),
    };
    let mut out = Vec::new();
    for kv in iter {
        let (k, _) = kv?;
        let Some(id) = k.get(prefix.len() + 8..) else {
            continue;
        };
        let Some(img) = get_image(t, id)? else {
            continue;
        };
        // Skip an entry that no longer describes the stored record (a concurrent apply moved
        // it); the record is found again at its current key.
        if key(prefix, index_time(index, &img), &img.id) != k.as_ref() {
            continue;
        }
        if q.matches(&img) {
            out.push(img);
            if out.len() >= q.limit {
                break;
            }
        }
    }
    Ok(out)
}

/// The smallest key greater than every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A sort with no index: the candidates (the narrowest equality index's images when a filter
/// names one, else every image) are decoded once and only the best `limit` kept, so memory is
/// bounded by the page, not by the number of images.
fn scan(t: &SmTrees, q: &ListQuery, marker: Option<&Image>) -> Result<Vec<Image>, MetaError> {
    let mut best = BinaryHeap::with_capacity(q.limit.min(1024) + 1);
    let mut offer = |img: Image| {
        if !q.matches(&img) || marker.is_some_and(|m| q.compare(&img, m).is_le()) {
            return;
        }
        best.push(Ranked { img, q });
        if best.len() > q.limit {
            best.pop();
        }
    };
    match narrowest(q) {
        Some((index, prefix)) => {
            for kv in index.tree(t).scan_prefix(&prefix) {
                let (k, _) = kv?;
                let Some(img) = k
                    .get(prefix.len() + 8..)
                    .map(|id| get_image(t, id))
                    .transpose()?
                else {
                    continue;
                };
                // Only the entry that describes the stored record counts (see `walk`).
                if let Some(img) =
                    img.filter(|i| key(&prefix, index_time(index, i), &i.id) == k.as_ref())
                {
                    offer(img);
                }
            }
        }
        None => {
            for kv in t.images.iter() {
                let (_, v) = kv?;
                offer(rmp_serde::from_slice(&v)?);
            }
        }
    }
    Ok(best.into_sorted_vec().into_iter().map(|r| r.img).collect())
}

/// An image ordered by a query's sort, for keeping the best of a page in a heap.
struct Ranked<'q> {
    img: Image,
    q: &'q ListQuery,
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked<'_> {}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.q.compare(&self.img, &other.img)
    }
}
