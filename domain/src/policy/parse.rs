//! oslo.policy's rule language, parsed into a [`Check`] tree.
//!
//! A rule is checks joined by `and`, `or` and `not` (binding in the order `not`, `and`,
//! `or`) with parentheses; a check is `@` (always), `!` (never), `rule:NAME`, `role:NAME` or
//! `KEY:VALUE`, where `KEY` names a credential (`project_id`, `user_id`, `is_admin`, ...) or
//! is a quoted literal (`'public'`), and `VALUE` is a literal or takes the target's
//! `%(name)s`. An empty rule always passes. Tokens are split on white space and parentheses
//! peeled off their ends, as oslo.policy does, so `%(project_id)s)` closes a group.

use std::fmt;

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `@` or the empty rule.
    Always,
    /// `!`.
    Never,
    /// `rule:NAME`: another rule of the set.
    Rule(String),
    /// `role:NAME`: the caller holds the role (case-insensitive; `NAME` may take the target).
    Role(String),
    /// `KEY:VALUE`: a credential or a quoted literal equals the value.
    Generic {
        /// A credential's name, or a literal when quoted.
        key: Key,
        /// The value, with `%(name)s` taken from the target.
        value: String,
    },
    /// Every check passes.
    And(Vec<Check>),
    /// Some check passes.
    Or(Vec<Check>),
    /// The check fails.
    Not(Box<Check>),
}

/// The left side of a generic check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A credential's name (`project_id`, `is_admin`, ...).
    Credential(String),
    /// A quoted literal (`'public'`).
    Literal(String),
}

/// Why a rule string does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct ParseError {
    /// 1-based character column in the rule string.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

