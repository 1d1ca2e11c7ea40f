//! The config file `$TCIA_CONFIG_DIR/config.toml`: defaults for a few options, applied once,
//! before the command line is turned into a `Cli`; the result is an [`Invocation`].
//!
//! Each value becomes the clap default of its argument, so the precedence
//! flag > environment variable > config file > built-in default is clap's own, and every value
//! is checked by the argument's own value parser. A malformed file, an unknown key or a bad value
//! is a usage error naming the file and line (exit 2); only `tcia config path` still runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::api::catalogue::DEFAULT_SERVER;
use crate::cli::{Cli, Command, ConfigCommand};
use crate::env::Env;
use crate::secret::mask_url_password;
use crate::text::escape_control;

/// A parsed command line and the config file as applied to it.
#[derive(Debug)]
pub struct Invocation {
    pub cli: Cli,
    pub config: Applied,
}

/// Which commands a key applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// A global option: every command.
    Global,
    /// An option of `download` and `sync`.
    Download,
}

/// A key of the config file and the argument it sets.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    arg: &'static str,
    scope: Scope,
    /// What `config show` prints when nothing sets it and clap has no default.
    unset: &'static str,
}

const DOWNLOAD_COMMANDS: [&str; 2] = ["download", "sync"];

/// Every key, in the order `tcia config show` prints them.
pub const KEYS: &[Key] = &[
    key("server", "server", Scope::Global, DEFAULT_SERVER),
    key("api", "api", Scope::Global, ""),
    key(
        "format",
        "format",
        Scope::Global,
        "(table on a terminal, json otherwise)",
    ),
    key(
        "retries",
        "retries",
        Scope::Global,
        "3 (downloads: 4, or a manifest's noOfrRetry)",
    ),
    key("timeout", "timeout", Scope::Global, ""),
    key(
        "proxy",
        "proxy",
        Scope::Global,
        "(HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY)",
    ),
    key(
        "ca-cert",
        "ca_cert",
        Scope::Global,
        "(the system's trusted certificates)",
    ),
    key("color", "color", Scope::Global, ""),
    key("source", "source", Scope::Global, ""),
    key(
        "idc-index",
        "idc_index",
        Scope::Global,
        "(IDC's current release on storage.googleapis.com)",
    ),
    key(
        "idc-endpoint",
        "idc_endpoint",
        Scope::Global,
        "https://s3.amazonaws.com",
    ),
    key("jobs", "jobs", Scope::Download, ""),
    key("layout", "layout", Scope::Download, ""),
    key(
        "output",
        "output",
        Scope::Download,
        "(none: -o DIR is required)",
    ),
];

const fn key(name: &'static str, arg: &'static str, scope: Scope, unset: &'static str) -> Key {
    Key {
        name,
        arg,
        scope,
        unset,
    }
}

/// The path of the config file: `$TCIA_CONFIG_DIR/config.toml`, by default in the platform's
/// config directory + `tcia`.
pub fn path(env: &Env) -> Option<PathBuf> {
    env.config_dir.as_ref().map(|d| d.join("config.toml"))
}

/// Where an effective setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(String),
    File,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(v) => write!(f, "env {v}"),
            Source::File => f.write_str("config file"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One line of `tcia config show`.
#[derive(Clone, Debug)]
pub struct Setting {
    pub key: &'static str,
    /// The value as typed, or `None` when unset.
    pub value: Option<String>,
    pub source: Source,
}

/// The config file as applied to one command line.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub path: Option<PathBuf>,
    /// Whether the file exists.
    pub found: bool,
    /// A problem with the file, reported before any command but `tcia config path` runs.
    pub error: Option<String>,
    /// Every key's effective value and its origin.
    pub settings: Vec<Setting>,
}

impl Applied {
    /// Where a setting's effective value came from.
    pub fn source(&self, key: &str) -> Option<&Source> {
        self.settings
            .iter()
            .find(|s| s.key == key)
            .map(|s| &s.source)
    }

    /// Whether a setting was given on the command line or in the environment (which beat a
    /// manifest's own server and retry count; the config file does not).
    pub fn explicit(&self, key: &str) -> bool {
        matches!(self.source(key), Some(Source::Flag | Source::Env(_)))
    }
}

