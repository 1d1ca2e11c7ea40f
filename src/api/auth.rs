//! OAuth2 for NBIA servers that need it: the password grant (`tcia login`), a token cache per
//! (server, user) written with mode 0600, refresh shortly before expiry (the v2 API answers an
//! expired token with an empty 200, so a 401 comes too late) and once more on a 401/403, one
//! refresh shared by all concurrent requests, and re-login from TCIA_USER/TCIA_PASSWORD when the
//! refresh token has expired too. Anonymous use never touches any of this.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::catalogue::server_key;
use crate::error::Error;
use crate::fsutil::{create_private_dir, write_private};
use crate::printer::Printer;
use crate::secret::Secret;
use crate::text::{escape_control, human_duration};

/// What the environment says about logging in (TCIA_CONFIG_DIR, TCIA_USER, TCIA_PASSWORD,
/// TCIA_CLIENT_SECRET), as captured at start.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Where tokens live: `$TCIA_CONFIG_DIR`, else the platform's config directory + `tcia`.
    pub config_dir: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub client_secret: Option<Secret>,
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

/// The cached token pair of one (server, user). `Debug` shows no token (they are [`Secret`]s).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cached {
    pub server: String,
    pub user: String,
    pub token_url: String,
    pub client_id: String,
    access_token: Secret,
    refresh_token: Option<Secret>,
    pub token_type: String,
    /// Unix seconds.
    pub obtained_at: f64,
    pub expires_at: f64,
    pub refresh_expires_at: Option<f64>,
}

impl Cached {
    /// Whether the access token is good for a while yet: not within min(60 s, a quarter of
    /// its lifetime) of expiry.
    pub fn is_fresh(&self, at: f64) -> bool {
        let lifetime = (self.expires_at - self.obtained_at).max(1.0);
        at < self.expires_at - (lifetime / 4.0).min(60.0)
    }
}

/// Keycloak's token answer (extra keys such as `not-before-policy` are ignored).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    refresh_expires_in: Option<f64>,
    #[serde(default)]
    refresh_token: Option<Secret>,
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
    /// TCIA_USER, which picks the user when set.
    env_user: Option<String>,
}

