//! Commands about `tcia` itself, generated from the one CLI definition: `completions`, `man`,
//! and `config show|path`. None of them touches the network.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, ConfigCommand};
use crate::config::Applied;
use crate::error::usage;

/// `tcia completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "tcia", &mut out);
    out.flush()?;
    Ok(())
}

/// `tcia man [SUBCOMMAND...]`: the roff page of tcia (with a SUBCOMMANDS section) or of one
/// subcommand (`tcia-download(1)`), on stdout.
pub fn man(path: &[String]) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    man_page(path, &mut buf)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

/// Render the page for a subcommand path (empty: the main page).
pub fn man_page(path: &[String], w: &mut dyn Write) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut page = cmd;
    for name in path {
        let found = page.find_subcommand(name).cloned().ok_or_else(|| {
            let valid: Vec<_> = page
                .get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .map(|s| s.get_name().to_string())
                .collect();
            usage(format!(
                "tcia man: no subcommand '{name}'; valid: {}",
                valid.join(", ")
            ))
        })?;
        page = found;
    }
    clap_mangen::Man::new(page)
        .source(concat!("tcia ", env!("CARGO_PKG_VERSION")))
        .manual("tcia manual")
        .render(w)?;
    Ok(())
}

/// `tcia config show|path`.
pub fn config(applied: &Applied, c: &ConfigCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match c {
        ConfigCommand::Path => match &applied.path {
            Some(p) => writeln!(out, "{}", p.display())?,
            None => return Err(usage(
                "no config directory: set TCIA_CONFIG_DIR (the platform has no config directory)",
            )),
        },
        ConfigCommand::Show => crate::config::show(applied, &mut out)?,
    }
    out.flush()?;
    Ok(())
}