/// Values read from the file, already checked by their arguments' value parsers.
#[derive(Debug, Default)]
struct Loaded {
    values: Vec<(&'static Key, String)>,
}

/// Parse the process's command line with the config file's defaults. Clap errors, `--help` and
/// `--version` end the process here, as `Cli::parse` would, told as [`friendly`] tells them.
pub fn parse(env: &Env) -> Invocation {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    parse_from(args.clone(), path(env).as_deref(), env).unwrap_or_else(|e| {
        let (text, code) = friendly(&e, &args);
        if e.use_stderr() || e.kind() == ErrorKind::MissingSubcommand {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
        std::process::exit(code)
    })
}

/// What the user sees for a clap error or help request, and the exit code: a bare `tcia` (or one
/// without a subcommand) gets the short help, a subcommand's help folds the global options into
/// one line, a mistyped subcommand gets at most two suggestions (the best first), and usage lines
/// leave out the global options that only came from the environment.
pub fn friendly(e: &clap::Error, args: &[std::ffi::OsString]) -> (String, i32) {
    let code = e.exit_code();
    let text = match e.kind() {
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            return (Cli::command().render_help().to_string(), 2)
        }
        ErrorKind::DisplayHelp => subcommand_help(args).unwrap_or_else(|| e.to_string()),
        ErrorKind::InvalidSubcommand => {
            suggest_subcommand(e).unwrap_or_else(|| without_env_globals(&e.to_string()))
        }
        _ => without_env_globals(&e.to_string()),
    };
    (text, code)
}

/// The note that replaces the global options in a subcommand's help.
pub const GLOBALS_NOTE: &str =
    "Global options (--server, --api, --format, --fields, --limit, -q, -v, ...): see tcia --help";

/// `tcia SUB --help` with the global options folded into [`GLOBALS_NOTE`].
fn subcommand_help(args: &[std::ffi::OsString]) -> Option<String> {
    let mut cmd = Cli::command();
    cmd.build();
    let globals: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().clone())
        .collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |mut sub| {
            for id in &globals {
                if sub.get_arguments().any(|a| a.get_id() == id) {
                    sub = sub.mut_arg(id.clone(), |a| a.hide(true));
                }
            }
            let after = sub
                .get_after_help()
                .map(|h| format!("{h}\n\n{GLOBALS_NOTE}"))
                .unwrap_or_else(|| GLOBALS_NOTE.to_string());
            sub.after_help(after.clone()).after_long_help(after)
        });
    }
    // The subcommand asked about: the first argument naming one (`help` names the next).
    let words: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let short = words.iter().any(|w| w == "-h");
    let named = |w: &String| {
        cmd.get_subcommands()
            .find(|s| s.get_name() == w || s.get_all_aliases().any(|a| a == w))
            .map(|s| s.get_name().to_string())
    };
    let name = words.iter().filter(|w| *w != "help").find_map(named)?;
    let sub = cmd.find_subcommand_mut(name)?;
    if sub.has_subcommands() {
        return None;
    }
    Some(if short {
        sub.render_help().to_string()
    } else {
        sub.render_long_help().to_string()
    })
}

