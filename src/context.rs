//! The context a command runs in, resolved once from the global flags, the config file and the
//! captured environment: the printer, the HTTP client (with a logged-in session, if any), the
//! output format and width. Also the precedence rules that mix those sources: a manifest's
//! server and retry count, and the download engine's settings.

use std::io::{self, Write};
use std::time::Duration;

use crate::api::auth::{Credentials, Session};
use crate::api::catalogue::{resolve_server, Api, DEFAULT_SERVER};
use crate::api::client::{Client, HttpSettings, V2_LOGIN_HINT};
use crate::cli::{DataSource, DownloadArgs, GlobalArgs};
use crate::config::Applied;
use crate::download::engine::Settings;
use crate::download::input::Manifest;
use crate::env::Env;
use crate::error::usage;
use crate::output::{Format, RawFormat};
use crate::printer::Printer;

/// Default retries per series (the portal's manifests say 4 too).
const DOWNLOAD_RETRIES: u32 = 4;

/// Everything a command needs, resolved once before it runs.
pub struct Ctx {
    pub api: Api,
    pub client: Client,
    pub printer: Printer,
    pub format: Format,
    pub raw: Option<RawFormat>,
    pub fields: Option<Vec<String>>,
    /// `--limit N`: at most this many rows (series, for downloads).
    pub limit: Option<u64>,
    pub width: usize,
    /// `--allow-http`: plain http to non-loopback hosts.
    pub allow_http: bool,
    /// `--offline`: list commands answer from the local index.
    pub offline: bool,
    /// Where tokens live and who logs in (from the environment).
    pub creds: Credentials,
    /// What the process found at start.
    pub env: Env,
    /// `--source`.
    pub source: DataSource,
    /// `--idc-index` and `--idc-endpoint`, as given.
    pub idc_index: Option<String>,
    pub idc_endpoint: Option<String>,
}

/// The printer for the global options (`-q`, `-v`, `--color`).
pub fn printer(g: &GlobalArgs, env: &Env) -> Printer {
    Printer::new(g.quiet, g.verbose, g.color, env)
}

/// TCIA_CONFIG_DIR, TCIA_USER, TCIA_PASSWORD and TCIA_CLIENT_SECRET, for `api::auth`.
pub fn credentials(env: &Env) -> Credentials {
    Credentials {
        config_dir: env.config_dir.clone(),
        user: env.user.clone(),
        password: env.password.clone(),
        client_secret: env.client_secret.clone(),
    }
}

impl Ctx {
    pub fn new(g: &GlobalArgs, env: &Env) -> anyhow::Result<Ctx> {
        Ctx::build(g, env, Duration::from_secs(g.timeout), "--timeout")
    }

    /// As `new`, with a longer read timeout than `--timeout` (downloads: `--idle-timeout`).
    pub fn with_idle_timeout(
        g: &GlobalArgs,
        env: &Env,
        idle_timeout: Duration,
    ) -> anyhow::Result<Ctx> {
        Ctx::build(g, env, idle_timeout, "--idle-timeout")
    }

    fn build(
        g: &GlobalArgs,
        env: &Env,
        idle_timeout: Duration,
        idle_flag: &'static str,
    ) -> anyhow::Result<Ctx> {
        let printer = printer(g, env);
        let base = resolve_server(g.server.as_deref().unwrap_or(DEFAULT_SERVER), g.allow_http)?;
        if g.api == Api::Legacy && g.api_key.is_none() {
            return Err(usage(
                "--api legacy needs an API key: pass --api-key KEY or set TCIA_API_KEY",
            ));
        }
        let settings = HttpSettings {
            base: base.clone(),
            timeout: Duration::from_secs(g.timeout),
            idle_timeout,
            idle_flag,
            retries: g.retries.unwrap_or(3),
            api_key: g.api_key.clone().filter(|_| g.api == Api::Legacy),
            no_retry_delay: env.no_retry_delay,
            proxy: g.proxy.clone(),
            ca_cert: g.ca_cert.clone(),
            offline: g.offline,
        };
        let format = g.format.unwrap_or(if printer.stdout_tty {
            Format::Table
        } else {
            Format::Json
        });
        let fields = (!g.fields.is_empty()).then(|| {
            g.fields
                .iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect()
        });
        let creds = credentials(env);
        let client = Client::new(settings, printer.clone())?;
        let session = (!g.offline)
            .then(|| {
                Session::load(
                    &creds,
                    &client.settings.base,
                    client.http().clone(),
                    printer.clone(),
                )
            })
            .flatten();
        Ok(Ctx {
            api: g.api,
            client: client.with_session(session),
            printer,
            format,
            raw: g.raw,
            fields,
            limit: g.limit,
            width: env.width.unwrap_or(120),
            allow_http: g.allow_http,
            offline: g.offline,
            creds,
            env: env.clone(),
            source: g.source,
            idc_index: g.idc_index.clone(),
            idc_endpoint: g.idc_endpoint.clone(),
        })
    }

    /// `--api v2` with no login for this server: its requests are answered with a 500 or with
    /// nothing.
    pub fn v2_without_login(&self) -> bool {
        self.api == Api::V2 && self.client.session.is_none()
    }

    /// Say so before the first request (see [`Ctx::v2_without_login`]).
    pub fn warn_v2_without_login(&self) {
        if self.v2_without_login() {
            self.printer.warn(V2_LOGIN_HINT);
        }
    }

    /// Buffered stdout for data; CSV and TSV on a terminal with control characters escaped
    /// (the table escapes its own cells; JSON escapes them by its syntax).
    pub fn stdout(&self) -> Box<dyn Write> {
        let out = io::BufWriter::with_capacity(64 * 1024, io::stdout());
        if self.printer.stdout_tty && matches!(self.format, Format::Csv | Format::Tsv) {
            return Box::new(crate::text::EscapeControls::new(out));
        }
        Box::new(out)
    }
}

/// A manifest knows its server (NLST manifests point at the NLST host) and retry count: it
/// beats the config file and the defaults, not a flag or an environment variable. Returns the
/// global options to use and the retries per series.
pub fn with_manifests(
    global: &GlobalArgs,
    config: &Applied,
    manifests: &[Manifest],
) -> (GlobalArgs, u32) {
    let mut g = global.clone();
    if !config.explicit("server") {
        if let Some(s) = manifests.iter().find_map(|m| m.server()) {
            g.server = Some(s);
        }
    }
    let manifest_retries = manifests.iter().find_map(|m| m.retries());
    let retries = if config.explicit("retries") {
        global.retries
    } else {
        manifest_retries.or(global.retries)
    }
    .unwrap_or(DOWNLOAD_RETRIES);
    (g, retries)
}

/// The engine's settings for `download` / `sync`.
pub fn engine_settings(a: &DownloadArgs, retries: u32, env: &Env) -> Settings {
    Settings {
        zip: a.zip,
        jobs: a.jobs as usize,
        retries,
        no_retry_delay: env.no_retry_delay,
        abort_publish_after: env.abort_publish_after,
    }
}
