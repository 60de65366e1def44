//! Glance's access rules as an oslo.policy engine: the rule language ([`parse`]), its
//! evaluation against the caller's credentials and a target ([`eval`]), Glance's defaults
//! ([`defaults`]) and the operator's policy file over them, reloaded when it changes
//! ([`file`]). [`Policy`] is the handle the domain's access checks ask.

pub mod defaults;
pub mod eval;
pub mod file;
pub mod parse;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use eval::{Credentials, Target};
pub use file::PolicyError;
pub use parse::{Check, ParseError};

/// A set of rules by name.
pub type Rules = HashMap<String, Check>;

/// How often a policy file is looked at for changes, at most.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The rules in force, cheap to clone and shared by every request: Glance's defaults, or
/// those with an operator's file over them, reloaded when the file changes.
#[derive(Clone)]
pub struct Policy {
    rules: Arc<RwLock<Arc<Rules>>>,
    watch: Option<Arc<Watch>>,
}

/// The policy file a [`Policy`] follows.
struct Watch {
    path: PathBuf,
    every: Duration,
    /// When the file was last looked at, and its stamp then.
    last: Mutex<(Instant, file::Stamp)>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("file", &self.watch.as_ref().map(|w| &w.path))
            .finish()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rules: Arc::new(RwLock::new(Arc::new(file::defaults()))),
            watch: None,
        }
    }
}

impl Policy {
    /// Glance's defaults with the rules of the file at `path` over them, looked at again
    /// at most once every `every` and reloaded when it changed. A file that does not load
    /// is refused here; later, a change that does not load is logged and the rules in force
    /// are kept.
    pub fn from_file(path: &Path, every: Duration) -> Result<Policy, PolicyError> {
        let stamp = file::stamp(path);
        let rules = file::load(path)?;
        Ok(Policy {
            rules: Arc::new(RwLock::new(Arc::new(rules))),
            watch: Some(Arc::new(Watch {
                path: path.to_path_buf(),
                every,
                last: Mutex::new((Instant::now(), stamp)),
            })),
        })
    }

    /// Whether `creds` pass policy `name` on `target`; a name the rules lack falls back to
    /// `default`, as oslo.policy does.
    pub fn allows(&self, name: &str, creds: &Credentials, target: &Target) -> bool {
        self.reload_if_changed();
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        let check = rules.get(name).or_else(|| rules.get("default"));
        check.is_some_and(|c| eval::passes(c, &rules, creds, target))
    }

    /// Whether `creds` pass the rule `name` on `target`, with no fallback: a rule the
    /// rules lack fails, as a `rule:` check of it does.
    pub fn passes_rule(&self, name: &str, creds: &Credentials, target: &Target) -> bool {
        self.reload_if_changed();
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner()).clone();
        eval::passes(&Check::Rule(name.to_string()), &rules, creds, target)
    }

    /// Reloads the file if it is due for a look and changed since the last one.
    fn reload_if_changed(&self) {
        let Some(watch) = &self.watch else {
            return;
        };
        let mut last = watch.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.0.elapsed() < watch.every {
            return;
        }
        let stamp = file::stamp(&watch.path);
        let previous = std::mem::replace(&mut *last, (Instant::now(), stamp)).1;
        if stamp == previous {
            return;
        }
        match file::load(&watch.path) {
            Ok(rules) => {
                *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
                tracing::info!(path = %watch.path.display(), "policy file reloaded");
            }
            Err(e) => tracing::error!("{e}; the rules in force are kept"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> Credentials {
        Credentials {
            user_id: "alice".into(),
            project_id: "p1".into(),
            roles: vec!["member".into(), "reader".into()],
            ..Credentials::default()
        }
    }

    fn own() -> Target {
        Target::from([("project_id", "p1".into()), ("owner", "p1".into())])
    }

    #[test]
    fn unknown_names_fall_back_to_default() {
        let policy = Policy::default();
        assert!(policy.allows("no_such_policy", &member(), &own()));
        assert!(policy.allows("add_image", &member(), &own()));
        assert!(!policy.allows("publicize_image", &member(), &own()));
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_broken_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "add_image: role:admin\n").unwrap();
        let policy = Policy::from_file(&path, Duration::ZERO).unwrap();
        assert!(
            !policy.allows("add_image", &member(), &own()),
            "the file's rule"
        );

        std::fs::write(&path, "add_image: '@ or'\n").unwrap();
        assert!(
            !policy.allows("add_image", &member(), &own()),
            "a broken file keeps the rules in force"
        );
        std::fs::write(&path, "add_image: '@'\npublicize_image: 'role:member'\n").unwrap();
        assert!(
            policy.allows("add_image", &member(), &own()),
            "the new file applies"
        );
        assert!(policy.allows("publicize_image", &member(), &own()));

        std::fs::write(&path, "add_image: [\n").unwrap();
        assert!(
            Policy::from_file(&path, Duration::ZERO).is_err(),
            "refused at start"
        );
    }

    #[test]
    fn looks_at_the_file_at_most_every_period() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "add_image: '!'\n").unwrap();
        let policy = Policy::from_file(&path, Duration::from_secs(3600)).unwrap();
        std::fs::write(&path, "add_image: '@'\n").unwrap();
        assert!(!policy.allows("add_image", &member(), &own()));
    }
}
