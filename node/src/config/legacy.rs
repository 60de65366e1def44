//! Flat keys of config files written before the sections (`reaper_grace = 86400`): each is
//! moved to its section on load, and the node warns with the new name once logging is up.
//! An old key next to its new one is refused, naming the new one.

use std::fmt;

use super::ConfigError;

/// Old flat key, its section now, its name there.
const MOVED: [(&str, &str, &str); 18] = [
    ("default_identity", "api", "default_identity"),
    ("max_json_body", "api", "max_json_body"),
    ("image_size_cap", "api", "image_size_cap"),
    ("delayed_delete", "api", "delayed_delete"),
    ("max_voters", "raft", "max_voters"),
    ("snapshot_logs", "raft", "snapshot_logs"),
    ("gossip_probe_ms", "gossip", "probe"),
    ("gossip_suspect_ms", "gossip", "suspect"),
    ("replicas", "replicator", "replicas"),
    ("replicator_interval", "replicator", "interval"),
    ("replicator_batch", "replicator", "batch"),
    ("handoff_grace", "replicator", "handoff_grace"),
    ("auditor_rate", "auditor", "rate"),
    ("auditor_period", "auditor", "period"),
    ("reaper_interval", "reaper", "interval"),
    ("reaper_grace", "reaper", "grace"),
    ("scrub_time", "reaper", "scrub_time"),
    ("upload_timeout", "reaper", "upload_timeout"),
];

/// Old keys that were milliseconds; the new ones are durations like every other.
const MILLISECONDS: [&str; 2] = ["gossip_probe_ms", "gossip_suspect_ms"];

/// Old keys the file no longer takes at all, and the flag to use instead.
const FLAG_ONLY: [(&str, &str); 1] = [("unsafe_write_behind_ms", "--unsafe-write-behind-ms")];

/// An old flat key and where it lives now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renamed {
    /// The flat key.
    pub old: &'static str,
    /// Its section now.
    pub section: &'static str,
    /// Its name in the section.
    pub key: &'static str,
}

impl fmt::Display for Renamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is now `[{}] {}`", self.old, self.section, self.key)
    }
}

/// Moves every old flat key of `table` to its section; says which it moved.
pub fn move_flat_keys(table: &mut toml::Table) -> Result<Vec<Renamed>, ConfigError> {
    if let Some((key, flag)) = FLAG_ONLY.iter().find(|(key, _)| table.contains_key(*key)) {
        return Err(ConfigError::FlagOnly { key, flag });
    }
    let mut moved = Vec::new();
    for (old, section, key) in MOVED {
        let Some(value) = table.remove(old) else {
            continue;
        };
        let renamed = Renamed { old, section, key };
        let value = match value {
            toml::Value::Integer(ms) if MILLISECONDS.contains(&old) => {
                toml::Value::String(format!("{ms}ms"))
            }
            // Anything but whole milliseconds would change meaning under the new rule.
            _ if MILLISECONDS.contains(&old) => return Err(ConfigError::Renamed(renamed)),
            value => value,
        };
        let entry = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        // A section that is not a table is reported by the parser, which expects one.
        if let Some(section) = entry.as_table_mut() {
            if section.contains_key(key) {
                return Err(ConfigError::Renamed(renamed));
            }
            section.insert(key.to_string(), value);
        }
        moved.push(renamed);
    }
    Ok(moved)
}
