//! Parsing of the HTTP `Retry-After` header (RFC 9110 §10.2.3) into a wait from now.
//! Hand-written HTTP-date parsing (IMF-fixdate, RFC 850, asctime) keeps dependencies out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest wait [`parse_retry_after`] returns; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// Parse an HTTP Retry-After value: delta-seconds, or an HTTP-date (RFC 9110 §10.2.3).
///
/// Dates are taken relative to [`SystemTime::now`]; a date in the past gives a zero wait.
/// All three HTTP-date forms are accepted (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`,
/// RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, asctime `Sun Nov  6 08:49:37 1994`), with month
/// and day names in any case. The result is capped at [`MAX_RETRY_AFTER`]; `None` if the
/// value is neither form.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    parse_retry_after_at(v, SystemTime::now())
}

fn parse_retry_after_at(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: an overflowing delta-seconds is still "very long".
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let at = parse_http_date(v, now)?;
    // A date before the epoch is simply in the past.
    let at = Duration::from_secs(u64::try_from(at).unwrap_or(0));
    Some(at.saturating_sub(now).min(MAX_RETRY_AFTER))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Seconds since the Unix epoch of an HTTP-date (may be negative for dates before 1970).
fn parse_http_date(v: &str, now: Duration) -> Option<i64> {
    let tokens: Vec<&str> = v.split_ascii_whitespace().collect();
    match tokens.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [day, dd, mon, yyyy, time, "GMT"] => {
            one_of(day.strip_suffix(',')?, &DAYS)?;
            timestamp(year4(yyyy)?, month(mon)?, day2(dd)?, time)
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [day, date, time, "GMT"] => {
            one_of(day.strip_suffix(',')?, &LONG_DAYS)?;
            let mut parts = date.split('-');
            let (dd, mon, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || yy.len() != 2 {
                return None;
            }
            let year = two_digit_year(digits(yy)?, now);
            timestamp(year, month(mon)?, day2(dd)?, time)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [day, mon, d, time, yyyy] => {
            one_of(day, &DAYS)?;
            if d.is_empty() || d.len() > 2 {
                return None;
            }
            timestamp(year4(yyyy)?, month(mon)?, digits(d)?, time)
        }
        _ => None,
    }
}

fn one_of(s: &str, names: &[&str]) -> Option<usize> {
    names.iter().position(|n| n.eq_ignore_ascii_case(s))
}

fn month(s: &str) -> Option<u32> {
    one_of(s, &MONTHS).and_then(|i| u32::try_from(i + 1).ok())
}

/// A non-empty run of ASCII digits (at most 9, so it fits).
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn day2(s: &str) -> Option<u32> {
    if s.len() != 2 {
        return None;
    }
    digits(s)
}

fn year4(s: &str) -> Option<i64> {
    if s.len() != 4 {
        return None;
    }
    digits(s).map(i64::from)
}

/// RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
fn two_digit_year(yy: u32, now: Duration) -> i64 {
    let days = i64::try_from(now.as_secs() / 86_400).unwrap_or(i64::MAX / 2);
    let current = civil_from_days(days);
    let mut year = current - current.rem_euclid(100) + i64::from(yy);
    if year > current + 50 {
        year -= 100;
    }
    year
}

fn timestamp(year: i64, month: u32, day: u32, time: &str) -> Option<i64> {
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut hms = time.split(':');
    let (h, m, s) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, m, s) = (digits(h)?, digits(m)?, digits(s)?);
    // 60 allows a leap second.
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(h * 3600 + m * 60 + s))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a day count since 1970-01-01 (inverse of [`days_from_civil`], year only).
fn civil_from_days(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let year = yoe + era * 400;
    if mp >= 10 {
        year + 1
    } else {
        year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z, the RFC's example instant.
    const EXAMPLE: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn parse(v: &str, now: u64) -> Option<Duration> {
        parse_retry_after_at(v, at(now))
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse("120", 0), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 ", 0), Some(Duration::ZERO));
        assert_eq!(parse("3600", 0), Some(MAX_RETRY_AFTER));
        assert_eq!(parse("86400", 0), Some(MAX_RETRY_AFTER));
        assert_eq!(parse("99999999999999999999999", 0), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("5"), Some(Duration::from_secs(5)));
    }

    #[test]
    fn garbage_is_none() {
        for v in [
            "",
            " ",
            "-5",
            "1.5",
            "+3",
            "soon",
            "0x10",
            "12 s",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 1995 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 106 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(parse(v, EXAMPLE), None, "{v:?}");
        }
    }

    #[test]
    fn imf_fixdate() {
        let v = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse(v, EXAMPLE - 90), Some(Duration::from_secs(90)));
        assert_eq!(parse(v, EXAMPLE), Some(Duration::ZERO));
        assert_eq!(parse(v, EXAMPLE + 1000), Some(Duration::ZERO));
        assert_eq!(parse(v, EXAMPLE - 100_000), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse("sun, 06 NOV 1994 08:49:37 GMT", EXAMPLE - 1),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn sub_second_now_is_handled() {
        let now = at(EXAMPLE - 10) + Duration::from_millis(250);
        assert_eq!(
            parse_retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_millis(9_750))
        );
    }

    #[test]
    fn rfc850_and_asctime() {
        assert_eq!(
            parse("Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE - 7),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse("Sun Nov  6 08:49:37 1994", EXAMPLE - 7),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse("Sun Nov 06 08:49:37 1994", EXAMPLE - 7),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn two_digit_years_pick_the_right_century() {
        let now_2025 = Duration::from_secs(1_750_000_000);
        assert_eq!(two_digit_year(25, now_2025), 2025);
        assert_eq!(two_digit_year(75, now_2025), 2075);
        assert_eq!(two_digit_year(76, now_2025), 1976);
        assert_eq!(two_digit_year(94, now_2025), 1994);
    }

    #[test]
    fn calendar_math() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in [
            -1_000_000, -1, 0, 59, 10_956, 11_016, 11_017, 20_000, 1_000_000,
        ] {
            let year = civil_from_days(days);
            assert!(days_from_civil(year, 1, 1) <= days, "{days}");
            assert!(days_from_civil(year + 1, 1, 1) > days, "{days}");
        }
        assert_eq!(
            timestamp(1994, 11, 6, "08:49:37"),
            Some(i64::try_from(EXAMPLE).unwrap())
        );
        assert_eq!(timestamp(2024, 2, 29, "00:00:00"), Some(1_709_164_800));
        assert_eq!(timestamp(2023, 2, 29, "00:00:00"), None);
        assert_eq!(timestamp(1900, 2, 29, "00:00:00"), None);
        assert_eq!(
            timestamp(2000, 2, 29, "00:00:00").map(|t| t > 0),
            Some(true)
        );
    }

    #[test]
    fn dates_before_the_epoch_are_past() {
        assert_eq!(
            parse("Fri, 01 Jan 1960 00:00:00 GMT", EXAMPLE),
            Some(Duration::ZERO)
        );
    }
}