/// clap lists similar subcommands worst first and all of them: the best two, best first.
fn suggest_subcommand(e: &clap::Error) -> Option<String> {
    let typed = match e.get(ContextKind::InvalidSubcommand)? {
        ContextValue::String(s) => s.clone(),
        _ => return None,
    };
    let cmd = Cli::command();
    let mut scored: Vec<(f64, &str)> = Vec::new();
    for sub in cmd.get_subcommands() {
        let best = std::iter::once(sub.get_name())
            .chain(sub.get_all_aliases())
            .map(|n| strsim::jaro_winkler(&typed.to_lowercase(), &n.to_lowercase()))
            .fold(0.0, f64::max);
        if best > 0.7 {
            scored.push((best, sub.get_name()));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let tip = match scored.as_slice() {
        [] => String::new(),
        [(_, one)] => format!("\n\n  tip: did you mean '{one}'?"),
        [(_, a), (_, b), ..] => format!("\n\n  tip: did you mean '{a}' or '{b}'?"),
    };
    Some(format!(
        "error: unrecognized subcommand '{typed}'{tip}\n\nUsage: tcia [OPTIONS] <COMMAND>\n\nFor more information, try 'tcia --help'.\n"
    ))
}

/// Usage lines list the global options that were present, also those set only by an
/// environment variable (TCIA_SERVER, SSL_CERT_FILE, ...), as if the command needed them.
fn without_env_globals(text: &str) -> String {
    let cmd = Cli::command();
    let shown: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_env().is_some())
        .filter_map(|a| {
            let long = a.get_long()?;
            Some(match a.get_value_names().and_then(|v| v.first()) {
                Some(v) => format!(" --{long} <{v}>"),
                None => format!(" --{long}"),
            })
        })
        .collect();
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("Usage:") {
                shown
                    .iter()
                    .fold(l.to_string(), |acc, s| acc.replace(s.as_str(), ""))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// As `parse`, from given arguments and config file (none: no file).
pub fn parse_from<I, T>(args: I, file: Option<&Path>, env: &Env) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let base = Cli::command();
    let mut found = false;
    let loaded = match file {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => {
                found = true;
                load(&text, &base).map_err(|e| format!("{}{e}", p.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::default()),
            Err(e) => Err(format!("{}: cannot read: {e}", p.display())),
        },
        None => Ok(Loaded::default()),
    };
    let (loaded, error) = match loaded {
        Ok(l) => (l, None),
        Err(e) => (Loaded::default(), Some(e)),
    };
    let mut cmd = apply(&loaded, base.clone());
    let matches = cmd.try_get_matches_from_mut(args)?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
    let config = Applied {
        path: file.map(Path::to_path_buf),
        found,
        error,
        settings: settings(&loaded, &base, &matches, env),
    };
    Ok(Invocation { cli, config })
}

/// Fail with the config file's problem, unless the command is `tcia config path`.
pub fn check(inv: &Invocation) -> anyhow::Result<()> {
    match (&inv.config.error, &inv.cli.command) {
        (Some(_), Command::Config(ConfigCommand::Path)) | (None, _) => Ok(()),
        (Some(e), _) => Err(crate::error::usage(e.clone())),
    }
}

/// Read `text`: every key must be known and every value valid for its argument.
/// Errors start with ` line N: ` (the caller puts the path in front).
fn load(text: &str, cmd: &clap::Command) -> Result<Loaded, String> {
    use toml::Spanned;
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            format!(" line {line}: {}", e.message().trim())
        })?;
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut values = Vec::new();
    for (k, v) in entries {
        let line = line_of(text, k.span().start);
        let name = k.get_ref().as_str();
        let Some(key) = KEYS.iter().find(|key| key.name == name) else {
            let valid: Vec<_> = KEYS.iter().map(|k| k.name).collect();
            return Err(format!(
                " line {line}: unknown key '{name}'; valid keys: {}",
                valid.join(", ")
            ));
        };
        let value = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            other => {
                return Err(format!(
                    " line {line}: {name}: expected a string or a whole number, not {}",
                    other.type_str()
                ))
            }
        };
        // Check the value with the argument's own parser, as if typed as `--name=value`.
        let (_, arg) = find_arg(cmd, key);
        let long = arg.get_long().expect("config keys are long options");
        let probe = clap::Command::new("tcia")
            .no_binary_name(true)
            .arg(arg.clone().required(false).global(false));
        if let Err(e) = probe.try_get_matches_from([format!("--{long}={value}")]) {
            return Err(format!(" line {line}: {name}: {}", clap_message(&e)));
        }
        values.push((key, value));
    }
    Ok(Loaded { values })
}

/// The argument a key sets, and the command that owns it.
fn find_arg<'a>(cmd: &'a clap::Command, key: &Key) -> (&'a clap::Command, &'a clap::Arg) {
    let owner = match key.scope {
        Scope::Global => cmd,
        Scope::Download => cmd
            .find_subcommand(DOWNLOAD_COMMANDS[0])
            .expect("download subcommand"),
    };
    let arg = owner
        .get_arguments()
        .find(|a| a.get_id() == key.arg)
        .expect("every config key names an argument");
    (owner, arg)
}

/// A clap error as one line: without `error: `, the usage and the `--help` hint.
fn clap_message(e: &clap::Error) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ")
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Make each value from the file the default of its argument.
fn apply(loaded: &Loaded, mut cmd: clap::Command) -> clap::Command {
    for (key, value) in &loaded.values {
        let set = |a: clap::Arg| a.default_value(value.clone()).required(false);
        cmd = match key.scope {
            Scope::Global => cmd.mut_arg(key.arg, set),
            Scope::Download => DOWNLOAD_COMMANDS.iter().fold(cmd, |c, sub| {
                c.mut_subcommand(*sub, |s| s.mut_arg(key.arg, set))
            }),
        };
    }
    cmd
}

/// Every key's effective value and origin, for `tcia config show`. Global options come from the
/// matches; download options from their environment variable, the file or the built-in default.
fn settings(
    loaded: &Loaded,
    base: &clap::Command,
    matches: &ArgMatches,
    env_vars: &Env,
) -> Vec<Setting> {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let from_file = |key: &Key| {
        loaded
            .values
            .iter()
            .find(|(k, _)| k.name == key.name)
            .map(|(_, v)| v.clone())
    };
    KEYS.iter()
        .map(|key| {
            let (_, arg) = find_arg(base, key);
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let (value, source) = if key.scope == Scope::Global {
                let value = leaf.get_raw(key.arg).map(|vals| {
                    vals.map(|v| v.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                });
                let source = match leaf.value_source(key.arg) {
                    Some(ValueSource::CommandLine) => Source::Flag,
                    Some(ValueSource::EnvVariable) => Source::Env(env.unwrap_or_default()),
                    _ if from_file(key).is_some() => Source::File,
                    _ => Source::Default,
                };
                (value, source)
            } else if let Some(v) = env
                .as_ref()
                .and_then(|e| env_vars.var(e))
                .filter(|v| !v.is_empty())
            {
                (Some(v), Source::Env(env.unwrap_or_default()))
            } else if let Some(v) = from_file(key) {
                (Some(v), Source::File)
            } else {
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned());
                (default, Source::Default)
            };
            Setting {
                key: key.name,
                value,
                source,
            }
        })
        .collect()
}

