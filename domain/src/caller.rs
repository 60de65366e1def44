//! Who is calling: a user acting for a project with Glance's roles. How the caller is
//! established (a noauth token, later Keystone) is `api`'s business; the rules only need this.

use tessera_raft::Viewer;

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

    /// Glance's `context_is_admin`.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// Project member (may create and change the project's images).
    pub fn is_member(&self) -> bool {
        self.is_admin() || self.has_role("member")
    }

    /// Project reader (may read what the project can see).
    pub fn is_reader(&self) -> bool {
        self.is_member() || self.has_role("reader")
    }

    /// The metadata layer's view of this caller.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            project: Some(self.project.clone()),
            admin: self.is_admin(),
        }
    }
}
