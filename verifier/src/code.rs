//! Stable rejection codes, the pipeline stage each belongs to, and their messages in Chinese and English.

use serde::Serialize;

/// Where in the pipeline a verification stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Reading the QR code from an image.
    Scan,
    /// Prefix, base45, decompression, size limits.
    Transport,
    /// COSE structure and algorithm.
    Cose,
    /// Finding the signing key in the trust data and its authorisation.
    Trust,
    /// The signature itself.
    Signature,
    /// CWT claims and the credential schema.
    Claims,
    /// Validity period.
    Validity,
    /// Revocation and suspension.
    Status,
    /// The checkpoint's acceptance policy and the verifier's own state.
    Policy,
    /// Verification completed.
    Done,
}

impl Stage {
    /// The snake-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Scan => "scan",
            Stage::Transport => "transport",
            Stage::Cose => "cose",
            Stage::Trust => "trust",
            Stage::Signature => "signature",
            Stage::Claims => "claims",
            Stage::Validity => "validity",
            Stage::Status => "status",
            Stage::Policy => "policy",
            Stage::Done => "done",
        }
    }
}

macro_rules! codes {
    ($( $variant:ident => $name:literal, $stage:ident, $en:literal, $zh:literal; )*) => {
        /// A verification outcome code. `Ok` for success; every other code names one reason for refusal.
        /// The strings are stable: checkpoint integrations match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Code {
            /// The credential verified.
            Ok,
            $( #[doc = $en] $variant, )*
        }

        impl Code {
            /// Every code, `Ok` first.
            pub const ALL: &'static [Code] = &[Code::Ok, $( Code::$variant, )*];

            /// The stable upper-case name (`OK`, `EXPIRED`, ...).
            pub fn as_str(self) -> &'static str {
                match self { Code::Ok => "OK", $( Code::$variant => $name, )* }
            }

            /// The stage this code belongs to.
            pub fn stage(self) -> Stage {
                match self { Code::Ok => Stage::Done, $( Code::$variant => Stage::$stage, )* }
            }

            /// A short explanation in English for checkpoint staff.
            pub fn message_en(self) -> &'static str {
                match self { Code::Ok => "Valid credential", $( Code::$variant => $en, )* }
            }

            /// A short explanation in Chinese for checkpoint staff.
            pub fn message_zh(self) -> &'static str {
                match self { Code::Ok => "凭证有效", $( Code::$variant => $zh, )* }
            }
        }
    };
}

codes! {
    QrUnreadable => "QR_UNREADABLE", Scan, "No readable QR code found; hold the code steady and try again", "未识别到二维码，请保持稳定后重试";
    PrefixUnknown => "PREFIX_UNKNOWN", Transport, "Not a health credential code", "不是健康凭证二维码";
    Base45Invalid => "BASE45_INVALID", Transport, "The code is damaged (invalid characters)", "二维码内容损坏（字符无效）";
    DecompressionFailed => "DECOMPRESSION_FAILED", Transport, "The code is damaged (cannot be unpacked)", "二维码内容损坏（无法解压）";
    PayloadTooLarge => "PAYLOAD_TOO_LARGE", Transport, "The code is too large to be a credential", "二维码内容过大，不是有效凭证";
    CoseMalformed => "COSE_MALFORMED", Cose, "The code is damaged (signature structure)", "二维码内容损坏（签名结构错误）";
    CwtMalformed => "CWT_MALFORMED", Claims, "The credential contents are malformed", "凭证内容格式错误";
    AlgUnsupported => "ALG_UNSUPPORTED", Cose, "Signed with an unsupported algorithm", "签名算法不受支持";
    AlgKeyMismatch => "ALG_KEY_MISMATCH", Signature, "Signature algorithm does not match the issuer's key", "签名算法与签发密钥不符";
    KidUnknown => "KID_UNKNOWN", Trust, "Signed by an unknown key; update trust data or refuse", "签发密钥未知，请更新信任数据或拒绝";
    SignatureInvalid => "SIGNATURE_INVALID", Signature, "Signature invalid: the code is forged or altered", "签名无效：凭证被伪造或篡改";
    IssuerNotAuthorised => "ISSUER_NOT_AUTHORISED", Trust, "The key may not issue for this region", "该密钥无权为此地区签发";
    KeyUsageMismatch => "KEY_USAGE_MISMATCH", Trust, "The key may not sign this kind of credential at this time", "该密钥无权在此时间签发此类凭证";
    KeyRevoked => "KEY_REVOKED", Trust, "The issuer's key was revoked", "签发密钥已被吊销";
    NotYetValid => "NOT_YET_VALID", Validity, "Not valid yet", "凭证尚未生效";
    Expired => "EXPIRED", Validity, "Expired", "凭证已过期";
    Revoked => "REVOKED", Status, "Revoked by the issuer", "凭证已被签发机构撤销";
    Suspended => "SUSPENDED", Status, "Suspended by the issuer", "凭证已被签发机构暂停";
    StatusUnavailable => "STATUS_UNAVAILABLE", Status, "Revocation status cannot be checked on this device; sync the status lists", "本设备无法核对撤销状态，请同步状态列表";
    TrustStoreStale => "TRUST_STORE_STALE", Policy, "This device's trust data is too old; sync it", "本设备信任数据过旧，请同步";
    ClockBehindTrust => "CLOCK_BEHIND_TRUST", Policy, "This device's clock is wrong (earlier than its trust data)", "本设备时钟有误（早于信任数据时间）";
    PolicyRejected => "POLICY_REJECTED", Policy, "Not accepted at this checkpoint", "本检查点不接受此凭证";
    SchemaInvalid => "SCHEMA_INVALID", Claims, "The credential contents do not follow the schema", "凭证内容不符合格式规范";
    PresentationExpired => "PRESENTATION_EXPIRED", Validity, "Dynamic code out of date (a screenshot?); ask for the live code", "动态码已过期（可能是截图），请出示实时动态码";
    HolderSignatureInvalid => "HOLDER_SIGNATURE_INVALID", Signature, "Dynamic code not signed by the holder's device: copied or altered", "动态码非持证人设备签名：被复制或篡改";
    PresentationRequired => "PRESENTATION_REQUIRED", Policy, "This credential is accepted only as a live dynamic code, not a static copy", "此凭证须出示实时动态码，不接受静态码或截图";
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_name_and_both_messages() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
        for code in Code::ALL {
            assert!(!code.message_en().is_empty() && !code.message_zh().is_empty());
            assert!(code.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()));
        }
        assert_eq!(Code::Expired.stage(), Stage::Validity);
    }
}
