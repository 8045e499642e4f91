//! Strict CBOR reading and writing shared by Huren's own documents (credentials, key certificates, trust files).
//!
//! Huren documents use integer-keyed maps in deterministic order (RFC 8949 §4.2.1). Reading is strict: one item
//! and no trailing bytes, bounded nesting depth, map keys unique and in canonical order, and the bytes must be the
//! shortest definite-length encoding of what they decode to. A document therefore has exactly one encoding, which
//! closes the door on malleability and parser-differential tricks.

use ciborium::Value;

use crate::Error;

/// Nesting depth allowed when decoding a Huren document.
pub const MAX_DEPTH: usize = 16;

fn err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error::CborInvalid(msg.into()))
}

/// Encode a value (never fails for values built in memory).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // Writing into a Vec cannot fail, and ciborium cannot fail on a `Value`.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

/// Decode exactly one canonical CBOR item of at most `max_depth` nesting levels. Failures are
/// [`Error::CborInvalid`].
pub fn decode_canonical(bytes: &[u8], max_depth: usize) -> Result<Value, Error> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, max_depth)
        .map_err(|e| Error::CborInvalid(format!("invalid CBOR: {e}")))?;
    if !reader.is_empty() {
        return err(format!("{} trailing bytes after the CBOR item", reader.len()));
    }
    check_canonical_maps(&value)?;
    if encode(&value) != bytes {
        return err("not the canonical encoding (indefinite length, long-form integer or float)");
    }
    Ok(value)
}

/// Sort key of an integer map key in canonical (bytewise lexicographic) order.
fn canonical_rank(key: i128) -> (u8, i128) {
    if key >= 0 {
        (0, key)
    } else {
        (1, -1 - key)
    }
}

fn check_canonical_maps(value: &Value) -> Result<(), Error> {
    match value {
        Value::Map(entries) => {
            let mut previous: Option<(u8, i128)> = None;
            for (k, v) in entries {
                if let Value::Integer(i) = k {
                    let rank = canonical_rank(i128::from(*i));
                    if previous.is_some_and(|p| p >= rank) {
                        return err("map keys duplicated or out of canonical order");
                    }
                    previous = Some(rank);
                } else {
                    return err("map key is not an integer");
                }
                check_canonical_maps(v)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_canonical_maps),
        Value::Tag(_, inner) => check_canonical_maps(inner),
        _ => Ok(()),
    }
}

/// An integer-keyed map being read field by field; [`IntMap::finish`] rejects fields nobody asked for.
#[derive(Debug)]
pub struct IntMap {
    what: &'static str,
    entries: Vec<(i64, Value)>,
}

impl IntMap {
    /// View `value` as an integer-keyed map; `what` names it in errors.
    pub fn new(value: Value, what: &'static str) -> Result<Self, Error> {
        let Value::Map(pairs) = value else { return err(format!("{what}: expected a map")) };
        let mut entries = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let key = k.as_integer().and_then(|i| i64::try_from(i).ok());
            let Some(key) = key else { return err(format!("{what}: map key is not a small integer")) };
            if entries.iter().any(|(seen, _)| *seen == key) {
                return err(format!("{what}: duplicate key {key}"));
            }
            entries.push((key, v));
        }
        Ok(IntMap { what, entries })
    }

    /// Remove and return an optional field.
    pub fn take(&mut self, key: i64) -> Option<Value> {
        let pos = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(pos).1)
    }

    /// Remove and return a mandatory field.
    pub fn need(&mut self, key: i64, field: &str) -> Result<Value, Error> {
        match self.take(key) {
            Some(v) => Ok(v),
            None => err(format!("{}: missing {field} (key {key})", self.what)),
        }
    }

    /// Fail if fields remain that the reader did not consume.
    pub fn finish(self) -> Result<(), Error> {
        match self.entries.first() {
            None => Ok(()),
            Some((k, _)) => err(format!("{}: unknown key {k}", self.what)),
        }
    }
}

