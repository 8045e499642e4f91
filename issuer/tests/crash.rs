//! Crash safety of bulk issuance, through real sockets and the real binary, on both backends: the server is
//! killed with SIGKILL in the middle of a bulk issuance of 100,000 credentials and restarted. Every id
//! acknowledged to the client must exist exactly once, with exactly one `issue` audit entry, and verify against
//! the province's trust file; the audit chain must verify. The lines left unanswered are then sent again with
//! `huren-issuer bulk --server`; finally SIGTERM arrives during a slow bulk request, which must be finished before
//! the server exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use huren_issuer::storage::{verify_audit_chain, Database};
use huren_keys::{cose::Sign1, TrustFile, TrustList};
use sqlx::Row;

/// Credentials in the bulk request.
const TOTAL: usize = 100_000;
/// The server is killed once the client holds this many acknowledgements.
const KILL_AFTER: usize = 20_000;

fn issuer_bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_huren-issuer"));
    command.env("RUST_LOG", "warn").env_remove("HUREN_DATABASE_URL").env_remove("HUREN_KEY_PASSPHRASE");
    command
}

fn run(args: &[&str], database_url: Option<&str>) -> String {
    let mut command = issuer_bin();
    command.args(args);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "huren-issuer {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A running `huren-issuer serve` and its base URL.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path, database_url: Option<&str>) -> Server {
        let mut command = issuer_bin();
        command.args(["serve", "--dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "the server exited before listening");
            if let Some(url) = line.trim().split("serving on ").nth(1) {
                break url.to_string();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child, url }
    }
}

fn request_line(n: usize) -> String {
    format!(
        r#"{{"subject":{{"name":"测试{n}","masked_id":"4403**********{:04}"}},"body":{{"type":"health-status","colour":"green","reason":"no-risk"}},"valid_for_hours":24}}"#,
        n % 10_000
    )
}

/// The acknowledgements in a chunk of the response: (input line, id); the summary line, if any, as `Err`.
fn acknowledgements(pending: &mut Vec<u8>, chunk: &[u8]) -> Vec<Result<(usize, String), ()>> {
    pending.extend_from_slice(chunk);
    let mut out = Vec::new();
    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let answer: serde_json::Value = serde_json::from_slice(&line).unwrap();
        if answer.get("summary").is_some() {
            out.push(Err(()));
            continue;
        }
        let n = usize::try_from(answer["line"].as_u64().unwrap()).unwrap();
        let id = answer["id"].as_str().unwrap_or_else(|| panic!("line {n} refused: {answer}"));
        out.push(Ok((n, id.to_string())));
    }
    out
}

/// Every stored credential (id -> COSE) and the subject of every `issue` audit entry.
async fn stored(db: &Database) -> (HashMap<Vec<u8>, Vec<u8>>, Vec<String>) {
    let credentials = "SELECT id, cose FROM credentials";
    let audited = "SELECT subject FROM audit_log WHERE action = 'issue'";
    let (rows, subjects) = match db {
        Database::Sqlite { pool, .. } => (
            sqlx::query(credentials).fetch_all(pool).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect(),
            sqlx::query(audited).fetch_all(pool).await.unwrap().iter().map(|r| r.get(0)).collect(),
        ),
        Database::Postgres(pool) => (
            sqlx::query(credentials).fetch_all(pool).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect(),
            sqlx::query(audited).fetch_all(pool).await.unwrap().iter().map(|r| r.get(0)).collect(),
        ),
    };
    (rows, subjects)
}

fn hex(bytes: &[u8]) -> String {
    huren_keys::hex(bytes)
}

