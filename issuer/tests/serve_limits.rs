//! The server loop's own limits, over real sockets: a client that does not finish its request head in time is
//! disconnected (slow loris), so is one that sends requests and never reads the answers, connections beyond the cap are closed on arrival, the client's address reaches the
//! authentication throttle, and shutdown finishes the request in flight before `serve` returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use huren_issuer::serve::{serve, ServeLimits};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::Database;
use huren_issuer::throttle::MAX_AUTH_FAILURES;
use huren_issuer::Province;

const T0: i64 = 1_790_000_000;

async fn start(
    name: &str,
    limits: ServeLimits,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let dir = std::env::temp_dir().join(format!("huren-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let province = Province::init(&dir.join("p"), "CN-GD", T0 - 100, &Default::default()).unwrap();
    let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    db.migrate().await.unwrap();
    let router = app(AppState::with_clock(province, db, Box::new(|| T0)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve(listener, router, limits, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (address, stop, server)
}

/// Blocking socket work off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn get(address: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_sent_too_slowly_is_cut_off() {
    let limits = ServeLimits { header_read_timeout: Duration::from_millis(500), ..ServeLimits::default() };
    let (address, stop, server) = start("slow", limits).await;
    let (waited, answer) = blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        let started = Instant::now();
        // A byte now and then keeps the connection busy but never completes the head.
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(100));
            let _ = stream.write_all(b"X");
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (started.elapsed(), answer)
    })
    .await;
    assert!(waited < Duration::from_secs(5), "cut off after the head timeout, not left open ({waited:?})");
    assert!(answer.is_empty() || String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"), "{answer:?}");
    // A prompt client is served as before.
    let answer = blocking(move || get(address, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_and_the_clients_address_reaches_the_throttle() {
    let limits = ServeLimits { max_connections: 2, ..ServeLimits::default() };
    let (address, stop, server) = start("cap", limits).await;
    let refused = blocking(move || {
        // Two idle connections take both places; a third is closed at once, without an answer.
        let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(address).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let third = get(address, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        drop(held);
        third
    })
    .await;
    assert_eq!(refused, "", "the third connection is closed on arrival");
    // Once they are gone, the places are free again, and refused tokens from this address are counted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let statuses = blocking(move || {
        (0..=MAX_AUTH_FAILURES)
            .map(|i| {
                let request = format!(
                    "POST /v1/credentials HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hrt_guess{i}.x\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
                get(address, &request).split(' ').nth(1).unwrap_or("").to_string()
            })
            .collect::<Vec<_>>()
    })
    .await;
    let limit = usize::try_from(MAX_AUTH_FAILURES).unwrap();
    assert!(statuses[..limit].iter().all(|s| s == "401"), "{statuses:?}");
    assert_eq!(statuses[limit], "429", "the throttle saw one client address: {statuses:?}");
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_loses_its_connection() {
    let limits =
        ServeLimits { write_stall_timeout: Duration::from_millis(500), max_connections: 1, ..ServeLimits::default() };
    let (address, stop, server) = start("stall", limits).await;
    let (freed_after, answer) = blocking(move || {
        // Pipelined requests for a document of several kilobytes, never read: once the socket buffers are full
        // the server's write makes no progress. The writer blocks too, so it runs on its own thread.
        let hog = TcpStream::connect(address).unwrap();
        let mut writer = hog.try_clone().unwrap();
        std::thread::spawn(move || {
            let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
            for _ in 0..20_000 {
                if writer.write_all(request).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        // The one place is the hog's until the server gives up on it; then a prompt client is served.
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let answer = get(address, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            if !answer.is_empty() || started.elapsed() > Duration::from_secs(20) {
                drop(hog);
                return (started.elapsed(), answer);
            }
        }
    })
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "served once the hog's connection was closed: {answer:?}");
    assert!(freed_after > Duration::from_millis(400), "the hog held the place first ({freed_after:?})");
    assert!(freed_after < Duration::from_secs(10), "and lost it after the stall timeout ({freed_after:?})");
    stop.send(()).unwrap();
    server.await.unwrap();
}

/// A client whose request body is half sent when it says so on `sent`, finishing it after `pause`; returns the
/// answer it read.
fn half_sent_request(
    address: std::net::SocketAddr,
    pause: Duration,
    sent: std::sync::mpsc::Sender<()>,
) -> tokio::task::JoinHandle<String> {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(b"POST /v1/credentials HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{").unwrap();
        sent.send(()).unwrap();
        std::thread::sleep(pause);
        let _ = stream.write_all(b"}");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight() {
    let (address, stop, server) = start("shutdown", ServeLimits::default()).await;
    let (sent, head_sent) = std::sync::mpsc::channel();
    let client = half_sent_request(address, Duration::from_millis(800), sent);
    blocking(move || head_sent.recv().unwrap()).await;
    // The head is out; give the server a moment to read it, then ask it to stop while the body is still coming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    let answer = client.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "answered before the server stopped: {answer}");
    server.await.unwrap();
    assert!(TcpStream::connect(address).is_err(), "the listener is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_no_longer_than_its_grace() {
    let limits = ServeLimits { shutdown_grace: Duration::from_millis(500), ..ServeLimits::default() };
    let (address, stop, server) = start("grace", limits).await;
    let (sent, head_sent) = std::sync::mpsc::channel();
    // This body takes 3 s to finish: shutdown must not wait for it.
    let client = half_sent_request(address, Duration::from_secs(3), sent);
    blocking(move || head_sent.recv().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    stop.send(()).unwrap();
    server.await.unwrap();
    let waited = asked.elapsed();
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_millis(2500), "{waited:?}");
    drop(client);
}
