//! Every environment variable `tcia` reads, and every terminal fact, in one place: their names
//! (also used by the clap definitions) and [`Env::capture`], the only code that reads them. It
//! runs once per process; the [`Env`] it returns is passed down.
#![allow(clippy::disallowed_methods)] // the one module allowed to read the environment

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::secret::Secret;

/// Server base URL or `nbia` / `nlst` (`--server`).
pub const SERVER: &str = "TCIA_SERVER";
/// API flavour (`--api`).
pub const API: &str = "TCIA_API";
/// Legacy Bindaas API key (`--api-key`); never printed.
pub const API_KEY: &str = "TCIA_API_KEY";
/// Output format (`--format`).
pub const FORMAT: &str = "TCIA_FORMAT";
/// Connect and idle-read timeout in seconds (`--timeout`).
pub const TIMEOUT: &str = "TCIA_TIMEOUT";
/// Retry count (`--retries`).
pub const RETRIES: &str = "TCIA_RETRIES";
/// Allow plain http:// to non-loopback hosts (`--allow-http`).
pub const ALLOW_HTTP: &str = "TCIA_ALLOW_HTTP";
/// Quiet mode (`--quiet`).
pub const QUIET: &str = "TCIA_QUIET";
/// Proxy for every request (`--proxy`); otherwise HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply.
pub const PROXY: &str = "TCIA_PROXY";
/// Extra trusted CA certificates, PEM (`--ca-cert`).
pub const CA_CERT: &str = "SSL_CERT_FILE";
/// When to colour messages (`--color auto|always|never`).
pub const COLOR: &str = "TCIA_COLOR";
/// Any non-empty value turns colour off under `--color auto` (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// `dumb` turns colour off under `--color auto`.
pub const TERM: &str = "TERM";
/// Read by reqwest for every client without `--proxy` (and NO_PROXY also with it).
pub const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];
/// Test hook: retry delays are computed and reported but not slept.
pub const TEST_NO_RETRY_DELAY: &str = "TCIA_TEST_NO_RETRY_DELAY";
/// Test hook: end the process (exit 86) right after step N (1-4) of publishing a series.
pub const TEST_ABORT_PUBLISH_AFTER: &str = "TCIA_TEST_ABORT_PUBLISH_AFTER";
/// Test hook: behave as if stdout were a terminal.
pub const TEST_STDOUT_TTY: &str = "TCIA_TEST_STDOUT_TTY";
/// Test hook: colour as if stderr were a terminal (`--color auto`; nothing else changes).
pub const TEST_STDERR_TTY: &str = "TCIA_TEST_STDERR_TTY";
/// Directory for the local series index (and other caches); default: the platform's cache
/// directory + `tcia`.
pub const CACHE_DIR: &str = "TCIA_CACHE_DIR";
/// Answer list commands from the local index (`--offline`).
pub const OFFLINE: &str = "TCIA_OFFLINE";
/// Where data comes from: `nbia` (default) or `idc` (`--source`).
pub const SOURCE: &str = "TCIA_SOURCE";
/// IDC's index files: a URL base or a local directory (`--idc-index`).
pub const IDC_INDEX: &str = "TCIA_IDC_INDEX";
/// IDC's bucket endpoint (`--idc-endpoint`).
pub const IDC_ENDPOINT: &str = "TCIA_IDC_ENDPOINT";
/// Output directory of `download` / `sync` (`-o`).
pub const OUTPUT: &str = "TCIA_OUTPUT";
/// Series in flight for `download` / `sync` (`--jobs`).
pub const JOBS: &str = "TCIA_JOBS";
/// Job-array variables read by `--shard auto`: Slurm, and Kubernetes Indexed Jobs.
pub const JOB_ARRAY_VARS: [&str; 4] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
];
/// Progress line interval off a terminal for `download` / `sync` (`--heartbeat`).
pub const HEARTBEAT: &str = "TCIA_HEARTBEAT";
/// Terminal width override for `--format table`.
pub const COLUMNS: &str = "COLUMNS";
/// Directory for the token cache and `config.toml`; default: the platform's config
/// directory + `tcia`.
pub const CONFIG_DIR: &str = "TCIA_CONFIG_DIR";
/// User for `tcia login`, and for unattended re-login when the refresh token has expired.
pub const USER: &str = "TCIA_USER";
/// Password for unattended use (cron); never taken from a flag.
pub const PASSWORD: &str = "TCIA_PASSWORD";
/// OAuth client secret, where a server needs one.
pub const CLIENT_SECRET: &str = "TCIA_CLIENT_SECRET";

