//! The servers under test: Tessera clusters started through the `testbed` binary, and the
//! real Glance, either started from the shared peer scripts or already running.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a server was started, and so how it stops.
#[derive(Debug)]
enum Owner {
    /// `testbed up` in this cluster dir.
    Testbed { testbed: PathBuf, dir: PathBuf },
    /// `glance-start.sh` with this `PEER_DIR`.
    PeerScripts { scripts: PathBuf, peer_dir: PathBuf },
    /// Someone else's; left running.
    External,
}

/// A running server: its API URLs (one per node) and the roots of its process trees.
#[derive(Debug)]
pub struct Server {
    /// API base URLs, first node first.
    pub urls: Vec<String>,
    /// Processes whose trees make up the server (empty if unknown).
    pub pids: Vec<u32>,
    owner: Owner,
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}{}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Server {
    /// Starts an `n`-node Tessera cluster on loopback addresses (`testbed up --no-netns`).
    pub fn tessera(
        testbed: &Path,
        tessera: &Path,
        dir: &Path,
        n: usize,
        serve_args: &[String],
    ) -> anyhow::Result<Server> {
        let mut cmd = Command::new(testbed);
        cmd.args(["up", "--no-netns", "--nodes", &n.to_string(), "--dir"])
            .arg(dir)
            .arg("--binary")
            .arg(tessera);
        for a in serve_args {
            cmd.arg(format!("--serve-arg={a}"));
        }
        let owner = Owner::Testbed {
            testbed: testbed.into(),
            dir: dir.into(),
        };
        let mut out = run(&mut cmd);
        if out.is_err() {
            // Ports of the previous cluster may still be closing: clean up and retry once.
            let _ = run(Command::new(testbed).arg("down").arg("--dir").arg(dir));
            let _ = std::fs::remove_dir_all(dir);
            std::thread::sleep(std::time::Duration::from_secs(10));
            out = run(&mut cmd);
        }
        // Whatever came up goes down again if the rest fails.
        let mut server = Server {
            urls: Vec::new(),
            pids: Vec::new(),
            owner,
        };
        let desc: serde_json::Value = serde_json::from_str(&out?)?;
        for node in desc["nodes"].as_array().into_iter().flatten() {
            let api = node["api"]
                .as_str()
                .context("cluster.json: node without api")?;
            server.urls.push(format!("http://{api}"));
            server.pids.push(
                node["pid"]
                    .as_u64()
                    .context("cluster.json: node without pid")? as u32,
            );
        }
        Ok(server)
    }

    /// Starts the real Glance with the peer scripts in `scripts` on `port`, its data in
    /// `peer_dir` (the peer's venv is linked in from `venv`).
    pub fn glance_from_scripts(
        scripts: &Path,
        venv: &Path,
        peer_dir: &Path,
        port: u16,
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(peer_dir)?;
        let link = peer_dir.join("venv");
        if !link.exists() {
            std::os::unix::fs::symlink(venv, &link)
                .with_context(|| format!("linking {}", venv.display()))?;
        }
        let out = run(Command::new(scripts.join("glance-start.sh"))
            .env("PEER_DIR", peer_dir)
            .env("PORT", port.to_string()))?;
        let pid = out
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .context("glance-start.sh printed no pid")?;
        Ok(Server {
            urls: vec![format!("http://127.0.0.1:{port}")],
            pids: vec![pid],
            owner: Owner::PeerScripts {
                scripts: scripts.into(),
                peer_dir: peer_dir.into(),
            },
        })
    }

    /// A Glance someone else runs at `url` (process tree `pid` when known).
    pub fn glance_external(url: &str, pid: Option<u32>) -> Server {
        Server {
            urls: vec![url.trim_end_matches('/').to_string()],
            pids: pid.into_iter().collect(),
            owner: Owner::External,
        }
    }

    /// The cluster dir of a testbed-started server.
    pub fn testbed_dir(&self) -> Option<(&Path, &Path)> {
        match &self.owner {
            Owner::Testbed { testbed, dir } => Some((testbed, dir)),
            _ => None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let result = match &self.owner {
            Owner::Testbed { testbed, dir } => {
                run(Command::new(testbed).arg("down").arg("--dir").arg(dir)).map(drop)
            }
            Owner::PeerScripts { scripts, peer_dir } => {
                run(Command::new(scripts.join("glance-stop.sh")).env("PEER_DIR", peer_dir))
                    .map(drop)
            }
            Owner::External => Ok(()),
        };
        if let Err(e) = result {
            eprintln!("bench: stopping a server: {e:#}");
        }
    }
}
