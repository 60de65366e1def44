//! The disk-format inspector, in the manner of Glance's `format_inspector` (oslo.utils): it
//! sees every byte that comes in (upload, stage, web-download) in the stream, keeps only
//! the head of the data, and at the end says which format the data is, its virtual size,
//! and whether it breaks a safety rule (a qcow2 with a backing file or an external data file
//! or unknown incompatible features, a vmdk that is not a single self-contained sparse file,
//! an old LUKS header). [`verdict`] then applies Glance's upload rules against the image's
//! `disk_format`.
//!
//! Detected: raw, qcow2, vmdk, vhd, vhdx, iso, luks. Formats Glance also detects (vdi, qed,
//! gpt with its MBR checks) are not, and are treated as not inspectable.

mod qcow2;
mod simple;
mod vmdk;

use serde::{Deserialize, Serialize};

/// Bytes of the head kept: enough for an ISO's volume descriptor and a vmdk descriptor of
/// up to 1 MiB just after its header (qemu's limit).
const HEAD: usize = 0x200 + (1 << 20);

/// The disk formats this inspector detects.
pub const INSPECTABLE: [&str; 7] = ["raw", "qcow2", "vmdk", "vhd", "vhdx", "iso", "luks"];

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
        self.total += bytes.len() as u64;
    }

    /// What the whole stream was.
    pub fn finish(self) -> Detected {
        let head = &self.head;
        let found: Option<(&str, Reading)> = qcow2::read(head)
            .map(|r| ("qcow2", r))
            .or_else(|| vmdk::read(head).map(|r| ("vmdk", r)))
            .or_else(|| simple::vhd(head).map(|r| ("vhd", r)))
            .or_else(|| simple::vhdx(head).map(|r| ("vhdx", r)))
            .or_else(|| simple::luks(head).map(|r| ("luks", r)))
            .or_else(|| simple::iso(head).map(|r| ("iso", r)));
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
/// `container_format` (with `require_image_format_match` on, its 2024.2+ default): the
/// virtual size to record, or why the data is refused.
pub fn verdict(
    detected: &Detected,
    disk_format: Option<&str>,
    container_format: Option<&str>,
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
        return Err(format!(
            "Image disk_format {disk} does not match stream data {}",
            detected.format
        ));
    };
    if let Some(v) = &detected.violation {
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
        assert_eq!(verdict(&d, Some("raw"), Some("bare")), Ok(Some(5000)));
        assert_eq!(verdict(&d, Some("ami"), Some("bare")), Ok(None));
        assert_eq!(
            verdict(&d, Some("qcow2"), Some("bare")),
            Err("Image disk_format qcow2 does not match stream data raw".into())
        );
        // Not bare: not inspected.
        assert_eq!(verdict(&d, Some("qcow2"), Some("ovf")), Ok(None));
    }

    #[test]
    fn a_safety_violation_refuses_even_data_claimed_raw() {
        let d = Detected {
            format: "qcow2".into(),
            virtual_size: Some(1 << 30),
            actual_size: 4096,
            violation: Some("Image has a backing file".into()),
        };
        assert_eq!(
            verdict(&d, Some("raw"), Some("bare")),
            Err("Image failed safety checks".into())
        );
        assert_eq!(
            verdict(&d, Some("qcow2"), Some("bare")),
            Err("Image failed safety checks".into())
        );
    }
}
