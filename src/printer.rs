//! Where messages go: stderr only, filtered by `--quiet` / `--verbose`, with control characters
//! of server text escaped. Terminal facts (and whether to colour) are read once, in
//! `Printer::with_color`.

use std::io::{IsTerminal, Write};

use crate::cli::ColorChoice;

#[derive(Clone, Debug)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: u8,
    pub stderr_tty: bool,
    pub stdout_tty: bool,
    /// Colour the `tcia: error:` / `tcia: warning:` prefixes on stderr.
    pub color: bool,
}

impl Printer {
    /// A printer with `--color auto`.
    pub fn new(quiet: bool, verbose: u8) -> Printer {
        Printer::with_color(quiet, verbose, ColorChoice::Auto)
    }

    /// The printer for the global options (`-q`, `-v`, `--color`).
    pub fn from_global(g: &crate::cli::GlobalArgs) -> Printer {
        Printer::with_color(g.quiet, g.verbose, g.color)
    }

    pub fn with_color(quiet: bool, verbose: u8, color: ColorChoice) -> Printer {
        let stdout_tty = std::io::stdout().is_terminal()
            || std::env::var_os(crate::env::TEST_STDOUT_TTY).is_some();
        let stderr_tty = std::io::stderr().is_terminal();
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                (stderr_tty || std::env::var_os(crate::env::TEST_STDERR_TTY).is_some())
                    && std::env::var_os(crate::env::NO_COLOR).is_none_or(|v| v.is_empty())
                    && std::env::var_os(crate::env::TERM).is_none_or(|t| t != "dumb")
            }
        };
        Printer {
            quiet,
            verbose,
            stderr_tty,
            stdout_tty,
            color,
        }
    }

    /// `tcia: error:`, in bold red when colour is on.
    pub fn error_prefix(&self) -> String {
        self.paint("tcia: error:", console::Style::new().red().bold())
    }

    /// `tcia: warning:`, in bold yellow when colour is on.
    pub fn warning_prefix(&self) -> String {
        self.paint("tcia: warning:", console::Style::new().yellow().bold())
    }

    fn paint(&self, s: &str, style: console::Style) -> String {
        if self.color {
            style.force_styling(true).apply_to(s).to_string()
        } else {
            s.to_string()
        }
    }

    /// A warning: shown unless `--quiet`.
    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "{} {}",
                self.warning_prefix(),
                escape_control(msg)
            );
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
    use super::*;

    #[test]
    fn colour_only_when_allowed() {
        let on = Printer::with_color(false, 0, ColorChoice::Always);
        assert!(
            on.error_prefix().contains("\x1b["),
            "{:?}",
            on.error_prefix()
        );
        let off = Printer::with_color(false, 0, ColorChoice::Never);
        assert_eq!(off.error_prefix(), "tcia: error:");
        assert_eq!(off.warning_prefix(), "tcia: warning:");
    }

    #[test]
    fn escapes() {
        assert_eq!(super::escape_control("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(super::escape_control("plain"), "plain");
    }
}
