//! Arbitrary bytes as a status list payload and as a status delta payload. Decoding may refuse but never panic,
//! allocate beyond the list-size cap, or loop without bound; whatever decodes re-encodes to the same bytes
//! (one encoding per list); a decoded delta applied to a decoded list either applies or is refused.
#![no_main]

use huren_keys::status::{StatusDelta, StatusList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let list = StatusList::from_payload(data);
    if let Ok(list) = &list {
        assert_eq!(list.to_payload(), data, "a decoded list re-encodes to its bytes");
    }
    let delta = StatusDelta::from_payload(data);
    if let Ok(delta) = &delta {
        assert_eq!(delta.to_payload(), data, "a decoded delta re-encodes to its bytes");
    }
    if let (Ok(mut list), Ok(delta)) = (list, delta) {
        let before = list.clone();
        if list.apply(&delta).is_err() {
            assert_eq!(list, before, "a refused delta changes nothing");
        }
    }
});
