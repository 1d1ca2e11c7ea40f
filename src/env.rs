//! Every environment variable `tcia` reads, in one place.

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
/// Test hook: behave as if stdout were a terminal.
pub const TEST_STDOUT_TTY: &str = "TCIA_TEST_STDOUT_TTY";
/// Test hook: colour as if stderr were a terminal (`--color auto`; nothing else changes).
pub const TEST_STDERR_TTY: &str = "TCIA_TEST_STDERR_TTY";
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
