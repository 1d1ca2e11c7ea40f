//! The one HTTP layer: a reqwest client (rustls), the server URL policy, retries with backoff
//! and Retry-After, and the mapping of failures to one-line errors with hints.

use std::time::{Duration, Instant, SystemTime};

use reqwest::{StatusCode, Url};

use super::auth::Session;
use super::catalogue::Method;
use crate::error::Error;
use crate::html::{html_title, looks_like_html};
use crate::printer::Printer;
use crate::secret::{mask_url_password, Secret};
use crate::text::escape_control;

/// Longest wait honoured from a Retry-After header.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(120);
/// Longest computed backoff.
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Follow redirects within the same origin only (scheme, host and port): credentials (the
/// legacy `api_key` header, a Bearer token, a login form's password) must never travel to
/// another origin, nor from https to http. Anything else is an error naming the target.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |u: &Url| {
            (
                u.scheme().to_string(),
                u.host_str().map(str::to_string),
                u.port_or_known_default(),
            )
        };
        let first = attempt.previous().first().map(origin);
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if first != Some(origin(attempt.url())) {
            let target = mask_url_password(attempt.url().as_str());
            attempt.error(crate::error::RedirectRefused { target })
        } else {
            attempt.follow()
        }
    })
}

/// Credentials written into a `--server` URL (`https://user:pass@host`), taken out of it so
/// that no message shows them; sent as HTTP basic authentication instead.
fn split_credentials(base: &mut Url) -> Option<(String, Secret)> {
    if base.username().is_empty() && base.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let user = decode(base.username());
    let pass = Secret::new(decode(base.password().unwrap_or("")));
    let _ = base.set_username("");
    let _ = base.set_password(None);
    Some((user, pass))
}

/// `--proxy URL` for every scheme; NO_PROXY still exempts its hosts.
fn proxy(url: &str) -> Result<reqwest::Proxy, Error> {
    let parsed = Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
    if parsed.is_none() {
        return Err(Error::Usage(format!(
            "invalid --proxy '{}': expected a URL such as http://proxy.example.org:3128",
            escape_control(&mask_url_password(url))
        )));
    }
    reqwest::Proxy::all(url)
        .map(|p| p.no_proxy(reqwest::NoProxy::from_env()))
        .map_err(|e| {
            Error::Usage(format!(
                "invalid --proxy '{}': {e}",
                escape_control(&mask_url_password(url))
            ))
        })
}

/// The certificates of a `--ca-cert` PEM bundle (at least one).
fn ca_certs(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, Error> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| {
        Error::Usage(format!(
            "--ca-cert {shown} (or SSL_CERT_FILE): cannot read the file: {e}"
        ))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        Error::Usage(format!(
            "--ca-cert {shown} (or SSL_CERT_FILE): not a PEM certificate bundle: {e}"
        ))
    })?;
    if certs.is_empty() || !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(Error::Usage(format!(
            "--ca-cert {shown} (or SSL_CERT_FILE): no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"
        )));
    }
    Ok(certs)
}

/// What the v2 API needs that a new user may not know: v2 answers a request without a token
/// with a 500 or an empty result, never a 401.
pub const V2_LOGIN_HINT: &str =
    "v2 needs a login: run `tcia login` (public data needs no login: use --api v4)";

const BAD_TOKEN: &str = "the cached token is not a valid HTTP header value; run `tcia login` again";

/// A request, described so it can be sent again on retry.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Option<Vec<(String, String)>>,
}

impl Request {
    pub fn get(path: impl Into<String>, query: Vec<(String, String)>) -> Request {
        Request {
            method: Method::Get,
            path: path.into(),
            query,
            form: None,
        }
    }
    pub fn post_form(path: impl Into<String>, form: Vec<(String, String)>) -> Request {
        Request {
            method: Method::Post,
            path: path.into(),
            query: Vec::new(),
            form: Some(form),
        }
    }
    /// A request as a catalogue route sends it: GET with a query string, or POST with a form.
    pub fn for_method(method: Method, path: String, pairs: Vec<(String, String)>) -> Request {
        match method {
            Method::Get => Request::get(path, pairs),
            Method::Post => Request::post_form(path, pairs),
        }
    }
    /// `GET` or `POST`, for requests and messages.
    pub fn method(&self) -> &'static str {
        match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Whether a response declares itself an HTML page (an error or proxy page, never data).
pub fn is_html(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("html"))
}

