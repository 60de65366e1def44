//! Per-node network namespaces on a private bridge, so later faults can cut links between
//! hosts. Addresses come from 10.77.K.0/24 with K derived from the cluster dir; traffic only
//! ever goes between this machine's own namespaces.

use anyhow::{bail, Context};
use std::process::Command;

/// Runs `ip ARGS`, failing with its stderr.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Whether this process may create namespaces (root, with a working `ip netns`).
pub fn available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The names and addresses of one cluster's network.
#[derive(Debug, Clone)]
pub struct Net {
    /// Third octet of 10.77.K.0/24 and suffix of every name.
    pub k: u8,
}

impl Net {
    /// The network for cluster number `k`.
    pub fn new(k: u8) -> Net {
        Net { k }
    }

    fn bridge(&self) -> String {
        format!("tb{}", self.k)
    }

    /// Namespace of node `i`.
    pub fn ns(&self, i: usize) -> String {
        format!("tb{}n{i}", self.k)
    }

    fn veth_host(&self, i: usize) -> String {
        format!("tb{}n{i}h", self.k)
    }

    fn veth_node(&self, i: usize) -> String {
        format!("tb{}n{i}c", self.k)
    }

    /// Address of node `i`.
    pub fn addr(&self, i: usize) -> String {
        format!("10.77.{}.{}", self.k, 10 + i)
    }

    /// Creates the bridge (with the host's address on it), replacing one a crashed run left.
    pub fn create_bridge(&self) -> anyhow::Result<()> {
        self.remove_bridge();
        let br = self.bridge();
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&["addr", "add", &format!("10.77.{}.1/24", self.k), "dev", &br])?;
        ip(&["link", "set", &br, "up"])
    }

    /// Creates node `i`'s namespace, wired to the bridge, replacing one a crashed run left.
    pub fn create_node(&self, i: usize) -> anyhow::Result<()> {
        self.remove_node(i);
        let (ns, host, node) = (self.ns(i), self.veth_host(i), self.veth_node(i));
        ip(&["netns", "add", &ns])?;
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &node])?;
        ip(&["link", "set", &host, "master", &self.bridge()])?;
        ip(&["link", "set", &host, "up"])?;
        ip(&["link", "set", &node, "netns", &ns])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{}/24", self.addr(i)),
            "dev",
            &node,
        ])?;
        ip(&["-n", &ns, "link", "set", &node, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])
    }

    /// Removes node `i`'s namespace and link (ignoring what is already gone).
    pub fn remove_node(&self, i: usize) {
        let _ = ip(&["link", "del", &self.veth_host(i)]);
        let _ = ip(&["netns", "del", &self.ns(i)]);
    }

    /// Cuts the link between nodes `a` and `b` both ways (a blackhole route in each namespace:
    /// their packets to each other are dropped, everything else still flows).
    pub fn cut(&self, a: usize, b: usize) -> anyhow::Result<()> {
        for (from, to) in [(a, b), (b, a)] {
            let dst = format!("{}/32", self.addr(to));
            ip(&["-n", &self.ns(from), "route", "replace", "blackhole", &dst])?;
        }
        Ok(())
    }

    /// Restores what [`Net::cut`] cut (ignoring a link that was not cut).
    pub fn mend(&self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let dst = format!("{}/32", self.addr(to));
            let _ = ip(&["-n", &self.ns(from), "route", "del", "blackhole", &dst]);
        }
    }

    /// Removes the bridge (ignoring a missing one).
    pub fn remove_bridge(&self) {
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
