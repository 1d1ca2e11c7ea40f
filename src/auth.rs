//! OAuth2 for NBIA servers that need it: the password grant (`tcia login`), a token cache per
//! (server, user) written with mode 0600, refresh shortly before expiry (the v2 API answers an
//! expired token with an empty 200, so a 401 comes too late) and once more on a 401/403, one
//! refresh shared by all concurrent requests, and re-login from TCIA_USER/TCIA_PASSWORD when the
//! refresh token has expired too. Anonymous use never touches any of this.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::printer::escape_control;
use crate::secret::Secret;

/// Where tokens live: `$TCIA_CONFIG_DIR`, else the platform's config directory + `tcia`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(crate::env::CONFIG_DIR) {
        return Some(PathBuf::from(d));
    }
    dirs::config_dir().map(|d| d.join("tcia"))
}

/// A file-name-safe key for a server URL (`https_services.cancerimagingarchive.net_443`).
fn server_key(base: &Url) -> String {
    let raw = format!(
        "{}_{}_{}{}",
        base.scheme(),
        base.host_str().unwrap_or("host"),
        base.port_or_known_default().unwrap_or(0),
        base.path().trim_end_matches('/')
    );
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn user_file(user: &str) -> String {
    let safe: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.json")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The cached token pair of one (server, user).
#[derive(Clone, Serialize, Deserialize)]
pub struct Cached {
    pub server: String,
    pub user: String,
    pub token_url: String,
    pub client_id: String,
    access_token: String,
    refresh_token: Option<String>,
    pub token_type: String,
    /// Unix seconds.
    pub obtained_at: f64,
    pub expires_at: f64,
    pub refresh_expires_at: Option<f64>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("access_token", &"(redacted)")
            .field("refresh_token", &"(redacted)")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Keycloak's token answer (extra keys such as `not-before-policy` are ignored).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    refresh_expires_in: Option<f64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// How to ask for tokens.
#[derive(Clone, Debug)]
pub struct Grant {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Option<Secret>,
}

/// The cache directory of one server.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn for_server(base: &Url) -> Option<Store> {
        Some(Store {
            dir: config_dir()?.join("tokens").join(server_key(base)),
        })
    }

    pub fn path(&self, user: &str) -> PathBuf {
        self.dir.join(user_file(user))
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join("current")
    }

    /// The user whose token commands use: TCIA_USER, else the last one logged in.
    pub fn current_user(&self) -> Option<String> {
        if let Ok(u) = std::env::var(crate::env::USER) {
            if !u.is_empty() {
                return Some(u);
            }
        }
        let u = std::fs::read_to_string(self.current_path()).ok()?;
        let u = u.trim().to_string();
        (!u.is_empty()).then_some(u)
    }

    pub fn load(&self, user: &str) -> Option<Cached> {
        let text = std::fs::read_to_string(self.path(user)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write atomically, readable by the owner only from the first byte.
    pub fn save(&self, c: &Cached) -> anyhow::Result<()> {
        create_private_dir(&self.dir)?;
        let bytes = serde_json::to_vec_pretty(c)?;
        write_private(&self.path(&c.user), &bytes)?;
        write_private(&self.current_path(), c.user.as_bytes())?;
        Ok(())
    }

    pub fn remove(&self, user: &str) {
        let _ = std::fs::remove_file(self.path(user));
        if self.current_user().as_deref() == Some(user) {
            let _ = std::fs::remove_file(self.current_path());
        }
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut b = tempfile::Builder::new();
    b.prefix(".tcia-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = b
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Ask the token endpoint. `form` holds the grant's own fields.
async fn token_request(
    http: &reqwest::Client,
    grant: &Grant,
    mut form: Vec<(&str, String)>,
) -> Result<TokenResponse, Error> {
    form.push(("client_id", grant.client_id.clone()));
    if let Some(s) = &grant.client_secret {
        form.push(("client_secret", s.expose().to_string()));
    }
    let url = grant.token_url.to_string();
    let resp = http
        .post(grant.token_url.clone())
        .form(&form)
        .send()
        .await
        .map_err(|e| Error::Network {
            method: "POST",
            url: url.clone(),
            what: format!("cannot reach the token endpoint: {e}"),
        })?;
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| Error::BadResponse {
            url,
            message: format!("the token endpoint did not answer with a token: {e}"),
        });
    }
    let why = match serde_json::from_slice::<OAuthError>(&body) {
        Ok(e) if !e.error_description.is_empty() => e.error_description,
        Ok(e) if !e.error.is_empty() => e.error,
        _ => escape_control(String::from_utf8_lossy(&body).trim()),
    };
    Err(Error::Http {
        method: "POST",
        url,
        status: status.as_u16(),
        message: why,
        retry_after: None,
    })
}

fn cached_from(server: &Url, user: &str, grant: &Grant, t: TokenResponse) -> Cached {
    let at = now();
    Cached {
        server: server.to_string(),
        user: user.to_string(),
        token_url: grant.token_url.to_string(),
        client_id: grant.client_id.clone(),
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        token_type: t.token_type.unwrap_or_else(|| "Bearer".into()),
        obtained_at: at,
        expires_at: at + t.expires_in.unwrap_or(300.0),
        refresh_expires_at: t.refresh_expires_in.filter(|s| *s > 0.0).map(|s| at + s),
    }
}

/// The password grant.
pub async fn password_login(
    http: &reqwest::Client,
    server: &Url,
    grant: &Grant,
    user: &str,
    password: &Secret,
) -> Result<Cached, Error> {
    let t = token_request(
        http,
        grant,
        vec![
            ("grant_type", "password".into()),
            ("username", user.to_string()),
            ("password", password.expose().to_string()),
        ],
    )
    .await?;
    Ok(cached_from(server, user, grant, t))
}

/// A logged-in session used by every request to its server.
pub struct Session {
    store: Store,
    http: reqwest::Client,
    client_secret: Option<Secret>,
    state: tokio::sync::Mutex<Cached>,
    /// Refreshes made by this process (for diagnostics and tests).
    pub refreshes: AtomicU32,
    printer: crate::printer::Printer,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(redacted)")
    }
}

impl Session {
    /// The cached session for `base`, if there is one.
    pub fn load(
        base: &Url,
        http: reqwest::Client,
        printer: crate::printer::Printer,
    ) -> Option<Session> {
        let store = Store::for_server(base)?;
        let user = store.current_user()?;
        let cached = store.load(&user)?;
        Some(Session {
            store,
            http,
            client_secret: std::env::var(crate::env::CLIENT_SECRET)
                .ok()
                .map(Secret::new),
            state: tokio::sync::Mutex::new(cached),
            refreshes: AtomicU32::new(0),
            printer,
        })
    }

    pub async fn user(&self) -> String {
        self.state.lock().await.user.clone()
    }

    /// A token good for the next request: refreshed first when it is about to expire. Concurrent
    /// callers wait on one refresh.
    pub async fn bearer(&self) -> Result<Secret, Error> {
        let mut st = self.state.lock().await;
        let lifetime = (st.expires_at - st.obtained_at).max(1.0);
        let margin = (lifetime / 4.0).min(60.0);
        if now() >= st.expires_at - margin {
            self.refresh(&mut st).await?;
        }
        Ok(Secret::new(st.access_token.clone()))
    }

    /// After a 401/403 with `used`: refresh unless another request already did.
    pub async fn after_rejection(&self, used: &Secret) -> Result<Secret, Error> {
        let mut st = self.state.lock().await;
        if st.access_token == used.expose() {
            self.refresh(&mut st).await?;
        }
        Ok(Secret::new(st.access_token.clone()))
    }

    async fn refresh(&self, st: &mut Cached) -> Result<(), Error> {
        // Another process (a shard, a parallel command) may have refreshed already, and with
        // single-use refresh tokens ours would then be spent: start from the cache on disk.
        if let Some(stored) = self.store.load(&st.user) {
            if stored.access_token != st.access_token {
                let lifetime = (stored.expires_at - stored.obtained_at).max(1.0);
                let fresh = now() < stored.expires_at - (lifetime / 4.0).min(60.0);
                *st = stored;
                if fresh {
                    self.printer.debug(
                        1,
                        &format!(
                            "using the token another tcia process refreshed for {}",
                            st.user
                        ),
                    );
                    return Ok(());
                }
            }
        }
        let grant = Grant {
            token_url: Url::parse(&st.token_url)
                .map_err(|e| Error::Usage(format!("bad cached token URL: {e}")))?,
            client_id: st.client_id.clone(),
            client_secret: self.client_secret.clone(),
        };
        let server = Url::parse(&st.server)
            .map_err(|e| Error::Usage(format!("bad cached server URL: {e}")))?;
        let refresh_ok =
            st.refresh_token.is_some() && st.refresh_expires_at.is_none_or(|t| now() < t - 1.0);
        if refresh_ok {
            let rt = st.refresh_token.clone().unwrap_or_default();
            match token_request(
                &self.http,
                &grant,
                vec![
                    ("grant_type", "refresh_token".into()),
                    ("refresh_token", rt),
                ],
            )
            .await
            {
                Ok(t) => {
                    let mut next = cached_from(&server, &st.user, &grant, t);
                    if next.refresh_token.is_none() {
                        next.refresh_token = st.refresh_token.clone();
                        next.refresh_expires_at = st.refresh_expires_at;
                    }
                    *st = next;
                    self.refreshes.fetch_add(1, Ordering::Relaxed);
                    self.printer.debug(
                        1,
                        &format!(
                            "refreshed the access token for {} at {}",
                            st.user, st.server
                        ),
                    );
                    let _ = self.store.save(st);
                    return Ok(());
                }
                Err(Error::Http { status, .. }) if status == 400 || status == 401 => {}
                Err(e) => return Err(e),
            }
        }
        // The refresh token is gone too: log in again from the environment, or say what to do.
        let env_user = std::env::var(crate::env::USER)
            .ok()
            .filter(|u| *u == st.user);
        let env_pass = std::env::var(crate::env::PASSWORD).ok();
        if let (Some(user), Some(pass)) = (env_user, env_pass) {
            let fresh =
                password_login(&self.http, &server, &grant, &user, &Secret::new(pass)).await?;
            *st = fresh;
            self.refreshes.fetch_add(1, Ordering::Relaxed);
            self.printer.debug(
                1,
                &format!("logged in again as {user} (TCIA_USER/TCIA_PASSWORD)"),
            );
            let _ = self.store.save(st);
            return Ok(());
        }
        Err(Error::Http {
            method: "POST",
            url: st.token_url.clone(),
            status: 401,
            message: format!(
                "the session of {} at {} has expired; run `tcia login` (or set TCIA_USER and TCIA_PASSWORD for unattended use)",
                st.user, st.server
            ),
            retry_after: None,
        })
    }
}

/// "1h59m", "12m", "40s", or "expired".
pub fn expires_in(at: f64) -> String {
    let left = at - now();
    if left <= 0.0 {
        return "expired".into();
    }
    crate::download::report::human_duration(Duration::from_secs_f64(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_file_names() {
        let u = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(server_key(&u), "http_127.0.0.1_8080");
        assert_eq!(user_file("a/../b"), "a_.._b.json");
    }

    #[test]
    fn debug_never_shows_tokens() {
        let c = Cached {
            server: "s".into(),
            user: "u".into(),
            token_url: "t".into(),
            client_id: "NBIA".into(),
            access_token: "SECRET-A".into(),
            refresh_token: Some("SECRET-R".into()),
            token_type: "Bearer".into(),
            obtained_at: 0.0,
            expires_at: 0.0,
            refresh_expires_at: None,
        };
        let d = format!("{c:?}");
        assert!(!d.contains("SECRET"), "{d}");
    }
}
