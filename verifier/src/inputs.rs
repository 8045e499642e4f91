//! What the CLI's inputs hold (feature `files`): QR text given inline, text or image files, standard input,
//! directories of images and NDJSON files of QR texts, each item labelled so that its answer names it. Reading is
//! bounded: every file and stream is read with the image limit's cap.

use std::path::{Path, PathBuf};

use huren_plumbing::files::read_capped;

use crate::scan::{self, ImageLimits};
use crate::Rejection;

/// An input that cannot be read, or holds nothing to verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A file, directory or stream could not be read.
    #[error("{what}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// It looks like a file name, and there is no such file.
    #[error("{0}: no such file")]
    NoSuchFile(String),
    /// It holds no QR text and no image.
    #[error("{0}: nothing to verify (no QR text or image)")]
    Nothing(String),
}

/// Whether an input is read in batch mode (a progress bar, then a summary): a directory or an NDJSON file.
pub fn is_batch(input: &str) -> bool {
    Path::new(input).is_dir() || is_ndjson(input)
}

/// Whether an input names an NDJSON file of QR texts (`.ndjson` or `.jsonl`).
pub fn is_ndjson(input: &str) -> bool {
    let lower = input.to_ascii_lowercase();
    (lower.ends_with(".ndjson") || lower.ends_with(".jsonl")) && Path::new(input).is_file()
}

/// One line of an NDJSON input: a JSON string, or an object with `text` (or `qr`); anything else is kept as is
/// (and then refused as not a code).
fn ndjson_text(line: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v.get("text").or_else(|| v.get("qr")).and_then(|t| t.as_str()).unwrap_or(line).to_string(),
        Err(_) => line.to_string(),
    }
}

/// The image files under a directory, in name order, at any depth (symbolic links are not followed).
fn images_in(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let reading = |source| InputError::Io { what: format!("reading {}", dir.display()), source };
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(reading)?.collect::<Result<_, _>>().map_err(reading)?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let kind = entry.file_type().map_err(reading)?;
        let path = entry.path();
        if kind.is_dir() {
            images_in(&path, out)?;
        } else if kind.is_file() {
            let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            if ["png", "jpg", "jpeg"].contains(&ext.as_str()) {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// How many inputs are verified together (their signatures in one batch).
pub const BATCH_SIZE: usize = 256;

/// The codes an input holds: its text, or what its image scans to.
pub fn codes_in(content: Content, limits: &ImageLimits) -> Result<Vec<String>, Rejection> {
    match content {
        Content::Text(text) => Ok(vec![text]),
        Content::Scanned(scanned) => scanned,
        Content::Image(path) => match std::fs::File::open(&path).and_then(|f| read_capped(f, limits.max_file_bytes)) {
            Ok(bytes) => scan::scan_image_bytes(&bytes, limits),
            Err(e) => Err(Rejection::QrUnreadable { reason: format!("cannot read the file: {e}") }),
        },
    }
}

/// One item of an input, read as far as needed to answer it.
pub enum Content {
    /// QR text.
    Text(String),
    /// What an image given as input scanned to.
    Scanned(Result<Vec<String>, Rejection>),
    /// An image in a directory given as input: read and scanned when its turn comes (batch mode).
    Image(PathBuf),
}

/// The items of one input; an input that holds nothing to verify is a usage error.
pub fn read_input(input: &str, limits: &ImageLimits) -> Result<Vec<(String, Content)>, InputError> {
    let io = |what: String| move |source| InputError::Io { what, source };
    let items = if input == "-" {
        let bytes =
            read_capped(std::io::stdin(), limits.max_file_bytes).map_err(io("reading standard input".into()))?;
        contents_of("-", &bytes, limits)
    } else if Path::new(input).is_dir() {
        let mut images = Vec::new();
        images_in(Path::new(input), &mut images)?;
        images.into_iter().map(|p| (p.display().to_string(), Content::Image(p))).collect()
    } else if is_ndjson(input) {
        let text = std::fs::read_to_string(input).map_err(io(format!("reading {input}")))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (format!("{input}:{}", i + 1), Content::Text(ndjson_text(l.trim()))))
            .collect()
    } else if Path::new(input).is_file() {
        let file = std::fs::File::open(input).map_err(io(format!("opening {input}")))?;
        let bytes = read_capped(file, limits.max_file_bytes).map_err(io(format!("reading {input}")))?;
        contents_of(input, &bytes, limits)
    } else {
        let lower = input.to_ascii_lowercase();
        let looks_like_path =
            [".png", ".jpg", ".jpeg", ".txt"].iter().any(|ext| lower.ends_with(ext)) || input.contains('/');
        if looks_like_path && !has_qr_prefix(input) {
            return Err(InputError::NoSuchFile(input.to_string()));
        }
        vec![(input.to_string(), Content::Text(input.to_string()))]
    };
    if items.is_empty() {
        return Err(InputError::Nothing(input.to_string()));
    }
    Ok(items)
}

/// Whether text starts like a QR payload: 2 to 4 capitals or digits, then `:` (`HR1:`, `HC1:`).
fn has_qr_prefix(text: &str) -> bool {
    let head: Vec<u8> = text.bytes().take(5).collect();
    let colon = head.iter().position(|b| *b == b':');
    colon.is_some_and(|i| i >= 2 && head[..i].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

/// An image gives one item; text gives one item per non-empty line (labelled `label:N` when there are several);
/// an oversized input one refusal.
fn contents_of(label: &str, bytes: &[u8], limits: &ImageLimits) -> Vec<(String, Content)> {
    if scan::looks_like_image(bytes) || bytes.len() > limits.max_file_bytes {
        return vec![(label.to_string(), Content::Scanned(scan::scan_image_bytes(bytes, limits)))];
    }
    let lines: Vec<(usize, String)> = String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect();
    // Several codes in one file or stream: each answer names its own line, so no answer can pass for another's.
    let several = lines.len() > 1;
    lines
        .into_iter()
        .map(|(n, text)| (if several { format!("{label}:{n}") } else { label.to_string() }, Content::Text(text)))
        .collect()
}
