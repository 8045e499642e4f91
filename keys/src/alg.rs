//! COSE signature algorithms Huren verifies.

use std::fmt;

/// A COSE signature algorithm (RFC 9053 identifiers).
///
/// A key is bound to exactly one algorithm: verification uses the key's algorithm and rejects a message whose
/// protected header names another one, so an attacker cannot steer which algorithm checks a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// EdDSA with Ed25519 (COSE -8): Huren's default, the only one Huren signs with.
    EdDsa,
    /// ECDSA with P-256 and SHA-256 (COSE -7): verification only (EU DCC signers, P-256 HSMs).
    Es256,
    /// RSASSA-PSS with SHA-256, 2048 to 8192-bit keys (COSE -37): verification only (EU DCC signers).
    Ps256,
}

impl Algorithm {
    /// The COSE algorithm identifier.
    pub fn cose_id(self) -> i64 {
        match self {
            Algorithm::EdDsa => -8,
            Algorithm::Es256 => -7,
            Algorithm::Ps256 => -37,
        }
    }

    /// The algorithm for a COSE identifier, if Huren supports it.
    pub fn from_cose_id(id: i64) -> Option<Self> {
        match id {
            -8 => Some(Algorithm::EdDsa),
            -7 => Some(Algorithm::Es256),
            -37 => Some(Algorithm::Ps256),
            _ => None,
        }
    }

    /// The registered name (`EdDSA`, `ES256`, `PS256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Es256 => "ES256",
            Algorithm::Ps256 => "PS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_refused() {
        for alg in [Algorithm::EdDsa, Algorithm::Es256, Algorithm::Ps256] {
            assert_eq!(Algorithm::from_cose_id(alg.cose_id()), Some(alg));
        }
        assert_eq!(Algorithm::from_cose_id(0), None, "'none' is not an algorithm");
        assert_eq!(Algorithm::from_cose_id(-35), None, "ES384 is not supported");
    }
}
