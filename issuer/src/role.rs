//! The roles of API tokens: a name in the database, in flags and in messages; a [`Role`] everywhere else.

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Issue credentials (one by one, in bulk) and make claim links.
    Issuer,
    /// Revoke, suspend and reinstate credentials.
    Revoker,
    /// Everything.
    Admin,
}

/// Every role, in the order they are listed to people.
pub const ROLES: [Role; 3] = [Role::Issuer, Role::Revoker, Role::Admin];

impl Role {
    /// The role's name, as stored in the database and written in flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Issuer => "issuer",
            Role::Revoker => "revoker",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of [`ROLES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be one of [\"issuer\", \"revoker\", \"admin\"]")]
pub struct UnknownRole(
    /// The name given.
    pub String,
);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ROLES.into_iter().find(|role| role.as_str() == name).ok_or_else(|| UnknownRole(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_by_their_stored_names_only() {
        for role in ROLES {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for name in ["Admin", "issuer ", "", "root"] {
            assert_eq!(name.parse::<Role>(), Err(UnknownRole(name.into())), "{name:?}");
        }
        assert_eq!(UnknownRole("x".into()).to_string(), r#"role must be one of ["issuer", "revoker", "admin"]"#);
    }
}
