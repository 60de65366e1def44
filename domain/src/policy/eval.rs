//! Evaluating a parsed rule against the caller's credentials and the target, as
//! oslo.policy does: a `%(name)s` the target lacks fails its check, `rule:` of an unknown
//! rule fails, and a rule that refers back to itself fails instead of looping.

use std::collections::BTreeMap;

use super::parse::{Check, Key};
use super::Rules;

/// How deep `rule:` references may nest before the evaluation gives up (a cycle).
const MAX_DEPTH: usize = 32;

/// What a rule knows of the caller (oslo.policy's `creds`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `user_id`.
    pub user_id: String,
    /// `project_id`: the project the token is scoped to.
    pub project_id: String,
    /// `roles`, lower case.
    pub roles: Vec<String>,
    /// `is_admin`: the caller passes `context_is_admin`.
    pub is_admin: bool,
    /// `system_scope` (`all`) of a system-scoped token.
    pub system_scope: Option<String>,
    /// `domain_id` of a domain-scoped token.
    pub domain_id: Option<String>,
}

impl Credentials {
    /// The values of credential `key`, as the strings checks compare with.
    fn values(&self, key: &str) -> Vec<String> {
        match key {
            "user_id" => vec![self.user_id.clone()],
            "project_id" | "tenant" => vec![self.project_id.clone()],
            "roles" => self.roles.clone(),
            "is_admin" => vec![if self.is_admin { "True" } else { "False" }.into()],
            "system_scope" => self.system_scope.iter().cloned().collect(),
            "domain_id" => self.domain_id.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// What a rule is about (oslo.policy's `target`): `project_id` and `owner` (the image's
/// owner), `visibility`, `member_id`, `member_status`, ..., as Glance passes them.
pub type Target = BTreeMap<&'static str, String>;

/// Whether `check` passes, `rules` resolving its `rule:` references.
pub fn passes(check: &Check, rules: &Rules, creds: &Credentials, target: &Target) -> bool {
    eval(check, rules, creds, target, 0)
}

fn eval(check: &Check, rules: &Rules, creds: &Credentials, target: &Target, depth: usize) -> bool {
    match check {
        Check::Always => true,
        Check::Never => false,
        Check::Rule(name) => {
            depth < MAX_DEPTH
                && rules
                    .get(name)
                    .is_some_and(|c| eval(c, rules, creds, target, depth + 1))
        }
        Check::Role(role) => interpolate(role, target).is_some_and(|role| {
            let role = role.to_lowercase();
            creds.roles.iter().any(|r| r.to_lowercase() == role)
        }),
        Check::Generic { key, value } => {
            let Some(value) = interpolate(value, target) else {
                return false;
            };
            match key {
                Key::Literal(literal) => *literal == value,
                Key::Credential(name) => creds.values(name).contains(&value),
            }
        }
        Check::And(checks) => checks.iter().all(|c| eval(c, rules, creds, target, depth)),
        Check::Or(checks) => checks.iter().any(|c| eval(c, rules, creds, target, depth)),
        Check::Not(c) => !eval(c, rules, creds, target, depth),
    }
}

/// `text` with each `%(name)s` replaced by the target's value; `None` when the target
/// lacks one.
fn interpolate(text: &str, target: &Target) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("%(") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(")s") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(target.get(&after[..end])?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            user_id: "alice".into(),
            project_id: "p1".into(),
            roles: vec!["member".into(), "reader".into()],
            is_admin: false,
            system_scope: None,
            domain_id: Some("default".into()),
        }
    }

    fn target() -> Target {
        Target::from([("project_id", "p1".into()), ("visibility", "public".into())])
    }

    fn with_rules(rules: &[(&str, &str)], rule: &str) -> bool {
        let rules: Rules = rules
            .iter()
            .map(|(n, r)| (n.to_string(), parse(r).unwrap()))
            .collect();
        passes(&parse(rule).unwrap(), &rules, &creds(), &target())
    }

    fn check(rule: &str) -> bool {
        with_rules(&[], rule)
    }

    #[test]
    fn each_check_kind() {
        assert!(check(""));
        assert!(check("@"));
        assert!(!check("!"));
        assert!(check("role:member"));
        assert!(check("role:MEMBER"), "roles compare case-insensitively");
        assert!(!check("role:admin"));
        assert!(check("project_id:%(project_id)s"));
        assert!(!check("user_id:%(project_id)s"));
        assert!(check("user_id:alice"));
        assert!(check("domain_id:default"));
        assert!(!check("system_scope:all"));
        assert!(check("is_admin:False"));
        assert!(!check("is_admin:True"));
        assert!(check("'public':%(visibility)s"));
        assert!(!check("\"community\":%(visibility)s"));
        assert!(check("roles:reader"), "a list credential holds the value");
    }

    #[test]
    fn a_missing_target_key_fails_its_check() {
        assert!(!check("project_id:%(member_id)s"));
        assert!(check("not project_id:%(member_id)s"));
        assert!(!check("'x':%(nothing)s"));
    }

    #[test]
    fn operators() {
        assert!(check("role:admin or role:member"));
        assert!(!check("role:admin and role:member"));
        assert!(check("not role:admin and role:member"));
        assert!(!check("not (role:admin or role:member)"));
        assert!(check(
            "role:admin or (role:member and project_id:%(project_id)s)"
        ));
        assert!(!check(
            "role:admin or (role:member and project_id:%(member_id)s)"
        ));
    }

    #[test]
    fn rule_references() {
        let rules = [
            ("member", "role:member"),
            ("nope", "!"),
            ("a", "rule:b"),
            ("b", "rule:a"),
        ];
        assert!(with_rules(&rules, "rule:member"));
        assert!(!with_rules(&rules, "rule:nope"));
        assert!(!with_rules(&rules, "rule:unknown"));
        assert!(
            !with_rules(&rules, "rule:a"),
            "a cycle fails, it does not loop"
        );
        assert!(with_rules(&rules, "not rule:nope and rule:member"));
    }

    #[test]
    fn interpolation() {
        let t = target();
        assert_eq!(interpolate("%(project_id)s", &t).as_deref(), Some("p1"));
        assert_eq!(
            interpolate("x-%(project_id)s-%(visibility)s", &t).as_deref(),
            Some("x-p1-public")
        );
        assert_eq!(interpolate("plain", &t).as_deref(), Some("plain"));
        assert_eq!(interpolate("%(owner)s", &t), None);
    }
}
