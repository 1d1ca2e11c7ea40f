//! Text for people: control characters escaped, byte counts and durations in human units.

use std::time::Duration;

/// Escape control characters (except tab) so server text cannot drive the terminal.
pub fn escape_control(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text from outside (a server's error body, a line of input) for a one-line message: control
/// characters escaped, cut after `max` characters with its full length noted
/// (`… (64.00 KiB)`).
pub fn one_line(s: &str, max: usize) -> String {
    let s = s.trim();
    let escaped = escape_control(s);
    if escaped.chars().count() <= max {
        return escaped;
    }
    let cut: String = escaped.chars().take(max).collect();
    format!("{}… ({})", cut.trim_end(), human_bytes(s.len() as u64))
}

/// Human-readable bytes, binary units.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

/// `9m12s`, `1h02m`, `3.4s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_control("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(escape_control("plain"), "plain");
    }

    #[test]
    fn one_line_is_bounded() {
        assert_eq!(one_line(" short\n", 10), "short");
        let long = "x".repeat(64 * 1024);
        let shown = one_line(&long, 300);
        assert!(shown.ends_with("… (64.00 KiB)"), "{shown}");
        assert_eq!(
            shown.chars().count(),
            300 + " … (64.00 KiB)".chars().count() - 1
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_millis(3400)), "3.4s");
        assert_eq!(human_duration(Duration::from_secs(552)), "9m12s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h02m");
    }
}
