//! Typed errors of the library and the exit-code table.

use std::time::Duration;

/// Exit codes: a small documented table (README "Exit codes").
pub mod exit {
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INTEGRITY: u8 = 3;
    pub const HTTP_CLIENT: u8 = 4;
    pub const HTTP_SERVER: u8 = 5;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input found before any request.
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error status.
    #[error("{method} {url}: HTTP {status}: {message}")]
    Http {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
        /// The server's Retry-After, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The server could not be reached or the connection failed.
    #[error("{method} {url}: {what}")]
    Network {
        method: &'static str,
        url: String,
        what: String,
    },
    /// No connection, or no data, within the timeout named by `flag`.
    #[error("{method} {url}: {what} within {secs}s ({flag} {secs}; raise {flag} to wait longer)", secs = .after.as_secs())]
    Timeout {
        method: &'static str,
        url: String,
        after: Duration,
        /// `no connection` or `no data`.
        what: &'static str,
        /// The flag that set the limit: `--timeout` or `--idle-timeout`.
        flag: &'static str,
    },
    /// The server answered, but not with what the endpoint promises.
    #[error("{url}: {message}")]
    BadResponse { url: String, message: String },
    /// Some of the work failed; the details were reported as they happened.
    #[error("{message}")]
    Failed { message: String, code: u8 },
    /// Stopped by Ctrl-C / SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Http { status, .. } if *status >= 500 => exit::HTTP_SERVER,
            Error::Http { .. } => exit::HTTP_CLIENT,
            Error::Network { .. } | Error::Timeout { .. } | Error::BadResponse { .. } => {
                exit::HTTP_SERVER
            }
            Error::Failed { code, .. } => *code,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// A redirect the HTTP layer would not follow (another origin); the message names the target.
#[derive(Debug, thiserror::Error)]
#[error("refusing redirect to {target}: another origin (scheme, host and port must stay the same)")]
pub struct RedirectRefused {
    pub target: String,
}

/// The refused redirect somewhere in an error's chain of causes, as its message.
pub fn refused_redirect(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(r) = c.downcast_ref::<RedirectRefused>() {
            return Some(r.to_string());
        }
        cur = c.source();
    }
    None
}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Error::Usage(msg.into()).into()
}
