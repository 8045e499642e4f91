//! The QR transport: `HR1:` + base45 of the COSE bytes, zlib-compressed only when that makes them smaller.
//!
//! Decoding enforces limits before doing work: the text length is capped before base45, and inflation stops one
//! byte past the decompressed-size cap, so a zlib bomb costs at most that much memory and time.

use crate::{base45, Error};

/// Prefix of Huren QR payloads: "HR" for Huren, transport version 1. Distinct from the EU DCC's `HC1:`.
pub const PREFIX: &str = "HR1:";

/// Limits applied when decoding untrusted QR text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted QR text, prefix included (4296 is the most a version-40 alphanumeric QR code holds).
    pub max_text_len: usize,
    /// Largest accepted COSE message after decompression, in bytes.
    pub max_payload_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_text_len: 4296, max_payload_bytes: 8 * 1024 }
    }
}

/// Encode a COSE message as QR text, compressing it only when compression saves bytes.
pub fn encode(cose: &[u8]) -> String {
    let compressed = compress(cose);
    let body = match &compressed {
        // Bytes that begin like zlib (0x78) would be inflated by the decoder: they always travel compressed. (COSE
        // never does: a tagged COSE_Sign1 begins 0xD2, an untagged one 0x84.)
        Some(z) if z.len() < cose.len() || cose.first() == Some(&0x78) => z.as_slice(),
        _ => cose,
    };
    let mut text = String::with_capacity(PREFIX.len() + body.len().div_ceil(2) * 3);
    text.push_str(PREFIX);
    text.push_str(&base45::encode(body));
    text
}

/// zlib at the best level, or `None` when it does not fit in the input's size plus a little (it would not be
/// used). The compressor's state (about 300 KiB) is kept per thread and reset, not allocated per credential:
/// bulk issuance compresses hundreds of thousands of them.
fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<flate2::Compress> =
            std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::best(), true));
    }
    COMPRESSOR.with(|cell| {
        let mut compressor = cell.borrow_mut();
        compressor.reset();
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let status = compressor.compress_vec(bytes, &mut out, flate2::FlushCompress::Finish).ok()?;
        (status == flate2::Status::StreamEnd).then_some(out)
    })
}

/// Decode QR text into the COSE message bytes, reusing `out` as the buffer.
///
/// The prefix must be [`PREFIX`]; anything else is [`Error::PrefixUnknown`] with the prefix found (so callers can
/// route `HC1:` to the EU DCC pipeline).
pub fn decode_into(text: &str, limits: &Limits, out: &mut Vec<u8>) -> Result<(), Error> {
    if text.len() > limits.max_text_len {
        return Err(Error::PayloadTooLarge { limit: limits.max_text_len, what: "QR text characters" });
    }
    let Some(body) = text.strip_prefix(PREFIX) else {
        let found: String = text.chars().take_while(|c| *c != ':').take(8).collect();
        return Err(Error::PrefixUnknown { found });
    };
    base45::decode_into(body.as_bytes(), out).map_err(|e| match e {
        Error::Base45Invalid { position } => Error::Base45Invalid { position: position + PREFIX.len() },
        other => other,
    })?;
    if out.first() == Some(&0x78) {
        *out = inflate(out, limits.max_payload_bytes)?;
    } else if out.len() > limits.max_payload_bytes {
        return Err(Error::PayloadTooLarge { limit: limits.max_payload_bytes, what: "payload bytes" });
    }
    Ok(())
}

