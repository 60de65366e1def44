//! Who is calling: a user acting for a project with Glance's roles. How the caller is
//! established (a noauth token, later Keystone) is `api`'s business; the rules only need this.

/// The caller's identity and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user id.
    pub user: String,
    /// The project the user acts for; it owns what the caller creates.
    pub project: String,
    /// Role names, lower case.
    pub roles: Vec<String>,
    /// What the token is scoped to.
    pub scope: Scope,
}

/// What a caller's token is scoped to. Glance's image policies are for project-scoped
/// tokens only (scope enforcement on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// A project: [`Caller::project`] (noauth callers are always project-scoped).
    #[default]
    Project,
    /// A domain, by id.
    Domain(String),
    /// The whole deployment (Keystone's `system: {all: true}`, as `all`).
    System(String),
}

impl Caller {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Holds the admin role (Tessera's own admin API asks this; Glance's rules ask the
    /// policy's `context_is_admin`).
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
}
