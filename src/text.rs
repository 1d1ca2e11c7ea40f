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

/// A writer for a terminal: control bytes other than tab, line feed and carriage return (ESC
/// above all), DEL and the C1 controls (UTF-8 `C2 80`-`C2 9F`) are written as `\u{..}`, so that
/// data cannot drive the terminal. For CSV/TSV, whose rows are otherwise written as they are.
pub struct EscapeControls<W: std::io::Write> {
    inner: W,
    /// A `C2` byte held back from the end of the previous write.
    pending_c2: bool,
}

impl<W: std::io::Write> EscapeControls<W> {
    pub fn new(inner: W) -> Self {
        EscapeControls {
            inner,
            pending_c2: false,
        }
    }
}

impl<W: std::io::Write> std::io::Write for EscapeControls<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len());
        for &b in buf {
            if self.pending_c2 {
                self.pending_c2 = false;
                if (0x80..=0x9f).contains(&b) {
                    out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes());
                    continue;
                }
                out.push(0xc2);
            }
            match b {
                0xc2 => self.pending_c2 = true,
                b'\t' | b'\n' | b'\r' => out.push(b),
                0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes()),
                _ => out.push(b),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.pending_c2) {
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
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
    fn terminal_writer_escapes_controls() {
        use std::io::Write as _;
        let mut out = Vec::new();
        {
            let mut w = EscapeControls::new(&mut out);
            w.write_all(b"a\x1b[2Jb\tc\r\n\xc2").unwrap();
            w.write_all(b"\x9b\xc3\xa9\xc2\xa0").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\u{1b}[2Jb\tc\r\n\\u{9b}\u{e9}\u{a0}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(Duration::from_millis(3400)), "3.4s");
        assert_eq!(human_duration(Duration::from_secs(552)), "9m12s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h02m");
    }
}