/// A request that got no response: why, and whether trying again can change that.
struct NoResponse {
    err: Error,
    /// A refused connection or TLS to a port that speaks plain HTTP: retrying cannot help.
    permanent: bool,
}

impl From<Error> for NoResponse {
    fn from(err: Error) -> NoResponse {
        let permanent = matches!(err, Error::Usage(_));
        NoResponse { err, permanent }
    }
}

/// What one attempt came to.
enum Attempt {
    Done(reqwest::Response),
    Retry {
        retry_after: Option<Duration>,
        err: Error,
    },
    Fatal(Error),
}

fn is_auth_rejection(s: StatusCode) -> bool {
    s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN
}

/// Settings for the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub base: Url,
    pub timeout: Duration,
    /// Longest silence while reading a response (downloads: `--idle-timeout`).
    pub idle_timeout: Duration,
    /// The flag that set `idle_timeout`, for messages: `--timeout` or `--idle-timeout`.
    pub idle_flag: &'static str,
    pub retries: u32,
    pub api_key: Option<Secret>,
    pub no_retry_delay: bool,
    /// `--proxy`: every request through this proxy (NO_PROXY still applies). Without it,
    /// reqwest reads HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY itself.
    pub proxy: Option<String>,
    /// `--ca-cert`: extra trusted CA certificates (a PEM bundle).
    pub ca_cert: Option<std::path::PathBuf>,
    /// `--offline`: nothing will be sent, so the system's CA certificates are not loaded (they
    /// cost a few milliseconds of start-up).
    pub offline: bool,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub settings: HttpSettings,
    printer: Printer,
    /// A logged-in session for this server, when `tcia login` left one (see [`Client::with_session`]).
    pub session: Option<std::sync::Arc<Session>>,
    /// User and password from the `--server` URL (see `split_credentials`).
    basic_auth: Option<(String, Secret)>,
}

impl Client {
    pub fn new(mut settings: HttpSettings, printer: Printer) -> anyhow::Result<Client> {
        let basic_auth = split_credentials(&mut settings.base);
        // reqwest is built without a bundled crypto provider; install ring once (a second call is harmless).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("tcia/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout)
            .read_timeout(settings.idle_timeout)
            .redirect(same_origin_redirects());
        if let Some(p) = &settings.proxy {
            builder = builder.proxy(proxy(p)?);
        }
        if let (Some(path), false) = (&settings.ca_cert, settings.offline) {
            builder = builder.tls_certs_merge(ca_certs(path)?);
        }
        if settings.offline {
            // No certificate store at all: nothing will be sent.
            let tls = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            builder = builder.tls_backend_preconfigured(tls);
        }
        Ok(Client {
            http: builder.build()?,
            settings,
            printer,
            session: None,
            basic_auth,
        })
    }

    /// Send this session's Bearer token with every request (and refresh it as needed).
    pub fn with_session(mut self, session: Option<Session>) -> Client {
        self.session = session.map(std::sync::Arc::new);
        self
    }

    /// A v2 request sent without a token (no `tcia login` for this server).
    fn v2_without_token(&self, url: &Url) -> bool {
        self.session.is_none() && url.path().contains("/services/v2/")
    }

    /// The underlying reqwest client (shared connection pool).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The full URL of a request, as shown in messages.
    pub fn url_for(&self, req: &Request) -> Url {
        let mut url = self.settings.base.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{}", req.path));
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        url
    }

    /// Send with retries. Returns a response with a success status (2xx); every other outcome
    /// is an `Error` with a one-line message.
    pub async fn send(&self, req: &Request) -> Result<reqwest::Response, Error> {
        self.send_with(req, self.settings.retries).await
    }

