//! Bulk issuance: a request body of NDJSON (one issue request per line) or CSV, read as a stream, and a response
//! streamed back with one line per input line — its credential id, or its error — then a summary line.
//!
//! Lines are issued in batches: signed in parallel, then stored with their audit entries in one transaction. A
//! result line is sent only after its batch is committed, so every acknowledged id survives a crash of the node;
//! lines not yet answered when a node dies can be sent again (ids are new each time).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::api::{BulkCounts, BulkLine, BulkSummary};
use crate::IssueRequest;

/// Longest input line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Largest bulk request body, in bytes.
pub(crate) const MAX_BULK_BYTES: usize = 256 * 1024 * 1024;
/// Default longest wait for progress: a complete non-blank input line, or a batch answered.
pub const DEFAULT_PROGRESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Limits on one bulk input stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    /// Longest time without progress (a complete non-blank line received, or a batch answered) while waiting
    /// for input; then the input is cut: what was answered stays stored, and the summary says why. Without it a
    /// client sending a blank line now and then would hold its connection for ever.
    pub progress_timeout: std::time::Duration,
}

impl Default for BulkLimits {
    fn default() -> Self {
        BulkLimits { progress_timeout: DEFAULT_PROGRESS_TIMEOUT }
    }
}

/// The input format of a bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON issue request per line.
    Ndjson,
    /// `name,masked_id,colour,reason,valid_for_hours` per line (the first line may be that header, in any case);
    /// health statuses only; fields may not contain commas.
    Csv,
}

/// The CSV columns, in order: also the header line.
pub const CSV_COLUMNS: [&str; 5] = ["name", "masked_id", "colour", "reason", "valid_for_hours"];

/// Why a request's Content-Type is not read as bulk input (the service answers 415 with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaTypeError {
    /// The header's value is not ASCII.
    #[error("Content-Type is not ASCII")]
    NotAscii,
    /// Neither CSV nor NDJSON.
    #[error("Content-Type {0:?}: send text/csv or application/x-ndjson")]
    Unsupported(String),
    /// A `charset` other than UTF-8.
    #[error("charset {0:?}: bulk input is read as UTF-8 only")]
    Charset(String),
}

/// Why a line of the input stream could not be read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RawLineError {
    /// Longer than [`MAX_LINE_BYTES`] (the rest of it was skipped).
    #[error("line longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// Not UTF-8.
    #[error("line is not UTF-8")]
    NotUtf8,
}

/// Why an input line is not a request that can be issued (its answer line says this).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line could not be read as text.
    #[error(transparent)]
    Raw(#[from] RawLineError),
    /// An NDJSON line that is not an issue request.
    #[error("JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A CSV line without the five columns.
    #[error("expected 5 fields (name,masked_id,colour,reason,valid_for_hours), got {0}")]
    CsvFields(usize),
    /// A CSV line whose validity is not a number.
    #[error("valid_for_hours {0:?} is not a number")]
    CsvHours(String),
    /// A CSV line whose fields do not make a request (an unknown colour or reason, ...).
    #[error("CSV row: {0}")]
    CsvRow(#[source] serde_json::Error),
    /// A request refused before anything is spent on it ([`IssueRequest::check`]).
    #[error(transparent)]
    Refused(crate::Error),
}

impl Format {
    /// The format named by a request's Content-Type: `text/csv` is CSV; `application/x-ndjson`,
    /// `application/ndjson`, `application/jsonl` or no Content-Type at all is NDJSON. Media types are matched
    /// without regard to case and with their parameters (RFC 9110 §8.3.1); a `charset` must be UTF-8. Anything
    /// else is refused (the caller answers 415) rather than read as NDJSON by guess.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, MediaTypeError> {
        match headers.get(header::CONTENT_TYPE) {
            None => Ok(Format::Ndjson),
            Some(value) => Self::from_content_type(value.to_str().map_err(|_| MediaTypeError::NotAscii)?),
        }
    }

    /// The format named by a Content-Type value (see [`Format::from_headers`]).
    pub(crate) fn from_content_type(value: &str) -> Result<Self, MediaTypeError> {
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or_default().trim();
        let format = if essence.eq_ignore_ascii_case("text/csv") {
            Format::Csv
        } else if ["application/x-ndjson", "application/ndjson", "application/jsonl"]
            .iter()
            .any(|t| essence.eq_ignore_ascii_case(t))
        {
            Format::Ndjson
        } else {
            return Err(MediaTypeError::Unsupported(essence.to_string()));
        };
        for parameter in parts {
            let (name, text) = parameter.split_once('=').unwrap_or((parameter, ""));
            let text = text.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset") && !text.eq_ignore_ascii_case("utf-8") {
                return Err(MediaTypeError::Charset(text.to_string()));
            }
        }
        Ok(format)
    }
}

