//! Dates: users type ISO `YYYY-MM-DD`; each endpoint and API version wants its own spelling;
//! servers answer in several (read loosely here); day arithmetic for look-back margins.

use std::fmt;

/// The wire formats NBIA endpoints parse.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DateFmt {
    /// `yyyy/MM/dd` (v1/v2 NewPatientsInCollection, NewStudiesInPatientCollection).
    SlashYmd,
    /// `dd/MM/yyyy` (v1/v2 getUpdatedSeries).
    SlashDmy,
    /// `MM-dd-yyyy` (v4 fromDate).
    DashMdy,
    /// `MM/dd/yyyy` (getSimpleSearch DateRangeCriteria).
    SlashMdy,
}

/// A calendar date checked for validity.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parse ISO `YYYY-MM-DD` strictly (four-digit year, two-digit month and day, a real day).
    pub fn parse_iso(s: &str) -> Result<Date, String> {
        let bad = || format!("invalid date '{s}': expected YYYY-MM-DD, e.g. 2024-01-31");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
            let part = &s[r];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) || year == 0 {
            return Err(bad());
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(format!(
                "invalid date '{s}': day {day} does not exist in {year}-{month:02}"
            ));
        }
        Ok(Date {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }

    /// The date spelled as an endpoint expects it.
    pub fn format(self, fmt: DateFmt) -> String {
        let Date {
            year: y,
            month: m,
            day: d,
        } = self;
        match fmt {
            DateFmt::SlashYmd => format!("{y:04}/{m:02}/{d:02}"),
            DateFmt::SlashDmy => format!("{d:02}/{m:02}/{y:04}"),
            DateFmt::DashMdy => format!("{m:02}-{d:02}-{y:04}"),
            DateFmt::SlashMdy => format!("{m:02}/{d:02}/{y:04}"),
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// clap value parser for `--since`, `--from`, `--to`.
pub fn parse_date_arg(s: &str) -> Result<Date, String> {
    Date::parse_iso(s)
}

/// The year, month and day of a date as servers send it: `2015-05-27 17:12:21.0`,
/// `2015-05-27`, `05-27-2015` or `05/27/2015` (the parts as written, not checked).
pub fn loose_parts(s: &str) -> Option<(&str, &str, &str)> {
    let d = s.split_whitespace().next()?;
    let p: Vec<&str> = d.split(['-', '/']).collect();
    match p.as_slice() {
        [y, m, dd] if y.len() == 4 => Some((y, m, dd)),
        [m, dd, y] if y.len() == 4 => Some((y, m, dd)),
        _ => None,
    }
}

/// A server's date as ISO `YYYY-MM-DD` (see [`loose_parts`]).
pub fn iso_date(s: &str) -> Option<String> {
    let (y, m, dd) = loose_parts(s)?;
    Some(format!("{y}-{m:0>2}-{dd:0>2}"))
}

/// The day `days` before an ISO date.
pub fn days_before(iso: &str, days: i64) -> Option<Date> {
    let d = Date::parse_iso(iso).ok()?;
    let z = days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day)) - days;
    let (y, m, dd) = civil_from_days(z);
    Some(Date {
        year: u16::try_from(y).ok()?,
        month: m as u8,
        day: dd as u8,
    })
}

/// Now, as RFC 3339 in UTC to the second (`2026-12-01T08:33:28Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Seconds since 1970 of an RFC 3339 UTC time.
pub fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

/// Seconds since 1970, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn release_dates_to_iso() {
        use super::iso_date;
        assert_eq!(
            iso_date("2015-05-27 17:12:21.0").as_deref(),
            Some("2015-05-27")
        );
        assert_eq!(iso_date("05-27-2015").as_deref(), Some("2015-05-27"));
        assert_eq!(iso_date("2015-05-27").as_deref(), Some("2015-05-27"));
        assert_eq!(iso_date("Mon Nov 04 11:45:52 UTC 2013"), None);
    }

    #[test]
    fn margins_cross_months_and_years() {
        use super::days_before;
        assert_eq!(
            days_before("2026-03-01", 2).unwrap().to_string(),
            "2026-02-27"
        );
        assert_eq!(
            days_before("2024-03-01", 2).unwrap().to_string(),
            "2024-02-28"
        );
        assert_eq!(
            days_before("2026-01-01", 2).unwrap().to_string(),
            "2025-12-30"
        );
        assert_eq!(
            days_before("2026-11-22", 0).unwrap().to_string(),
            "2026-11-22"
        );
    }

    use super::*;

    #[test]
    fn formats_per_endpoint() {
        let d = Date::parse_iso("2024-03-07").unwrap();
        assert_eq!(d.format(DateFmt::SlashYmd), "2024/03/07");
        assert_eq!(d.format(DateFmt::SlashDmy), "07/03/2024");
        assert_eq!(d.format(DateFmt::DashMdy), "03-07-2024");
        assert_eq!(d.format(DateFmt::SlashMdy), "03/07/2024");
    }

    #[test]
    fn rejects_bad_dates() {
        for s in [
            "2024/03/07",
            "07-03-2024",
            "2024-13-01",
            "2023-02-29",
            "2024-1-1",
            "20240101",
            "2024-02-3x",
        ] {
            assert!(Date::parse_iso(s).is_err(), "{s}");
        }
        assert!(Date::parse_iso("2024-02-29").is_ok());
    }
}
