//! Glance's property protections (`property_protection_file`): an INI file whose sections
//! are regular expressions over property names, each saying who may `create`, `read`,
//! `update` and `delete` a matching property, as role names (`roles` format; `@` anyone,
//! `!` no one) or as the name of a policy rule (`policies` format).
//!
//! As in Glance, the first section in file order whose expression matches anywhere in the
//! name decides; a property no section matches may not be touched at all; an empty
//! operation allows no one; and the rules bind admins too. A file that does not make sense
//! (an expression that does not compile, a section without one of the four operations,
//! `@` or `!` with anything else, several policies for one operation) is refused whole, naming the section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::access::credentials;
use crate::caller::Caller;
use crate::error::DomainError;
use crate::policy::{Credentials, Policy, Target};
use crate::service::Glance;
use regex::Regex;
use tessera_raft::Image;

/// An operation on a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Setting a property the image lacks.
    Create,
    /// Seeing it in the image.
    Read,
    /// Changing its value.
    Update,
    /// Removing it.
    Delete,
}

impl Op {
    const ALL: [Op; 4] = [Op::Create, Op::Read, Op::Update, Op::Delete];

    fn key(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// How the file names who may do an operation (`property_protection_rule_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated role names, `@` or `!`.
    Roles,
    /// One policy rule name.
    Policies,
}

/// Who may do one operation on the properties of one section.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Anyone,
    NoOne,
    /// Any of these roles, lower case.
    Roles(Vec<String>),
    /// Whoever passes this policy rule.
    Policy(String),
}

/// Why a property-protection file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProtectionError {
    /// The file cannot be read.
    #[error("property protection file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is neither a section, an option nor a comment.
    #[error("property protection file {path}, line {line}: cannot parse {text:?}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// The line.
        text: String,
    },
    /// A section breaks a rule of the format.
    #[error("property protection file {path}, section [{section}]: {why}")]
    Section {
        /// The file.
        path: PathBuf,
        /// The section's expression.
        section: String,
        /// What is wrong.
        why: String,
    },
}

/// The protections in force: sections in file order.
#[derive(Debug)]
pub struct Protections {
    sections: Vec<(Regex, [Allowed; 4])>,
}

impl Protections {
    /// Loads the file at `path` in `format`, refusing it whole on the first problem.
    pub fn from_file(path: &Path, format: Format) -> Result<Protections, ProtectionError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProtectionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        parse(&text, format).map_err(|e| e.at(path))
    }

    /// Whether `who` may do `op` on property `name`; `policy` evaluates the `policies`
    /// format's rules (against an empty target, as Glance does).
    pub fn allows(
        &self,
        name: &str,
        op: Op,
        who: &Caller,
        creds: &Credentials,
        policy: &Policy,
    ) -> bool {
        let Some((_, ops)) = self.sections.iter().find(|(re, _)| re.is_match(name)) else {
            return false;
        };
        match &ops[op as usize] {
            Allowed::Anyone => true,
            Allowed::NoOne => false,
            Allowed::Roles(roles) => who.roles.iter().any(|r| roles.contains(&r.to_lowercase())),
            Allowed::Policy(rule) => policy.passes_rule(rule, creds, &Target::new()),
        }
    }
}

/// A problem found while parsing, before the file's path is known.
enum Problem {
    Syntax(usize, String),
    Section(String, String),
}

impl Problem {
    fn at(self, path: &Path) -> ProtectionError {
        let path = path.to_path_buf();
        match self {
            Problem::Syntax(line, text) => ProtectionError::Syntax { path, line, text },
            Problem::Section(section, why) => ProtectionError::Section { path, section, why },
        }
    }
}

/// One INI section: its name and its options in order.
type Section = (String, Vec<(String, String)>);

/// The sections of an INI text in order, each with its options (names lower case), as
/// Python's configparser reads them: `#` and `;` comment lines, `key = value` or
/// `key: value`.
fn sections(text: &str) -> Result<Vec<Section>, Problem> {
    let mut out: Vec<Section> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.to_string(), Vec::new()));
            continue;
        }
        let split = line.find(['=', ':']);
        match (split, out.last_mut()) {
            (Some(at), Some((_, options))) => {
                let key = line[..at].trim().to_lowercase();
                options.push((key, line[at + 1..].trim().to_string()));
            }
            _ => return Err(Problem::Syntax(n + 1, raw.to_string())),
        }
    }
    Ok(out)
}

