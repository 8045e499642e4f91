//! EU DCC signers: document signer certificates (from the EU DCC Gateway's trust list JSON or PEM), their
//! validity and extended key usage, and the key each carries.

use huren_keys::PublicKey;
use sha2::{Digest, Sha256};

/// Key usage OIDs: the specified ones, then the variant with an extra `.0` that the first version of the
/// specification printed and several member states issued; the EU reference verifiers accept both.
pub(crate) const EKU_OIDS: [(&str, DccKind); 6] = [
    ("1.3.6.1.4.1.1847.2021.1.1", DccKind::Test),
    ("1.3.6.1.4.1.1847.2021.1.2", DccKind::Vaccination),
    ("1.3.6.1.4.1.1847.2021.1.3", DccKind::Recovery),
    ("1.3.6.1.4.1.0.1847.2021.1.1", DccKind::Test),
    ("1.3.6.1.4.1.0.1847.2021.1.2", DccKind::Vaccination),
    ("1.3.6.1.4.1.0.1847.2021.1.3", DccKind::Recovery),
];
pub(crate) const OID_EXTENDED_KEY_USAGE: &str = "2.5.29.37";

/// The kind of statement a DCC makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DccKind {
    /// `v`: vaccination.
    Vaccination,
    /// `t`: test.
    Test,
    /// `r`: recovery.
    Recovery,
}

impl DccKind {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            DccKind::Vaccination => "vaccination",
            DccKind::Test => "test",
            DccKind::Recovery => "recovery",
        }
    }
}

/// A document signer: its key and what its certificate allows.
#[derive(Debug, Clone)]
pub struct DccSigner {
    /// The DCC kid: the first 8 bytes of SHA-256 over the certificate.
    pub kid: [u8; 8],
    /// The public key (ES256 or PS256).
    pub key: PublicKey,
    /// Certificate validity (Unix seconds).
    pub not_before: i64,
    /// Certificate validity end (Unix seconds).
    pub not_after: i64,
    /// Statement kinds it may sign (all three when the certificate has no extended key usage).
    pub kinds: Vec<DccKind>,
}

impl DccSigner {
    /// A signer from a DER certificate. Real signer certificates are not always strict DER; the parse is strict,
    /// and a certificate that does not parse is refused (its signature is never checked here: trust in it comes
    /// from the list it arrived in).
    pub fn from_certificate(der: &[u8]) -> Result<Self, String> {
        use x509_cert::der::{Decode, Encode};
        // Strict DER first; failing that, the same bytes with their encoding quirks normalised (see
        // [`normalise_der`]). Either way the kid is over the certificate as issued.
        let cert = match x509_cert::Certificate::from_der(der) {
            Ok(cert) => cert,
            Err(strict) => normalise_der(der)
                .and_then(|fixed| x509_cert::Certificate::from_der(&fixed).ok())
                .ok_or_else(|| format!("certificate: {strict}"))?,
        };
        let tbs = &cert.tbs_certificate;
        let spki = tbs.subject_public_key_info.to_der().map_err(|e| format!("certificate key: {e}"))?;
        let key = PublicKey::from_spki_der(&spki).map_err(|e| format!("certificate key: {e}"))?;
        if key.algorithm() == huren_keys::Algorithm::Ps256 {
            let bits = rsa_modulus_bits(tbs.subject_public_key_info.subject_public_key.raw_bytes())
                .ok_or("certificate key: unreadable RSA key")?;
            if !(2048..=4096).contains(&bits) {
                return Err(format!("certificate key: RSA with {bits} bits (2048 to 4096 accepted)"));
            }
        }
        let time = |t: &x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        let mut kinds = vec![DccKind::Test, DccKind::Vaccination, DccKind::Recovery];
        for ext in tbs.extensions.iter().flatten() {
            if ext.extn_id.to_string() != OID_EXTENDED_KEY_USAGE {
                continue;
            }
            let usage = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                .map_err(|e| format!("extended key usage: {e}"))?;
            let oids: Vec<String> = usage.0.iter().map(ToString::to_string).collect();
            kinds = [DccKind::Test, DccKind::Vaccination, DccKind::Recovery]
                .into_iter()
                .filter(|kind| EKU_OIDS.iter().any(|(oid, k)| k == kind && oids.iter().any(|o| o == oid)))
                .collect();
        }
        let digest = Sha256::digest(der);
        let mut kid = [0u8; 8];
        kid.copy_from_slice(&digest[..8]);
        Ok(DccSigner {
            kid,
            key,
            not_before: time(&tbs.validity.not_before),
            not_after: time(&tbs.validity.not_after),
            kinds,
        })
    }
}

