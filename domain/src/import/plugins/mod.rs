//! Glance's import plugins that rewrite an image's data (`image_decompression`,
//! `image_conversion`): run by the import task, in the order `image_import_plugins` lists
//! them, after the data came in (staged or downloaded) and before the image is activated.
//!
//! The data is written from the chunk store to a scratch folder of the task under the
//! node's data dir, each plugin turns one file into the next (off the async runtime, or as
//! a bounded `qemu-img` process), and the last file goes back through the one ingest path,
//! so hashes, size and the format inspector apply to what the image finally holds. The
//! scratch folder is removed when the run ends, however it ends.

mod convert;
mod decompress;
mod scratch;

use crate::inspector::{Detected, Inspector};
use crate::service::Glance;
use crate::tasks::StoredData;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tessera_raft::Image;
use tokio::io::AsyncReadExt;

pub use convert::{Conversion, OUTPUT_FORMATS};
use scratch::Scratch;

/// An import plugin that rewrites the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    /// `image_decompression`: gzip or a zip of one file is unpacked (not for images whose
    /// `container_format` is `compressed`).
    Decompress,
    /// `image_conversion`: the disk is converted with `qemu-img` to the configured format.
    Convert(Conversion),
}

/// Bounds of one `qemu-img` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessLimits {
    /// CPU seconds (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Bytes of address space (`RLIMIT_AS`).
    pub address_space: u64,
    /// Wall-clock time before the process is killed.
    pub timeout: Duration,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        ProcessLimits {
            cpu_seconds: 300,
            address_space: 2 << 30,
            timeout: Duration::from_secs(900),
        }
    }
}

/// The file a plugin works on and what is known of it.
struct Current {
    path: PathBuf,
    disk_format: Option<String>,
    container_format: Option<String>,
    changed: bool,
}

/// Runs the configured plugins over `data` for `image`; the data the image gets (itself
/// when no plugin changed it), or why the import fails.
pub(crate) async fn run(
    glance: &Glance,
    task_id: &str,
    image: &Image,
    data: StoredData,
) -> Result<StoredData, String> {
    let transforms = &glance.import.transforms;
    if transforms.is_empty() {
        return Ok(data);
    }
    let scratch = Scratch::create(&glance.import.scratch_dir, task_id)
        .await
        .map_err(|e| internal("cannot make a scratch folder", &e))?;
    let input = scratch.file("data");
    scratch::write_manifest(glance, &data.manifest, &input).await?;
    let mut current = Current {
        path: input,
        disk_format: image.disk_format.clone(),
        container_format: image.container_format.clone(),
        changed: false,
    };
    for t in transforms {
        match t {
            Transform::Decompress => decompress::run(&scratch, &mut current, glance).await?,
            Transform::Convert(c) => convert::run(&scratch, &mut current, c).await?,
        }
    }
    if !current.changed {
        return Ok(data);
    }
    let file = tokio::fs::File::open(&current.path)
        .await
        .map_err(|e| internal("cannot read the converted data", &e))?;
    let (done, detected) = glance
        .ingest(tokio_util::io::ReaderStream::new(file), None)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(size = done.size, format = %detected.format, "plugins rewrote the data");
    // As for web-download: the chunks' leases outlast the moments until the task records it.
    let mut out = StoredData::new(&done, detected);
    if current.disk_format != image.disk_format {
        out.disk_format = current.disk_format;
    }
    Ok(out)
}

/// The message of a local failure (its cause goes to the log only, as it names files).
fn internal(what: &str, e: &dyn std::fmt::Display) -> String {
    tracing::error!(error = %e, "{what}");
    format!("Import plugin failed: {what}")
}

/// What the inspector makes of a whole file.
async fn inspect(path: &Path) -> Result<Detected, String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| internal("cannot read the data", &e))?;
    let mut inspector = Inspector::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| internal("cannot read the data", &e))?;
        if n == 0 {
            return Ok(inspector.finish());
        }
        inspector.feed(&buf[..n]);
    }
}
