//! The `tcia` binary: capture the environment, parse, run, report. Everything else lives in the
//! library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = tcia::env::Env::capture();
    // `Cli::parse`, with the config file's defaults.
    let inv = tcia::config::parse(&env);
    let printer = tcia::context::printer(&inv.cli.global, &env);
    match tcia::run(inv, env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => tcia::report_with(&e, &printer),
    }
}