/// Whether `line` is the CSV header: the five column names of [`CSV_COLUMNS`], in order (any case, spaces around
/// them). Only the first line of an input may be the header; a `name` later on is somebody's name.
pub(crate) fn is_csv_header(line: &str) -> bool {
    let fields: Vec<&str> = line.trim_end_matches('\r').split(',').map(str::trim).collect();
    fields.len() == CSV_COLUMNS.len() && fields.iter().zip(CSV_COLUMNS).all(|(f, c)| f.eq_ignore_ascii_case(c))
}

/// Parse input line `number` (from 1): one UTF-8 byte order mark before the first line is dropped, and the first
/// line of CSV input is skipped when it is the header (`Ok(None)`, as blank lines); every other line is a
/// request ([`parse_line`]).
pub(crate) fn parse_input_line(format: Format, number: u64, line: &str) -> Result<Option<IssueRequest>, LineError> {
    let line = if number == 1 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
    if format == Format::Csv && number == 1 && is_csv_header(line) {
        return Ok(None);
    }
    parse_line(format, line)
}

/// Parse one input line into an issue request (`None` for a blank line). Every non-blank line is a request: a
/// header is recognised only where it can be: on the first line of an input.
pub fn parse_line(format: Format, line: &str) -> Result<Option<IssueRequest>, LineError> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() {
        return Ok(None);
    }
    let request: IssueRequest = match format {
        Format::Ndjson => serde_json::from_str(line).map_err(LineError::Json)?,
        Format::Csv => {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [name, masked_id, colour, reason, hours] = fields.as_slice() else {
                return Err(LineError::CsvFields(fields.len()));
            };
            let hours: u32 = hours.parse().map_err(|_| LineError::CsvHours(hours.to_string()))?;
            // Through the same deserialisation as NDJSON, so the two formats accept the same values.
            let value = serde_json::json!({
                "subject": { "name": name, "masked_id": masked_id },
                "body": { "type": "health-status", "colour": colour, "reason": reason },
                "valid_for_hours": hours,
            });
            serde_json::from_value(value).map_err(LineError::CsvRow)?
        }
    };
    // Refused here, with the line's own error, before the batch spends a status index on it.
    request.check().map_err(LineError::Refused)?;
    Ok(Some(request))
}

/// Splits a byte stream into lines of at most [`MAX_LINE_BYTES`], across chunk boundaries.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
    overlong: bool,
}

impl LineSplitter {
    /// Feed a chunk; returns the complete lines in it (an overlong line comes back as `Err`).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<String, RawLineError>> {
        let mut out = Vec::new();
        for &b in chunk {
            if b == b'\n' {
                out.push(self.take());
            } else if self.pending.len() < MAX_LINE_BYTES {
                self.pending.push(b);
            } else {
                self.overlong = true;
            }
        }
        out
    }

    /// The last line, if the input did not end with a newline.
    pub fn finish(&mut self) -> Option<Result<String, RawLineError>> {
        (!self.pending.is_empty() || self.overlong).then(|| self.take())
    }

    fn take(&mut self) -> Result<String, RawLineError> {
        let bytes = std::mem::take(&mut self.pending);
        if std::mem::take(&mut self.overlong) {
            return Err(RawLineError::TooLong);
        }
        String::from_utf8(bytes).map_err(|_| RawLineError::NotUtf8)
    }
}

