//! Where messages go: stderr only, filtered by `--quiet` / `--verbose`, with control characters
//! of server text escaped and the prefixes coloured when `--color` and the terminal allow. The
//! terminal facts come from [`Env`], read once at start.

use std::io::Write;

use crate::env::Env;
use crate::text::escape_control;

/// `--color`: when to colour the `tcia: error:` / `tcia: warning:` prefixes on stderr.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// When stderr is a terminal, NO_COLOR is unset and TERM is not `dumb`
    #[default]
    Auto,
    Always,
    Never,
}

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
    /// The printer for `-q`, `-v` and `--color`, in the terminals `env` found.
    pub fn new(quiet: bool, verbose: u8, color: ColorChoice, env: &Env) -> Printer {
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => env.color_auto,
        };
        Printer {
            quiet,
            verbose,
            stderr_tty: env.stderr_tty,
            stdout_tty: env.stdout_tty,
            color,
        }
    }

    /// No colour, no terminals: for errors reported before the command line is known.
    pub fn plain() -> Printer {
        Printer::new(false, 0, ColorChoice::Never, &Env::default())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_allowed() {
        let on = Printer::new(false, 0, ColorChoice::Always, &Env::default());
        assert!(
            on.error_prefix().contains("\x1b["),
            "{:?}",
            on.error_prefix()
        );
        let off = Printer::new(false, 0, ColorChoice::Never, &Env::default());
        assert_eq!(off.error_prefix(), "tcia: error:");
        assert_eq!(off.warning_prefix(), "tcia: warning:");
    }
}
