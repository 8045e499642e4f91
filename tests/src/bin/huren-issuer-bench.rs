//! `huren-issuer-bench`: the issuer service's speed, measured in one run.
//!
//! 1. The yardstick: bare Ed25519 signing of a credential-sized message with the issuer key, on one core and on
//!    every core.
//! 2. Bulk issuance (parse, sign, store with audit entries, answer) of N credentials through the same code path
//!    as `POST /v1/credentials/bulk`, on SQLite (a file, WAL, synchronous=FULL) and on PostgreSQL, as a rate and
//!    as a ratio to bare signing on every core.
//! 3. Single-credential issuance latency (p50/p99) under C concurrent clients over loopback HTTP, on both
//!    backends.
//!
//! `cargo run --release -p huren-tests --bin huren-issuer-bench -- [--n 100000] [--clients 16] [--seconds 10]
//! [--postgres URL]` (PostgreSQL default: `$HUREN_TEST_DATABASE_URL` or postgres://postgres@127.0.0.1:5432/test;
//! a database `huren_bench` is created there and dropped afterwards).

// A benchmark harness: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, clippy::as_conversions)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use huren_issuer::storage::Database;
use huren_issuer::Province;

const T0: i64 = 1_790_000_000;

fn request_line(n: usize) -> String {
    format!(
        r#"{{"subject":{{"name":"测试{n}","masked_id":"4403**********{:04}"}},"body":{{"type":"health-status","colour":"green","reason":"no-risk"}},"valid_for_hours":168}}"#,
        n % 10_000
    )
}

struct Options {
    n: usize,
    clients: usize,
    seconds: u64,
    postgres: String,
}

fn options() -> Options {
    let mut o = Options {
        n: 100_000,
        clients: 16,
        seconds: 10,
        postgres: std::env::var("HUREN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).expect("every flag takes a value");
        match pair[0].as_str() {
            "--n" => o.n = value.parse().unwrap(),
            "--clients" => o.clients = value.parse().unwrap(),
            "--seconds" => o.seconds = value.parse().unwrap(),
            "--postgres" => o.postgres.clone_from(value),
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

/// Bare Ed25519 signatures per second over `threads` threads, on a message the size of a credential's
/// Sig_structure.
fn bare_signing_rate(seed: [u8; 32], message_len: usize, threads: usize) -> f64 {
    let per_thread = 20_000;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                use ed25519_dalek::Signer;
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                let mut message = vec![0u8; message_len];
                for i in 0..per_thread {
                    message[..8].copy_from_slice(&(i as u64 ^ ((t as u64) << 40)).to_be_bytes());
                    std::hint::black_box(key.sign(&message));
                }
            });
        }
    });
    (per_thread * threads) as f64 / start.elapsed().as_secs_f64()
}

/// A province for the benchmark, made once and opened per backend.
fn province(dir: &std::path::Path) -> Province {
    let _ = std::fs::remove_dir_all(dir);
    Province::init(dir, "CN-GD", T0 - 100, &Default::default()).unwrap()
}

/// Issue `n` credentials through the bulk path; returns credentials per second.
async fn bulk_rate(province: Arc<Province>, db: &Database, n: usize) -> f64 {
    let text: String = (0..n).map(|i| request_line(i) + "\n").collect();
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        text.as_bytes().chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    let start = Instant::now();
    let db2 = db.clone();
    let status = Arc::new(huren_issuer::status::StatusService::default());
    let issue = move |requests: Vec<huren_issuer::IssueRequest>| {
        let (province, db, status) = (province.clone(), db2.clone(), status.clone());
        async move {
            huren_issuer::issuance::issue_batch(province, &db, &status, "bench", requests, T0)
                .await
                .map_err(huren_issuer::bulk::BatchFailed::from)
        }
    };
    let worker = tokio::spawn(huren_issuer::bulk::process(
        futures_util::stream::iter(chunks),
        huren_issuer::bulk::Format::Ndjson,
        issue,
        sender,
    ));
    let mut answered = String::new();
    while let Some(bytes) = receiver.recv().await {
        answered = String::from_utf8_lossy(&bytes).into_owned();
    }
    worker.await.unwrap();
    let elapsed = start.elapsed();
    assert!(answered.contains(&format!("\"issued\":{n}")), "all issued: {answered}");
    n as f64 / elapsed.as_secs_f64()
}