impl Store {
    pub fn for_server(creds: &Credentials, base: &Url) -> Option<Store> {
        Some(Store {
            dir: creds
                .config_dir
                .as_ref()?
                .join("tokens")
                .join(server_key(base)),
            env_user: creds.user.clone(),
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
        if let Some(u) = &self.env_user {
            return Some(u.clone());
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
        .map_err(|e| match crate::error::refused_redirect(&e) {
            Some(why) => Error::Failed {
                message: format!("POST {url}: {why}"),
                code: crate::error::exit::HTTP_CLIENT,
            },
            None => Error::Network {
                method: "POST",
                url: url.clone(),
                what: format!("cannot reach the token endpoint: {e}"),
            },
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
    /// TCIA_USER / TCIA_PASSWORD, for logging in again when the refresh token has expired.
    env_login: Option<(String, Secret)>,
    printer: Printer,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(redacted)")
    }
}

impl Session {
    /// The cached session for `base`, if there is one.
    pub fn load(
        creds: &Credentials,
        base: &Url,
        http: reqwest::Client,
        printer: Printer,
    ) -> Option<Session> {
        let store = Store::for_server(creds, base)?;
        let user = store.current_user()?;
        let cached = store.load(&user)?;
        Some(Session {
            store,
            http,
            client_secret: creds.client_secret.clone(),
            state: tokio::sync::Mutex::new(cached),
            refreshes: AtomicU32::new(0),
            env_login: creds.user.clone().zip(creds.password.clone()),
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
        if !st.is_fresh(now()) {
            self.refresh(&mut st).await?;
        }
        Ok(st.access_token.clone())
    }

    /// After a 401/403 with `used`: refresh unless another request already did.
    pub async fn after_rejection(&self, used: &Secret) -> Result<Secret, Error> {
        let mut st = self.state.lock().await;
        if st.access_token == *used {
            self.refresh(&mut st).await?;
        }
        Ok(st.access_token.clone())
    }

    /// A new access token: adopt one another process saved, else the refresh grant, else a
    /// new login from TCIA_USER/TCIA_PASSWORD, else an error saying to log in.
    async fn refresh(&self, st: &mut Cached) -> Result<(), Error> {
        if self.adopt_disk_copy(st) {
            return Ok(());
        }
        let grant = Grant {
            token_url: Url::parse(&st.token_url)
                .map_err(|e| Error::Usage(format!("bad cached token URL: {e}")))?,
            client_id: st.client_id.clone(),
            client_secret: self.client_secret.clone(),
        };
        let server = Url::parse(&st.server)
            .map_err(|e| Error::Usage(format!("bad cached server URL: {e}")))?;
        if let Some(next) = self.refresh_grant(st, &server, &grant).await? {
            *st = next;
            self.refreshed(
                st,
                format!(
                    "refreshed the access token for {} at {}",
                    st.user, st.server
                ),
            );
            return Ok(());
        }
        if let Some(fresh) = self.relogin_from_env(st, &server, &grant).await? {
            *st = fresh;
            self.refreshed(
                st,
                format!("logged in again as {} (TCIA_USER/TCIA_PASSWORD)", st.user),
            );
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

    /// Another process (a shard, a parallel command) may have refreshed already, and with
    /// single-use refresh tokens ours would then be spent: start from the cache on disk.
    /// True when its token is fresh and was adopted as it is.
    fn adopt_disk_copy(&self, st: &mut Cached) -> bool {
        let Some(stored) = self.store.load(&st.user) else {
            return false;
        };
        if stored.access_token == st.access_token {
            return false;
        }
        let fresh = stored.is_fresh(now());
        *st = stored;
        if fresh {
            self.printer.debug(
                1,
                &format!(
                    "using the token another tcia process refreshed for {}",
                    st.user
                ),
            );
        }
        fresh
    }

    /// The refresh-token grant; None when there is no usable refresh token or the server
    /// refused it (400/401).
    async fn refresh_grant(
        &self,
        st: &Cached,
        server: &Url,
        grant: &Grant,
    ) -> Result<Option<Cached>, Error> {
        let Some(rt) = st
            .refresh_token
            .clone()
            .filter(|_| st.refresh_expires_at.is_none_or(|t| now() < t - 1.0))
        else {
            return Ok(None);
        };
        let form = vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", rt.expose().to_string()),
        ];
        match token_request(&self.http, grant, form).await {
            Ok(t) => {
                let mut next = cached_from(server, &st.user, grant, t);
                if next.refresh_token.is_none() {
                    next.refresh_token = st.refresh_token.clone();
                    next.refresh_expires_at = st.refresh_expires_at;
                }
                Ok(Some(next))
            }
            Err(Error::Http { status, .. }) if status == 400 || status == 401 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The password grant again, when TCIA_USER names this session's user and TCIA_PASSWORD
    /// is set.
    async fn relogin_from_env(
        &self,
        st: &Cached,
        server: &Url,
        grant: &Grant,
    ) -> Result<Option<Cached>, Error> {
        match &self.env_login {
            Some((user, pass)) if *user == st.user => Ok(Some(
                password_login(&self.http, server, grant, user, pass).await?,
            )),
            _ => Ok(None),
        }
    }

    fn refreshed(&self, st: &Cached, what: String) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        self.printer.debug(1, &what);
        let _ = self.store.save(st);
    }
}

/// "1h59m", "12m", "40s", or "expired".
pub fn expires_in(at: f64) -> String {
    let left = at - now();
    if left <= 0.0 {
        return "expired".into();
    }
    human_duration(Duration::from_secs_f64(left))
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
            access_token: Secret::new("SECRET-A"),
            refresh_token: Some(Secret::new("SECRET-R")),
            token_type: "Bearer".into(),
            obtained_at: 0.0,
            expires_at: 0.0,
            refresh_expires_at: None,
        };
        let d = format!("{c:?}");
        assert!(!d.contains("SECRET"), "{d}");
    }
}
