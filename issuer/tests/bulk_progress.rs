//! A bulk upload that makes no progress is cut off, over a real socket: a client that sends one line and then
//! only blank lines (one every 300 ms) gets its first line answered and stored, then a summary that says why the
//! input was cut, and the connection closes, all within the progress timeout (1 s here) and a little slack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use huren_issuer::auth::{create_token, Role};
use huren_issuer::serve::{serve, ServeLimits};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::Database;
use huren_issuer::Province;

use crate::service::REQUEST;

const T0: i64 = 1_790_000_000;

/// What the client saw: the raw response, when it ended (EOF) after the last real line, and how many blank lines
/// it managed to send.
struct Seen {
    response: String,
    closed_after: Option<Duration>,
}

/// Send the head and one request line, then a blank line every 300 ms until the server closes the connection
/// (or 8 s pass); read everything the server answers meanwhile.
fn trickle(address: std::net::SocketAddr, token: &str) -> Seen {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "POST /v1/credentials/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let line = format!("{}\n", REQUEST.replace('\n', " "));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes()).unwrap();
    let sent = Instant::now();
    let mut reader = stream.try_clone().unwrap();
    reader.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let read = std::thread::spawn(move || {
        let mut response = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return (response, Some(sent.elapsed())),
                Ok(n) => response.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (response, Some(sent.elapsed())),
                Err(_) => return (response, None), // timed out: still open
            }
        }
    });
    while sent.elapsed() < Duration::from_secs(8) && !read.is_finished() {
        std::thread::sleep(Duration::from_millis(300));
        if stream.write_all(b"1\r\n\n\r\n").is_err() {
            break;
        }
    }
    let (response, closed_after) = read.join().unwrap();
    Seen { response: String::from_utf8_lossy(&response).into_owned(), closed_after }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_lines_do_not_hold_a_bulk_connection_open() {
    let dir = std::env::temp_dir().join(format!("huren-bulk-progress-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let province = Province::init(&dir.join("p"), "CN-GD", T0 - 100, &Default::default()).unwrap();
    let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    db.migrate().await.unwrap();
    let token = create_token(&db, Role::Issuer, "CN-GD", T0).await.unwrap();
    let state = AppState::with_clock(province, db.clone(), Box::new(|| T0));
    state.set_bulk_progress_timeout(Duration::from_secs(1));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        serve(listener, app(state), ServeLimits::default(), shutdown).await.unwrap();
    });

    let seen = tokio::task::spawn_blocking(move || trickle(address, &token)).await.unwrap();
    let closed_after = seen.closed_after.unwrap_or_else(|| panic!("still open after 10 s: {}", seen.response));
    assert!(closed_after < Duration::from_secs(5), "closed only after {closed_after:?}: {}", seen.response);
    assert!(seen.response.starts_with("HTTP/1.1 200"), "{}", seen.response);
    let answers: Vec<serde_json::Value> =
        seen.response.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), 2, "{}", seen.response);
    let id = answers[0]["id"].as_str().unwrap();
    assert_eq!(answers[0]["line"], 1);
    let aborted = answers[1]["summary"]["aborted"].as_str().unwrap();
    assert!(aborted.contains("no complete line"), "{aborted}");
    assert_eq!(answers[1]["summary"]["issued"], 1);
    // What was acknowledged is stored.
    assert!(db.credential(&huren_keys::unhex(id).unwrap()).await.unwrap().is_some());
    stop.send(()).unwrap();
    server.await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
