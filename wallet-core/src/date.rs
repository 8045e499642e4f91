//! Calendar dates (no time of day), carried as days since 1970-01-01 on the wire and as `YYYY-MM-DD` for people.

use std::fmt;
use std::str::FromStr;

/// A proleptic Gregorian date, stored as days since 1970-01-01 (negative before).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

/// Earliest accepted date (0001-01-01) in days since the epoch.
const MIN_DAYS: i32 = -719_162;
/// Latest accepted date (9999-12-31) in days since the epoch.
const MAX_DAYS: i32 = 2_932_896;

impl Date {
    /// The date for a year, month and day, if it exists and lies in years 1..=9999.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i32::try_from(month).ok()?;
        let d = i32::try_from(day).ok()?;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date(era * 146_097 + doe - 719_468))
    }

    /// The date from days since the epoch, if it lies in years 1..=9999.
    pub fn from_days(days: i64) -> Option<Self> {
        let d = i32::try_from(days).ok()?;
        (MIN_DAYS..=MAX_DAYS).contains(&d).then_some(Date(d))
    }

    /// The date containing a Unix time (UTC).
    pub fn from_unix(seconds: i64) -> Option<Self> {
        Self::from_days(seconds.div_euclid(86_400))
    }

    /// The first second of the day (00:00:00 UTC), in Unix seconds.
    pub fn start_unix(self) -> i64 {
        i64::from(self.0) * 86_400
    }

    /// The first second after the day (the next day's 00:00:00 UTC), in Unix seconds.
    pub fn end_unix(self) -> i64 {
        (i64::from(self.0) + 1) * 86_400
    }

    /// Year, month, day.
    pub fn ymd(self) -> (i32, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i32::from(m <= 2);
        (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl FromStr for Date {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::Error::Invalid(format!("{s:?} is not a date of the form YYYY-MM-DD"));
        let b = s.as_bytes();
        if !s.is_ascii() || b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let y = s[0..4].parse().map_err(|_| bad())?;
        let m = s[5..7].parse().map_err(|_| bad())?;
        let d = s[8..10].parse().map_err(|_| bad())?;
        Date::from_ymd(y, m, d).ok_or_else(bad)
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date(0)));
        assert_eq!(Date::from_ymd(2000, 3, 1), Some(Date(11_017)));
        assert_eq!("1969-12-31".parse::<Date>().unwrap(), Date(-1));
        assert_eq!(Date(20_000).to_string(), "2024-10-04");
        assert_eq!(Date::from_ymd(1, 1, 1), Some(Date(MIN_DAYS)));
        assert_eq!(Date::from_ymd(9999, 12, 31), Some(Date(MAX_DAYS)));
    }

    #[test]
    fn round_trip_over_centuries() {
        for days in (MIN_DAYS..=MAX_DAYS).step_by(997) {
            let date = Date(days);
            assert_eq!(date.to_string().parse::<Date>().unwrap(), date);
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        for s in ["2023-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "24-04-01", "2024/04/01", "０２４-01-01"] {
            assert!(s.parse::<Date>().is_err(), "{s}");
        }
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert_eq!(Date::from_days(i64::from(MAX_DAYS) + 1), None);
    }
}
