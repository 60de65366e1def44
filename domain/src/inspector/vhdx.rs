//! vhdx's virtual size, as Glance's inspector reads it: the region table at 192 KiB names
//! the metadata region, whose table names the "virtual disk size" item. Both may lie far
//! past the head (qemu puts the metadata region at 2 MiB), so they are captured from the
//! stream as it passes, never read twice.

use super::le64;

/// The region table's offset.
const REGION_TABLE: u64 = 192 * 1024;
/// Bytes of a table read: a 32-byte header and up to 2047 entries (qemu's limit).
const TABLE_BYTES: usize = 2048 * 32;
/// The metadata region's GUID, as stored (little-endian fields).
const METADATA_REGION: [u8; 16] = guid(
    0x8B7C_A206,
    0x4790,
    0x4B9A,
    [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E],
);
/// The virtual disk size item's GUID, as stored.
const VIRTUAL_DISK_SIZE: [u8; 16] = guid(
    0x2FA5_4224,
    0xCD1B,
    0x4876,
    [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8],
);

/// A GUID in the byte order Microsoft stores it.
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// Bytes `[offset, offset + len)` of the stream, collected as they pass.
#[derive(Debug)]
struct Window {
    offset: u64,
    data: Vec<u8>,
    len: usize,
}

impl Window {
    fn new(offset: u64, len: usize) -> Self {
        Window {
            offset,
            data: Vec::new(),
            len,
        }
    }

    /// Takes what it needs of `bytes`, which start at stream position `at`; bytes come in
    /// order, so a window only ever grows at its end.
    fn fill(&mut self, at: u64, bytes: &[u8]) {
        let want = self.offset + self.data.len() as u64;
        if self.complete() || at > want {
            return;
        }
        let Ok(skip) = usize::try_from(want - at) else {
            return;
        };
        if let Some(rest) = bytes.get(skip..) {
            let take = rest.len().min(self.len - self.data.len());
            self.data.extend_from_slice(&rest[..take]);
        }
    }

    fn complete(&self) -> bool {
        self.data.len() == self.len
    }
}

/// Follows a vhdx stream to its virtual size.
#[derive(Debug, Default)]
pub(crate) struct VhdxSize {
    regions: Option<Window>,
    metadata: Option<Window>,
    size: Option<Window>,
    /// Set when a table is malformed: no size will be found.
    broken: bool,
}

impl VhdxSize {
    /// Sees the bytes at stream position `at`.
    pub(crate) fn feed(&mut self, at: u64, bytes: &[u8]) {
        if self.broken {
            return;
        }
        let regions = self
            .regions
            .get_or_insert_with(|| Window::new(REGION_TABLE, TABLE_BYTES));
        regions.fill(at, bytes);
        if regions.complete() && self.metadata.is_none() {
            match metadata_offset(&regions.data) {
                Some(offset) => self.metadata = Some(Window::new(offset, TABLE_BYTES)),
                None => self.broken = true,
            }
            // The metadata region may start within these very bytes.
        }
        let Some(metadata) = self.metadata.as_mut() else {
            return;
        };
        metadata.fill(at, bytes);
        if metadata.complete() && self.size.is_none() {
            match size_item(&metadata.data) {
                Some(item) => {
                    let mut w = Window::new(metadata.offset + item, 8);
                    // The item may lie inside the table just read.
                    w.fill(metadata.offset, &metadata.data);
                    self.size = Some(w);
                }
                None => self.broken = true,
            }
        }
        if let Some(size) = self.size.as_mut() {
            size.fill(at, bytes);
        }
    }

    /// The virtual size, once the stream has passed it.
    pub(crate) fn virtual_size(&self) -> Option<u64> {
        self.size
            .as_ref()
            .filter(|w| w.complete())
            .and_then(|w| le64(&w.data, 0))
    }
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

/// The metadata region's offset from the region table (signature `regi`).
fn metadata_offset(table: &[u8]) -> Option<u64> {
    if table.get(..4) != Some(b"regi") {
        tracing::info!("vhdx region table signature not found");
        return None;
    }
    let count = usize::try_from(le32(table, 8)?).ok()?;
    if count >= 2048 {
        return None;
    }
    (0..count)
        .map(|i| 16 + i * 32)
        .find(|&e| table.get(e..e + 16) == Some(&METADATA_REGION[..]))
        .and_then(|e| le64(table, e + 16))
}

/// The virtual disk size item's offset in the metadata region (signature `metadata`).
fn size_item(table: &[u8]) -> Option<u64> {
    if table.get(..8) != Some(b"metadata") {
        tracing::info!("vhdx metadata table signature not found");
        return None;
    }
    let count = usize::from(u16::from_le_bytes(table.get(10..12)?.try_into().ok()?));
    if count >= 2048 {
        return None;
    }
    (0..count)
        .map(|i| 32 + i * 32)
        .find(|&e| table.get(e..e + 16) == Some(&VIRTUAL_DISK_SIZE[..]))
        .and_then(|e| le32(table, e + 16))
        .map(u64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vhdx skeleton: region table at 192 KiB naming a metadata region at `meta`, whose
    /// table's second entry is the size item at `item` in it.
    fn skeleton(meta: usize, item: usize, size: u64) -> Vec<u8> {
        let mut f = vec![0u8; meta + (item + 8).max(TABLE_BYTES)];
        f[..8].copy_from_slice(b"vhdxfile");
        let r = REGION_TABLE as usize;
        f[r..r + 4].copy_from_slice(b"regi");
        f[r + 8..r + 12].copy_from_slice(&2u32.to_le_bytes());
        f[r + 48..r + 64].copy_from_slice(&METADATA_REGION);
        f[r + 64..r + 72].copy_from_slice(&(meta as u64).to_le_bytes());
        f[meta..meta + 8].copy_from_slice(b"metadata");
        f[meta + 10..meta + 12].copy_from_slice(&2u16.to_le_bytes());
        f[meta + 64..meta + 80].copy_from_slice(&VIRTUAL_DISK_SIZE);
        f[meta + 80..meta + 84].copy_from_slice(&(item as u32).to_le_bytes());
        f[meta + item..meta + item + 8].copy_from_slice(&size.to_le_bytes());
        f
    }

    fn follow(data: &[u8], piece: usize) -> Option<u64> {
        let mut v = VhdxSize::default();
        let mut at = 0u64;
        for p in data.chunks(piece) {
            v.feed(at, p);
            at += p.len() as u64;
        }
        v.virtual_size()
    }

    #[test]
    fn the_size_is_found_far_past_the_head_in_any_piece_size() {
        let f = skeleton(2 << 20, 65536, 1 << 30);
        for piece in [1000, 4096, 65536, 1 << 20, 8 << 20] {
            assert_eq!(follow(&f, piece), Some(1 << 30), "pieces of {piece}");
        }
        // The item inside the metadata table's own window.
        let f = skeleton(300 * 1024, 128, 42);
        assert_eq!(follow(&f, 7000), Some(42));
    }

    #[test]
    fn broken_tables_give_no_size() {
        let mut f = skeleton(2 << 20, 65536, 1 << 30);
        f[REGION_TABLE as usize] = b'x';
        assert_eq!(follow(&f, 65536), None);
        let mut f = skeleton(2 << 20, 65536, 1 << 30);
        f[2 << 20] = b'x';
        assert_eq!(follow(&f, 65536), None);
        // Cut off before the size.
        let f = skeleton(2 << 20, 65536, 1 << 30);
        assert_eq!(follow(&f[..(2 << 20) + 65536 + 4], 65536), None);
    }
}
