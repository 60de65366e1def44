//! The operator's policy file: oslo.policy's YAML (`"rule_name": "rule string"`), whose
//! rules replace the defaults of the same name, and the watch that reloads it when it
//! changes. A file that does not parse is refused whole, naming the rule and its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::defaults::DEFAULTS;
use super::parse::{parse, ParseError};
use super::Rules;

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a YAML map of rule names to rule strings.
    #[error("policy file {path} is not a YAML map of rule names to rule strings: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Where and why.
        source: serde_yaml_ng::Error,
    },
    /// A rule string does not parse.
    #[error("policy file {path}, line {line}: rule \"{name}\" {source}")]
    Rule {
        /// The file.
        path: PathBuf,
        /// The rule's line (1-based; 0 when it cannot be told).
        line: usize,
        /// The rule's name.
        name: String,
        /// Where in the rule string and why.
        source: ParseError,
    },
}

/// Glance's defaults.
pub fn defaults() -> Rules {
    DEFAULTS
        .iter()
        .filter_map(|(name, rule)| Some((name.to_string(), parse(rule).ok()?)))
        .collect()
}

/// The defaults with the rules of the file at `path` over them.
pub fn load(path: &Path) -> Result<Rules, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let overrides: BTreeMap<String, String> = if text.trim().is_empty() {
        BTreeMap::new()
    } else {
        serde_yaml_ng::from_str(&text).map_err(|source| PolicyError::Yaml {
            path: path.to_path_buf(),
            source,
        })?
    };
    let mut rules = defaults();
    for (name, rule) in overrides {
        let check = parse(&rule).map_err(|source| PolicyError::Rule {
            path: path.to_path_buf(),
            line: line_of(&text, &name),
            name: name.clone(),
            source,
        })?;
        rules.insert(name, check);
    }
    Ok(rules)
}

/// The line where rule `name` is defined, quoted or not.
fn line_of(text: &str, name: &str) -> usize {
    let keys = [
        format!("\"{name}\":"),
        format!("'{name}':"),
        format!("{name}:"),
    ];
    text.lines()
        .position(|l| keys.iter().any(|k| l.trim_start().starts_with(k.as_str())))
        .map_or(0, |i| i + 1)
}

/// What tells a changed file: its modification time and size.
pub type Stamp = Option<(SystemTime, u64)>;

/// The file's current stamp (`None` when it cannot be read).
pub fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses() {
        for (name, rule) in DEFAULTS {
            assert!(parse(rule).is_ok(), "{name}: {rule}");
        }
        assert_eq!(defaults().len(), DEFAULTS.len());
    }

    #[test]
    fn file_rules_replace_defaults_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "# ops\n\"add_image\": \"role:admin\"\nmine: '@'\n").unwrap();
        let rules = load(&path).unwrap();
        assert_eq!(rules["add_image"], parse("role:admin").unwrap());
        assert_eq!(rules["mine"], parse("@").unwrap());
        assert_eq!(rules["get_image"], defaults()["get_image"]);
        std::fs::write(&path, "").unwrap();
        assert_eq!(load(&path).unwrap(), defaults());
    }

    #[test]
    fn a_bad_file_is_refused_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "get_image: ''\n\"add_image\": \"role:admin or\"\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "line 2: rule \"add_image\" at column 14: the rule ends where a check is expected"
            ),
            "{e}"
        );
        std::fs::write(&path, "add_image: [role:admin]\n").unwrap();
        assert!(matches!(load(&path), Err(PolicyError::Yaml { .. })));
        std::fs::write(&path, "a: 'x'\n  b: c: d\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(matches!(
            load(&dir.path().join("none")),
            Err(PolicyError::Read { .. })
        ));
    }
}
