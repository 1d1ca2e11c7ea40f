//! Dates: users type ISO `YYYY-MM-DD`; each endpoint and API version wants its own spelling.

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

#[cfg(test)]
mod tests {
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
