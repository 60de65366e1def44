//! The table `tessera cluster status` prints: every member of a running cluster, as any
//! node's `GET /tessera/v1/cluster` reports it.

use serde_json::Value;

/// Bytes in binary units, one decimal.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A field as table text: strings bare, absent or null as "-".
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A byte count field in binary units ("-" when absent).
fn size_cell(v: &Value) -> String {
    v.as_u64().map_or_else(|| "-".into(), human)
}

/// The status as a table, one member per line, after a line naming the leader.
pub fn render(status: &Value) -> String {
    const HEADER: [&str; 14] = [
        "ID", "NAME", "ROLE", "TERM", "APPLIED", "GOSSIP", "ZONE", "CAPACITY", "FREE", "VERSION",
        "CHUNKS", "BYTES", "API", "PEER",
    ];
    let empty = Vec::new();
    let members = status["members"].as_array().unwrap_or(&empty);
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    rows.extend(members.iter().map(|m| {
        let role = match (&m["role"], m["voter"].as_bool()) {
            (Value::Null, Some(false)) => "(learner)".into(),
            (Value::Null, _) => "-".into(),
            (role, _) => cell(role),
        };
        vec![
            cell(&m["id"]),
            cell(&m["name"]),
            role,
            cell(&m["term"]),
            cell(&m["last_applied"]),
            cell(&m["gossip"]),
            cell(&m["zone"]),
            cell(&m["capacity"]),
            size_cell(&m["free_bytes"]),
            cell(&m["version"]),
            cell(&m["chunks"]["count"]),
            size_cell(&m["chunks"]["bytes"]),
            cell(&m["api"]),
            cell(&m["addr"]),
        ]
    }));
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let node = &status["node"];
    let mut out = format!(
        "asked node {}: leader {}, term {}, {} member(s)\n",
        cell(&node["node_id"]),
        cell(&node["leader_id"]),
        cell(&node["term"]),
        members.len()
    );
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_one_line_per_member_with_gossip_and_raft_columns() {
        let status = json!({
            "node": { "node_id": 1, "leader_id": 1, "term": 4 },
            "members": [
                { "id": 1, "addr": "127.0.0.1:7101", "voter": true, "role": "leader", "term": 4,
                  "last_applied": 17, "gossip": "alive", "name": "n1", "zone": "rack-a",
                  "capacity": 1, "free_bytes": 5u64 << 30, "version": "0.1.0",
                  "chunks": { "count": 12, "bytes": 3u64 << 20 }, "api": "127.0.0.1:9292" },
                { "id": 2, "addr": "127.0.0.2:7101", "voter": true, "role": null, "term": null,
                  "last_applied": null, "gossip": "down", "name": "n2", "zone": "rack-b" },
            ],
        });
        let text = render(&status);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].contains("leader 1, term 4"), "{text}");
        assert!(lines[1].starts_with("ID  NAME  ROLE"), "{text}");
        for want in [
            "n1", "leader", "alive", "rack-a", "5.0 GiB", "3.0 MiB", "12", "9292",
        ] {
            assert!(lines[2].contains(want), "{want} missing: {text}");
        }
        for want in ["n2", "down", "rack-b", "127.0.0.2:7101"] {
            assert!(lines[3].contains(want), "{want} missing: {text}");
        }
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 40), "3.0 TiB");
        assert_eq!(human(u64::MAX), "16384.0 PiB");
    }
}