/// Re-encode a BER-ish certificate as DER, fixing the quirks real signer certificates have: lengths in long form
/// where the short form would do (or with leading zero bytes), BOOLEAN true as any non-zero byte, INTEGERs with
/// redundant leading bytes. Nothing else changes: tags and contents stay as they are, so a certificate that is
/// wrong in any other way still fails the strict parse that follows. Indefinite lengths are not accepted.
/// Bounded: depth 16, input at most 64 KiB.
pub fn normalise_der(input: &[u8]) -> Option<Vec<u8>> {
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap_or(0));
        } else {
            let bytes = len.to_be_bytes();
            let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
            out.push(0x80 | u8::try_from(bytes.len() - first).unwrap_or(0));
            out.extend_from_slice(&bytes[first..]);
        }
    }
    fn walk(mut input: &[u8], depth: usize, out: &mut Vec<u8>) -> Option<()> {
        if depth > 16 {
            return None;
        }
        while !input.is_empty() {
            let tag = *input.first()?;
            if tag & 0x1f == 0x1f {
                return None; // high tag numbers do not occur in certificates
            }
            let first = *input.get(1)?;
            let (len, header) = if first < 0x80 {
                (usize::from(first), 2)
            } else {
                let n = usize::from(first & 0x7f);
                if n == 0 || n > 4 {
                    return None; // indefinite, or absurdly long
                }
                let len = input.get(2..2 + n)?.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                (len, 2 + n)
            };
            let content = input.get(header..header.checked_add(len)?)?;
            input = &input[header + len..];
            out.push(tag);
            if tag & 0x20 != 0 {
                let mut inner = Vec::with_capacity(content.len());
                walk(content, depth + 1, &mut inner)?;
                length(out, inner.len());
                out.extend_from_slice(&inner);
            } else if tag == 0x01 && content.len() == 1 {
                length(out, 1);
                out.push(if content[0] == 0 { 0x00 } else { 0xff });
            } else if tag == 0x02 && content.len() > 1 {
                let mut c = content;
                while c.len() > 1 && ((c[0] == 0x00 && c[1] & 0x80 == 0) || (c[0] == 0xff && c[1] & 0x80 != 0)) {
                    c = &c[1..];
                }
                length(out, c.len());
                out.extend_from_slice(c);
            } else {
                length(out, content.len());
                out.extend_from_slice(content);
            }
        }
        Some(())
    }
    if input.len() > 64 * 1024 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len());
    walk(input, 0, &mut out)?;
    Some(out)
}

/// The modulus size, in bits, of a PKCS#1 RSAPublicKey (`SEQUENCE { INTEGER n, INTEGER e }`).
pub(crate) fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<u64> {
    // Skip a tag and a definite length; return the content and what follows.
    fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        if *input.first()? != tag {
            return None;
        }
        let first = *input.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            (input.get(2..2 + n)?.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)), 2 + n)
        };
        let end = header.checked_add(len)?;
        Some((input.get(header..end)?, input.get(end..)?))
    }
    let (sequence, _) = tlv(pkcs1, 0x30)?;
    let (modulus, _) = tlv(sequence, 0x02)?;
    let significant = modulus.iter().position(|&b| b != 0).map(|i| &modulus[i..])?;
    let top = u64::from(8 - significant.first()?.leading_zeros());
    Some(u64::try_from(significant.len() - 1).ok()? * 8 + top)
}

/// The document signers a verifier trusts for EU DCCs.
#[derive(Debug, Clone, Default)]
pub struct DccTrust {
    signers: Vec<DccSigner>,
}

impl DccTrust {
    /// Trust these signers.
    pub fn new(signers: Vec<DccSigner>) -> Self {
        DccTrust { signers }
    }

    /// The signers.
    pub fn signers(&self) -> &[DccSigner] {
        &self.signers
    }

    /// Read a trust file: the EU DCC Gateway trust-list JSON (an array of objects with `rawData`, the base64 DER
    /// certificate; other fields are ignored), or PEM certificates. Certificates that do not parse are skipped and
    /// counted in the second value.
    pub fn parse(text: &str) -> Result<(Self, usize), String> {
        let trimmed = text.trim_start();
        let ders: Vec<Vec<u8>> = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("trust list JSON: {e}"))?;
            let entries = match &json {
                serde_json::Value::Array(a) => a.clone(),
                serde_json::Value::Object(o) => {
                    o.get("certificates").and_then(|c| c.as_array()).cloned().unwrap_or_default()
                }
                _ => Vec::new(),
            };
            entries
                .iter()
                .filter_map(|e| e.get("rawData").and_then(|r| r.as_str()))
                .filter_map(|b64| <base64ct::Base64 as base64ct::Encoding>::decode_vec(b64.trim()).ok())
                .collect()
        } else {
            pem_certificates(text)
        };
        if ders.is_empty() {
            return Err("no certificates found (expected DCC Gateway JSON with rawData, or PEM)".into());
        }
        let mut skipped = 0;
        let signers =
            ders.iter().filter_map(|der| DccSigner::from_certificate(der).map_err(|_| skipped += 1).ok()).collect();
        Ok((DccTrust { signers }, skipped))
    }
}

/// The DER bodies of the PEM `CERTIFICATE` blocks in `text`.
pub(crate) fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b64) = body.take() {
                if let Ok(der) = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&b64) {
                    out.push(der);
                }
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    out
}