/// Input lines grouped per signing batch: enough to amortise a transaction's commit, few enough that a client
/// sending slowly still gets its answers promptly (a batch never waits for input that has not arrived).
pub(crate) const BATCH_LINES: usize = 1024;

/// Answer for every line of a batch whose transaction failed: nothing of it was stored.
const RETRY: &str = "internal error; send this line again";

/// Answer for every line of a batch whose commit's outcome is unknown.
const UNKNOWN: &str = "internal error; this line may have been stored: sending it again may issue it twice";

/// Why the lines of a batch got no result of their own.
#[derive(Debug, thiserror::Error)]
pub enum BatchFailed {
    /// Nothing of the batch was stored: its lines may be sent again.
    #[error("{0}")]
    NotStored(#[source] crate::Error),
    /// The database may or may not have stored the whole batch (its commit's answer was lost).
    #[error("{0}")]
    Unknown(#[source] crate::Error),
}

impl From<crate::Error> for BatchFailed {
    fn from(e: crate::Error) -> Self {
        match e {
            e @ crate::Error::CommitUnknown(_) => BatchFailed::Unknown(e),
            other => BatchFailed::NotStored(other),
        }
    }
}

/// Batches issued at once: one is stored while the next is signed.
const IN_FLIGHT: usize = 2;

/// The outcome of one batch: one result per request (its credential id, or why it was refused), or an error
/// when nothing of it was stored.
pub type BatchResult = Result<Vec<Result<String, crate::Error>>, BatchFailed>;

/// A batch on its way: its input lines (with the error of those that did not parse) and its issuance.
struct Batch {
    lines: Vec<(u64, Option<LineError>)>,
    work: tokio::task::JoinHandle<BatchResult>,
}

/// Process a bulk input stream: parse lines, issue them in batches with `issue_batch` (which returns one result
/// per request, in order, or an error when nothing of the batch was stored), and send one NDJSON line per input
/// line, in input order, then a summary line, to `out`. Two batches are in flight at once (one signing while the
/// other commits); a batch starts as soon as a slot is free, with whatever input has arrived, so a slow client
/// is answered line by line and a fast one in full batches. Stops early, with everything answered so far stored,
/// when `out` closes. With the default [`BulkLimits`].
pub async fn process<S, E, F, Fut>(input: S, format: Format, issue_batch: F, out: tokio::sync::mpsc::Sender<Bytes>)
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
    F: Fn(Vec<IssueRequest>) -> Fut,
    Fut: std::future::Future<Output = BatchResult> + Send + 'static,
{
    process_with(input, format, BulkLimits::default(), issue_batch, out).await;
}

/// [`process`] within `limits`: when no progress is made for `limits.progress_timeout` while waiting for input
/// (blank lines and bytes that complete no line do not count), the input is cut; the lines already received are
/// still answered, and the summary's `aborted` says why.
pub(crate) async fn process_with<S, E, F, Fut>(
    input: S,
    format: Format,
    limits: BulkLimits,
    issue_batch: F,
    out: tokio::sync::mpsc::Sender<Bytes>,
) where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
    F: Fn(Vec<IssueRequest>) -> Fut,
    Fut: std::future::Future<Output = BatchResult> + Send + 'static,
{
    use futures_util::FutureExt;
    let mut input = input;
    let progress = || tokio::time::Instant::now() + limits.progress_timeout;
    let mut deadline = progress();
    let mut splitter = LineSplitter::default();
    let (mut line_no, mut issued, mut failed) = (0u64, 0u64, 0u64);
    let mut aborted: Option<String> = None;
    let mut pending: std::collections::VecDeque<(u64, Result<String, RawLineError>)> = Default::default();
    let mut in_flight: std::collections::VecDeque<Batch> = Default::default();
    let mut finished = false;
    loop {
        // Top up to a full batch from input that has already arrived, then start batches while there is room.
        while !finished && pending.len() < BATCH_LINES {
            match input.next().now_or_never() {
                Some(item) => {
                    if take_input(item, &mut splitter, &mut pending, &mut line_no, &mut aborted, &mut finished) > 0 {
                        deadline = progress();
                    }
                }
                None => break,
            }
        }
        while in_flight.len() < IN_FLIGHT && !pending.is_empty() {
            let take = pending.len().min(BATCH_LINES);
            let mut lines = Vec::with_capacity(take);
            let mut requests = Vec::with_capacity(take);
            for (n, line) in pending.drain(..take) {
                match line.map_err(LineError::from).and_then(|l| parse_input_line(format, n, &l)) {
                    Ok(None) => {}
                    Ok(Some(request)) => {
                        lines.push((n, None));
                        requests.push(request);
                    }
                    Err(e) => lines.push((n, Some(e))),
                }
            }
            // Blank lines (and a header) make no batch: nothing to answer, and no progress.
            if !lines.is_empty() {
                in_flight.push_back(Batch { lines, work: tokio::spawn(issue_batch(requests)) });
            }
        }
        if finished && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            // The oldest batch is done: answer its lines (answers stay in input order).
            done = oldest(&mut in_flight), if !in_flight.is_empty() => {
                let Some(batch) = in_flight.pop_front() else { continue };
                // One answer per request of the batch, in order: its id or its error.
                let results: Vec<Result<String, String>> = match done {
                    Ok(Ok(results)) => results.into_iter().map(|r| r.map_err(|e| e.to_string())).collect(),
                    failure => {
                        let (answer, e) = match failure {
                            Ok(Err(BatchFailed::Unknown(e))) => (UNKNOWN, e.to_string()),
                            Ok(Err(BatchFailed::NotStored(e))) => (RETRY, e.to_string()),
                            Ok(Ok(_)) => (RETRY, String::new()),
                            // The task panicked or was cancelled before its commit.
                            Err(e) => (RETRY, e.to_string()),
                        };
                        tracing::error!(error = %e, answer, "bulk batch not answered line by line");
                        let count = batch.lines.iter().filter(|(_, r)| r.is_none()).count();
                        vec![Err(answer.to_string()); count]
                    }
                };
                let mut results = results.into_iter();
                let mut text = String::new();
                for (line, parsed) in batch.lines {
                    let result = match parsed {
                        Some(e) => Err(e.to_string()),
                        None => results.next().unwrap_or_else(|| Err(RETRY.to_string())),
                    };
                    let answer = match result {
                        Ok(id) => {
                            issued += 1;
                            BulkLine::Issued { id, line }
                        }
                        Err(error) => {
                            failed += 1;
                            BulkLine::Failed { error, line }
                        }
                    };
                    push_json_line(&mut text, &answer);
                }
                if out.send(Bytes::from(text)).await.is_err() {
                    return; // the reader went away; what was answered is stored
                }
                deadline = progress();
            }
            // More input (the top of the loop takes whatever else has already arrived).
            item = input.next(), if !finished && pending.len() < BATCH_LINES => {
                if take_input(item, &mut splitter, &mut pending, &mut line_no, &mut aborted, &mut finished) > 0 {
                    deadline = progress();
                }
            }
            // Waiting for input that makes no progress (nothing, blank lines, a line that never ends): cut it.
            () = tokio::time::sleep_until(deadline), if !finished && pending.len() < BATCH_LINES => {
                aborted = Some(format!(
                    "no complete line received for {} s: the rest of the input was not read; send the lines after \
                     the last one answered again",
                    limits.progress_timeout.as_secs_f64()
                ));
                finished = true;
            }
        }
    }
    let mut summary = String::new();
    push_json_line(&mut summary, &BulkSummary { summary: BulkCounts { aborted, failed, issued } });
    let _ = out.send(Bytes::from(summary)).await;
}

/// Append `answer` to `text` as one line of JSON.
fn push_json_line(text: &mut String, answer: &impl serde::Serialize) {
    // Serialising these plain structs cannot fail (no maps with non-string keys, no failing Serialize impls).
    text.push_str(&serde_json::to_string(answer).unwrap_or_default());
    text.push('\n');
}

/// Take one item of the input stream: its complete lines join `pending`, numbered; the end or an error of the
/// stream sets `finished` (an error is kept as the reason the input was cut short). Returns how many of the new
/// lines are not blank (progress; an overlong or non-UTF-8 line counts: it is answered with its error).
fn take_input<E: std::fmt::Display>(
    item: Option<Result<Bytes, E>>,
    splitter: &mut LineSplitter,
    pending: &mut std::collections::VecDeque<(u64, Result<String, RawLineError>)>,
    line_no: &mut u64,
    aborted: &mut Option<String>,
    finished: &mut bool,
) -> usize {
    let before = pending.len();
    let mut number = |line| {
        *line_no += 1;
        (*line_no, line)
    };
    match item {
        Some(Ok(chunk)) => pending.extend(splitter.push(&chunk).into_iter().map(&mut number)),
        Some(Err(e)) => {
            // Too large, or the client broke off: what was answered is stored; the rest was not read.
            *aborted = Some(e.to_string());
            *finished = true;
        }
        None => {
            pending.extend(splitter.finish().map(&mut number));
            *finished = true;
        }
    }
    pending.iter().skip(before).filter(|(_, line)| line.as_ref().map_or(true, |l| !l.trim().is_empty())).count()
}

/// The oldest batch's outcome (pending forever when there is none; the caller guards on that).
async fn oldest(in_flight: &mut std::collections::VecDeque<Batch>) -> Result<BatchResult, tokio::task::JoinError> {
    match in_flight.front_mut() {
        Some(batch) => (&mut batch.work).await,
        None => std::future::pending().await,
    }
}

/// Run a bulk issuance over HTTP: `issue_batch` as in [`process`], within `limits`; the response streams the
/// result lines.
pub(crate) fn stream_response<F, Fut>(body: Body, format: Format, limits: BulkLimits, issue_batch: F) -> Response
where
    F: Fn(Vec<IssueRequest>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = BatchResult> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(process_with(body.into_data_stream(), format, limits, issue_batch, sender));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|bytes| (Ok::<_, Infallible>(bytes), receiver))
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_and_overlong_lines_are_errors() {
        let mut s = LineSplitter::default();
        assert!(s.push(b"ab").is_empty());
        assert_eq!(s.push(b"c\nde\n"), vec![Ok("abc".to_string()), Ok("de".to_string())]);
        assert_eq!(s.push(b"\xff\n"), vec![Err(RawLineError::NotUtf8)]);
        assert_eq!(s.push(b"tail"), vec![]);
        assert_eq!(s.finish(), Some(Ok("tail".to_string())));
        assert_eq!(s.finish(), None);
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut s = LineSplitter::default();
        s.push(&long);
        assert_eq!(s.push(b"\nok\n"), vec![Err(RawLineError::TooLong), Ok("ok".to_string())]);
    }