    /// As `send`, with an explicit retry count (0 for callers that retry themselves).
    pub async fn send_with(&self, req: &Request, retries: u32) -> Result<reqwest::Response, Error> {
        let url = self.url_for(req);
        let mut attempt = 0u32;
        let mut auth_retried = false;
        let mut refreshed: Option<Secret> = None;
        let mut last_shown: Option<String> = None;
        loop {
            // A fresh look at the token on every attempt: backoff may outlast it.
            let bearer = match (&self.session, refreshed.take()) {
                (Some(_), Some(t)) => Some(t),
                (Some(s), None) => Some(s.bearer().await?),
                (None, _) => None,
            };
            let started = Instant::now();
            let outcome = self.send_once(req, &url, bearer.as_ref()).await;
            if let (Ok(resp), Some(used)) = (&outcome, &bearer) {
                if !auth_retried && is_auth_rejection(resp.status()) {
                    auth_retried = true;
                    refreshed = Some(self.refresh_after(req, &url, resp.status(), used).await?);
                    continue;
                }
            }
            let (retry_after, err) = match self.judge(req, &url, outcome, started).await {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Fatal(err) => return Err(err),
                Attempt::Retry { retry_after, err } => (retry_after, err),
            };
            if attempt >= retries {
                if attempt > 0 {
                    self.printer
                        .debug(1, &format!("giving up after {} attempts", attempt + 1));
                }
                return Err(err);
            }
            attempt += 1;
            // The same error again is not shown again.
            let shown = err.to_string();
            let same = last_shown.as_deref() == Some(shown.as_str());
            self.wait_before_retry(&err, same, attempt, retries, retry_after)
                .await;
            last_shown = Some(shown);
        }
    }

    /// After a 401/403 with `used`: a new token from the session (one refresh shared by all).
    async fn refresh_after(
        &self,
        req: &Request,
        url: &Url,
        status: StatusCode,
        used: &Secret,
    ) -> Result<Secret, Error> {
        self.printer.debug(
            1,
            &format!(
                "{} {} -> {}: refreshing the token",
                req.method(),
                url,
                status.as_u16()
            ),
        );
        match &self.session {
            Some(session) => session.after_rejection(used).await,
            None => Ok(used.clone()),
        }
    }

    /// What one attempt's outcome means: success, an error worth retrying, or a final error.
    async fn judge(
        &self,
        req: &Request,
        url: &Url,
        outcome: Result<reqwest::Response, NoResponse>,
        started: Instant,
    ) -> Attempt {
        let resp = match outcome {
            Ok(resp) => resp,
            // Our own mistakes (a header value that cannot be sent), a closed port, TLS to a
            // plain-http port, a refused redirect: none of them improves with time.
            Err(NoResponse { err, permanent })
                if permanent || matches!(err, Error::Failed { .. }) =>
            {
                return Attempt::Fatal(err)
            }
            Err(NoResponse { err, .. }) => {
                return Attempt::Retry {
                    retry_after: None,
                    err,
                }
            }
        };
        let status = resp.status();
        self.printer.debug(
            1,
            &format!(
                "{} {} -> {} ({} ms)",
                req.method(),
                url,
                status.as_u16(),
                started.elapsed().as_millis()
            ),
        );
        if status.is_success() {
            return Attempt::Done(resp);
        }
        let retry_after = parse_retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
        let mut err = http_error(req.method(), url, resp, retry_after).await;
        if status == StatusCode::INTERNAL_SERVER_ERROR && self.v2_without_token(url) {
            // Its answer to a missing Authorization header: retrying will not log in.
            if let Error::Http { message, .. } = &mut err {
                message.push_str(&format!(": {V2_LOGIN_HINT}"));
            }
            return Attempt::Fatal(err);
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Attempt::Retry { retry_after, err }
        } else {
            Attempt::Fatal(err)
        }
    }

