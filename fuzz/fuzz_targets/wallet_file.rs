//! Wallet files -> `Wallet::open`. Input byte 0 picks the variant:
//!
//! - even: the rest is a whole wallet file. If it carries the wallet header, its KDF iteration count (bytes
//!   11..15) is replaced by a small one before opening: the format accepts up to `sealed::MAX_ITERATIONS`
//!   (10,000,000) from the file itself, which would make a single run take seconds (see docs/FUZZING.md).
//! - odd: a valid wallet (made once, 1 KDF iteration, with a device key) with one byte changed, chosen by the
//!   input: opening it must fail (the header is the AEAD's associated data), never panic.
#![no_main]

use std::sync::OnceLock;

use huren_wallet_core::store::MemoryStorage;
use huren_wallet_core::wallet::Wallet;
use libfuzzer_sys::fuzz_target;

const PASS: &[u8] = b"pass";
/// Offset and size of the KDF iteration count in the header.
const ITERATIONS_AT: usize = 11;
const HEADER_LEN: usize = 35;
/// Largest iteration count a fuzz run will derive with.
const MAX_FUZZ_ITERATIONS: u32 = 16;

fn valid_wallet() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let mut wallet = match Wallet::open_with_iterations(MemoryStorage::default(), PASS, 1) {
            Ok(w) => w,
            Err(e) => panic!("new wallet: {e}"),
        };
        if let Err(e) = wallet.device_key() {
            panic!("device key: {e}");
        }
        if let Err(e) = wallet.save() {
            panic!("save: {e}");
        }
        match wallet.into_storage().bytes {
            Some(bytes) => bytes,
            None => panic!("saved wallet has no bytes"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    if selector % 2 == 0 {
        let mut file = rest.to_vec();
        if file.len() >= HEADER_LEN && file.starts_with(b"HRWALLET") {
            let n = u32::from_be_bytes([file[11], file[12], file[13], file[14]]);
            // Keep 0 (refused) as is; fold anything else into 1..=MAX_FUZZ_ITERATIONS.
            let small = if n == 0 { 0 } else { 1 + n % MAX_FUZZ_ITERATIONS };
            file[ITERATIONS_AT..ITERATIONS_AT + 4].copy_from_slice(&small.to_be_bytes());
        }
        if let Ok(wallet) = Wallet::open(MemoryStorage { bytes: Some(file), pending: None }, PASS) {
            let _ = wallet.list();
        }
    } else {
        let valid = valid_wallet();
        let [a, b, c, ..] = *rest else { return };
        let at = usize::from(u16::from_be_bytes([a, b])) % valid.len();
        let xor = if c == 0 { 1 } else { c };
        let mut file = valid.to_vec();
        file[at] ^= xor;
        if (ITERATIONS_AT..ITERATIONS_AT + 4).contains(&at) {
            let n = u32::from_be_bytes([file[11], file[12], file[13], file[14]]);
            if n > 1_000 {
                return; // would be a slow (or out-of-range) derivation; the header is checked by the even branch
            }
        }
        let opened = Wallet::open(MemoryStorage { bytes: Some(file), pending: None }, PASS);
        assert!(opened.is_err(), "a wallet with byte {at} changed (xor {xor:#04x}) opened");
    }
});
