//! COSE_Sign1 (RFC 9052 §4.2): signing with a [`Signer`] and verification where the algorithm comes from the key.

use coset::iana::EnumI64;
use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, RegisteredLabelWithPrivate, TaggedCborSerializable,
};

use crate::{Algorithm, Error, PublicKey, Signer};

/// Sign `payload` as a tagged COSE_Sign1 whose protected header holds `alg`, `kid` and, when given, a
/// content type that keeps one kind of signed document from being accepted as another.
pub fn sign1(signer: &dyn Signer, payload: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, Error> {
    let public = signer.public_key();
    let alg = match public.algorithm() {
        Algorithm::EdDsa => coset::iana::Algorithm::EdDSA,
        Algorithm::Es256 => coset::iana::Algorithm::ES256,
        Algorithm::Ps256 => coset::iana::Algorithm::PS256,
    };
    let mut header = HeaderBuilder::new().algorithm(alg).key_id(public.kid().0.to_vec());
    if let Some(ct) = content_type {
        header = header.content_type(ct.to_string());
    }
    CoseSign1Builder::new()
        .protected(header.build())
        .payload(payload.to_vec())
        .create_signature(&[], |tbs| signer.sign(tbs))
        .build()
        .to_tagged_vec()
        .map_err(|e| Error::CoseMalformed(e.to_string()))
}

/// Append the shortest CBOR head of a byte string of `len` bytes to `out`.
fn byte_string_head(out: &mut Vec<u8>, len: usize) {
    match u64::try_from(len).unwrap_or(u64::MAX) {
        n @ 0..=23 => out.push(0x40 | n.to_le_bytes()[0]),
        n @ 24..=0xff => out.extend_from_slice(&[0x58, n.to_le_bytes()[0]]),
        n @ 0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&n.to_be_bytes()[6..]);
        }
        n @ 0x1_0000..=0xffff_ffff => {
            out.push(0x5a);
            out.extend_from_slice(&n.to_be_bytes()[4..]);
        }
        n => {
            out.push(0x5b);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// A parsed but **unverified** COSE_Sign1. Only [`Sign1::verify`] gives access to the payload.
#[derive(Debug, Clone)]
pub struct Sign1 {
    inner: CoseSign1,
}

impl Sign1 {
    /// Parse one of Huren's own COSE_Sign1 documents (credentials, key certificates, bundles, status lists) as
    /// strictly as [`Sign1::parse_lenient`] and in its one encoding: tagged (18), the shortest definite-length
    /// form throughout, the protected header canonical CBOR, and the unprotected header empty (nothing in it is
    /// signed, so anything there would make one document many byte strings).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let sign1 = Self::parse_lenient(bytes)?;
        sign1.check_one_encoding(bytes)?;
        Ok(sign1)
    }

    /// Huren writes COSE_Sign1 as `[d2] 84 <protected> a0 <payload> <signature>` with shortest byte-string heads.
    /// The parser already read those very parts from `bytes`, so comparing heads and lengths suffices.
    fn check_one_encoding(&self, bytes: &[u8]) -> Result<(), Error> {
        let malformed = |m: &str| Err(Error::CoseMalformed(format!("not in Huren's one encoding: {m}")));
        if !self.inner.unprotected.is_empty() {
            return malformed("unprotected header parameters (Huren documents carry none)");
        }
        let protected = self.inner.protected.original_data.as_deref().unwrap_or_default();
        if !protected.is_empty() && crate::cbor::decode_canonical(protected, 2).is_err() {
            return malformed("protected header is not canonical CBOR");
        }
        if bytes.first() != Some(&0xd2) {
            return malformed("untagged (Huren documents carry tag 18)");
        }
        let lengths = || malformed("indefinite or long-form lengths");
        let mut start = Vec::with_capacity(12);
        start.extend_from_slice(&[0xd2, 0x84]);
        byte_string_head(&mut start, protected.len());
        let mut at = start.len() + protected.len();
        if bytes.get(..start.len()) != Some(start.as_slice()) || bytes.get(at) != Some(&0xa0) {
            return lengths();
        }
        at += 1;
        for part in [self.inner.payload.as_deref().unwrap_or_default(), self.inner.signature.as_slice()] {
            let mut head = Vec::with_capacity(9);
            byte_string_head(&mut head, part.len());
            if bytes.get(at..at + head.len()) != Some(head.as_slice()) {
                return lengths();
            }
            at += head.len() + part.len();
        }
        if at != bytes.len() {
            return lengths();
        }
        Ok(())
    }

    /// Parse a COSE_Sign1 from elsewhere (EU DCCs), tagged (18) or untagged, in any valid CBOR encoding, with
    /// unprotected header parameters allowed. Trailing bytes, duplicate header labels, a detached payload, an empty
    /// signature and critical header parameters are refused.
    pub fn parse_lenient(bytes: &[u8]) -> Result<Self, Error> {
        let parsed = if bytes.first() == Some(&0xd2) {
            CoseSign1::from_tagged_slice(bytes)
        } else {
            CoseSign1::from_slice(bytes)
        };
        let inner = parsed.map_err(|e| Error::CoseMalformed(e.to_string()))?;
        if inner.payload.is_none() {
            return Err(Error::CoseMalformed("detached payload".into()));
        }
        if inner.signature.is_empty() {
            return Err(Error::CoseMalformed("empty signature".into()));
        }
        // RFC 9052 §3.1: a recipient must reject a message with critical parameters it does not understand, and
        // Huren understands none beyond alg, kid and content type.
        if !inner.protected.header.crit.is_empty() {
            return Err(Error::CoseMalformed("critical header parameters not understood".into()));
        }
        Ok(Sign1 { inner })
    }

    /// The algorithm identifier from the protected header (`None` when absent or not an integer).
    pub fn algorithm_id(&self) -> Option<i64> {
        match self.inner.protected.header.alg.as_ref()? {
            RegisteredLabelWithPrivate::Assigned(a) => Some(a.to_i64()),
            RegisteredLabelWithPrivate::PrivateUse(i) => Some(*i),
            RegisteredLabelWithPrivate::Text(_) => None,
        }
    }

    /// The key id: from the protected header, else from the unprotected one (as EU DCCs sometimes do).
    pub fn kid(&self) -> &[u8] {
        if self.inner.protected.header.key_id.is_empty() {
            &self.inner.unprotected.key_id
        } else {
            &self.inner.protected.header.key_id
        }
    }

    /// The protected content type, when it is text.
    pub fn content_type(&self) -> Option<&str> {
        match self.inner.protected.header.content_type.as_ref()? {
            coset::ContentType::Text(t) => Some(t),
            coset::ContentType::Assigned(_) => None,
        }
    }

    /// Verify as [`Sign1::verify`] does, except that when the protected header names no algorithm, one in the
    /// unprotected header is accepted (some EU DCC issuers put it there). The algorithm still has to be the key's
    /// own: it only ever comes from the key, so an unprotected header cannot choose it.
    pub fn verify_allowing_unprotected_alg(&self, key: &PublicKey) -> Result<&[u8], Error> {
        if self.inner.protected.header.alg.is_some() {
            return self.verify(key);
        }
        let id = match self.inner.unprotected.alg.as_ref() {
            Some(RegisteredLabelWithPrivate::Assigned(a)) => Some(a.to_i64()),
            Some(RegisteredLabelWithPrivate::PrivateUse(i)) => Some(*i),
            _ => None,
        };
        let message_alg = id.and_then(Algorithm::from_cose_id).ok_or(Error::AlgUnsupported(id))?;
        if message_alg != key.algorithm() {
            return Err(Error::AlgKeyMismatch { message: message_alg, key: key.algorithm() });
        }
        self.inner.verify_signature(&[], |sig, tbs| key.verify(tbs, sig))?;
        self.inner.payload.as_deref().ok_or_else(|| Error::CoseMalformed("detached payload".into()))
    }

    /// The payload WITHOUT checking the signature: only for documents this program signed and stored itself (an
    /// issuer reading back its own publications). Anything received goes through [`Sign1::verify`].
    pub fn unverified_payload(&self) -> &[u8] {
        self.inner.payload.as_deref().unwrap_or_default()
    }

    /// Verify the signature with `key`, using the key's algorithm, and return the now-authenticated payload.
    ///
    /// The message's protected algorithm must be present and equal to the key's: a mismatch is
    /// [`Error::AlgKeyMismatch`], an unknown or absent one [`Error::AlgUnsupported`].
    pub fn verify(&self, key: &PublicKey) -> Result<&[u8], Error> {
        self.verify_known(key, &crate::VerifiedSignatures::default())
    }

    /// Verify as [`Sign1::verify`] does, except that a signature a [`crate::BatchVerifier`] already found valid
    /// (in `known`) is not checked again.
    pub fn verify_known(&self, key: &PublicKey, known: &crate::VerifiedSignatures) -> Result<&[u8], Error> {
        let id = self.algorithm_id();
        let message_alg = id.and_then(Algorithm::from_cose_id).ok_or(Error::AlgUnsupported(id))?;
        if message_alg != key.algorithm() {
            return Err(Error::AlgKeyMismatch { message: message_alg, key: key.algorithm() });
        }
        self.inner.verify_signature(&[], |sig, tbs| key.verify_known(tbs, sig, known))?;
        // `parse` guarantees the payload is present.
        self.inner.payload.as_deref().ok_or_else(|| Error::CoseMalformed("detached payload".into()))
    }

    /// What a [`crate::BatchVerifier`] checks for this message: the bytes the signature covers (the
    /// `Signature1` structure, no external data) and the signature.
    pub fn signed_parts(&self) -> (Vec<u8>, &[u8]) {
        (self.inner.tbs_data(&[]), &self.inner.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    #[test]
    fn sign_parse_verify_round_trip() {
        let key = SigningKey::from_seed(&[1u8; 32]).unwrap();
        let bytes = sign1(&key, b"payload", Some("huren/test")).unwrap();
        assert_eq!(bytes[0], 0xd2);
        let parsed = Sign1::parse(&bytes).unwrap();
        assert_eq!(parsed.kid(), key.public().kid().0);
        assert_eq!(parsed.content_type(), Some("huren/test"));
        assert_eq!(parsed.algorithm_id(), Some(-8));
        assert_eq!(parsed.verify(key.public()).unwrap(), b"payload");
        // untagged is a second encoding: only the lenient parser (EU DCCs) takes it
        assert!(matches!(Sign1::parse(&bytes[1..]), Err(Error::CoseMalformed(m)) if m.contains("untagged")));
        assert!(Sign1::parse_lenient(&bytes[1..]).is_ok());
    }

    #[test]
    fn critical_headers_are_refused() {
        let key = SigningKey::from_seed(&[1u8; 32]).unwrap();
        let bytes = CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(coset::iana::Algorithm::EdDSA)
                    .add_critical_label(coset::RegisteredLabelWithPrivate::PrivateUse(-70_000))
                    .build(),
            )
            .payload(b"x".to_vec())
            .create_signature(&[], |tbs| key.sign(tbs))
            .build()
            .to_tagged_vec()
            .unwrap();
        assert!(matches!(Sign1::parse(&bytes), Err(Error::CoseMalformed(m)) if m.contains("critical")));
    }

    #[test]
    fn wrong_key_trailing_bytes_and_garbage_fail_with_their_own_errors() {
        let key = SigningKey::from_seed(&[1u8; 32]).unwrap();
        let other = SigningKey::from_seed(&[2u8; 32]).unwrap();
        let bytes = sign1(&key, b"payload", None).unwrap();
        let parsed = Sign1::parse(&bytes).unwrap();
        assert!(matches!(parsed.verify(other.public()), Err(Error::SignatureInvalid)));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(Sign1::parse(&trailing), Err(Error::CoseMalformed(_))));
        assert!(matches!(Sign1::parse(&[0xd2, 0x84]), Err(Error::CoseMalformed(_))));
        assert!(matches!(Sign1::parse(b""), Err(Error::CoseMalformed(_))));
    }

    #[test]
    fn algorithm_named_by_message_must_match_the_key() {
        use ring::rand::SystemRandom;
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        struct P256(EcdsaKeyPair, PublicKey);
        impl Signer for P256 {
            fn public_key(&self) -> &PublicKey {
                &self.1
            }
            fn sign(&self, m: &[u8]) -> Vec<u8> {
                self.0.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec()
            }
        }
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let public = PublicKey::from_spki_der(&crate::p256_spki_from_point(pair.public_key().as_ref())).unwrap();
        let es = P256(pair, public.clone());
        let bytes = sign1(&es, b"x", None).unwrap();
        assert_eq!(Sign1::parse(&bytes).unwrap().verify(&public).unwrap(), b"x");
        // An ES256 message checked against an Ed25519 key is an algorithm mismatch, not a signature failure.
        let ed = SigningKey::from_seed(&[3u8; 32]).unwrap();
        assert!(matches!(
            Sign1::parse(&bytes).unwrap().verify(ed.public()),
            Err(Error::AlgKeyMismatch { message: Algorithm::Es256, key: Algorithm::EdDsa })
        ));
    }
}