/// What the process found around it when it started: terminals, variables, directories.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// stdout is a terminal (or the TCIA_TEST_STDOUT_TTY hook is set).
    pub stdout_tty: bool,
    /// stderr is a terminal.
    pub stderr_tty: bool,
    /// stdin is a terminal (prompts are possible).
    pub stdin_tty: bool,
    /// Colour is allowed under `--color auto`: stderr is a terminal (or TCIA_TEST_STDERR_TTY),
    /// NO_COLOR is unset or empty, TERM is not `dumb`.
    pub color_auto: bool,
    /// COLUMNS, else the terminal's width.
    pub width: Option<usize>,
    /// TERM is unset or `dumb`: no cursor movement, so no progress bars (lines instead).
    pub term_dumb: bool,
    /// TCIA_TEST_NO_RETRY_DELAY: retry delays are reported but not slept.
    pub no_retry_delay: bool,
    /// TCIA_TEST_ABORT_PUBLISH_AFTER: the publish step after which the process ends.
    pub abort_publish_after: Option<u32>,
    /// TCIA_CONFIG_DIR, else the platform's config directory + `tcia`.
    pub config_dir: Option<PathBuf>,
    /// TCIA_CACHE_DIR, else the platform's cache directory + `tcia`.
    pub cache_dir: Option<PathBuf>,
    /// TCIA_USER (non-empty).
    pub user: Option<String>,
    /// TCIA_PASSWORD.
    pub password: Option<Secret>,
    /// TCIA_CLIENT_SECRET.
    pub client_secret: Option<Secret>,
    /// Other variables tcia consults by name (job arrays, download options), when set.
    vars: BTreeMap<&'static str, String>,
}

impl Env {
    /// Read the environment and the terminals, once.
    pub fn capture() -> Env {
        let var = |k: &str| std::env::var(k).ok();
        let set = |k: &str| std::env::var_os(k).is_some();
        let stderr_tty = std::io::stderr().is_terminal();
        let color_auto = (stderr_tty || set(TEST_STDERR_TTY))
            && std::env::var_os(NO_COLOR).is_none_or(|v| v.is_empty())
            && std::env::var_os(TERM).is_none_or(|t| t != "dumb");
        let width = var(COLUMNS).and_then(|c| c.parse().ok()).or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, w)| w as usize)
        });
        let config_dir = std::env::var_os(CONFIG_DIR)
            .map(PathBuf::from)
            .or_else(|| dirs::config_dir().map(|d| d.join("tcia")));
        let cache_dir = std::env::var_os(CACHE_DIR)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("tcia")));
        let vars = JOB_ARRAY_VARS
            .iter()
            .chain(&[OUTPUT, JOBS])
            .filter_map(|k| var(k).map(|v| (*k, v)))
            .collect();
        Env {
            stdout_tty: std::io::stdout().is_terminal() || set(TEST_STDOUT_TTY),
            stderr_tty,
            stdin_tty: std::io::stdin().is_terminal(),
            color_auto,
            width,
            term_dumb: std::env::var_os(TERM).is_none_or(|t| t.is_empty() || t == "dumb"),
            no_retry_delay: set(TEST_NO_RETRY_DELAY),
            abort_publish_after: var(TEST_ABORT_PUBLISH_AFTER).and_then(|v| v.parse().ok()),
            config_dir,
            cache_dir,
            user: var(USER).filter(|u| !u.is_empty()),
            password: var(PASSWORD).map(Secret::new),
            client_secret: var(CLIENT_SECRET).map(Secret::new),
            vars,
        }
    }

    /// The width of the terminal on stderr now (it may have been resized since the start).
    pub fn stderr_width_now(&self) -> Option<usize> {
        if !self.stderr_tty {
            return None;
        }
        console::Term::stderr()
            .size_checked()
            .map(|(_, w)| w as usize)
    }

    /// A variable of [`JOB_ARRAY_VARS`], [`OUTPUT`] or [`JOBS`], as captured.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// As [`Env::var`], for tests: an environment with exactly these variables.
    pub fn with_vars(mut self, vars: &[(&'static str, &str)]) -> Env {
        self.vars = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self
    }
}