    /// Say why and how long, then wait (Retry-After, capped; else backoff with jitter).
    async fn wait_before_retry(
        &self,
        err: &Error,
        same_as_before: bool,
        attempt: u32,
        retries: u32,
        retry_after: Option<Duration>,
    ) {
        let (delay, why) = match retry_after {
            Some(d) => (d.min(RETRY_AFTER_CAP), "Retry-After"),
            None => (backoff(attempt), "backoff"),
        };
        let what = if same_as_before {
            "the same error".to_string()
        } else {
            err.to_string()
        };
        self.printer.warn(&format!(
            "{what}; retry {attempt}/{retries} in {:.1}s ({why})",
            delay.as_secs_f64()
        ));
        if !self.settings.no_retry_delay {
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        req: &Request,
        url: &Url,
        bearer: Option<&Secret>,
    ) -> Result<reqwest::Response, NoResponse> {
        self.printer.debug(2, &format!("{} {}", req.method(), url));
        let mut rb = match req.method {
            Method::Post => self.http.post(url.clone()),
            Method::Get => self.http.get(url.clone()),
        };
        if let Some(form) = &req.form {
            rb = rb.form(form);
        }
        if let (Some((user, pass)), None) = (&self.basic_auth, bearer) {
            rb = rb.basic_auth(user, Some(pass.expose()));
        }
        if let Some(token) = bearer {
            let value = format!("Bearer {}", token.expose());
            let mut v = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| Error::Usage(BAD_TOKEN.into()))?;
            v.set_sensitive(true);
            rb = rb.header(reqwest::header::AUTHORIZATION, v);
        }
        if let Some(key) = &self.settings.api_key {
            let mut v = reqwest::header::HeaderValue::from_str(key.expose()).map_err(|_| {
                Error::Usage("--api-key contains characters not allowed in an HTTP header".into())
            })?;
            v.set_sensitive(true);
            rb = rb.header("api_key", v);
        }
        rb.send().await.map_err(|e| NoResponse {
            permanent: cannot_change(&e),
            err: self.transport_error(req.method(), url, e),
        })
    }

    /// Map a transport failure (connect, DNS, timeout, reset) to an error naming the URL.
    pub fn transport_error(&self, method: &'static str, url: &Url, e: reqwest::Error) -> Error {
        let url_s = url.to_string();
        if let Some(why) = crate::error::refused_redirect(&e) {
            return Error::Failed {
                message: format!("{method} {url_s}: {why}"),
                code: crate::error::exit::HTTP_CLIENT,
            };
        }
        if e.is_timeout() {
            let (what, after, flag) = if e.is_connect() {
                ("no connection", self.settings.timeout, "--timeout")
            } else {
                (
                    "no data",
                    self.settings.idle_timeout,
                    self.settings.idle_flag,
                )
            };
            return Error::Timeout {
                method,
                url: url_s,
                after,
                what,
                flag,
            };
        }
        let what = if let (true, Some(p)) = (e.is_connect(), &self.settings.proxy) {
            let proxy = Url::parse(p).map(|u| host_port(&u)).unwrap_or_default();
            format!(
                "cannot connect to the proxy {proxy} (--proxy) on the way to {}: {}",
                host_port(url),
                root_cause(&e)
            )
        } else if e.is_connect() && plain_http_port(&e) {
            format!(
                "{} does not speak TLS: did you mean {}?",
                host_port(url),
                as_plain_http(url)
            )
        } else if e.is_connect() && refused(&e) {
            format!(
                "cannot connect to {}: connection refused (nothing listens there: check --server and the port)",
                host_port(url)
            )
        } else if e.is_connect() {
            format!("cannot connect to {}: {}", host_port(url), root_cause(&e))
        } else {
            format!("connection failed: {}", root_cause(&e))
        };
        Error::Network {
            method,
            url: url_s,
            what,
        }
    }
}

/// The errors in `e`'s chain, outermost first.
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = vec![e];
    while let Some(next) = out.last().and_then(|c| c.source()) {
        out.push(next);
    }
    out
}

/// The connection was refused: nothing listens on that port.
fn refused(e: &reqwest::Error) -> bool {
    chain(e).iter().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// The TLS handshake got a reply that is not TLS (a plain-http server answering).
fn plain_http_port(e: &reqwest::Error) -> bool {
    chain(e).into_iter().any(|c| {
        // rustls's error sits inside one or more io::Errors, which do not expose it as a source.
        let mut cur: &(dyn std::error::Error + 'static) = c;
        while let Some(inner) = cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            cur = inner;
        }
        matches!(
            cur.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))
        )
    })
}