    #[test]
    fn csv_rows_and_headers() {
        let header = "name,masked_id,colour,reason,valid_for_hours";
        for first in [
            header,
            "\u{feff}name,masked_id,colour,reason,valid_for_hours\r",
            " NAME , Masked_ID,colour,reason,valid_for_hours",
        ] {
            assert!(matches!(parse_input_line(Format::Csv, 1, first), Ok(None)), "{first:?}");
        }
        // Only the first line may be the header; a header-like line later is a row, with its own error.
        assert!(parse_input_line(Format::Csv, 2, header).is_err());
        assert!(parse_line(Format::Csv, header).is_err());
        assert!(parse_input_line(Format::Csv, 1, "name,masked_id").is_err(), "half a header is no header");
        let named = parse_input_line(Format::Csv, 3, "name,4403**1234,green,no-risk,24").unwrap().unwrap();
        assert_eq!(named.subject.name, "name", "a person called name is a person");
        assert!(
            parse_input_line(Format::Csv, 2, "\u{feff}张三,4403**1234,green,no-risk,24").is_err(),
            "BOM only first"
        );
        let r = parse_line(Format::Csv, "张三,4403**********1234,green,no-risk,24").unwrap().unwrap();
        assert_eq!(r.subject.name, "张三");
        assert!(parse_line(Format::Csv, "张三,4403**1234,blue,no-risk,24").is_err());
        assert!(parse_line(Format::Csv, "a,b").is_err());
        assert!(parse_line(Format::Ndjson, "{").is_err());
        assert!(parse_line(Format::Ndjson, "  ").unwrap().is_none());
    }

