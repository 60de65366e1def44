//! Formats recognized by a signature alone: vhd (`conectix` footer copy at the start; the
//! size at 48), vhdx (`vhdxfile`), LUKS (`LUKS\xba\xbe`, version 1 only as Glance), ISO 9660
//! (`CD001` in the first volume descriptor; blocks times block size).

use super::{be64, Reading};

fn plain(virtual_size: Option<u64>) -> Reading {
    Reading {
        virtual_size,
        violation: None,
    }
}

/// A vhd head.
pub(crate) fn vhd(head: &[u8]) -> Option<Reading> {
    head.starts_with(b"conectix").then(|| plain(be64(head, 48)))
}

/// A vhdx head (its virtual size lives in the metadata region, not read here).
pub(crate) fn vhdx(head: &[u8]) -> Option<Reading> {
    head.starts_with(b"vhdxfile").then(|| plain(None))
}

/// A LUKS head.
pub(crate) fn luks(head: &[u8]) -> Option<Reading> {
    if !head.starts_with(b"LUKS\xba\xbe") {
        return None;
    }
    let version = head.get(6..8).map(|v| u16::from_be_bytes([v[0], v[1]]));
    Some(Reading {
        virtual_size: None,
        violation: (version != Some(1)).then(|| "Unsupported LUKS header version".to_string()),
    })
}

/// An ISO 9660 head.
pub(crate) fn iso(head: &[u8]) -> Option<Reading> {
    const PVD: usize = 0x8000;
    if head.get(PVD + 1..PVD + 6) != Some(b"CD001") {
        return None;
    }
    let blocks = head
        .get(PVD + 80..PVD + 84)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let block_size = head
        .get(PVD + 128..PVD + 130)
        .map(|b| u16::from_le_bytes([b[0], b[1]]));
    Some(plain(
        blocks
            .zip(block_size)
            .map(|(n, s)| u64::from(n) * u64::from(s)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_sizes() {
        let mut v = b"conectix".to_vec();
        v.resize(512, 0);
        v[48..56].copy_from_slice(&4096u64.to_be_bytes());
        assert_eq!(vhd(&v).unwrap().virtual_size, Some(4096));
        assert!(vhdx(b"vhdxfile....").is_some());
        assert!(luks(b"LUKS\xba\xbe\x00\x01").unwrap().violation.is_none());
        assert!(luks(b"LUKS\xba\xbe\x00\x02").unwrap().violation.is_some());
        let mut i = vec![0u8; 0x8800];
        i[0x8001..0x8006].copy_from_slice(b"CD001");
        i[0x8050..0x8054].copy_from_slice(&10u32.to_le_bytes());
        i[0x8080..0x8082].copy_from_slice(&2048u16.to_le_bytes());
        assert_eq!(iso(&i).unwrap().virtual_size, Some(20480));
        assert!(iso(&[0u8; 100]).is_none());
    }
}
