//! `huren-issuer-load`: a load and fault test of the issuer service on loopback.
//!
//! Concurrent clients issue credentials (most with an Idempotency-Key, some without, some in small bulk
//! requests), revoke some of those they were acknowledged, and read some back, for a set time, against the real
//! `huren-issuer serve` binary, while a fault task restarts the server (SIGKILL and SIGTERM in turn) and cuts the
//! server's database connections (`pg_terminate_backend`). A client retries a failed request only where the
//! service says it may: with the same key for keyed issuance (any failure); without a key only after a 503 or a
//! refused connection (nothing reached the database); a bulk line only when its answer says "send this line
//! again". Every issuance names its subject uniquely, retries included. Afterwards, with the server up again, the
//! database itself is checked:
//!
//! - no acknowledged write is lost: every acknowledged credential is stored, under the acknowledged id, and every
//!   acknowledged revocation is in effect;
//! - no duplicate: no subject name (one per issuance, whatever its retries) has more than one credential;
//! - every stored credential verifies against the province's trust file and has exactly one `issue` audit entry;
//! - the audit chain verifies (in process and with `huren-issuer audit verify`).
//!
//! It prints attempts, acknowledgements, errors by kind, error rate and latency percentiles, as text and (with
//! `--json`) as one JSON object, and exits 1 when an invariant fails.
//!
//! `cargo run --release -p huren-tests --bin huren-issuer-load -- [--seconds 180] [--clients 16]
//! [--restart-every 20] [--cut-every 15] [--postgres URL] [--json]` (PostgreSQL default: `$HUREN_TEST_DATABASE_URL`
//! or postgres://postgres@127.0.0.1:5432/test; a database `huren_load_<pid>` is created there and dropped after).

// A test harness: a broken fixture should stop it loudly; figures are floats for printing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::as_conversions,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huren_issuer::storage::{verify_audit_chain, Database};
use huren_keys::{cose::Sign1, TrustFile, TrustList};
use serde_json::json;
use sqlx::Row;

