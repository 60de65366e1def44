//! The disk-format inspector, in the manner of Glance's `format_inspector` (oslo.utils): it
//! sees every byte that comes in (upload, stage, web-download) in the stream, keeps only
//! the head of the data, and at the end says which format the data is, its virtual size,
//! and whether it breaks a safety rule (a qcow2 with a backing file or an external data file
//! or unknown incompatible features, a vmdk that is not a single self-contained sparse file,
//! an old LUKS header). [`verdict`] then applies Glance's upload rules against the image's
//! `disk_format`.
//!
//! Detected: raw, qcow2, vmdk, vhd, vhdx, iso, luks, vdi, qed (always refused) and gpt (an
//! MBR or GPT partition table, with Glance's MBR checks).

mod qcow2;
mod simple;
mod vhdx;
mod vmdk;

use serde::{Deserialize, Serialize};

/// Bytes of the head kept: enough for an ISO's volume descriptor and a vmdk descriptor of
/// up to 1 MiB just after its header (qemu's limit).
const HEAD: usize = 0x200 + (1 << 20);

/// The disk formats this inspector detects (Glance's `ALL_FORMATS`).
pub const INSPECTABLE: [&str; 10] = [
    "raw", "qcow2", "vhd", "vhdx", "vmdk", "vdi", "qed", "iso", "gpt", "luks",
];

/// What the data is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detected {
    /// Glance's name of the format (`raw` when nothing else matched).
    pub format: String,
    /// The disk's virtual size, when the format states it.
    pub virtual_size: Option<u64>,
    /// The data's size.
    pub actual_size: u64,
    /// The safety rule the data breaks, if any.
    pub violation: Option<String>,
}

/// One format's reading of the head.
pub(crate) struct Reading {
    virtual_size: Option<u64>,
    violation: Option<String>,
}

/// Reads a data stream's head as it passes.
#[derive(Debug, Default)]
pub struct Inspector {
    head: Vec<u8>,
    total: u64,
    /// Follows a vhdx stream to its size, once the head says it is one.
    vhdx: Option<vhdx::VhdxSize>,
}

impl Inspector {
    /// An inspector that has seen nothing.
    pub fn new() -> Self {
        Inspector::default()
    }

    /// Sees the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        let room = HEAD.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
        if self.vhdx.is_none() && simple::vhdx(&self.head).is_some() {
            self.vhdx = Some(vhdx::VhdxSize::default());
        }
        if let Some(v) = self.vhdx.as_mut() {
            v.feed(self.total, bytes);
        }
        self.total += bytes.len() as u64;
    }

    /// What the whole stream was.
    pub fn finish(self) -> Detected {
        let (head, total) = (&self.head, self.total);
        let vhdx_size = self.vhdx.as_ref().and_then(vhdx::VhdxSize::virtual_size);
        // An ISO may carry a partition table in front (bootable as a disk): it is an ISO,
        // as Glance decides; so `gpt` comes last.
        let found: Option<(&str, Reading)> = qcow2::read(head)
            .map(|r| ("qcow2", r))
            .or_else(|| vmdk::read(head).map(|r| ("vmdk", r)))
            .or_else(|| simple::vhd(head).map(|r| ("vhd", r)))
            .or_else(|| {
                simple::vhdx(head).map(|r| {
                    let virtual_size = vhdx_size.or(r.virtual_size);
                    ("vhdx", Reading { virtual_size, ..r })
                })
            })
            .or_else(|| simple::luks(head).map(|r| ("luks", r)))
            .or_else(|| simple::iso(head).map(|r| ("iso", r)))
            .or_else(|| simple::vdi(head).map(|r| ("vdi", r)))
            .or_else(|| simple::qed(head, total).map(|r| ("qed", r)))
            .or_else(|| simple::gpt(head, total).map(|r| ("gpt", r)));
        match found {
            Some((format, r)) => Detected {
                format: format.into(),
                virtual_size: r.virtual_size,
                actual_size: self.total,
                violation: r.violation,
            },
            None => Detected {
                format: "raw".into(),
                virtual_size: Some(self.total),
                actual_size: self.total,
                violation: None,
            },
        }
    }
}

