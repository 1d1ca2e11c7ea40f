//! The `tcia` binary: parse, run, report. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // `Cli::parse`, with the config file's defaults.
    let cli = tcia::config::parse();
    let printer = tcia::printer::Printer::from_global(&cli.global);
    match tcia::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => tcia::report_with(&e, &printer),
    }
}
