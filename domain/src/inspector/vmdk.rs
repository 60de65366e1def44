//! vmdk: a sparse file (magic `KDMV`, its descriptor at the sector the header names) or a
//! bare descriptor file. As Glance's inspector: only `monolithicSparse` and
//! `streamOptimized` are allowed, every descriptor line must be a comment, a `ddb` line, a
//! header field or an extent, and no extent may name a path (a file outside the image).

use super::{le64, Reading};

/// The sparse header's magic.
const MAGIC: &[u8] = b"KDMV";
/// Largest descriptor read (qemu's limit).
const MAX_DESCRIPTOR: u64 = (1 << 20) - 1;

/// The descriptor text of a sparse vmdk, or of a descriptor file.
fn descriptor(head: &[u8]) -> Option<(String, Option<u64>)> {
    if head.starts_with(MAGIC) {
        let capacity = le64(head, 12)?;
        let offset = le64(head, 28)?.checked_mul(512)?;
        let size = le64(head, 36)?.checked_mul(512)?.min(MAX_DESCRIPTOR);
        let start = usize::try_from(offset).ok()?;
        let end = usize::try_from(offset.checked_add(size)?).ok()?;
        let text = head.get(start..end.min(head.len())).unwrap_or_default();
        let text = String::from_utf8_lossy(text)
            .trim_end_matches('\0')
            .to_ascii_lowercase();
        return Some((text, capacity.checked_mul(512)));
    }
    let text = std::str::from_utf8(head.get(..head.len().min(MAX_DESCRIPTOR as usize))?)
        .ok()?
        .to_ascii_lowercase();
    text.contains("createtype=\"").then_some((text, None))
}

/// The reading of a vmdk head, if it is one.
pub(crate) fn read(head: &[u8]) -> Option<Reading> {
    let (text, virtual_size) = descriptor(head)?;
    let kind = text
        .split_once("createtype=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(kind, _)| kind.to_string())
        .filter(|k| k.len() < 64)
        .unwrap_or_else(|| "formatnotfound".into());
    Some(Reading {
        virtual_size,
        violation: check(&text, &kind).err().map(String::from),
    })
}

fn check(text: &str, kind: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("No descriptor found");
    }
    if !matches!(kind, "monolithicsparse" | "streamoptimized") {
        return Err("Unsupported subformat");
    }
    let mut extents = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with("ddb") {
            continue;
        }
        let first = line.split(' ').next().unwrap_or_default();
        if matches!(first, "rw" | "rdonly" | "noaccess") {
            if line.contains('/') {
                return Err("Invalid extent filenames found");
            }
            extents += 1;
        } else if !line
            .split('=')
            .next()
            .is_some_and(|k| line.contains('=') && !k.contains(' '))
        {
            return Err("Invalid VMDK descriptor data");
        }
    }
    if extents == 0 {
        return Err("No extents found");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse(descriptor: &str) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(MAGIC);
        h[12..20].copy_from_slice(&2048u64.to_le_bytes());
        h[28..36].copy_from_slice(&1u64.to_le_bytes());
        h[36..44].copy_from_slice(&2u64.to_le_bytes());
        let mut d = descriptor.as_bytes().to_vec();
        d.resize(1024, 0);
        h.extend(d);
        h
    }

    const GOOD: &str = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType=\"monolithicSparse\"\nRW 2048 SPARSE \"disk.vmdk\"\nddb.virtualHWVersion = \"4\"\n";

    #[test]
    fn only_self_contained_sparse_files_pass() {
        let ok = read(&sparse(GOOD)).unwrap();
        assert_eq!((ok.virtual_size, ok.violation), (Some(2048 * 512), None));
        let v = |h: Vec<u8>| read(&h).unwrap().violation.unwrap();
        let outside = GOOD.replace("\"disk.vmdk\"", "\"/etc/shadow\"");
        assert_eq!(v(sparse(&outside)), "Invalid extent filenames found");
        let flat = "# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"other-flat.vmdk\" 0\n";
        assert_eq!(v(flat.as_bytes().to_vec()), "Unsupported subformat");
        let odd = GOOD.replace("ddb.virtualHWVersion = \"4\"", "something odd here");
        assert_eq!(v(sparse(&odd)), "Invalid VMDK descriptor data");
        let none = GOOD.replace("RW 2048 SPARSE \"disk.vmdk\"", "");
        assert_eq!(v(sparse(&none)), "No extents found");
        assert!(read(b"plain text").is_none());
    }
}