/// Read a text string.
pub fn text(value: Value, field: &str) -> Result<String, Error> {
    match value {
        Value::Text(s) => Ok(s),
        _ => err(format!("{field}: expected text")),
    }
}

/// Read a byte string.
pub fn bytes(value: Value, field: &str) -> Result<Vec<u8>, Error> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => err(format!("{field}: expected a byte string")),
    }
}

/// Read an integer that fits in an `i64`.
pub fn int(value: &Value, field: &str) -> Result<i64, Error> {
    value
        .as_integer()
        .and_then(|i| i64::try_from(i).ok())
        .map_or_else(|| err(format!("{field}: expected an integer")), Ok)
}

/// Read an unsigned integer no larger than `max`.
pub fn uint(value: &Value, field: &str, max: u64) -> Result<u64, Error> {
    let n = value.as_integer().and_then(|i| u64::try_from(i).ok());
    match n {
        Some(n) if n <= max => Ok(n),
        _ => err(format!("{field}: expected an unsigned integer up to {max}")),
    }
}

/// Read an array.
pub fn array(value: Value, field: &str) -> Result<Vec<Value>, Error> {
    match value {
        Value::Array(items) => Ok(items),
        _ => err(format!("{field}: expected an array")),
    }
}

/// Read an array of byte strings (signed documents carried inside another document).
pub fn byte_strings(value: Value, field: &str) -> Result<Vec<Vec<u8>>, Error> {
    array(value, field)?.into_iter().map(|d| bytes(d, field)).collect()
}

/// An array of byte strings.
pub fn byte_string_array<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Value {
    Value::Array(items.into_iter().map(|d| Value::Bytes(d.to_vec())).collect())
}

/// Build an integer-keyed map from `(key, value)` pairs, dropping absent optional values.
/// Callers list keys in canonical order.
pub fn map(entries: impl IntoIterator<Item = (i64, Option<Value>)>) -> Value {
    Value::Map(entries.into_iter().filter_map(|(k, v)| v.map(|v| (Value::from(k), v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_map_round_trips() {
        let v = map([(1, Some(Value::from("a"))), (2, None), (-1, Some(Value::from(5)))]);
        let bytes = encode(&v);
        assert_eq!(bytes, [0xa2, 0x01, 0x61, b'a', 0x20, 0x05]);
        assert_eq!(decode_canonical(&bytes, 4).unwrap(), v);
    }

    #[test]
    fn strictness_failures_are_errors() {
        // trailing byte
        assert!(decode_canonical(&[0x01, 0x00], 4).is_err());
        // duplicate key
        assert!(decode_canonical(&[0xa2, 0x01, 0x01, 0x01, 0x02], 4).is_err());
        // keys out of order
        assert!(decode_canonical(&[0xa2, 0x02, 0x01, 0x01, 0x02], 4).is_err());
        // non-shortest integer (24 encoded on two bytes is fine; 1 encoded on two bytes is not)
        assert!(decode_canonical(&[0x18, 0x01], 4).is_err());
        // indefinite-length array
        assert!(decode_canonical(&[0x9f, 0x01, 0xff], 4).is_err());
        // text key
        assert!(decode_canonical(&[0xa1, 0x61, b'a', 0x01], 4).is_err());
        // too deep
        assert!(decode_canonical(&[0x81, 0x81, 0x81, 0x81, 0x81, 0x01], 3).is_err());
        // truncated
        assert!(decode_canonical(&[0x62, b'a'], 4).is_err());
    }

    #[test]
    fn int_map_rejects_unknown_and_missing_fields() {
        let v = map([(1, Some(Value::from(1))), (3, Some(Value::from(3)))]);
        let mut m = IntMap::new(v, "thing").unwrap();
        assert!(m.need(2, "two").is_err());
        assert_eq!(int(&m.need(1, "one").unwrap(), "one").unwrap(), 1);
        assert!(m.finish().unwrap_err().to_string().contains("unknown key 3"));
    }
}