/// Parses a rule string.
pub fn parse(rule: &str) -> Result<Check, ParseError> {
    let tokens = tokenize(rule);
    if tokens.is_empty() {
        return Ok(Check::Always);
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end: rule.chars().count() + 1,
    };
    let check = parser.or()?;
    match parser.peek() {
        None => Ok(check),
        Some(t) => Err(parser.error(t.column, format!("unexpected '{}'", t.text))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    And,
    Or,
    Not,
    Check,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    column: usize,
}

/// oslo.policy's tokens: white-space separated words, their leading `(` and trailing `)`
/// split off.
fn tokenize(rule: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = rule.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        let word = &chars[start..i];
        let opens = word.iter().take_while(|c| **c == '(').count();
        let rest = &word[opens..];
        let closes = rest.iter().rev().take_while(|c| **c == ')').count();
        let body: String = rest[..rest.len() - closes].iter().collect();
        for k in 0..opens {
            tokens.push(token(Kind::Open, "(", start + k));
        }
        if !body.is_empty() {
            let kind = match body.to_ascii_lowercase().as_str() {
                "and" => Kind::And,
                "or" => Kind::Or,
                "not" => Kind::Not,
                _ => Kind::Check,
            };
            tokens.push(token(kind, &body, start + opens));
        }
        let close_at = start + opens + body.chars().count();
        for k in 0..closes {
            tokens.push(token(Kind::Close, ")", close_at + k));
        }
    }
    tokens
}

fn token(kind: Kind, text: &str, index: usize) -> Token {
    Token {
        kind,
        text: text.to_string(),
        column: index + 1,
    }
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// The column just past the rule, for "ends too early" errors.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn eat(&mut self, kind: Kind) -> bool {
        if self.peek().is_some_and(|t| t.kind == kind) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn error(&self, column: usize, message: String) -> ParseError {
        ParseError { column, message }
    }

    fn or(&mut self) -> Result<Check, ParseError> {
        let mut checks = vec![self.and()?];
        while self.eat(Kind::Or) {
            checks.push(self.and()?);
        }
        Ok(joined(checks, Check::Or))
    }

    fn and(&mut self) -> Result<Check, ParseError> {
        let mut checks = vec![self.not()?];
        while self.eat(Kind::And) {
            checks.push(self.not()?);
        }
        Ok(joined(checks, Check::And))
    }

    fn not(&mut self) -> Result<Check, ParseError> {
        if self.eat(Kind::Not) {
            return Ok(Check::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Check, ParseError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error(self.end, "the rule ends where a check is expected".into()));
        };
        self.next += 1;
        match t.kind {
            Kind::Open => {
                let inner = self.or()?;
                if self.eat(Kind::Close) {
                    Ok(inner)
                } else {
                    let at = self.peek().map_or(self.end, |t| t.column);
                    Err(self.error(at, format!("'(' at column {} is not closed", t.column)))
                }
            }
            Kind::Check => check(&t.text).map_err(|m| self.error(t.column, m)),
            _ => Err(self.error(t.column, format!("expected a check, found '{}'", t.text))),
        }
    }
}

fn joined(mut checks: Vec<Check>, join: fn(Vec<Check>) -> Check) -> Check {
    if checks.len() == 1 {
        checks.remove(0)
    } else {
        join(checks)
    }
}

/// One check word: `@`, `!` or `KIND:MATCH`.
fn check(word: &str) -> Result<Check, String> {
    match word {
        "@" => return Ok(Check::Always),
        "!" => return Ok(Check::Never),
        _ => {}
    }
    let Some((kind, value)) = word.split_once(':') else {
        return Err(format!("'{word}' is not a check (KIND:MATCH, @ or !)"));
    };
    if kind.is_empty() || value.is_empty() {
        return Err(format!("'{word}' needs both a kind and a match"));
    }
    let value = value.to_string();
    Ok(match kind {
        "rule" => Check::Rule(value),
        "role" => Check::Role(value),
        _ => Check::Generic {
            key: key(kind),
            value,
        },
    })
}

fn key(kind: &str) -> Key {
    for q in ['\'', '"'] {
        if kind.len() >= 2 && kind.starts_with(q) && kind.ends_with(q) {
            return Key::Literal(kind[1..kind.len() - 1].to_string());
        }
    }
    Key::Credential(kind.to_string())
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, checks: &[Check], op: &str| {
            write!(f, "(")?;
            for (i, c) in checks.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{c}")?;
            }
            write!(f, ")")
        };
        match self {
            Check::Always => write!(f, "@"),
            Check::Never => write!(f, "!"),
            Check::Rule(n) => write!(f, "rule:{n}"),
            Check::Role(n) => write!(f, "role:{n}"),
            Check::Generic {
                key: Key::Credential(k),
                value,
            } => write!(f, "{k}:{value}"),
            Check::Generic {
                key: Key::Literal(k),
                value,
            } => write!(f, "'{k}':{value}"),
            Check::And(c) => list(f, c, "and"),
            Check::Or(c) => list(f, c, "or"),
            Check::Not(c) => write!(f, "not {c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule in its fully parenthesised form.
    fn shape(rule: &str) -> String {
        parse(rule).unwrap().to_string()
    }

    fn error(rule: &str) -> ParseError {
        parse(rule).unwrap_err()
    }

    #[test]
    fn every_check_kind() {
        assert_eq!(parse("").unwrap(), Check::Always);
        assert_eq!(parse("   ").unwrap(), Check::Always);
        assert_eq!(parse("@").unwrap(), Check::Always);
        assert_eq!(parse("!").unwrap(), Check::Never);
        assert_eq!(parse("role:admin").unwrap(), Check::Role("admin".into()));
        assert_eq!(
            parse("rule:default").unwrap(),
            Check::Rule("default".into())
        );
        assert_eq!(
            parse("project_id:%(project_id)s").unwrap(),
            Check::Generic {
                key: Key::Credential("project_id".into()),
                value: "%(project_id)s".into()
            }
        );
        assert_eq!(
            parse("is_admin:True").unwrap(),
            Check::Generic {
                key: Key::Credential("is_admin".into()),
                value: "True".into()
            }
        );
        for quoted in ["'public':%(visibility)s", "\"public\":%(visibility)s"] {
            assert_eq!(
                parse(quoted).unwrap(),
                Check::Generic {
                    key: Key::Literal("public".into()),
                    value: "%(visibility)s".into()
                }
            );
        }
    }

    #[test]
    fn not_binds_before_and_before_or() {
        assert_eq!(shape("@ or ! and role:a"), "(@ or (! and role:a))");
        assert_eq!(
            shape("role:a and role:b or role:c"),
            "((role:a and role:b) or role:c)"
        );
        assert_eq!(shape("not role:a and role:b"), "(not role:a and role:b)");
        assert_eq!(shape("not not @"), "not not @");
        assert_eq!(
            shape("role:a AND role:b Or role:c"),
            "((role:a and role:b) or role:c)"
        );
    }

    #[test]
    fn parentheses_group() {
        assert_eq!(
            shape("role:a and (role:b or role:c)"),
            "(role:a and (role:b or role:c))"
        );
        assert_eq!(shape("((role:a))"), "role:a");
        assert_eq!(
            shape("role:admin or (role:member and project_id:%(project_id)s)"),
            "(role:admin or (role:member and project_id:%(project_id)s))"
        );
        assert_eq!(shape("not (role:a or role:b)"), "not (role:a or role:b)");
    }

    #[test]
    fn errors_say_where() {
        let e = error("role:a and");
        assert_eq!(e.column, 11);
        assert!(e.message.contains("ends"), "{e}");
        let e = error("role:a or or role:b");
        assert_eq!(
            (e.column, e.message.as_str()),
            (11, "expected a check, found 'or'")
        );
        let e = error("(role:a or role:b");
        assert_eq!(e.column, 18);
        assert!(e.message.contains("'(' at column 1 is not closed"), "{e}");
        let e = error("role:a)");
        assert_eq!((e.column, e.message.as_str()), (7, "unexpected ')'"));
        let e = error("role:a and admin");
        assert_eq!(e.column, 12);
        assert!(e.message.contains("'admin' is not a check"), "{e}");
        assert_eq!(error("role: and @").column, 1);
        assert_eq!(error("role:a role:b").column, 8);
        assert_eq!(error("()").column, 2);
        assert_eq!(
            error("@ and ,x").to_string().split(':').next(),
            Some("at column 7")
        );
    }
}