fn parse(text: &str, format: Format) -> Result<Protections, Problem> {
    let mut sections = Vec::new();
    for (name, options) in self::sections(text)? {
        let bad = |why: String| Problem::Section(name.clone(), why);
        let re = Regex::new(&name).map_err(|e| bad(format!("not a regular expression: {e}")))?;
        let mut ops = Vec::with_capacity(4);
        for op in Op::ALL {
            let value = options
                .iter()
                .rev()
                .find(|(k, _)| k == op.key())
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| bad(format!("no `{}` operation", op.key())))?;
            ops.push(
                allowed(value, format)
                    .map_err(|why| bad(format!("{} = {value}: {why}", op.key())))?,
            );
        }
        let ops: [Allowed; 4] = ops
            .try_into()
            .map_err(|_| bad("four operations expected".to_string()))?;
        sections.push((re, ops));
    }
    Ok(Protections { sections })
}

/// Who one operation's value allows.
fn allowed(value: &str, format: Format) -> Result<Allowed, &'static str> {
    if value.is_empty() {
        return Ok(Allowed::NoOne);
    }
    match format {
        Format::Policies if value.contains(',') => {
            Err("one policy per operation; combine policies in the policy file")
        }
        Format::Policies => Ok(match value {
            "@" => Allowed::Anyone,
            "!" => Allowed::NoOne,
            rule => Allowed::Policy(rule.to_string()),
        }),
        Format::Roles => {
            let roles: Vec<String> = value.split(',').map(|r| r.trim().to_lowercase()).collect();
            match roles.as_slice() {
                [one] if one == "@" => Ok(Allowed::Anyone),
                [one] if one == "!" => Ok(Allowed::NoOne),
                // Glance lets `!` and `@` silently win over roles listed with them; a file
                // that says both "anyone" (or "no one") and "these roles" contradicts itself.
                _ if roles.iter().any(|r| r == "@" || r == "!") => {
                    Err("'@' and '!' stand alone, without roles")
                }
                _ => Ok(Allowed::Roles(roles)),
            }
        }
    }
}

/// Glance's answer to a forbidden create, update or delete of a property (403).
fn reserved(name: &str) -> DomainError {
    DomainError::Forbidden(format!("Attribute '{name}' is reserved."))
}

impl Glance {
    /// Whether `who` may do `op` on property `name` (anyone may without a file).
    fn may(&self, who: &Caller, name: &str, op: Op) -> bool {
        self.protections.as_ref().is_none_or(|p| {
            let creds = credentials(&self.policy, who);
            p.allows(name, op, who, &creds, &self.policy)
        })
    }

    /// Takes out of `img` the properties `who` may not read, returning them.
    pub(crate) fn hide_unreadable(
        &self,
        who: &Caller,
        img: &mut Image,
    ) -> BTreeMap<String, String> {
        if self.protections.is_none() {
            return BTreeMap::new();
        }
        let (hidden, shown) = std::mem::take(&mut img.properties)
            .into_iter()
            .partition(|(k, _)| !self.may(who, k, Op::Read));
        img.properties = shown;
        hidden
    }

    /// Refuses a new image's property `who` may not create.
    pub(crate) fn check_created_properties(
        &self,
        who: &Caller,
        img: &Image,
    ) -> Result<(), DomainError> {
        match img
            .properties
            .keys()
            .find(|k| !self.may(who, k, Op::Create))
        {
            Some(k) => Err(reserved(k)),
            None => Ok(()),
        }
    }