/// Inflate a complete zlib stream into at most `max` bytes. The output buffer holds `max + 1` bytes, so a bomb
/// stops there; a truncated stream or bytes after its end are errors, not a partial success.
pub fn inflate(input: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut inflater = Decompress::new(true);
    let mut output = Vec::with_capacity(max.saturating_add(1));
    loop {
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX).min(input.len());
        let produced = output.len();
        let status = inflater
            .decompress_vec(&input[consumed..], &mut output, FlushDecompress::Finish)
            .map_err(|e| Error::DecompressionFailed(e.to_string()))?;
        if output.len() > max {
            return Err(Error::PayloadTooLarge { limit: max, what: "decompressed bytes" });
        }
        match status {
            Status::StreamEnd => break,
            _ if output.len() == produced && usize::try_from(inflater.total_in()).ok() == Some(consumed) => {
                return Err(Error::DecompressionFailed("truncated zlib stream".into()));
            }
            _ => {}
        }
    }
    if usize::try_from(inflater.total_in()).ok() != Some(input.len()) {
        return Err(Error::DecompressionFailed("bytes after the end of the zlib stream".into()));
    }
    Ok(output)
}

/// Decode QR text into the COSE message bytes.
pub fn decode(text: &str, limits: &Limits) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decode_into(text, limits, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_look_like_zlib_round_trip() {
        // Found by the property tests: incompressible bytes starting 0x78, sent raw, were read back as zlib.
        let raw: Vec<u8> = std::iter::once(0x78).chain((0u8..=200).map(|i| i.wrapping_mul(97))).collect();
        let text = encode(&raw);
        assert_eq!(base45::decode(&text[PREFIX.len()..]).unwrap()[0], 0x78);
        assert_eq!(decode(&text, &Limits::default()).unwrap(), raw);
    }

    #[test]
    fn incompressible_payload_is_sent_raw_and_compressible_one_zipped() {
        let raw: Vec<u8> = (0u8..=200).map(|i| i.wrapping_mul(97).wrapping_add(13)).collect();
        let text = encode(&raw);
        assert_eq!(base45::decode(&text[4..]).unwrap(), raw, "no zlib when it does not help");
        assert_eq!(decode(&text, &Limits::default()).unwrap(), raw);

        let repetitive = vec![0xd2; 600];
        let text = encode(&repetitive);
        assert!(text.len() < 100, "zlib used when it helps");
        assert_eq!(decode(&text, &Limits::default()).unwrap(), repetitive);
    }

    #[test]
    fn hostile_inputs_get_typed_errors() {
        let limits = Limits::default();
        assert!(matches!(decode("HC1:6BFOXN", &limits), Err(Error::PrefixUnknown { found }) if found == "HC1"));
        assert!(matches!(decode("HR1:abc", &limits), Err(Error::Base45Invalid { position: 4 })));
        assert!(matches!(decode(&"A".repeat(5000), &limits), Err(Error::PayloadTooLarge { .. })));
        // zlib header with a corrupt stream
        let text = format!("{PREFIX}{}", base45::encode(&[0x78, 0x9c, 0xff, 0xff, 0xff]));
        assert!(matches!(decode(&text, &limits), Err(Error::DecompressionFailed(_))));
        // a valid stream cut short, and a valid stream with bytes after its end
        let zipped = compress(&[7u8; 300]).unwrap();
        let cut = format!("{PREFIX}{}", base45::encode(&zipped[..zipped.len() - 3]));
        assert!(matches!(decode(&cut, &limits), Err(Error::DecompressionFailed(_))));
        let mut longer = zipped.clone();
        longer.push(0);
        let trailing = format!("{PREFIX}{}", base45::encode(&longer));
        assert!(matches!(decode(&trailing, &limits), Err(Error::DecompressionFailed(_))));
        let whole = format!("{PREFIX}{}", base45::encode(&zipped));
        assert_eq!(decode(&whole, &limits).unwrap(), vec![7u8; 300]);
    }

    #[test]
    fn zlib_bomb_stops_at_the_cap() {
        let bomb = vec![0u8; 2 * 1024 * 1024];
        let text = encode(&bomb);
        assert!(text.len() < limits_text(), "a 2 MiB bomb fits in a QR code: {}", text.len());
        assert!(matches!(
            decode(&text, &Limits::default()),
            Err(Error::PayloadTooLarge { what: "decompressed bytes", .. })
        ));
    }

    fn limits_text() -> usize {
        Limits::default().max_text_len
    }
}
