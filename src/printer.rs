//! Where messages go: stderr only, filtered by `--quiet` / `--verbose`, with control characters
//! of server text escaped. Terminal facts are read once, in `Printer::new`.

use std::io::{IsTerminal, Write};

#[derive(Clone, Debug)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: u8,
    pub stderr_tty: bool,
    pub stdout_tty: bool,
}

impl Printer {
    pub fn new(quiet: bool, verbose: u8) -> Printer {
        let stdout_tty = std::io::stdout().is_terminal()
            || std::env::var_os(crate::env::TEST_STDOUT_TTY).is_some();
        Printer {
            quiet,
            verbose,
            stderr_tty: std::io::stderr().is_terminal(),
            stdout_tty,
        }
    }

    /// A warning: shown unless `--quiet`.
    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "tcia: warning: {}", escape_control(msg));
        }
    }

    /// A note for humans (progress, summaries): shown unless `--quiet`.
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "tcia: {}", escape_control(msg));
        }
    }

    /// Diagnostics at `-v` (level 1) or more.
    pub fn debug(&self, level: u8, msg: &str) {
        if self.verbose >= level {
            let _ = writeln!(std::io::stderr(), "tcia: {}", escape_control(msg));
        }
    }
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::escape_control("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(super::escape_control("plain"), "plain");
    }
}