    /// Refuses a change from `before` to `after` (the properties `who` sees) that creates,
    /// updates or deletes a property `who` may not.
    pub(crate) fn check_property_changes(
        &self,
        who: &Caller,
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
    ) -> Result<(), DomainError> {
        for (k, v) in after {
            let op = match before.get(k) {
                None => Op::Create,
                Some(old) if old != v => Op::Update,
                Some(_) => continue,
            };
            if !self.may(who, k, op) {
                return Err(reserved(k));
            }
        }
        match before
            .keys()
            .find(|k| !after.contains_key(*k) && !self.may(who, k, Op::Delete))
        {
            Some(k) => Err(reserved(k)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Scope;

    const ROLES: &str = "\
# Glance's example, roughly
[^x_owner_.*]
create = admin,member
read = admin,member,reader
update = admin
delete = admin

[^x_secret]
create = admin
read = admin
update = admin
delete =

[.*]
create = @
read = @
update = @
delete = @
";

    fn caller(roles: &[&str]) -> Caller {
        Caller {
            user: "u".into(),
            project: "p1".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            scope: Scope::Project,
        }
    }

    fn check(p: &Protections, name: &str, op: Op, roles: &[&str]) -> bool {
        let policy = Policy::default();
        let who = caller(roles);
        let creds = credentials(&policy, &who);
        p.allows(name, op, &who, &creds, &policy)
    }

    fn problem(text: &str, format: Format) -> String {
        match parse(text, format) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.at(Path::new("p.conf")).to_string(),
        }
    }

    #[test]
    fn roles_first_matching_section_wins() {
        let p = parse(ROLES, Format::Roles).unwrap_or_else(|_| panic!("parses"));
        assert!(check(&p, "x_owner_foo", Op::Create, &["member"]));
        assert!(!check(&p, "x_owner_foo", Op::Update, &["member"]));
        assert!(check(&p, "x_owner_foo", Op::Update, &["ADMIN"]));
        assert!(!check(&p, "x_owner_foo", Op::Read, &["other"]));
        assert!(
            !check(&p, "x_secret", Op::Delete, &["admin"]),
            "empty: no one"
        );
        assert!(check(&p, "anything", Op::Delete, &[]), "the catch-all");
    }

    #[test]
    fn no_matching_section_allows_nothing() {
        let p = parse(
            "[^a$]\ncreate=@\nread=@\nupdate=@\ndelete=@\n",
            Format::Roles,
        )
        .unwrap_or_else(|_| panic!("parses"));
        assert!(check(&p, "a", Op::Read, &[]));
        assert!(!check(&p, "b", Op::Read, &["admin"]));
    }

    #[test]
    fn policies_name_rules_of_the_policy_file() {
        let text =
            "[^x_.*]\ncreate = context_is_admin\nread = @\nupdate = !\ndelete = no_such_rule\n";
        let p = parse(text, Format::Policies).unwrap_or_else(|_| panic!("parses"));
        assert!(check(&p, "x_a", Op::Create, &["admin"]));
        assert!(!check(&p, "x_a", Op::Create, &["member"]));
        assert!(check(&p, "x_a", Op::Read, &[]));
        assert!(!check(&p, "x_a", Op::Update, &["admin"]));
        assert!(
            !check(&p, "x_a", Op::Delete, &["admin"]),
            "an unknown rule fails"
        );
    }

    #[test]
    fn contradictions_are_refused_naming_the_section() {
        let e = problem(
            "[x]\ncreate=@,!\nread=@\nupdate=@\ndelete=@\n",
            Format::Roles,
        );
        assert!(e.contains("section [x]: create = @,!"), "{e}");
        let e = problem(
            "[x]\ncreate=!,admin\nread=@\nupdate=@\ndelete=@\n",
            Format::Roles,
        );
        assert!(e.contains("section [x]"), "{e}");
        let e = problem("[y]\ncreate=@\nread=@\nupdate=@\n", Format::Roles);
        assert!(e.contains("section [y]: no `delete` operation"), "{e}");
        let e = problem("[(]\ncreate=@\nread=@\nupdate=@\ndelete=@\n", Format::Roles);
        assert!(e.contains("section [(]: not a regular expression"), "{e}");
        let e = problem(
            "[x]\ncreate=a,b\nread=@\nupdate=@\ndelete=@\n",
            Format::Policies,
        );
        assert!(e.contains("one policy per operation"), "{e}");
        let e = problem("create=@\n", Format::Roles);
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let e = Protections::from_file(Path::new("/nonexistent/p.conf"), Format::Roles);
        assert!(matches!(e, Err(ProtectionError::Read { .. })));
    }
}
