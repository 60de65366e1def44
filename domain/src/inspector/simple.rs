//! Formats recognized by a signature alone: vhd (`conectix` footer copy at the start; the
//! size at 48), vhdx (`vhdxfile`; its size is [`super::vhdx`]'s), LUKS (`LUKS\xba\xbe`,
//! version 1 only as Glance), ISO 9660 (`CD001` in the first volume descriptor; blocks times
//! block size), VirtualBox vdi (signature at 0x40, size at 0x170), qed (always refused, as
//! Glance: nobody supports it) and an MBR or GPT partition table (`gpt`, with Glance's
//! checks of its four partition entries).

use super::{be64, le64, Reading};

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

/// A vhdx head (its virtual size lives in the metadata region, found by the caller).
pub(crate) fn vhdx(head: &[u8]) -> Option<Reading> {
    head.starts_with(b"vhdxfile").then(|| plain(None))
}

/// A vdi head.
pub(crate) fn vdi(head: &[u8]) -> Option<Reading> {
    let signature = head.get(0x40..0x44)?;
    (signature == 0xBEDA_107Fu32.to_le_bytes() && head.len() >= 512)
        .then(|| plain(le64(head, 0x170)))
}

/// A qed head: recognized only to be refused.
pub(crate) fn qed(head: &[u8], total: u64) -> Option<Reading> {
    (head.len() >= 512 && head.starts_with(b"QED\0")).then(|| Reading {
        virtual_size: Some(total),
        violation: Some("This file format is not allowed".into()),
    })
}

/// The safety check a `gpt` image fails when its MBR is not sound (Glance's check name).
pub(crate) const MBR_CHECK: &str = "mbr";

/// A head with an MBR signature that is not a FAT boot sector: Glance's `gpt`.
pub(crate) fn gpt(head: &[u8], total: u64) -> Option<Reading> {
    let mbr = head.get(..512)?;
    let fat = mbr[0x10] == 2 && mbr[0x15] == 0xF8;
    if mbr[510..512] != [0x55, 0xAA] || fat {
        return None;
    }
    Some(Reading {
        virtual_size: Some(total),
        violation: mbr_violation(mbr).map(|v| format!("{MBR_CHECK}: {v}")),
    })
}

/// What is wrong with the MBR's four partition entries, as Glance checks them.
fn mbr_violation(mbr: &[u8]) -> Option<String> {
    let mut used = Vec::new();
    let mut protective = false;
    for i in 0..4 {
        let e = &mbr[446 + 16 * i..446 + 16 * (i + 1)];
        if e[0] != 0x00 && e[0] != 0x80 {
            return Some(format!("MBR PTE {i} has invalid boot flag"));
        }
        if e[4] != 0 {
            used.push(i);
        }
        if e[4] == 0xEE {
            protective = true;
            if e[1..4] != [0x00, 0x02, 0x00] {
                return Some("GPT MBR has invalid start CHS".into());
            }
            if e[8..12] != 1u32.to_le_bytes() {
                return Some("GPT MBR has invalid start LBA".into());
            }
        }
    }
    if protective && used != [0] {
        return Some("GPT MBR defines invalid extra partitions".into());
    }
    used.is_empty()
        .then(|| "GPT MBR has no partitions defined".into())
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
        let mut d = vec![0u8; 512];
        d[0x40..0x44].copy_from_slice(&0xBEDA_107Fu32.to_le_bytes());
        d[0x170..0x178].copy_from_slice(&(1u64 << 30).to_le_bytes());
        assert_eq!(vdi(&d).unwrap().virtual_size, Some(1 << 30));
        assert!(vdi(&d[..400]).is_none());
        let mut q = b"QED\0".to_vec();
        q.resize(512, 0);
        assert!(qed(&q, 512).unwrap().violation.is_some());
    }

    /// An MBR with the given (boot flag, type, start CHS, start LBA) entries.
    fn mbr(entries: &[(u8, u8, [u8; 3], u32)]) -> Vec<u8> {
        let mut m = vec![0u8; 1024];
        m[510] = 0x55;
        m[511] = 0xAA;
        for (i, (boot, kind, chs, lba)) in entries.iter().enumerate() {
            let e = 446 + 16 * i;
            m[e] = *boot;
            m[e + 1..e + 4].copy_from_slice(chs);
            m[e + 4] = *kind;
            m[e + 8..e + 12].copy_from_slice(&lba.to_le_bytes());
        }
        m
    }

    #[test]
    fn mbr_and_gpt_tables_are_checked_as_glance_checks_them() {
        let v = |m: &[u8]| gpt(m, 1024).and_then(|r| r.violation);
        // A protective MBR in front of a GPT; a plain DOS table.
        assert_eq!(v(&mbr(&[(0, 0xEE, [0, 2, 0], 1)])), None);
        assert_eq!(
            v(&mbr(&[(0x80, 0x83, [0, 1, 1], 2048), (0, 0x82, [0; 3], 9)])),
            None
        );
        assert_eq!(
            v(&mbr(&[(0x12, 0x83, [0; 3], 1)])).as_deref(),
            Some("mbr: MBR PTE 0 has invalid boot flag")
        );
        assert_eq!(
            v(&mbr(&[(0, 0xEE, [0, 1, 0], 1)])).as_deref(),
            Some("mbr: GPT MBR has invalid start CHS")
        );
        assert_eq!(
            v(&mbr(&[(0, 0xEE, [0, 2, 0], 7)])).as_deref(),
            Some("mbr: GPT MBR has invalid start LBA")
        );
        assert_eq!(
            v(&mbr(&[(0, 0xEE, [0, 2, 0], 1), (0, 0x83, [0; 3], 9)])).as_deref(),
            Some("mbr: GPT MBR defines invalid extra partitions")
        );
        assert_eq!(
            v(&mbr(&[])).as_deref(),
            Some("mbr: GPT MBR has no partitions defined")
        );
        // A FAT boot sector and data without the signature are not partition tables.
        let mut fat = mbr(&[]);
        fat[0x10] = 2;
        fat[0x15] = 0xF8;
        assert!(gpt(&fat, 1024).is_none());
        assert!(gpt(&[0u8; 1024], 1024).is_none());
    }
}
