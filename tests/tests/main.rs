//! The crate's integration tests, one module per file, linked into one test binary (see Cargo.toml).

mod adversarial;
mod batch_cli;
mod batch_verify;
mod dcc_cli;
mod dcc_conformance;
mod dcc_quirks;
mod dynamic_codes;
mod end_to_end;
mod federation;
mod federation_cli;
mod format_vector;
mod frames_decode;
mod hostile_images;
mod issuer_load;
mod issuer_service;
mod issuer_socket;
mod kiosk;
mod kiosk_browser;
mod names_shown;
mod one_answer;
mod output_contracts;
mod properties;
mod rejections;
mod status;
mod sync;
mod wallet_cli;
