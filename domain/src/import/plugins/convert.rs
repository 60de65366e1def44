//! `image_conversion`, as Glance's plugin: the data must be what its `disk_format` says
//! (the inspector, then `qemu-img info`, agree; no backing or data file), then
//! `qemu-img convert` writes the configured format and the image's `disk_format` becomes it
//! (`container_format` `bare`). An ISO is left as it is. Both `qemu-img` runs are bounded:
//! CPU time and address space by `setrlimit` in the child before `exec`, wall-clock time by
//! a timeout, and the process is killed when the run is dropped (timeout, lost claim).

use super::scratch::Scratch;
use super::{inspect, internal, Current, ProcessLimits};
use serde_json::Value;
use std::process::Stdio;
use tokio::process::Command;

/// The `image_conversion` plugin's settings (`[image_conversion]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// `output_format`: `raw` or `qcow2`.
    pub output_format: String,
    /// Bounds of each `qemu-img` run.
    pub limits: ProcessLimits,
}

/// The output formats offered (Glance also offers vmdk).
pub const OUTPUT_FORMATS: [&str; 2] = ["raw", "qcow2"];

/// Glance's name for what the inspector saw, as the plugin compares it.
fn plain(format: &str) -> &str {
    // A partition table is a raw disk.
    if format == "gpt" {
        "raw"
    } else {
        format
    }
}

/// Converts `current` to the configured format.
pub(super) async fn run(
    scratch: &Scratch,
    current: &mut Current,
    conversion: &Conversion,
) -> Result<(), String> {
    let source = current.disk_format.clone().unwrap_or_default();
    let detected = inspect(&current.path).await?;
    let found = plain(&detected.format);
    if found == "iso" {
        if source == "iso" {
            return Ok(());
        }
        tracing::warn!(claimed = %source, "image claimed another format but is an ISO");
        return Err("Image has disallowed configuration".into());
    }
    if found != source {
        tracing::warn!(claimed = %source, %found, "image failed format inspection");
        return Err("Image format mismatch".into());
    }
    if let Some(v) = &detected.violation {
        tracing::warn!(format = %found, violation = %v, "image failed safety checks");
        return Err("Image has disallowed configuration".into());
    }
    let src = path_arg(&current.path)?;
    let info = qemu_img(
        &["info", "-f", &source, "--output=json", &src],
        conversion.limits,
    )
    .await?;
    check_info(&info, &source)?;
    let target = conversion.output_format.as_str();
    if source == target {
        return Ok(());
    }
    let out_path = scratch.file(&format!("converted.{target}"));
    let out = path_arg(&out_path)?;
    qemu_img(
        &["convert", "-f", &source, "-O", target, &src, &out],
        conversion.limits,
    )
    .await?;
    let made = inspect(&out_path).await?;
    if plain(&made.format) != target {
        tracing::error!(made = %made.format, %target, "conversion made another format");
        return Err("Converted image in unexpected format".into());
    }
    tracing::info!(from = %source, to = %target, "image converted");
    current.path = out_path;
    current.disk_format = Some(target.to_string());
    current.container_format = Some("bare".into());
    current.changed = true;
    Ok(())
}

fn path_arg(path: &std::path::Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| internal("scratch path is not UTF-8", &path.display()))
}

/// Glance's checks of `qemu-img info`'s answer.
fn check_info(stdout: &str, source: &str) -> Result<(), String> {
    let info: Value = serde_json::from_str(stdout).map_err(|e| {
        tracing::warn!(error = %e, "qemu-img info gave no JSON");
        "Image metadata could not be read".to_string()
    })?;
    if info.get("format").and_then(Value::as_str) != Some(source) {
        tracing::warn!(claimed = %source, reported = %info["format"], "qemu-img disagrees");
        return Err("Image metadata disagrees about format".into());
    }
    if info.get("backing-filename").is_some() {
        return Err("QCOW images with backing files are not allowed".into());
    }
    if info.pointer("/format-specific/data/data-file").is_some() {
        return Err("QCOW images with data-file set are not allowed".into());
    }
    Ok(())
}

/// Runs `qemu-img args` within `limits`; its standard output, or its error.
async fn qemu_img(args: &[&str], limits: ProcessLimits) -> Result<String, String> {
    let mut cmd = Command::new("qemu-img");
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let (cpu, space) = (limits.cpu_seconds, limits.address_space);
    // SAFETY: between fork and exec the closure only calls setrlimit, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_AS, space)
        });
    }
    let verb = args.first().copied().unwrap_or_default();
    let run = tokio::time::timeout(limits.timeout, cmd.output()).await;
    let out = match run {
        Err(_) => {
            tracing::warn!(verb, timeout = ?limits.timeout, "qemu-img killed at its timeout");
            return Err(format!(
                "qemu-img {verb} took longer than {:?}",
                limits.timeout
            ));
        }
        Ok(Err(e)) => return Err(internal("cannot run qemu-img", &e)),
        Ok(Ok(out)) => out,
    };
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() || !stderr.is_empty() {
        tracing::warn!(verb, status = %out.status, %stderr, "qemu-img failed");
        return Err(if stderr.is_empty() {
            // Killed by a limit (SIGXCPU, SIGKILL) or failed without a word.
            format!("qemu-img {verb} failed: {}", out.status)
        } else {
            stderr
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: a plain syscall on a valid struct.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_answers_are_checked_as_glance_checks_them() {
        assert_eq!(check_info(r#"{"format": "qcow2"}"#, "qcow2"), Ok(()));
        assert_eq!(
            check_info(r#"{"format": "raw"}"#, "qcow2"),
            Err("Image metadata disagrees about format".into())
        );
        assert_eq!(
            check_info(
                r#"{"format": "qcow2", "backing-filename": "/etc/x"}"#,
                "qcow2"
            ),
            Err("QCOW images with backing files are not allowed".into())
        );
        assert_eq!(
            check_info(
                r#"{"format": "qcow2", "format-specific": {"data": {"data-file": "x"}}}"#,
                "qcow2"
            ),
            Err("QCOW images with data-file set are not allowed".into())
        );
        assert!(check_info("nope", "qcow2").is_err());
    }

    #[tokio::test]
    async fn a_process_over_its_limits_is_stopped() {
        let tight = ProcessLimits {
            cpu_seconds: 1,
            address_space: 4 << 20,
            timeout: std::time::Duration::from_secs(20),
        };
        // qemu-img cannot even map its libraries in 4 MiB of address space.
        let e = qemu_img(&["--version"], tight).await.unwrap_err();
        assert!(!e.is_empty());
        let roomy = ProcessLimits::default();
        let v = qemu_img(&["--version"], roomy).await.unwrap();
        assert!(v.contains("qemu-img"), "{v}");
    }
}
