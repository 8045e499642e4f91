//! Request traces name the route, never the URI: a claim link's secret (in its path) and credential ids stay out
//! of the logs, even at `debug`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::Database;
use huren_issuer::Province;
use tower::ServiceExt;

const T0: i64 = 1_790_000_000;

/// Everything the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_claim_secret_in_the_path_never_reaches_the_trace() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let dir = std::env::temp_dir().join(format!("huren-trace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let province = Province::init(&dir.join("p"), "CN-GD", T0 - 100, &Default::default()).unwrap();
            let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
            db.migrate().await.unwrap();
            let router = app(AppState::with_clock(province, db, Box::new(|| T0)));
            let secret = "hrc_SECRETSECRETSECRET";
            let response =
                router.oneshot(Request::get(format!("/v1/claim/{secret}")).body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(response.status(), 410);
        });
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("/v1/claim/{secret}"), "the route is traced: {log}");
    assert!(!log.contains("SECRETSECRET"), "the secret leaked into the trace: {log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
