//! `huren-issuer bulk`: issue the lines of an NDJSON or CSV file through a running issuer's API or directly on
//! a province's database, printing one answer line per input line (then the summary) as they come, with a
//! progress bar on standard error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::Stream;
use serde_json::Value;

use crate::bulk::{BatchFailed, Format, LineSplitter};
use crate::status::{StatusConfig, StatusService};
use crate::storage::Database;
use crate::{IssueRequest, Province};

/// Where `bulk` issues.
#[derive(Debug, Clone)]
pub enum Target {
    /// Straight on the province's database.
    Database {
        /// The province directory.
        dir: PathBuf,
        /// PostgreSQL URL; SQLite in the province directory when absent.
        database_url: Option<String>,
        /// The issuer key's passphrase, if it is encrypted.
        passphrase: Option<Vec<u8>>,
    },
    /// Through a running issuer's API.
    Server {
        /// Its base URL (`http://127.0.0.1:8080`).
        url: String,
        /// An API token (issuer or admin).
        token: String,
    },
}

/// Why a bulk issuance failed or stopped early (the ids printed before stay issued).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The input file could not be opened.
    #[error("opening {path}: {source}")]
    Input {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input file could not be read.
    #[error("{0}")]
    Read(#[source] std::io::Error),
    /// The answers could not be written to standard output.
    #[error("writing the answers: {0}")]
    Output(#[source] std::io::Error),
    /// The province or its database could not be opened.
    #[error(transparent)]
    Issuer(#[from] crate::Error),
    /// The request could not be sent.
    #[error("sending to {endpoint}: {source}")]
    Send {
        /// The bulk endpoint.
        endpoint: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// The server refused the request.
    #[error("{endpoint} answered {status}: {body}")]
    Refused {
        /// The bulk endpoint.
        endpoint: String,
        /// Its status code.
        status: reqwest::StatusCode,
        /// Its answer.
        body: String,
    },
    /// The server's answer broke off.
    #[error("reading the server's answers: {0}")]
    Answers(#[source] reqwest::Error),
    /// The task sending the lines stopped without an answer.
    #[error("{0}")]
    Task(#[source] tokio::task::JoinError),
    /// The answers ended without a summary.
    #[error(
        "the bulk issuance stopped before the end: {issued} ids printed above are stored; send the other lines again"
    )]
    Incomplete {
        /// Ids printed.
        issued: u64,
    },
}

/// Bulk issuance from `file` (`.csv` is read as CSV, anything else as NDJSON): the answers are printed on
/// standard output as they come (one JSON line per input line, then a summary), with a progress bar on standard
/// error counting answered lines (rate and ETA).
pub async fn bulk(file: &Path, target: Target) -> Result<(), ClientError> {
    let format =
        if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) { Format::Csv } else { Format::Ndjson };
    let total = count_lines(file)?;
    let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} lines {per_sec} ETA {eta} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bar = indicatif::ProgressBar::new(total).with_style(style);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    let input = file_chunks(file)?;
    let producer = match target {
        Target::Database { dir, database_url, passphrase } => {
            let province = Arc::new(Province::open_with(&dir, passphrase.as_deref())?);
            let db = Database::for_province(&dir, database_url.as_deref()).await?;
            // The CLI is a node of its own: it reserves its own status blocks.
            let status = Arc::new(StatusService::new(StatusConfig { node: "cli".into(), ..Default::default() })?);
            tokio::spawn(async move {
                let issue = |requests: Vec<IssueRequest>| {
                    let (province, db, status) = (province.clone(), db.clone(), status.clone());
                    async move {
                        let now = crate::unix_now();
                        crate::issuance::issue_batch(province, &db, &status, "cli", requests, now)
                            .await
                            .map_err(BatchFailed::from)
                    }
                };
                crate::bulk::process(input, format, issue, sender).await;
                Ok(())
            })
        }
        Target::Server { url, token } => tokio::spawn(post_bulk(url, token, format, input, sender)),
    };
    // Print answers as they arrive; the server's chunks may split lines.
    let (mut splitter, mut issued, mut failed, mut summary) = (LineSplitter::default(), 0u64, 0u64, false);
    while let Some(chunk) = receiver.recv().await {
        let mut text = String::new();
        for line in splitter.push(&chunk).into_iter().flatten() {
            let answer: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(n) = answer.get("line").and_then(Value::as_u64) {
                bar.set_position(n);
            }
            issued += u64::from(answer.get("id").is_some());
            failed += u64::from(answer.get("error").is_some());
            summary |= answer.get("summary").is_some();
            text.push_str(&line);
            text.push('\n');
        }
        bar.suspend(|| {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        })
        .map_err(ClientError::Output)?;
        bar.set_message(format!("{issued} issued, {failed} failed"));
    }
    bar.finish();
    producer.await.map_err(ClientError::Task)??;
    if !summary {
        return Err(ClientError::Incomplete { issued });
    }
    Ok(())
}

/// Lines in a file (a last line without a newline counts), for the progress bar.
fn count_lines(file: &Path) -> Result<u64, ClientError> {
    use std::io::Read;
    let mut input =
        std::fs::File::open(file).map_err(|source| ClientError::Input { path: file.display().to_string(), source })?;
    let (mut buffer, mut lines, mut last) = (vec![0u8; 64 * 1024], 0u64, b'\n');
    loop {
        let n = input.read(&mut buffer).map_err(ClientError::Read)?;
        if n == 0 {
            return Ok(lines + u64::from(last != b'\n'));
        }
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').map(|_| 1u64).sum::<u64>();
        last = buffer[n - 1];
    }
}

/// The file as a stream of 64 KiB chunks.
fn file_chunks(
    file: &Path,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static, ClientError> {
    use std::io::Read;
    let input =
        std::fs::File::open(file).map_err(|source| ClientError::Input { path: file.display().to_string(), source })?;
    Ok(Box::pin(futures_util::stream::unfold(Some(input), |input| async move {
        let mut input = input?;
        let mut buffer = vec![0u8; 64 * 1024];
        match input.read(&mut buffer) {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(Bytes::from(buffer)), Some(input)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })))
}

/// Stream the input to `POST {url}/v1/credentials/bulk` and forward the response's lines to `out`.
async fn post_bulk(
    url: String,
    token: String,
    format: Format,
    input: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    out: tokio::sync::mpsc::Sender<Bytes>,
) -> Result<(), ClientError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let content_type = match format {
        Format::Csv => "text/csv",
        Format::Ndjson => "application/x-ndjson",
    };
    let endpoint = format!("{}/v1/credentials/bulk", url.trim_end_matches('/'));
    let send = |source| ClientError::Send { endpoint: endpoint.clone(), source };
    let client =
        reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(10)).build().map_err(send)?;
    let mut response = client
        .post(&endpoint)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(reqwest::Body::wrap_stream(input))
        .send()
        .await
        .map_err(send)?;
    if !response.status().is_success() {
        let status = response.status();
        return Err(ClientError::Refused { endpoint, status, body: response.text().await.unwrap_or_default() });
    }
    while let Some(chunk) = response.chunk().await.map_err(ClientError::Answers)? {
        if out.send(chunk).await.is_err() {
            break;
        }
    }
    Ok(())
}