/// `tcia config show`: one line per key, `key  value  source`. Passwords in proxy and server URLs are
/// masked; secrets (API key, passwords, tokens) are not settings and never shown.
pub fn show(applied: &Applied, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let state = match (&applied.path, applied.found) {
        (None, _) => "no config directory".to_string(),
        (Some(p), true) => p.display().to_string(),
        (Some(p), false) => format!("{} (not found)", p.display()),
    };
    writeln!(out, "# config file: {state}")?;
    let rows: Vec<(String, String, String)> = applied
        .settings
        .iter()
        .map(|s| {
            let key = KEYS.iter().find(|k| k.name == s.key);
            let value = match &s.value {
                Some(v) if s.key == "proxy" || s.key == "server" => mask_url_password(v),
                Some(v) => v.clone(),
                None => key.map(|k| k.unset).unwrap_or("(not set)").to_string(),
            };
            (
                s.key.to_string(),
                escape_control(&value),
                s.source.to_string(),
            )
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    for (k, v, src) in rows {
        writeln!(out, "{k:<w0$}  {v:<w1$}  {src}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_subcommand_has_an_example() {
        fn check(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.has_subcommands() {
                    check(sub, &name);
                    continue;
                }
                let after = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(after.contains("tcia "), "{name} has no example");
            }
        }
        check(&Cli::command(), "tcia");
    }

    use super::*;

    /// The parsed command line with its config, as the tests read them.
    struct Inv {
        global: crate::cli::GlobalArgs,
        command: Command,
        config: Applied,
    }

    impl From<Invocation> for Inv {
        fn from(i: Invocation) -> Inv {
            Inv {
                global: i.cli.global,
                command: i.cli.command,
                config: i.config,
            }
        }
    }

    fn with_file(text: &str, args: &[&str]) -> Result<Inv, clap::Error> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, text).unwrap();
        parse_from(args, Some(&p), &Env::default()).map(Inv::from)
    }

    #[test]
    fn file_values_are_defaults_below_flags() {
        let cli = with_file(
            "format = \"csv\"\nretries = 7\njobs = 9\nlayout = \"classic\"\noutput = \"/data\"\n",
            &["tcia", "download", "1.2.3"],
        )
        .unwrap();
        assert!(cli.config.error.is_none(), "{:?}", cli.config.error);
        assert_eq!(cli.global.format, Some(crate::output::Format::Csv));
        assert_eq!(cli.global.retries, Some(7));
        match &cli.command {
            Command::Download(a) => {
                assert_eq!(a.jobs, 9);
                assert_eq!(a.layout, "classic");
                assert_eq!(a.output, PathBuf::from("/data"));
            }
            other => panic!("{other:?}"),
        }
        let cli = with_file("format = \"csv\"\n", &["tcia", "collections", "-f", "tsv"]).unwrap();
        assert_eq!(cli.global.format, Some(crate::output::Format::Tsv));
        let s = cli
            .config
            .settings
            .iter()
            .find(|s| s.key == "format")
            .unwrap();
        assert_eq!(s.source, Source::Flag);
    }

    #[test]
    fn errors_name_the_line() {
        let cli = with_file(
            "api = \"v1\"\n\nformat = \"xml\"\n",
            &["tcia", "collections"],
        )
        .unwrap();
        let e = cli.config.error.unwrap();
        assert!(
            e.contains("config.toml line 3: format: invalid value 'xml'"),
            "{e}"
        );
        let cli = with_file("api = \"v1\"\nbogus = 1\n", &["tcia", "collections"]).unwrap();
        let e = cli.config.error.unwrap();
        assert!(
            e.contains("line 2: unknown key 'bogus'; valid keys: server, api"),
            "{e}"
        );
        let cli = with_file("api = \"v1\"\nformat = \n", &["tcia", "collections"]).unwrap();
        assert!(cli.config.error.unwrap().contains("config.toml line 2: "));
    }

    #[test]
    fn no_file_no_change() {
        let cli = Inv::from(parse_from(["tcia", "collections"], None, &Env::default()).unwrap());
        assert!(cli.config.error.is_none());
        assert_eq!(cli.global.api, crate::api::catalogue::Api::V4);
    }

    #[test]
    fn proxy_passwords_are_masked() {
        assert_eq!(
            mask_url_password("http://u:secret@proxy:3128"),
            "http://u:****@proxy:3128/"
        );
    }
}
