//! Times as the CLIs take and show them: RFC 3339 text in, Unix seconds inside.

/// A time that is not RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 time such as 2026-11-27T08:00:00Z")]
pub struct BadTime {
    /// The text given.
    pub text: String,
    /// What the parser said.
    #[source]
    pub source: time::error::Parse,
}

/// The system clock is before 1970 or past what Unix seconds hold.
#[derive(Debug, thiserror::Error)]
#[error("the system clock is not usable (before 1970?)")]
pub struct BadClock;

/// Why [`at_or_now`] has no time.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// `--at` is not RFC 3339.
    #[error("--at {0}")]
    BadAt(BadTime),
    /// The system clock is unusable.
    #[error(transparent)]
    BadClock(#[from] BadClock),
}

/// Parse an RFC 3339 time (`2026-11-27T08:00:00Z`, `2026-11-27T16:00:00+08:00`) to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Result<i64, BadTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|source| BadTime { text: text.to_string(), source })
}

/// Unix seconds now, from the system clock.
pub fn unix_now() -> Result<i64, BadClock> {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|_| BadClock)?;
    i64::try_from(since.as_secs()).map_err(|_| BadClock)
}

/// `--at` when given, else now: the one way every CLI reads its clock.
pub fn at_or_now(at: Option<&str>) -> Result<i64, ClockError> {
    match at {
        Some(text) => parse_rfc3339(text).map_err(ClockError::BadAt),
        None => Ok(unix_now()?),
    }
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-27T08:00:00Z`); the number itself when out of range.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_honoured_and_round_trip() {
        assert_eq!(parse_rfc3339("2026-11-27T16:00:00+08:00").unwrap(), parse_rfc3339("2026-11-27T08:00:00Z").unwrap());
        assert_eq!(rfc3339(parse_rfc3339("2026-11-27T08:00:00Z").unwrap()), "2026-11-27T08:00:00Z");
    }

    #[test]
    fn bad_times_are_refused_with_the_text_and_an_example() {
        let e = parse_rfc3339("yesterday").unwrap_err();
        assert_eq!(e.to_string(), "\"yesterday\" is not an RFC 3339 time such as 2026-11-27T08:00:00Z");
        let e = at_or_now(Some("2026-13-01T00:00:00Z")).unwrap_err();
        assert!(e.to_string().starts_with("--at \"2026-13-01T00:00:00Z\" is not an RFC 3339 time"), "{e}");
        assert!(at_or_now(None).unwrap() > 1_790_000_000);
    }

    #[test]
    fn out_of_range_seconds_show_as_numbers() {
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
