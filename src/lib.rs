//! `tcia`: a client library and CLI for The Cancer Imaging Archive's NBIA REST APIs.
//!
//! Map of the crate:
//! - [`cli`]: what users type (clap definitions only);
//! - [`catalogue`]: every endpoint, per API version: path, parameter spellings, dates, columns;
//! - [`client`]: the HTTP layer (reqwest + rustls), retries, error mapping;
//! - [`stream`]: incremental JSON array splitting;
//! - [`output`]: renderers (json, ndjson, csv, tsv, table);
//! - [`commands`]: what runs, through one generic query path;
//! - [`config`]: the config file's defaults, applied before the command line is parsed;
//! - [`error`], [`printer`], [`env`], [`secret`], [`dates`], [`html`]: supporting pieces.

pub mod auth;
pub mod catalogue;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod dates;
pub mod download;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod html;
pub mod output;
pub mod printer;
pub mod secret;
pub mod stream;

use std::process::ExitCode;

pub use cli::Cli;
pub use error::Error;

/// Run a parsed command line to completion on a tokio runtime; Ctrl-C ends it with `Interrupted`.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        tokio::select! {
            r = commands::dispatch(cli) => r,
            _ = shutdown_signal() => Err(Error::Interrupted.into()),
        }
    });
    // Do not wait for blocking work (hashing, extracting) that an interrupt left behind.
    rt.shutdown_background();
    result
}

/// Ctrl-C, or SIGTERM on Unix (what `kill`, Slurm and Kubernetes send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Print an error as `tcia: error: ...` with its causes, and choose the exit code. A closed
/// stdout pipe (`| head -1`) is not an error.
pub fn report(e: &anyhow::Error) -> ExitCode {
    report_with(e, &printer::Printer::new(false, 0))
}

/// As `report`, with the prefix coloured as `printer` allows (`--color`).
pub fn report_with(e: &anyhow::Error, printer: &printer::Printer) -> ExitCode {
    if e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    let code = e
        .chain()
        .find_map(|c| c.downcast_ref::<Error>())
        .map(Error::exit_code)
        .unwrap_or(error::exit::ERROR);
    let mut msg = format!(
        "{} {}",
        printer.error_prefix(),
        printer::escape_control(&e.to_string())
    );
    for cause in e.chain().skip(1) {
        msg.push_str(&format!(
            "\n  caused by: {}",
            printer::escape_control(&cause.to_string())
        ));
    }
    eprintln!("{msg}");
    ExitCode::from(code)
}
