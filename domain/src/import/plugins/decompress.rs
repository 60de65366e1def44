//! `image_decompression`, as Glance's plugin: data that starts with a gzip or zip signature
//! is unpacked (a zip must hold exactly one file); LHA archives are recognized and refused,
//! as Glance refuses them without its optional `lhafile` module. Images whose
//! `container_format` is `compressed` are left alone. The unpacked size is bounded by the
//! image size cap, so a decompression bomb fails the task instead of filling the disk.

use super::scratch::Scratch;
use super::{internal, Current};
use crate::service::Glance;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

const GZIP: &[u8] = &[0x1F, 0x8B, 0x08];
const ZIP: &[u8] = &[0x50, 0x4B, 0x03, 0x04];
/// LHA's `-lh` method id, at offset 2.
const LHA: &[u8] = b"-lh";

/// An archive format the plugin knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archive {
    Gzip,
    Zip,
    Lha,
}

fn archive(head: &[u8]) -> Option<Archive> {
    if head.starts_with(ZIP) {
        Some(Archive::Zip)
    } else if head.starts_with(GZIP) {
        Some(Archive::Gzip)
    } else if head.get(2..5) == Some(LHA) {
        Some(Archive::Lha)
    } else {
        None
    }
}

/// Unpacks `current` in place when it is an archive.
pub(super) async fn run(
    scratch: &Scratch,
    current: &mut Current,
    glance: &Glance,
) -> Result<(), String> {
    if current.container_format.as_deref() == Some("compressed") {
        return Ok(());
    }
    let src = current.path.clone();
    let dest = scratch.file("unpacked");
    let cap = glance.settings.image_size_cap;
    let (dest_for_work, src_for_work) = (dest.clone(), src.clone());
    let unpacked = tokio::task::spawn_blocking(move || unpack(&src_for_work, &dest_for_work, cap))
        .await
        .map_err(|e| internal("decompression stopped", &e))??;
    if let Some((kind, size)) = unpacked {
        tracing::info!(?kind, size, "image decompressed");
        tokio::fs::rename(&dest, &src)
            .await
            .map_err(|e| internal("cannot replace the data", &e))?;
        current.changed = true;
    }
    Ok(())
}

/// Unpacks `src` into `dest` if it is an archive: what it was and the unpacked size.
fn unpack(src: &Path, dest: &Path, cap: u64) -> Result<Option<(Archive, u64)>, String> {
    let mut file = File::open(src).map_err(|e| internal("cannot read the data", &e))?;
    let mut head = [0u8; 5];
    let n = read_head(&mut file, &mut head)?;
    let Some(kind) = archive(&head[..n]) else {
        return Ok(None);
    };
    let fail = |e: &dyn std::fmt::Display| {
        tracing::warn!(?kind, error = %e, "decompression failed");
        format!("Error decompressing image: {e}")
    };
    let file = File::open(src).map_err(|e| internal("cannot read the data", &e))?;
    let size = match kind {
        Archive::Gzip => copy_capped(flate2::read::MultiGzDecoder::new(file), dest, cap),
        Archive::Zip => {
            let mut zip = zip::ZipArchive::new(file).map_err(|e| fail(&e))?;
            if zip.len() != 1 {
                return Err(fail(&"Archive contains more than one file."));
            }
            let entry = zip.by_index(0).map_err(|e| fail(&e))?;
            copy_capped(entry, dest, cap)
        }
        Archive::Lha => return Err(fail(&"No lhafile available.")),
    }
    .map_err(|e| fail(&e))?;
    Ok(Some((kind, size)))
}

fn read_head(file: &mut File, head: &mut [u8]) -> Result<usize, String> {
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(internal("cannot read the data", &e)),
        }
    }
    Ok(n)
}

/// Copies `from` to a new file `dest`, failing past `cap` bytes.
fn copy_capped(from: impl Read, dest: &Path, cap: u64) -> std::io::Result<u64> {
    let mut out = File::create(dest)?;
    let copied = std::io::copy(&mut from.take(cap.saturating_add(1)), &mut out)?;
    if copied > cap {
        return Err(std::io::Error::other(format!(
            "the unpacked image exceeds the size cap of {cap} bytes"
        )));
    }
    out.flush()?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    #[test]
    fn archives_are_told_by_their_signatures() {
        assert_eq!(archive(b"\x1f\x8b\x08\x00\x00"), Some(Archive::Gzip));
        assert_eq!(archive(b"PK\x03\x04\x14"), Some(Archive::Zip));
        assert_eq!(archive(b"\x20\x00-lh5-"), Some(Archive::Lha));
        assert_eq!(archive(b"QFI\xfb\x00"), None);
        assert_eq!(archive(b""), None);
    }

    #[test]
    fn gzip_and_zip_unpack_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("in"), dir.path().join("out"));
        let payload = vec![7u8; 100_000];
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&payload).unwrap();
        std::fs::write(&src, gz.finish().unwrap()).unwrap();
        assert_eq!(
            unpack(&src, &dest, 1 << 20),
            Ok(Some((Archive::Gzip, 100_000)))
        );
        assert_eq!(std::fs::read(&dest).unwrap(), payload);
        // A bomb stops at the cap.
        let e = unpack(&src, &dest, 1000).unwrap_err();
        assert!(e.contains("exceeds the size cap"), "{e}");

        let zipped = |names: &[&str]| {
            let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for name in names {
                let opts = zip::write::SimpleFileOptions::default();
                z.start_file(*name, opts).unwrap();
                z.write_all(&payload).unwrap();
            }
            z.finish().unwrap().into_inner()
        };
        std::fs::write(&src, zipped(&["disk.img"])).unwrap();
        assert_eq!(
            unpack(&src, &dest, 1 << 20),
            Ok(Some((Archive::Zip, 100_000)))
        );
        assert_eq!(std::fs::read(&dest).unwrap(), payload);
        std::fs::write(&src, zipped(&["a", "b"])).unwrap();
        assert_eq!(
            unpack(&src, &dest, 1 << 20),
            Err("Error decompressing image: Archive contains more than one file.".into())
        );
        // Not an archive: left alone.
        std::fs::write(&src, &payload).unwrap();
        assert_eq!(unpack(&src, &dest, 1 << 20), Ok(None));
    }
}