struct Options {
    seconds: u64,
    clients: usize,
    restart_every: u64,
    cut_every: u64,
    postgres: String,
    json: bool,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 180,
        clients: 16,
        restart_every: 20,
        cut_every: 15,
        postgres: std::env::var("HUREN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => o.seconds = value().parse().unwrap(),
            "--clients" => o.clients = value().parse().unwrap(),
            "--restart-every" => o.restart_every = value().parse().unwrap(),
            "--cut-every" => o.cut_every = value().parse().unwrap(),
            "--postgres" => o.postgres = value(),
            "--json" => o.json = true,
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

fn issuer_bin() -> Command {
    let mut command = Command::new(huren_tests::workspace_binary("huren-issuer"));
    command
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("HUREN_DATABASE_URL")
        .env_remove("HUREN_KEY_PASSPHRASE");
    command
}

fn run(args: &[&str], database_url: &str) -> String {
    let out = issuer_bin().args(args).args(["--database-url", database_url]).output().unwrap();
    assert!(out.status.success(), "huren-issuer {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The server process, on a fixed port so that clients keep their URL across restarts.
struct Server {
    child: Child,
    /// The threads copying each server process's log into `server.log`.
    log_copiers: Vec<std::thread::JoinHandle<()>>,
    dir: PathBuf,
    listen: String,
    database_url: String,
}

impl Server {
    fn start(dir: &Path, listen: &str, database_url: &str) -> Server {
        let (child, copier) = Self::spawn(dir, listen, database_url);
        let (dir, listen, database_url) = (dir.to_path_buf(), listen.into(), database_url.into());
        Server { child, log_copiers: vec![copier], dir, listen, database_url }
    }

    fn spawn(dir: &Path, listen: &str, database_url: &str) -> (Child, std::thread::JoinHandle<()>) {
        let started = Instant::now();
        loop {
            let mut child = issuer_bin()
                .args(["serve", "--dir", dir.to_str().unwrap(), "--listen", listen, "--database-url", database_url])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stderr = BufReader::new(child.stderr.take().unwrap());
            let mut line = String::new();
            let mut serving = false;
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                if line.contains("serving on ") {
                    serving = true;
                    break;
                }
                line.clear();
            }
            if serving {
                // Keep the server's log (warnings and errors) for the report.
                let log = dir.join("server.log");
                let copier = std::thread::spawn(move || {
                    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
                    let _ = std::io::copy(&mut stderr, &mut file);
                });
                return (child, copier);
            }
            // The port may still be held by the process just killed, or the database refused us: try again.
            let _ = child.wait();
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not start again: {line}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop the server (SIGKILL, or SIGTERM and wait) and start it again; returns how long it was away.
    fn restart(&mut self, graceful: bool) -> Duration {
        let down = Instant::now();
        if graceful {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let (child, copier) = Self::spawn(&self.dir, &self.listen, &self.database_url);
        self.child = child;
        self.log_copiers.push(copier);
        down.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The server's last words reach the log before anyone reads it.
        for copier in self.log_copiers.drain(..) {
            let _ = copier.join();
        }
    }
}

/// What the clients saw, shared between them.
#[derive(Default)]
struct Record {
    /// Subject name (one per issuance) -> acknowledged credential id.
    issued: BTreeMap<String, String>,
    /// Names whose issuance got no definite answer (it may or may not have been stored; never twice).
    unanswered: Vec<String>,
    /// Acknowledged issuances by kind (keyed, without a key, bulk lines).
    issued_by_kind: BTreeMap<&'static str, u64>,
    /// Bulk lines answered "send this line again" (and sent again).
    bulk_retried_lines: u64,
    /// Ids whose revocation was acknowledged (200, or 409 after an attempt of ours that got no answer).
    revoked: HashSet<String>,
    /// Responses that replayed an earlier issuance for a retried key (200 `replayed`).
    replays: u64,
    /// Reads whose status contradicted what this client was acknowledged.
    stale_reads: Vec<String>,
    /// Revocations refused with 409 although no earlier attempt of ours could have done them.
    unexpected_conflicts: Vec<String>,
    attempts: BTreeMap<&'static str, u64>,
    errors: BTreeMap<String, u64>,
    latency: BTreeMap<&'static str, Vec<Duration>>,
    gave_up: BTreeMap<&'static str, u64>,
}

/// Lines in each bulk request of the load.
const BULK_LINES: usize = 16;

/// How long one operation keeps retrying before it gives up.
const OP_DEADLINE: Duration = Duration::from_secs(30);

fn issue_body(key: &str) -> String {
    format!(
        r#"{{"subject":{{"name":"{key}","masked_id":"4403**********1234"}},"body":{{"type":"health-status","colour":"green","reason":"no-risk"}},"valid_for_hours":24}}"#
    )
}

/// One attempt's outcome: an answer (status, body) or a transport error's kind.
async fn attempt(request: reqwest::RequestBuilder) -> Result<(u16, serde_json::Value), String> {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = match response.bytes().await {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
                Err(_) => return Err("connection reset".into()),
            };
            Ok((status, body))
        }
        Err(e) if e.is_connect() => Err("connect refused".into()),
        Err(e) if e.is_timeout() => Err("timeout".into()),
        Err(_) => Err("connection reset".into()),
    }
}

/// Which failures an operation may send again after.
#[derive(Clone, Copy, PartialEq)]
enum Retry {
    /// Any failure: the operation is idempotent (a keyed issuance, a revocation, a read).
    Any,
    /// Only failures that prove nothing was done: a refused connection (the request never left) or a 503 (the
    /// service says nothing changed). After a reset, a timeout or a 500 the outcome is unknown.
    IfNothingDone,
}

/// Retry `make()` as `retry` allows until an answer other than a transient failure (transport error, 5xx, 429)
/// arrives or the deadline passes; returns the answer and how many attempts failed before it, or `None` when the
/// operation's outcome stays unknown.
async fn with_retries(
    record: &Mutex<Record>,
    op: &'static str,
    retry: Retry,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Option<((u16, serde_json::Value), u64)> {
    let started = Instant::now();
    let mut failed = 0;
    loop {
        *record.lock().unwrap().attempts.entry(op).or_default() += 1;
        let outcome = attempt(make()).await;
        let transient = match &outcome {
            Err(kind) => Some(kind.clone()),
            Ok((status, _)) if *status >= 500 || *status == 429 => Some(format!("HTTP {status}")),
            Ok(_) => None,
        };
        match transient {
            None => {
                record.lock().unwrap().latency.entry(op).or_default().push(started.elapsed());
                return outcome.ok().map(|answer| (answer, failed));
            }
            Some(kind) => {
                failed += 1;
                *record.lock().unwrap().errors.entry(format!("{op}: {kind}")).or_default() += 1;
                let nothing_done = kind == "connect refused" || kind == "HTTP 503" || kind == "HTTP 429";
                if started.elapsed() > OP_DEADLINE || (retry == Retry::IfNothingDone && !nothing_done) {
                    *record.lock().unwrap().gave_up.entry(op).or_default() += 1;
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(50 + 25 * failed.min(8))).await;
            }
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    issuer_token: String,
    revoker_token: String,
    record: Arc<Mutex<Record>>,
}

impl Client {
    async fn run(&self, worker: usize, until: Instant) {
        let mut seq = 0u64;
        let mut mine: Vec<String> = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (worker as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
        while Instant::now() < until {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let roll = rng % 10;
            let pick = usize::try_from(rng >> 8).unwrap_or(0) % mine.len().max(1);
            if roll < 7 || mine.is_empty() {
                seq += 1;
                // Mostly keyed; one issuance in eight without a key, one in sixteen a small bulk request.
                match rng % 16 {
                    0 => mine.extend(self.bulk(&format!("bulk-{worker}-{seq}")).await),
                    1 | 2 => mine.extend(self.issue(&format!("nokey-{worker}-{seq}"), false).await),
                    _ => mine.extend(self.issue(&format!("load-{worker}-{seq}"), true).await),
                }
            } else if roll < 9 {
                let id = mine.swap_remove(pick);
                self.revoke(&id).await;
            } else {
                self.read(&mine[pick]).await;
            }
        }
    }

    /// One issuance of subject `name`: with an Idempotency-Key (the name) when `keyed`, retried on any failure;
    /// without one, retried only when nothing was done.
    async fn issue(&self, name: &str, keyed: bool) -> Option<String> {
        let url = format!("{}/v1/credentials", self.base);
        let body = issue_body(name);
        let make = || {
            let request =
                self.http.post(&url).bearer_auth(&self.issuer_token).header("content-type", "application/json");
            let request = if keyed { request.header("idempotency-key", name) } else { request };
            request.body(body.clone())
        };
        let (op, retry) = if keyed { ("issue", Retry::Any) } else { ("issue without key", Retry::IfNothingDone) };
        let Some(((status, answer), _)) = with_retries(&self.record, op, retry, make).await else {
            self.record.lock().unwrap().unanswered.push(name.to_string());
            return None;
        };
        assert!(status == 201 || status == 200, "issue {name}: {status} {answer}");
        let id = answer["id"].as_str().unwrap().to_string();
        let mut record = self.record.lock().unwrap();
        if answer["replayed"] == true {
            record.replays += 1;
        }
        *record.issued_by_kind.entry(if keyed { "keyed" } else { "without key" }).or_default() += 1;
        assert!(record.issued.insert(name.to_string(), id.clone()).is_none(), "{name} acknowledged twice");
        Some(id)
    }

    /// A bulk request of [`BULK_LINES`] subjects `{prefix}-{i}`; lines answered "send this line again" go in the
    /// next request, until every line has a definite answer, the outcome of a line is unknown (the response
    /// broke off before it, or said the line may have been stored), or the deadline passes.
    async fn bulk(&self, prefix: &str) -> Vec<String> {
        let url = format!("{}/v1/credentials/bulk", self.base);
        let mut to_send: Vec<String> = (0..BULK_LINES).map(|i| format!("{prefix}-{i}")).collect();
        let mut acknowledged = Vec::new();
        let started = Instant::now();
        while !to_send.is_empty() && started.elapsed() < OP_DEADLINE {
            let body: String = to_send.iter().map(|name| issue_body(name) + "\n").collect();
            *self.record.lock().unwrap().attempts.entry("bulk request").or_default() += 1;
            let request =
                self.http.post(&url).bearer_auth(&self.issuer_token).header("content-type", "application/x-ndjson");
            let (answers, broken) = match request.body(body).send().await {
                Err(e) if e.is_connect() => (Vec::new(), None),
                Err(_) => (Vec::new(), Some("connection reset".to_string())),
                Ok(response) if response.status() == 503 => (Vec::new(), None),
                Ok(mut response) => {
                    assert_eq!(response.status(), 200, "bulk {prefix}");
                    let (mut text, mut broken) = (Vec::new(), None);
                    loop {
                        match response.chunk().await {
                            Ok(Some(chunk)) => text.extend_from_slice(&chunk),
                            Ok(None) => break,
                            Err(_) => {
                                broken = Some("connection reset".to_string());
                                break;
                            }
                        }
                    }
                    let lines: Vec<serde_json::Value> = text
                        .split(|&b| b == b'\n')
                        .filter_map(|line| serde_json::from_slice(line).ok())
                        .filter(|v: &serde_json::Value| v.get("line").is_some())
                        .collect();
                    (lines, broken)
                }
            };
            to_send = self.settle_bulk_answers(to_send, &answers, broken, &mut acknowledged);
            if !to_send.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let mut record = self.record.lock().unwrap();
        record.latency.entry("bulk of 16").or_default().push(started.elapsed());
        record.unanswered.extend(to_send);
        acknowledged
    }

    /// Record a bulk response's answers; returns the lines to send again.
    fn settle_bulk_answers(
        &self,
        to_send: Vec<String>,
        answers: &[serde_json::Value],
        broken: Option<String>,
        acknowledged: &mut Vec<String>,
    ) -> Vec<String> {
        let mut record = self.record.lock().unwrap();
        let mut again = Vec::new();
        let mut answered = HashSet::new();
        for answer in answers {
            let n = usize::try_from(answer["line"].as_u64().unwrap()).unwrap();
            let name = to_send[n - 1].clone();
            answered.insert(n - 1);
            if let Some(id) = answer["id"].as_str() {
                *record.issued_by_kind.entry("bulk line").or_default() += 1;
                assert!(record.issued.insert(name.clone(), id.to_string()).is_none(), "{name} acknowledged twice");
                acknowledged.push(id.to_string());
            } else if answer["error"].as_str().is_some_and(|e| e.contains("send this line again")) {
                record.bulk_retried_lines += 1;
                again.push(name);
            } else {
                *record.errors.entry(format!("bulk line: {}", answer["error"])).or_default() += 1;
                record.unanswered.push(name);
            }
        }
        match broken {
            // The response broke off: lines without an answer may have been stored (their batch may have
            // committed): not sent again.
            Some(kind) => {
                *record.errors.entry(format!("bulk request: {kind}")).or_default() += 1;
                for (_, name) in to_send.iter().enumerate().filter(|(i, _)| !answered.contains(i)) {
                    record.unanswered.push(name.clone());
                }
            }
            // Refused before anything was read (connection refused, 503): every line again.
            None if answers.is_empty() => {
                *record.errors.entry("bulk request: refused, sent again".into()).or_default() += 1;
                again = to_send.clone();
            }
            None => {}
        }
        again
    }

    async fn revoke(&self, id: &str) {
        let url = format!("{}/v1/credentials/{id}/revoke", self.base);
        let make = || {
            self.http
                .post(&url)
                .bearer_auth(&self.revoker_token)
                .header("content-type", "application/json")
                .body(r#"{"reason":"load test"}"#)
        };
        let Some(((status, answer), failed)) = with_retries(&self.record, "revoke", Retry::Any, make).await else {
            return;
        };
        let mut record = self.record.lock().unwrap();
        match status {
            200 => {
                record.revoked.insert(id.to_string());
            }
            // Our earlier attempt may have been applied without its answer reaching us.
            409 if failed > 0 => {
                record.revoked.insert(id.to_string());
            }
            _ => record.unexpected_conflicts.push(format!("{id}: {status} {answer}")),
        }
    }

    async fn read(&self, id: &str) {
        let url = format!("{}/v1/credentials/{id}", self.base);
        let make = || self.http.get(&url).bearer_auth(&self.issuer_token);
        let Some(((status, answer), _)) = with_retries(&self.record, "read", Retry::Any, make).await else { return };
        if status != 200 || answer["status"] != "valid" {
            self.record.lock().unwrap().stale_reads.push(format!("{id}: {status} {answer}"));
        }
    }
}

/// Close every connection the server holds to its database; returns how many were cut.
async fn cut_connections(admin: &sqlx::PgPool, database: &str) -> u64 {
    let sql = "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
               WHERE datname = $1 AND pid <> pg_backend_pid()";
    sqlx::query(sql).bind(database).fetch_one(admin).await.map(|r| r.get::<i64, _>(0)).unwrap_or(0).unsigned_abs()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank, in integers: p is a fraction with at most three decimals.
    let permille = (p * 1000.0).round().clamp(0.0, 1000.0) as usize;
    let at = ((sorted.len() - 1) * permille).div_ceil(1000);
    sorted[at].as_secs_f64() * 1000.0
}

/// Everything checked in the database after the run: (name, failures).
async fn check_database(
    db: &Database,
    record: &Record,
    trust: &TrustList,
    p_arg: &str,
    url: &str,
) -> Vec<(&'static str, Vec<String>)> {
    let Database::Postgres(pool) = db else { unreachable!() };
    let rows = sqlx::query("SELECT id, cose, status FROM credentials").fetch_all(pool).await.unwrap();
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    let mut status_of: HashMap<String, String> = HashMap::new();
    let mut unverified = Vec::new();
    for row in &rows {
        let (id, cose, status): (Vec<u8>, Vec<u8>, String) = (row.get(0), row.get(1), row.get(2));
        let id = huren_keys::hex(&id);
        let sign1 = Sign1::parse(&cose).unwrap();
        let verified = trust
            .candidates(sign1.kid())
            .find_map(|k| sign1.verify(&k.certificate.public_key).ok())
            .and_then(|claims| huren_wallet_core::Credential::from_claims(claims).ok());
        match verified {
            Some(c) => by_key.entry(c.subject.name).or_default().push(id.clone()),
            None => unverified.push(id.clone()),
        }
        status_of.insert(id, status);
    }
    let audit = db.audit_log().await.unwrap();
    let mut issue_entries: HashMap<&str, usize> = HashMap::new();
    for entry in audit.iter().filter(|e| e.action == "issue") {
        *issue_entries.entry(entry.subject.as_str()).or_default() += 1;
    }
    let lost: Vec<String> = record
        .issued
        .iter()
        .filter(|(key, id)| by_key.get(*key).is_none_or(|ids| !ids.contains(id)))
        .map(|(key, id)| format!("{key} -> {id}"))
        .collect();
    let duplicates: Vec<String> =
        by_key.iter().filter(|(_, ids)| ids.len() > 1).map(|(key, ids)| format!("{key}: {ids:?}")).collect();
    let revocations_lost: Vec<String> =
        record.revoked.iter().filter(|id| status_of.get(*id).map(String::as_str) != Some("revoked")).cloned().collect();
    let audit_mismatch: Vec<String> =
        status_of.keys().filter(|id| issue_entries.get(id.as_str()) != Some(&1)).cloned().collect();
    let mut chain = Vec::new();
    if let Err(e) = verify_audit_chain(&audit) {
        chain.push(format!("in process: {e:?}"));
    }
    let cli = run(&["audit", "verify", "--dir", p_arg], url);
    if !cli.contains("chain intact") {
        chain.push(format!("huren-issuer audit verify: {cli}"));
    }
    vec![
        ("acknowledged issuances lost", lost),
        ("issuances (subject names) with more than one credential", duplicates),
        ("acknowledged revocations not in effect", revocations_lost),
        ("stored credentials that do not verify", unverified),
        ("stored credentials without exactly one issue entry", audit_mismatch),
        ("audit chain breaks", chain),
        ("reads contradicting an acknowledged write", record.stale_reads.clone()),
        ("unexpected revocation conflicts", record.unexpected_conflicts.clone()),
    ]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let o = options();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("huren-issuer-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("p");
    let p_arg = p.to_str().unwrap().to_string();

    // A fresh database beside the one given, dropped at the end.
    let name = format!("huren_load_{}", std::process::id());
    let admin = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&o.postgres).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    let url = format!("{}/{name}", o.postgres.rsplit_once('/').unwrap().0);

    let init = issuer_bin().args(["init", "--province", "CN-GD", "--dir", &p_arg]).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let issuer_token = run(&["tokens", "create", "--dir", &p_arg, "--role", "issuer"], &url).trim().to_string();
    let revoker_token = run(&["tokens", "create", "--dir", &p_arg, "--role", "revoker"], &url).trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let server = Arc::new(Mutex::new(Server::start(&p, &listen, &url)));

    let record = Arc::new(Mutex::new(Record::default()));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let started = Instant::now();
    let until = started + Duration::from_secs(o.seconds);
    let clients: Vec<_> = (0..o.clients)
        .map(|worker| {
            let client = Client {
                http: http.clone(),
                base: format!("http://{listen}"),
                issuer_token: issuer_token.clone(),
                revoker_token: revoker_token.clone(),
                record: Arc::clone(&record),
            };
            tokio::spawn(async move { client.run(worker, until).await })
        })
        .collect();

    // Faults: a restart every `restart_every` seconds (SIGKILL and SIGTERM in turn), a cut of every database
    // connection every `cut_every` seconds, none in the last few seconds so the run ends with a quiet stretch.
    let (mut restarts, mut cuts, mut cut_connections_total, mut downtime) = (Vec::new(), 0u64, 0u64, Duration::ZERO);
    let (mut next_restart, mut next_cut) =
        (started + Duration::from_secs(o.restart_every), started + Duration::from_secs(o.cut_every));
    let quiet_from = until.checked_sub(Duration::from_secs(3)).unwrap_or(until);
    while Instant::now() < quiet_from {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Instant::now();
        if o.restart_every > 0 && now >= next_restart && now < quiet_from {
            let graceful = restarts.len() % 2 == 1;
            let server = Arc::clone(&server);
            let away = tokio::task::spawn_blocking(move || server.lock().unwrap().restart(graceful)).await.unwrap();
            downtime += away;
            restarts.push(if graceful { "SIGTERM" } else { "SIGKILL" });
            // On a fixed schedule from the start, whatever a restart took.
            next_restart += Duration::from_secs(o.restart_every);
        }
        if o.cut_every > 0 && now >= next_cut && now < quiet_from {
            cut_connections_total += cut_connections(&admin, &name).await;
            cuts += 1;
            next_cut += Duration::from_secs(o.cut_every);
        }
    }
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = started.elapsed();

    // The run is over: check what the database holds, through a connection of our own.
    let record = Arc::try_unwrap(record).ok().unwrap().into_inner().unwrap();
    let db = Database::connect_postgres(&url, None).await.unwrap();
    let trust =
        TrustList::from_trust_file(&TrustFile::decode(&std::fs::read(p.join("trust.cbor")).unwrap()).unwrap()).unwrap();
    let checks = check_database(&db, &record, &trust, &p_arg, &url).await;
    let stored: i64 = match &db {
        Database::Postgres(pool) => {
            sqlx::query("SELECT count(*) FROM credentials").fetch_one(pool).await.unwrap().get(0)
        }
        Database::Sqlite { .. } => unreachable!(),
    };
    drop(server);
    let server_log = std::fs::read_to_string(p.join("server.log")).unwrap_or_default();
    // The service logs each request it failed with 500 as "request failed" (503s are warnings).
    let server_errors: Vec<&str> = server_log.lines().filter(|l| l.contains("request failed")).collect();
    // Commits whose answer was lost in a cut, then found committed (`txid_status`) and answered as done.
    let settled_commits = server_log.lines().filter(|l| l.contains("but it committed")).count();
    if let Database::Postgres(pool) = db {
        pool.close().await;
    }
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let attempts: u64 = record.attempts.values().sum();
    let failed: u64 = record.errors.values().sum();
    let mut latency = serde_json::Map::new();
    for (op, samples) in &record.latency {
        let mut sorted = samples.clone();
        sorted.sort();
        latency.insert(
            op.to_string(),
            json!({
                "ops": sorted.len(),
                "p50_ms": percentile(&sorted, 0.50),
                "p90_ms": percentile(&sorted, 0.90),
                "p99_ms": percentile(&sorted, 0.99),
                "max_ms": percentile(&sorted, 1.0),
            }),
        );
    }
    let failures: Vec<_> = checks.iter().filter(|(_, f)| !f.is_empty()).collect();
    let report = json!({
        "seconds": elapsed.as_secs_f64(),
        "clients": o.clients,
        "restarts": restarts,
        "connection_cuts": cuts,
        "connections_cut": cut_connections_total,
        "downtime_s": downtime.as_secs_f64(),
        "attempts": record.attempts,
        "failed_attempts": failed,
        "error_rate": if attempts == 0 { 0.0 } else { failed as f64 / attempts as f64 },
        "errors": record.errors,
        "gave_up": record.gave_up,
        "acknowledged": {
            "issued": record.issued.len(),
            "issued_by_kind": record.issued_by_kind,
            "revoked": record.revoked.len(),
            "replayed": record.replays,
            "bulk_lines_sent_again": record.bulk_retried_lines,
        },
        "unanswered_issuances": record.unanswered.len(),
        "stored_credentials": stored,
        "latency": latency,
        "server_errors": server_errors.len(),
        "commits_settled_after_a_lost_answer": settled_commits,
        "server_error_examples": server_errors.iter().take(5).collect::<Vec<_>>(),
        "checks": checks
            .iter()
            .map(|(name, f)| json!({ "check": name, "failures": f.len(), "examples": &f[..f.len().min(3)] }))
            .collect::<Vec<_>>(),
        "ok": failures.is_empty(),
    });
    if o.json {
        println!("{report}");
    } else {
        println!("load and fault test: {} clients for {:.0} s on PostgreSQL", o.clients, elapsed.as_secs_f64());
        println!(
            "faults: {} restarts ({}), {cuts} connection cuts ({cut_connections_total} connections), {:.1} s down",
            restarts.len(),
            restarts.join(" "),
            downtime.as_secs_f64()
        );
        println!("attempts {attempts}, failed {failed} ({:.2} %)", report["error_rate"].as_f64().unwrap() * 100.0);
        for (kind, n) in &record.errors {
            println!("  {kind}: {n}");
        }
        println!(
            "acknowledged: {} issued ({:?}; {} replayed on retry, {} bulk lines sent again), {} revoked; \
             {} issuances without a definite answer; {stored} stored",
            record.issued.len(),
            record.issued_by_kind,
            record.replays,
            record.bulk_retried_lines,
            record.revoked.len(),
            record.unanswered.len()
        );
        println!(
            "server log: {} requests failed with 500; {settled_commits} commits found committed after their answer was lost",
            server_errors.len()
        );
        for line in server_errors.iter().take(5) {
            println!("  {line}");
        }
        for (op, l) in &latency {
            println!(
                "  {op:<18} {:>6} ops  p50 {:>7.1} ms  p90 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
                l["ops"],
                l["p50_ms"].as_f64().unwrap(),
                l["p90_ms"].as_f64().unwrap(),
                l["p99_ms"].as_f64().unwrap(),
                l["max_ms"].as_f64().unwrap()
            );
        }
        for (name, f) in &checks {
            println!(
                "  {:<56} {}",
                name,
                if f.is_empty() {
                    "none".to_string()
                } else {
                    format!("{} FAILED: {:?}", f.len(), &f[..f.len().min(3)])
                }
            );
        }
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