    /// Input that makes no progress is cut after the timeout, whatever keeps it alive: blank lines, or a line
    /// that never ends; what came before is answered.
    #[tokio::test]
    async fn input_without_progress_is_cut() {
        let request = r#"{"subject": {"name": "张三", "masked_id": "4403**1234"}, "body": {"type": "health-status",
            "colour": "green", "reason": "no-risk"}, "valid_for_hours": 24}"#
            .replace('\n', " ");
        let issue = |requests: Vec<IssueRequest>| async move {
            Ok((0..requests.len()).map(|i| Ok(format!("id-{i}"))).collect())
        };
        let limits = BulkLimits { progress_timeout: std::time::Duration::from_millis(300) };
        for stall in ["\n\n\n", "{\"subject\": {\"name\": \"never ends"] {
            let first = Bytes::from(format!("{request}\n{stall}"));
            // One line, then the stall, then a trickle of blank lines that never completes anything.
            let blanks = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b"\n")), ()))
            });
            let blanks: std::pin::Pin<Box<dyn futures_util::Stream<Item = _> + Send>> =
                if stall.ends_with('\n') { Box::pin(blanks) } else { Box::pin(futures_util::stream::pending()) };
            let input = futures_util::stream::iter([Ok(first)]).chain(blanks);
            let (out, mut answers) = tokio::sync::mpsc::channel(16);
            let started = std::time::Instant::now();
            let run = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                process_with(input, Format::Ndjson, limits, issue, out),
            );
            run.await.unwrap_or_else(|_| panic!("{stall:?}: never cut"));
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "{stall:?}");
            let mut text = String::new();
            while let Some(chunk) = answers.recv().await {
                text.push_str(std::str::from_utf8(&chunk).unwrap());
            }
            let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(lines[0]["id"], "id-0", "{text}");
            let summary = &lines.last().unwrap()["summary"];
            assert!(summary["aborted"].as_str().unwrap().contains("no complete line"), "{text}");
            assert_eq!(lines.len(), 2, "blank lines are not answered: {text}");
        }
    }

    #[test]
    fn media_types_are_read_without_regard_to_case_and_with_parameters() {
        for ct in ["text/csv", "TEXT/CSV", " text/csv ; charset=UTF-8", "text/csv;charset=\"utf-8\";header=present"] {
            assert_eq!(Format::from_content_type(ct), Ok(Format::Csv), "{ct}");
        }
        for ct in ["application/x-ndjson", "Application/NDJSON", "application/jsonl; charset=utf-8"] {
            assert_eq!(Format::from_content_type(ct), Ok(Format::Ndjson), "{ct}");
        }
        for ct in ["", "text/plain", "text/csvx", "text/csv; charset=gbk", "application/json", "multipart/form-data"] {
            assert!(Format::from_content_type(ct).is_err(), "{ct}");
        }
        assert_eq!(Format::from_headers(&HeaderMap::new()), Ok(Format::Ndjson), "no Content-Type: NDJSON");
    }
}