/// Glance's rules for data of `detected` format stored as `disk_format` in
/// `container_format`: the virtual size to record, or why the data is refused. A format
/// that does not match is refused when `require_match` (Glance's
/// `require_image_format_match`, on by default since 2024.2), else only logged; the safety
/// checks apply either way.
pub fn verdict(
    detected: &Detected,
    disk_format: Option<&str>,
    container_format: Option<&str>,
    require_match: bool,
) -> Result<Option<u64>, String> {
    if container_format != Some("bare") {
        // Glance inspects bare images only.
        return Ok(None);
    }
    let disk = disk_format.unwrap_or_default();
    let virtual_size = if detected.format == disk {
        detected.virtual_size
    } else if detected.format == "raw" && !INSPECTABLE.contains(&disk) {
        // AMI and the like cannot be inspected; unrecognized data passes.
        None
    } else if disk == "raw" {
        tracing::warn!(detected = %detected.format, "image claims raw disk_format");
        Some(detected.actual_size)
    } else {
        let mismatch = format!(
            "Image disk_format {disk} does not match stream data {}",
            detected.format
        );
        if require_match {
            return Err(mismatch);
        }
        tracing::warn!(%mismatch, "format mismatch allowed; no virtual size");
        None
    };
    // Kernel and ramdisk images may carry an intentionally invalid MBR (Glance).
    let mbr_waived = detected.format == "gpt" && matches!(disk, "aki" | "ari");
    if let Some(v) = detected.violation.as_ref().filter(|_| !mbr_waived) {
        tracing::warn!(format = %detected.format, violation = %v, "image failed safety checks");
        return Err("Image failed safety checks".into());
    }
    Ok(virtual_size)
}

/// A big-endian u32 at `at`, if the head has it.
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
}

/// A big-endian u64 at `at`, if the head has it.
pub(crate) fn be64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
}

/// A little-endian u64 at `at`, if the head has it.
pub(crate) fn le64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(data: &[u8]) -> Detected {
        let mut i = Inspector::new();
        for piece in data.chunks(1000) {
            i.feed(piece);
        }
        i.finish()
    }

    #[test]
    fn unknown_data_is_raw_and_passes_as_raw_or_uninspectable() {
        let d = detect(&[7u8; 5000]);
        assert_eq!((d.format.as_str(), d.virtual_size), ("raw", Some(5000)));
        assert_eq!(verdict(&d, Some("raw"), Some("bare"), true), Ok(Some(5000)));
        assert_eq!(verdict(&d, Some("ami"), Some("bare"), true), Ok(None));
        assert_eq!(
            verdict(&d, Some("qcow2"), Some("bare"), true),
            Err("Image disk_format qcow2 does not match stream data raw".into())
        );
        // Without require_image_format_match, a mismatch passes without a size.
        assert_eq!(verdict(&d, Some("qcow2"), Some("bare"), false), Ok(None));
        // Not bare: not inspected.
        assert_eq!(verdict(&d, Some("qcow2"), Some("ovf"), true), Ok(None));
    }

    #[test]
    fn a_safety_violation_refuses_even_data_claimed_raw() {
        let d = Detected {
            format: "qcow2".into(),
            virtual_size: Some(1 << 30),
            actual_size: 4096,
            violation: Some("Image has a backing file".into()),
        };
        for (disk, require) in [("raw", true), ("qcow2", true), ("vmdk", false)] {
            assert_eq!(
                verdict(&d, Some(disk), Some("bare"), require),
                Err("Image failed safety checks".into())
            );
        }
    }

    #[test]
    fn new_formats_are_told_apart_and_checked() {
        let mut vdi = vec![0u8; 4096];
        vdi[0x40..0x44].copy_from_slice(&0xBEDA_107Fu32.to_le_bytes());
        vdi[0x170..0x178].copy_from_slice(&(1u64 << 30).to_le_bytes());
        let d = detect(&vdi);
        assert_eq!((d.format.as_str(), d.virtual_size), ("vdi", Some(1 << 30)));
        assert_eq!(
            verdict(&d, Some("vdi"), Some("bare"), true),
            Ok(Some(1 << 30))
        );
        let mut qed = b"QED\0".to_vec();
        qed.resize(4096, 0);
        let d = detect(&qed);
        assert_eq!(d.format, "qed");
        assert!(verdict(&d, Some("raw"), Some("bare"), true).is_err());
        // A raw disk with a sound DOS partition table passes as raw, with its real size.
        let mut disk = vec![0u8; 8192];
        disk[446] = 0x80;
        disk[446 + 4] = 0x83;
        disk[510..512].copy_from_slice(&[0x55, 0xAA]);
        let d = detect(&disk);
        assert_eq!(d.format, "gpt");
        assert_eq!(verdict(&d, Some("raw"), Some("bare"), true), Ok(Some(8192)));
        // A broken one is refused, except for kernels and ramdisks.
        disk[446] = 0x33;
        let d = detect(&disk);
        assert!(verdict(&d, Some("raw"), Some("bare"), true).is_err());
        assert_eq!(verdict(&d, Some("aki"), Some("bare"), false), Ok(None));
        // An ISO with a partition table in front is an ISO.
        let mut iso = disk.clone();
        iso.resize(0x8800, 0);
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(detect(&iso).format, "iso");
    }
}
