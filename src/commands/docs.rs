//! Commands about `tcia` itself, generated from the one CLI definition: `completions`, `man`,
//! and `config show|path`. None of them touches the network.

use std::io::Write;

use clap::CommandFactory;

use crate::api::catalogue as cat;
use crate::cli::{Cli, ConfigCommand, ValueKind};
use crate::config::Applied;
use crate::context::Ctx;
use crate::error::usage;

/// Arguments whose values are paths: completed with file names. Every other value is not.
const PATH_ARGS: [&str; 5] = ["output", "input", "manifest", "ca_cert", "dir"];

/// `--flag` whose values the scripts ask the server for, and the `--values` kind they ask.
const SERVER_VALUES: [(&str, &str); 3] = [
    ("collection", "collection"),
    ("modality", "modality"),
    ("body-part", "body-part"),
];

/// The definition as the completion scripts see it: no file names for values that are not paths.
fn completion_command() -> clap::Command {
    fn hint(mut cmd: clap::Command) -> clap::Command {
        let ids: Vec<clap::Id> = cmd
            .get_arguments()
            .filter(|a| a.get_action().takes_values() && !a.is_positional())
            .filter(|a| a.get_possible_values().is_empty())
            .map(|a| a.get_id().clone())
            .collect();
        for id in ids {
            let path = PATH_ARGS.contains(&id.as_str());
            cmd = cmd.mut_arg(id, |a| {
                a.value_hint(if path {
                    clap::ValueHint::AnyPath
                } else {
                    clap::ValueHint::Other
                })
            });
        }
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for n in names {
            cmd = cmd.mut_subcommand(n, hint);
        }
        cmd
    }
    hint(Cli::command())
}

/// `tcia completions SHELL`: the completion script on stdout, with the server's collections,
/// modalities and body parts offered for their flags (`tcia completions --values`).
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut completion_command(), "tcia", &mut buf);
    let script = with_server_values(shell, &String::from_utf8_lossy(&buf));
    let mut out = std::io::stdout().lock();
    out.write_all(script.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Make each shell ask `tcia completions --values KIND` for the flags of [`SERVER_VALUES`].
fn with_server_values(shell: clap_complete::Shell, script: &str) -> String {
    use clap_complete::Shell;
    let mut out = script.to_string();
    for (flag, kind) in SERVER_VALUES {
        let ask =
            format!("tcia completions --values {kind} -q --retries 0 --timeout 5 2>/dev/null");
        match shell {
            Shell::Bash => {
                let nospace = "\n                    if [[ \"${BASH_VERSINFO[0]}\" -ge 4 ]]; then\n                        compopt -o nospace\n                    fi";
                let from =
                    format!("--{flag})\n                    COMPREPLY=(\"${{cur}}\"){nospace}");
                let to = format!(
                    "--{flag})\n                    local IFS=$'\\n'\n                    COMPREPLY=($(compgen -W \"$({ask})\" -- \"${{cur}}\"))"
                );
                out = out.replace(&from, &to);
            }
            Shell::Zsh => {
                let upper = flag.to_uppercase().replace('-', "_");
                let from = format!(":{upper}:' \\");
                let to =
                    format!(":{upper}:{{local -a v; v=(${{(f)\"$({ask})\"}}); compadd -a v}}' \\");
                out = out.replace(&from, &to);
            }
            Shell::Fish => {
                let from = format!("-l {flag} -d");
                let to = format!("-l {flag} -f -a \"({ask})\" -d");
                out = out.replace(&from, &to);
            }
            _ => {}
        }
    }
    out
}

/// `tcia completions --values KIND`: the server's values, one per line, from a cache of at most
/// a day (under the configuration directory, per server), else asked and cached.
pub async fn values(ctx: &Ctx, kind: ValueKind) -> anyhow::Result<()> {
    let (endpoint, column, name) = match kind {
        ValueKind::Collection => (&cat::COLLECTIONS, "Collection", "collections"),
        ValueKind::Modality => (&cat::MODALITIES, "Modality", "modalities"),
        ValueKind::BodyPart => (&cat::BODY_PARTS, "BodyPartExamined", "body-parts"),
    };
    let cache = ctx.env.config_dir.as_ref().map(|d| {
        let server = ctx.client.settings.base.as_str();
        let tag: u32 = server
            .bytes()
            .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
        d.join("cache").join(format!("{name}-{tag:08x}.txt"))
    });
    let fresh = cache.as_ref().and_then(|p| {
        let age = std::fs::metadata(p).ok()?.modified().ok()?.elapsed().ok()?;
        (age < std::time::Duration::from_secs(24 * 3600))
            .then(|| std::fs::read_to_string(p).ok())?
    });
    let text = match fresh {
        Some(t) => t,
        None => {
            let text = ask_values(ctx, endpoint, column).await?;
            if let Some(p) = &cache {
                if let Some(dir) = p.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = crate::fsutil::write_atomically_with(p, text.as_bytes(), false);
            }
            text
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// One column of an endpoint's rows, one value per line.
async fn ask_values(
    ctx: &Ctx,
    endpoint: &'static cat::Endpoint,
    column: &str,
) -> anyhow::Result<String> {
    let (_, reqs) = crate::api::rows::requests(ctx.api, endpoint, &[])?;
    let mut text = String::new();
    for req in reqs {
        crate::api::rows::stream_rows(&ctx.client, &req, &mut |row| {
            let v = crate::output::cell(row.get(column)).into_owned();
            if !v.is_empty() && !v.contains('\n') {
                text.push_str(&v);
                text.push('\n');
            }
            Ok(())
        })
        .await?;
    }
    Ok(text)
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
