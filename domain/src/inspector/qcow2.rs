//! qcow2: magic `QFI\xfb`, the virtual size at 24, and the checks of Glance's inspector: no
//! backing file (offset at 8), no external data file (incompatible feature bit 2), no
//! incompatible feature it does not know (bits 4 and up), version 2 or 3.

use super::{be32, be64, Reading};

const MAGIC: &[u8] = b"QFI\xfb";
/// Incompatible feature bits Glance knows: dirty, corrupt, external data file, compression.
const KNOWN_FEATURES: u64 = 0b1111;
const DATA_FILE: u64 = 1 << 2;

/// The reading of a qcow2 head, if it is one.
pub(crate) fn read(head: &[u8]) -> Option<Reading> {
    if !head.starts_with(MAGIC) {
        return None;
    }
    let version = be32(head, 4)?;
    let backing = be64(head, 8)?;
    let virtual_size = be64(head, 24)?;
    let violation = if backing != 0 {
        Some("Image has a backing file")
    } else if !(2..=3).contains(&version) {
        Some("Unsupported qcow2 version")
    } else if version == 3 {
        let features = be64(head, 0x48)?;
        if features & DATA_FILE != 0 {
            Some("Image has data_file set")
        } else if features & !KNOWN_FEATURES != 0 {
            Some("Unknown QCOW2 features found")
        } else {
            None
        }
    } else {
        None
    };
    Some(Reading {
        virtual_size: Some(virtual_size),
        violation: violation.map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u32, backing: u64, features: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(MAGIC);
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing.to_be_bytes());
        h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        h[0x48..0x50].copy_from_slice(&features.to_be_bytes());
        h
    }

    #[test]
    fn backing_and_data_files_and_unknown_features_are_refused() {
        let ok = read(&header(3, 0, 0)).unwrap();
        assert_eq!((ok.virtual_size, ok.violation), (Some(1 << 30), None));
        let v = |h: Vec<u8>| read(&h).unwrap().violation.unwrap();
        assert_eq!(v(header(3, 0x200, 0)), "Image has a backing file");
        assert_eq!(v(header(2, 0x200, 0)), "Image has a backing file");
        assert_eq!(v(header(3, 0, DATA_FILE)), "Image has data_file set");
        assert_eq!(v(header(3, 0, 1 << 5)), "Unknown QCOW2 features found");
        assert_eq!(v(header(4, 0, 0)), "Unsupported qcow2 version");
        assert!(read(b"not qcow").is_none());
    }
}