/// Failures that another attempt cannot change.
fn cannot_change(e: &reqwest::Error) -> bool {
    e.is_connect() && (refused(e) || plain_http_port(e))
}

/// The same URL with http:// (and the port kept), for the "did you mean" hint.
fn as_plain_http(url: &Url) -> String {
    let mut u = url.clone();
    let port = u.port_or_known_default();
    let _ = u.set_scheme("http");
    let _ = u.set_port(port);
    u.set_path("");
    u.set_query(None);
    u.to_string().trim_end_matches('/').to_string()
}

fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.to_string(),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Exponential backoff with full jitter: base 0.5 s doubling, capped.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(500)
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let half = ceiling / 2;
    half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
}

/// Retry-After as seconds or an HTTP date, capped (a server asking for a day is not obeyed).
pub fn parse_retry_after(v: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let s = v?.to_str().ok()?.trim();
    let wait = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(s)
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

/// Build the one-line error for a non-success response: the server's text verbatim (control
/// characters escaped), an HTML page summarised, and hints where they help.
async fn http_error(
    method: &'static str,
    url: &Url,
    resp: reqwest::Response,
    retry_after: Option<Duration>,
) -> Error {
    let status = resp.status();
    let is_html = is_html(resp.headers());
    let body = read_capped(resp, 64 * 1024).await;
    let text = String::from_utf8_lossy(&body);
    let mut message = if is_html || looks_like_html(&text) {
        match html_title(&text) {
            Some(t) => format!(
                "the server sent an HTML error page: \"{}\"",
                escape_control(&t)
            ),
            None => "the server sent an HTML error page".to_string(),
        }
    } else {
        // An uncaught exception without a message ends the server's text in "\nnull".
        let t = text.trim();
        let t = t.strip_suffix("\nnull").unwrap_or(t).trim_end();
        if t.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            crate::text::one_line(t, 300)
        }
    };
    let lower = text.to_ascii_lowercase();
    if lower.contains("not been granted the access") || lower.contains("not in public domain") {
        message.push_str(
            " (hint: the series may not exist or may live on another server; NLST series are served by --server nlst)",
        );
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        message.push_str(
            " (hint: this endpoint needs credentials: check --api-key for --api legacy, or log in)",
        );
    }
    Error::Http {
        method,
        url: url.to_string(),
        status: status.as_u16(),
        message,
        retry_after,
    }
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < cap {
        match resp.chunk().await {
            Ok(Some(c)) => out.extend_from_slice(&c),
            _ => break,
        }
    }
    out.truncate(cap);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let v = reqwest::header::HeaderValue::from_static("7");
        assert_eq!(parse_retry_after(Some(&v)), Some(Duration::from_secs(7)));
        let past = reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(Some(&past)), Some(Duration::ZERO));
        let day = reqwest::header::HeaderValue::from_static("86400");
        assert_eq!(
            parse_retry_after(Some(&day)),
            Some(RETRY_AFTER_CAP),
            "capped"
        );
        let junk = reqwest::header::HeaderValue::from_static("soon");
        assert_eq!(parse_retry_after(Some(&junk)), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        // Attempt a waits between half of 0.5 s * 2^a and all of it (full jitter): every
        // delay of a later attempt is at least every delay of an earlier one, up to the cap.
        let samples = |a: u32| (0..50).map(move |_| backoff(a)).collect::<Vec<_>>();
        // Below the cap (attempt 5 is the last whole doubling: 16 s).
        for a in 1..5 {
            let ceiling = Duration::from_millis(500 << a);
            let this = samples(a);
            let next = samples(a + 1);
            assert!(
                this.iter().all(|d| *d >= ceiling / 2 && *d <= ceiling),
                "{a}: {this:?}"
            );
            let (max_this, min_next) = (this.iter().max().unwrap(), next.iter().min().unwrap());
            assert!(min_next >= max_this, "{a}: {min_next:?} < {max_this:?}");
            assert!(next.iter().sum::<Duration>() > this.iter().sum::<Duration>() * 3 / 2);
        }
        for a in 6..20 {
            let b = backoff(a);
            assert!(b <= BACKOFF_CAP && b >= BACKOFF_CAP / 2, "{a}: {b:?}");
        }
    }
}
