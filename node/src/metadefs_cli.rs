//! `tessera metadefs load|export|unload`: Glance's metadef files (`etc/metadefs/*.json`, as
//! `glance-manage db_load_metadefs|db_export_metadefs|db_unload_metadefs` read and write
//! them) into and out of a running cluster, through a node's admin API.

use crate::admin_cli::{call, finish, seg, CliError, Endpoint};
use clap::Subcommand;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `tessera metadefs ...`.
#[derive(Debug, Subcommand)]
pub enum MetadefsCommand {
    /// Load every `*.json` file of DIR (one namespace each); an existing namespace is left
    /// alone unless --merge.
    Load {
        /// The folder of metadef files (or one file).
        dir: PathBuf,
        /// Add to an existing namespace what the file has and it lacks.
        #[arg(long)]
        merge: bool,
        /// With --merge: the file's version wins where both have one.
        #[arg(long)]
        prefer_new: bool,
        /// With --merge: replace an existing namespace with the file's.
        #[arg(long)]
        overwrite: bool,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Write every namespace to DIR as a metadef file named for its display name.
    Export {
        /// The folder to write into (created if missing).
        dir: PathBuf,
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Delete every namespace and resource type, protected or not.
    Unload {
        /// The node to ask.
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

/// The load mode of Glance's flags, refused in the combinations Glance refuses.
fn mode(merge: bool, prefer_new: bool, overwrite: bool) -> Result<&'static str, CliError> {
    match (merge, prefer_new, overwrite) {
        (false, false, false) => Ok("skip"),
        (false, _, _) => Err(CliError::Usage(
            "--prefer-new and --overwrite need --merge".into(),
        )),
        (true, true, true) => Err(CliError::Usage(
            "give at most one of --prefer-new and --overwrite".into(),
        )),
        (true, true, false) => Ok("prefer_new"),
        (true, false, true) => Ok("overwrite"),
        (true, false, false) => Ok("merge"),
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let io = |source| CliError::File {
        path: dir.to_path_buf(),
        source,
    };
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn load(dir: &Path, mode: &str, endpoint: &Endpoint) -> Result<bool, CliError> {
    let mut all_ok = true;
    for path in read_dir(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|source| CliError::File {
            path: path.clone(),
            source,
        })?;
        let uri = format!("/tessera/v1/metadefs/files?mode={}", seg(mode));
        match call(endpoint, "POST", &uri, Some(text)) {
            Ok(answer) => {
                let v = answer.unwrap_or(Value::Null);
                println!(
                    "{}: {} {}",
                    path.display(),
                    v["namespace"].as_str().unwrap_or("?"),
                    v["result"].as_str().unwrap_or("?")
                );
            }
            // As Glance's loader: a bad file is reported and the others still load.
            Err(e) => {
                eprintln!("tessera: {}: {e}", path.display());
                all_ok = false;
            }
        }
    }
    Ok(all_ok)
}

fn export(dir: &Path, endpoint: &Endpoint) -> Result<bool, CliError> {
    let answer = call(endpoint, "GET", "/tessera/v1/metadefs/files", None)?.unwrap_or_default();
    let io = |path: PathBuf| move |source| CliError::File { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    for f in answer["files"].as_array().into_iter().flatten() {
        let name = f["file_name"].as_str().unwrap_or("namespace.json");
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&f["metadef"]).unwrap_or_default();
        std::fs::write(&path, text + "\n").map_err(io(path.clone()))?;
        println!(
            "{}: {}",
            f["metadef"]["namespace"].as_str().unwrap_or("?"),
            path.display()
        );
    }
    Ok(true)
}

/// Runs `tessera metadefs ...`.
pub fn run(command: MetadefsCommand) -> ExitCode {
    finish(match command {
        MetadefsCommand::Load {
            dir,
            merge,
            prefer_new,
            overwrite,
            endpoint,
        } => mode(merge, prefer_new, overwrite).and_then(|m| load(&dir, m, &endpoint)),
        MetadefsCommand::Export { dir, endpoint } => export(&dir, &endpoint),
        MetadefsCommand::Unload { endpoint } => {
            call(&endpoint, "DELETE", "/tessera/v1/metadefs", None).map(|answer| {
                let n = answer.unwrap_or_default()["namespaces"]
                    .as_u64()
                    .unwrap_or(0);
                println!("{n} namespaces unloaded");
                true
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_flags_combine_as_glance_manage_allows() {
        assert_eq!(mode(false, false, false).ok(), Some("skip"));
        assert_eq!(mode(true, false, false).ok(), Some("merge"));
        assert_eq!(mode(true, true, false).ok(), Some("prefer_new"));
        assert_eq!(mode(true, false, true).ok(), Some("overwrite"));
        assert!(mode(false, true, false).is_err());
        assert!(mode(true, true, true).is_err());
    }
}
