//! `tcia`: a client library and CLI for The Cancer Imaging Archive's NBIA REST APIs.
//!
//! Map of the crate, by layer (a module imports only its own layer or lower ones, and no
//! modules import each other; `tests/layers.rs` checks both):
//! - binary: `main.rs` (capture the environment, parse, run, report);
//! - dispatch: this root ([`run`], [`report`]) and [`dispatch`] (one match: command → code);
//! - commands: [`commands`]: `query` (the metadata subcommands), `series_metadata`, `search`
//!   (search and manifest), `doi`, `md5`, `selection` (named values the server lacks),
//!   `download`, `sync`, `verify`, `single_image`, `login`, `docs`, `index` (index update and
//!   status, query, `--offline` answers);
//! - context, config, cli: [`context`] (the `Ctx` a command runs in), [`config`] (the config
//!   file applied to the command line), [`cli`] (clap definitions);
//! - services: [`api`] (`catalogue`, `client`, `auth`, `rows`, `metadata`); [`download`] (the
//!   engine: `source` with its two seams `Catalog` and `SeriesFetcher`, `nbia_catalog`,
//!   `nbia_zip`, `engine`, `input`, `meta`, `layout`, `names`, `shard`, `state`, `publish`,
//!   `check`, `zipstream`, `report`); [`index`] (the local series index: `store`, `values`,
//!   `build`, `update`, `answer`, `sql`); [`output`] (`row`, `rowref`, `json`, `csv`, `table`);
//!   [`progress`];
//! - leaves: [`printer`], [`env`] (the only reader of the environment and terminals),
//!   [`error`], [`secret`], [`dates`], [`text`], [`uid`], [`fsutil`], [`stream`], [`html`].

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod dates;
pub mod dispatch;
pub mod download;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod html;
pub mod index;
pub mod output;
pub mod printer;
pub mod progress;
pub mod secret;
pub mod stream;
pub mod text;
pub mod uid;

use std::process::ExitCode;

use config::Invocation;
use env::Env;
use error::Error;
use printer::Printer;

/// Run a parsed command line to completion on a tokio runtime; Ctrl-C ends it with `Interrupted`.
pub fn run(inv: Invocation, env: Env) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        // The signal handler first (biased): it is installed before any command runs, so a
        // Ctrl-C during a prompt or a stdin read (done off the runtime) ends the run.
        tokio::select! {
            biased;
            _ = shutdown_signal() => Err(interrupted().into()),
            r = dispatch::dispatch(inv, env) => r,
        }
    });
    // Do not wait for blocking work (hashing, extracting) that an interrupt left behind.
    rt.shutdown_background();
    result
}

/// The error of a run ended by Ctrl-C: for a download, where it stands and how to resume.
fn interrupted() -> Error {
    match progress::interrupted_note() {
        Some(note) => Error::Failed {
            message: format!("interrupted: {note}"),
            code: error::exit::INTERRUPTED,
        },
        None => Error::Interrupted,
    }
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
    report_with(e, &Printer::plain())
}

/// As `report`, with the prefix coloured as `printer` allows (`--color`).
pub fn report_with(e: &anyhow::Error, printer: &Printer) -> ExitCode {
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
        text::escape_control(&e.to_string())
    );
    for cause in e.chain().skip(1) {
        msg.push_str(&format!(
            "\n  caused by: {}",
            text::escape_control(&cause.to_string())
        ));
    }
    eprintln!("{msg}");
    ExitCode::from(code)
}