/// Serve the API on a loopback port and drive it with `clients` concurrent clients issuing one credential per
/// request for `seconds`; returns (requests per second, p50, p99, errors).
async fn latency(province: Province, db: Database, clients: usize, seconds: u64) -> (f64, Duration, Duration, usize) {
    let token = huren_issuer::auth::create_token(&db, huren_issuer::auth::Role::Issuer, "CN-GD", T0).await.unwrap();
    let state = huren_issuer::service::AppState::with_clock(province, db, Box::new(|| T0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/credentials", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, huren_issuer::service::app(state)).await });
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let (mut times, mut errors, mut i) = (Vec::new(), 0usize, 0usize);
            while Instant::now() < deadline {
                let body = request_line(c * 1_000_000 + i);
                i += 1;
                let start = Instant::now();
                let response = client.post(&url).bearer_auth(&token).body(body).send().await;
                match response {
                    Ok(r) if r.status() == 201 => {
                        let _ = r.bytes().await;
                        times.push(start.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (times, errors)
        }));
    }
    let (mut times, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (ts, e) = t.await.unwrap();
        times.extend(ts);
        errors += e;
    }
    server.abort();
    times.sort_unstable();
    let rate = times.len() as f64 / seconds as f64;
    (rate, times[times.len() / 2], times[times.len() * 99 / 100], errors)
}

async fn fresh_postgres(base: &str) -> (Database, String) {
    let Database::Postgres(admin) = Database::connect_postgres(base, None).await.expect("PostgreSQL") else {
        unreachable!()
    };
    sqlx::query("DROP DATABASE IF EXISTS huren_bench WITH (FORCE)").execute(&admin).await.unwrap();
    sqlx::query("CREATE DATABASE huren_bench").execute(&admin).await.unwrap();
    let url = format!("{}/huren_bench", base.rsplit_once('/').unwrap().0);
    let db = Database::connect_postgres(&url, None).await.unwrap();
    db.migrate().await.unwrap();
    (db, url)
}

async fn drop_postgres(base: &str) {
    let Database::Postgres(admin) = Database::connect_postgres(base, None).await.unwrap() else { unreachable!() };
    sqlx::query("DROP DATABASE IF EXISTS huren_bench WITH (FORCE)").execute(&admin).await.unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let o = options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let dir = std::env::temp_dir().join(format!("huren-issuer-bench-{}", std::process::id()));
    let province_dir = dir.join("p");
    province(&province_dir);
    let open = || Province::open_with(&province_dir, None).unwrap();
    let sample = open().issue(&serde_json::from_str(&request_line(0)).unwrap(), T0).unwrap();
    let message_len = sample.cose.len() + 16; // the Sig_structure adds a context string and framing
    let seed: [u8; 32] = *b"huren-issuer-bench-yardstick-key";

    println!("machine: {cores} cores; bulk of {} credentials; {} clients for {} s", o.n, o.clients, o.seconds);
    // Median of three runs each: the machine is shared and the figure is the yardstick for every ratio.
    let median = |threads| {
        let mut runs: Vec<f64> = (0..3).map(|_| bare_signing_rate(seed, message_len, threads)).collect();
        runs.sort_by(f64::total_cmp);
        runs[1]
    };
    let (bare_one, bare_all) = (median(1), median(cores));
    println!(
        "bare Ed25519 signing ({message_len} B):       {bare_one:>9.0} /s on 1 core, {bare_all:>9.0} /s on {cores}"
    );

    // Bulk on SQLite.
    let sqlite_path = dir.join("bulk.db");
    let db = Database::open_sqlite(&sqlite_path).await.unwrap();
    db.migrate().await.unwrap();
    let rate = bulk_rate(Arc::new(open()), &db, o.n).await;
    println!(
        "bulk issuance, SQLite (WAL, sync FULL):    {rate:>9.0} /s = {:.2}x bare signing on {cores} cores, {:.2}x on 1 \
         (target >= 20000/s: {})",
        rate / bare_all,
        rate / bare_one,
        if rate >= 20_000.0 { "met" } else { "NOT met" }
    );
    let log = db.audit_log().await.unwrap();
    huren_issuer::storage::verify_audit_chain(&log).unwrap();

    // Bulk on PostgreSQL.
    let (pg, _) = fresh_postgres(&o.postgres).await;
    let rate = bulk_rate(Arc::new(open()), &pg, o.n).await;
    println!(
        "bulk issuance, PostgreSQL (loopback):      {rate:>9.0} /s = {:.2}x bare signing on {cores} cores, {:.2}x on 1",
        rate / bare_all,
        rate / bare_one
    );

    // Latency under concurrent load.
    let db = Database::open_sqlite(&dir.join("latency.db")).await.unwrap();
    db.migrate().await.unwrap();
    let (rps, p50, p99, errors) = latency(open(), db, o.clients, o.seconds).await;
    println!(
        "single issue, SQLite, {} clients:          {rps:>9.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
        o.clients,
        ms(p50),
        ms(p99)
    );
    let (pg, _) = fresh_postgres(&o.postgres).await;
    let (rps, p50, p99, errors) = latency(open(), pg, o.clients, o.seconds).await;
    println!(
        "single issue, PostgreSQL, {} clients:      {rps:>9.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
        o.clients,
        ms(p50),
        ms(p99)
    );
    drop_postgres(&o.postgres).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
