//! Bulk issuance: a request body of NDJSON (one issue request per line) or CSV, read as a stream, and a response
//! streamed back with one line per input line — its credential id, or its error — then a summary line.
//!
//! A result line is sent only after that credential is stored and audited, so every acknowledged id survives a
//! crash of the node; lines not yet answered when a node dies can be sent again (ids are new each time).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;

use crate::IssueRequest;

/// Longest input line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Largest bulk request body, in bytes.
pub const MAX_BULK_BYTES: usize = 256 * 1024 * 1024;

/// The input format of a bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON issue request per line.
    Ndjson,
    /// `name,masked_id,colour,reason,valid_for_hours` per line (an optional header line starting with `name`);
    /// health statuses only; fields may not contain commas.
    Csv,
}

impl Format {
    /// The format named by a Content-Type header (`text/csv` or NDJSON by default).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if ct.starts_with("text/csv") {
            Format::Csv
        } else {
            Format::Ndjson
        }
    }
}

/// Parse one input line into an issue request (`None` for a CSV header or a blank line).
pub fn parse_line(format: Format, line: &str) -> Result<Option<IssueRequest>, String> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() {
        return Ok(None);
    }
    match format {
        Format::Ndjson => serde_json::from_str(line).map(Some).map_err(|e| format!("JSON: {e}")),
        Format::Csv => {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.first() == Some(&"name") {
                return Ok(None);
            }
            let [name, masked_id, colour, reason, hours] = fields.as_slice() else {
                return Err(format!(
                    "expected 5 fields (name,masked_id,colour,reason,valid_for_hours), got {}",
                    fields.len()
                ));
            };
            let hours: u32 = hours.parse().map_err(|_| format!("valid_for_hours {hours:?} is not a number"))?;
            let value = json!({
                "subject": { "name": name, "masked_id": masked_id },
                "body": { "type": "health-status", "colour": colour, "reason": reason },
                "valid_for_hours": hours,
            });
            serde_json::from_value(value).map(Some).map_err(|e| format!("CSV row: {e}"))
        }
    }
}

/// Splits a byte stream into lines of at most [`MAX_LINE_BYTES`], across chunk boundaries.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
    overlong: bool,
}

impl LineSplitter {
    /// Feed a chunk; returns the complete lines in it (an overlong line comes back as `Err`).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<String, String>> {
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
    pub fn finish(&mut self) -> Option<Result<String, String>> {
        (!self.pending.is_empty() || self.overlong).then(|| self.take())
    }

    fn take(&mut self) -> Result<String, String> {
        let bytes = std::mem::take(&mut self.pending);
        if std::mem::take(&mut self.overlong) {
            return Err(format!("line longer than {MAX_LINE_BYTES} bytes"));
        }
        String::from_utf8(bytes).map_err(|_| "line is not UTF-8".to_string())
    }
}

/// Run a bulk issuance: `issue_one` stores and audits one request and returns its id.
pub fn stream_response<F, Fut>(body: Body, format: Format, issue_one: F) -> Response
where
    F: Fn(IssueRequest) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<String, String>> + Send,
{
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut input = body.into_data_stream();
        let mut splitter = LineSplitter::default();
        let (mut line_no, mut issued, mut failed) = (0u64, 0u64, 0u64);
        let mut aborted = None;
        loop {
            let (lines, finished) = match input.next().await {
                Some(Ok(chunk)) => (splitter.push(&chunk), false),
                Some(Err(e)) => {
                    // Too large, or the client broke off: what was answered is stored; the rest was not read.
                    aborted = Some(e.to_string());
                    (Vec::new(), true)
                }
                None => (splitter.finish().into_iter().collect(), true),
            };
            for line in lines {
                line_no += 1;
                let result = match line.and_then(|l| parse_line(format, &l)) {
                    Ok(None) => continue,
                    Ok(Some(request)) => issue_one(request).await,
                    Err(e) => Err(e),
                };
                let out = match result {
                    Ok(id) => {
                        issued += 1;
                        json!({ "line": line_no, "id": id })
                    }
                    Err(error) => {
                        failed += 1;
                        json!({ "line": line_no, "error": error })
                    }
                };
                if sender.send(Bytes::from(format!("{out}\n"))).await.is_err() {
                    return; // the client went away; what was acknowledged is stored
                }
            }
            if finished {
                break;
            }
        }
        let summary = json!({ "summary": { "issued": issued, "failed": failed, "aborted": aborted } });
        let _ = sender.send(Bytes::from(format!("{summary}\n"))).await;
    });
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
        assert_eq!(s.push(b"tail"), vec![]);
        assert_eq!(s.finish(), Some(Ok("tail".to_string())));
        assert_eq!(s.finish(), None);
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut s = LineSplitter::default();
        s.push(&long);
        assert!(s.push(b"\nok\n")[0].is_err());
    }

    #[test]
    fn csv_rows_and_headers() {
        assert!(parse_line(Format::Csv, "name,masked_id,colour,reason,valid_for_hours").unwrap().is_none());
        let r = parse_line(Format::Csv, "张三,4403**********1234,green,no-risk,24").unwrap().unwrap();
        assert_eq!(r.subject.name, "张三");
        assert!(parse_line(Format::Csv, "张三,4403**1234,blue,no-risk,24").is_err());
        assert!(parse_line(Format::Csv, "a,b").is_err());
        assert!(parse_line(Format::Ndjson, "{").is_err());
        assert!(parse_line(Format::Ndjson, "  ").unwrap().is_none());
    }
}
