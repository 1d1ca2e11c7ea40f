//! The `tcia` binary: parse, run, report. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match tcia::run(tcia::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => tcia::report(&e),
    }
}