async fn crash_mid_bulk(dir: PathBuf, database_url: Option<&str>) {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("p");
    let p_arg = p.to_str().unwrap();
    let init = issuer_bin().args(["init", "--province", "CN-GD", "--dir", p_arg]).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let token = run(&["tokens", "create", "--dir", p_arg, "--role", "issuer"], database_url).trim().to_string();

    // 1. A bulk issuance of 100,000 lines, streamed; SIGKILL once 20,000 are acknowledged.
    let mut server = Server::start(&p, database_url);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let lines = futures_util::stream::iter((0..TOTAL / 1000).map(|block| {
        let text: String = (block * 1000..(block + 1) * 1000).map(|n| request_line(n) + "\n").collect();
        Ok::<_, std::io::Error>(text)
    }));
    let mut response = reqwest::Client::new()
        .post(format!("{}/v1/credentials/bulk", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(lines))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut acknowledged: BTreeMap<usize, String> = BTreeMap::new();
    let mut pending = Vec::new();
    let mut killed = false;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) | Err(_) => break, // the connection died with the server
        };
        for ack in acknowledgements(&mut pending, &chunk) {
            let (n, id) = ack.expect("the server was killed before it finished");
            assert!(acknowledged.insert(n, id).is_none(), "line {n} acknowledged twice");
        }
        if !killed && acknowledged.len() >= KILL_AFTER {
            server.child.kill().unwrap(); // SIGKILL: no chance to flush or finish anything
            server.child.wait().unwrap();
            killed = true;
        }
    }
    assert!(killed && acknowledged.len() < TOTAL, "the kill came mid-way: {} acknowledged", acknowledged.len());

    // 2. Restart: every acknowledged id is there exactly once, audited once, and verifies; the chain verifies.
    let server = Server::start(&p, database_url);
    let db = match database_url {
        Some(url) => Database::connect_postgres(url, None).await.unwrap(),
        None => Database::open_sqlite(&p.join("issuer.db")).await.unwrap(),
    };
    let (credentials, audited) = stored(&db).await;
    let mut audit_count: HashMap<&str, usize> = HashMap::new();
    for subject in &audited {
        *audit_count.entry(subject.as_str()).or_default() += 1;
    }
    let trust =
        TrustList::from_trust_file(&TrustFile::decode(&std::fs::read(p.join("trust.cbor")).unwrap()).unwrap()).unwrap();
    for (n, id) in &acknowledged {
        let bytes: Vec<u8> = (0..id.len()).step_by(2).map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap()).collect();
        let cose = credentials.get(&bytes).unwrap_or_else(|| panic!("acknowledged line {n} ({id}) was lost"));
        assert_eq!(audit_count.get(id.as_str()), Some(&1), "line {n} ({id}) must be audited exactly once");
        let sign1 = Sign1::parse(cose).unwrap();
        let cert = trust.candidates(sign1.kid()).next().expect("signed by the province's issuer key");
        let claims = sign1.verify(&cert.certificate.public_key).unwrap_or_else(|e| panic!("line {n}: {e}"));
        let credential = huren_wallet_core::Credential::from_claims(claims).unwrap();
        assert_eq!(
            (credential.id.as_slice(), credential.subject.name.clone()),
            (bytes.as_slice(), format!("测试{}", n - 1))
        );
    }
    // Nothing stored without its audit entry, nor audited without being stored.
    let stored_ids: HashSet<String> = credentials.keys().map(|id| hex(id)).collect();
    assert_eq!(audited.len(), stored_ids.len(), "one issue entry per stored credential");
    assert_eq!(audited.iter().cloned().collect::<HashSet<_>>(), stored_ids);
    verify_audit_chain(&db.audit_log().await.unwrap()).unwrap();
    let verified = run(&["audit", "verify", "--dir", p_arg], database_url);
    assert!(verified.contains("chain intact"), "{verified}");
    let unacknowledged_but_stored = credentials.len() - acknowledged.len();
    eprintln!(
        "killed after {} of {TOTAL} acknowledged; {unacknowledged_but_stored} more were stored but not acknowledged",
        acknowledged.len()
    );

    // 3. The unanswered lines again, through the CLI against the restarted server: all issued.
    let resend = dir.join("resend.ndjson");
    let text: String =
        (0..TOTAL).filter(|n| !acknowledged.contains_key(&(n + 1))).map(|n| request_line(n) + "\n").collect();
    std::fs::write(&resend, text).unwrap();
    let out = issuer_bin()
        .args(["bulk", resend.to_str().unwrap(), "--server", &server.url])
        .env("HUREN_TOKEN", &token)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let resent = TOTAL - acknowledged.len();
    assert_eq!(summary["summary"]["issued"], resent, "{summary}");
    assert_eq!(summary["summary"]["failed"], 0);
    assert_eq!(stdout.lines().filter(|l| l.contains("\"id\"")).count(), resent);
    let (credentials, audited) = stored(&db).await;
    assert_eq!(credentials.len(), TOTAL + unacknowledged_but_stored);
    assert_eq!(audited.len(), credentials.len());
    verify_audit_chain(&db.audit_log().await.unwrap()).unwrap();

    // 4. SIGTERM during a slow bulk request: the request is finished (every line answered, the summary sent),
    //    then the server exits 0.
    let slow = futures_util::stream::unfold(0usize, |n| async move {
        if n == 3 {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Some((Ok::<_, std::io::Error>(request_line(TOTAL + n) + "\n"), n + 1))
    });
    let mut response = reqwest::Client::new()
        .post(format!("{}/v1/credentials/bulk", server.url))
        .bearer_auth(&token)
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .unwrap();
    let (mut pending, mut answers, mut summary, mut signalled) = (Vec::new(), 0, false, false);
    while let Some(chunk) = response.chunk().await.unwrap() {
        for ack in acknowledgements(&mut pending, &chunk) {
            match ack {
                Ok(_) => answers += 1,
                Err(()) => summary = true,
            }
        }
        if !signalled {
            let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
            assert!(status.success());
            signalled = true;
        }
    }
    assert!(signalled && summary && answers == 3, "the in-flight request finished: {answers} answers");
    let mut child = server.child;
    assert!(child.wait().unwrap().success(), "graceful shutdown exits 0");
    let (credentials, _) = stored(&db).await;
    assert_eq!(credentials.len(), TOTAL + unacknowledged_but_stored + 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigkill_mid_bulk_loses_nothing_acknowledged() {
    crash_mid_bulk(std::env::temp_dir().join(format!("huren-crash-sqlite-{}", std::process::id())), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigkill_mid_bulk_loses_nothing_acknowledged() {
    let base =
        std::env::var("HUREN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("huren_crash_{}", std::process::id());
    let Database::Postgres(admin) = Database::connect_postgres(&base, None).await.expect("PostgreSQL is required")
    else {
        unreachable!()
    };
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    crash_mid_bulk(std::env::temp_dir().join(format!("huren-crash-pg-{}", std::process::id())), Some(&url)).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
}
