//! Serving HTTP: the HTTP/1.1 server loop for a router, with the limits a public endpoint needs and `axum::serve`
//! does not set, the shutdown signals, and problem+json answers.
//!
//! [`serve`]: a client must send its request head within [`ServeLimits::header_read_timeout`] (a slow-loris
//! client otherwise holds its connection for ever), a connection whose answer cannot be written for
//! [`ServeLimits::write_stall_timeout`] is closed (a client that sends requests and never reads the answers),
//! and at most [`ServeLimits::max_connections`] connections are served at once (more are closed on arrival).
//! Each request carries the client's address (`ConnectInfo<SocketAddr>`, for the authentication throttle);
//! shutdown is graceful: the listener closes, requests in flight are finished (for at most
//! [`ServeLimits::shutdown_grace`]), idle connections are closed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::ServiceExt;

/// Limits on connections, beyond the per-request body and time limits the router sets.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Longest wait for a request's head (request line and headers), from the connection's first byte.
    pub header_read_timeout: Duration,
    /// Longest time a write to the client may make no progress (the client reads nothing and the socket's
    /// buffers are full) before the connection is closed.
    pub write_stall_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Longest wait, at shutdown, for the requests in flight (a bulk issuance, or a client that stopped reading
    /// its answer); connections still open after it are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(10),
            write_stall_timeout: Duration::from_secs(30),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(60),
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then finish the requests in flight and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(limit = limits.max_connections, "too many connections: one closed on arrival");
            continue;
        };
        let service = app.clone().map_request(move |request: axum::http::Request<hyper::body::Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(client));
            request
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(
                TokioIo::new(StallTimeout::new(stream, limits.write_stall_timeout)),
                hyper_util::service::TowerToHyperService::new(service),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.shutdown_grace, "connections still open at shutdown were dropped");
    }
    Ok(())
}

/// A connection whose writes fail with [`io::ErrorKind::TimedOut`] once one has waited `timeout` without any
/// progress: hyper sets no write timeout, so without this a client that never reads its answers would keep its
/// connection (and its place under the cap) for as long as it likes. Reads pass through unchanged.
struct StallTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Started when a write or flush first returns `Pending`; cleared by any progress.
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> StallTimeout<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        StallTimeout { inner, timeout, stalled_since: None }
    }

    /// The outcome of a write-side poll: progress clears the stall, `Pending` starts or checks its clock.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled_since = None;
            return poll;
        }
        let timeout = self.timeout;
        let stall = self.stalled_since.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallTimeout<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallTimeout<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

/// Resolves on Ctrl-C or SIGTERM: pass it as `shutdown` to [`serve`].
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// An RFC 9457 problem+json body. Its members are in alphabetical order on the wire, as Huren's answers have always
/// been written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem<'a> {
    /// For people: what went wrong and what to do.
    pub detail: &'a str,
    /// The HTTP status.
    pub status: u16,
    /// A short summary of the status.
    pub title: &'a str,
    /// Always `about:blank`: the status says it all.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// An RFC 9457 problem+json answer (see [`Problem`]), with `headers` added (`Retry-After`, say).
pub fn problem(
    status: StatusCode,
    title: &str,
    detail: &str,
    headers: &[(header::HeaderName, HeaderValue)],
) -> Response {
    let body = Problem { detail, status: status.as_u16(), title, kind: "about:blank" };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"))],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}
