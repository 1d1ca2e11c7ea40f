//! Civil date/time arithmetic, the server's output date formats and its (lenient) input parsers.

/// A wall-clock timestamp (UTC, proleptic Gregorian). Ordering is chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    pub const fn new(
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> Timestamp {
        Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }
    /// The current UTC time (whole seconds).
    pub fn now() -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let t = secs.rem_euclid(86_400) as u32;
        Timestamp::new(y as i32, m, d, t / 3600, t / 60 % 60, t % 60)
    }
    /// Midnight of a date.
    pub const fn date(year: i32, month: u32, day: u32) -> Timestamp {
        Timestamp::new(year, month, day, 0, 0, 0)
    }
    /// Days since 1970-01-01.
    pub fn days(&self) -> i64 {
        days_from_civil(self.year as i64, self.month, self.day)
    }
    pub fn plus_days(&self, n: i64) -> Timestamp {
        let (y, m, d) = civil_from_days(self.days() + n);
        Timestamp {
            year: y as i32,
            month: m,
            day: d,
            ..*self
        }
    }
    /// Milliseconds since the Unix epoch.
    pub fn epoch_ms(&self) -> i64 {
        ((self.days() * 86_400) + (self.hour * 3600 + self.minute * 60 + self.second) as i64) * 1000
    }
    /// v1/v2 form: `yyyy-MM-dd HH:mm:ss.0` (java.sql.Timestamp.toString()).
    pub fn v1(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.0",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
    /// v4 form: `MM-DD-YYYY`.
    pub fn v4(&self) -> String {
        format!("{:02}-{:02}-{:04}", self.month, self.day, self.year)
    }
    /// java.util.Date.toString(): `EEE MMM dd HH:mm:ss zzz yyyy`.
    pub fn java(&self) -> String {
        let wd = (self.days() + 4).rem_euclid(7) as usize;
        format!(
            "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
            DAYS[wd],
            MONTHS[(self.month - 1) as usize],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
    /// DICOM DA: `YYYYMMDD`.
    pub fn dicom(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// Which field each slash-separated part holds.
#[derive(Clone, Copy)]
pub(crate) enum Order {
    /// `yyyy/MM/dd`
    Ymd,
    /// `dd/MM/yyyy`
    Dmy,
}

/// SimpleDateFormat(lenient) style: three slash-separated integers; month/day overflow rolls over.
pub(crate) fn parse_lenient(s: &str, order: Order) -> Option<Timestamp> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    if parts.len() != 3 {
        return None;
    }
    let mut n = [0i64; 3];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n[i] = p.parse().ok()?;
    }
    let (y, m, d) = match order {
        Order::Ymd => (n[0], n[1], n[2]),
        Order::Dmy => (n[2], n[1], n[0]),
    };
    let m0 = m - 1;
    let y = y + m0.div_euclid(12);
    let m = (m0.rem_euclid(12) + 1) as u32;
    let (y, m, d) = civil_from_days(days_from_civil(y, m, 1) + d - 1);
    Some(Timestamp::date(y as i32, m, d))
}

/// Strict v4 `MM-DD-YYYY`.
pub(crate) fn parse_v4(s: &str) -> Option<Timestamp> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    if parts.len() != 3 || parts[2].len() != 4 {
        return None;
    }
    if !parts
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let m: u32 = parts[0].parse().ok()?;
    let d: u32 = parts[1].parse().ok()?;
    let y: i32 = parts[2].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let t = Timestamp::date(y, m, d);
    // reject day overflow (e.g. 02-30-2020)
    (t.plus_days(0) == t).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = Timestamp::new(2013, 11, 4, 11, 45, 52);
        assert_eq!(t.java(), "Mon Nov 04 11:45:52 UTC 2013");
        assert_eq!(t.v1(), "2013-11-04 11:45:52.0");
        assert_eq!(t.v4(), "11-04-2013");
    }

    #[test]
    fn lenient() {
        assert_eq!(
            parse_lenient("2019/01/01", Order::Ymd),
            Some(Timestamp::date(2019, 1, 1))
        );
        assert_eq!(
            parse_lenient("01/02/2024", Order::Dmy),
            Some(Timestamp::date(2024, 2, 1))
        );
        let odd = parse_lenient("01/01/2019", Order::Ymd).unwrap();
        assert!(odd.year < 10);
        assert_eq!(parse_lenient("2019-01-01", Order::Ymd), None);
        assert_eq!(parse_v4("02-30-2020"), None);
        assert_eq!(parse_v4("12-31-2023"), Some(Timestamp::date(2023, 12, 31)));
    }
}
