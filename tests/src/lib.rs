//! # huren-tests — shared helpers for Huren's end-to-end tests and benchmarks
//!
//! [`fixtures`] builds a deterministic province in memory (fixed keys, so signatures are reproducible);
//! [`frames`] turns a rendered QR code into a camera-like frame (scaled, rotated, perspective, blurred, noisy,
//! low contrast, glare) to test and benchmark decoding from photos.
#![forbid(unsafe_code)]
// Test tooling: panicking on a broken fixture is the right failure, and pixel maths needs float casts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::as_conversions
)]

pub mod fixtures;
pub mod frames;
