//! Authentication: Keycloak-like token issuing, refresh, logout and Bearer validation (real-time
//! expiry), and the api_key of the legacy Bindaas API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::response::Response;

use crate::hash::{hstr, mix};
use crate::render::text;

/// The api_key accepted by the legacy Bindaas API (`/services/v3/TCIA/query/...`).
pub const LEGACY_API_KEY: &str = "test-api-key";

/// Known users: (name, password, may see Restricted-Trial). The guest accepts any password.
const USERS: &[(&str, &str, bool)] = &[("alice", "wonderland", true), ("nbia_guest", "", false)];
pub const GUEST: &str = "nbia_guest";

struct Tok {
    user: String,
    session: String,
    expires: Instant,
}

/// Outcome of checking an `Authorization` header.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthCheck {
    Missing,
    Invalid,
    Valid { user: String },
}

impl AuthCheck {
    /// A valid non-guest user (sees Restricted-Trial).
    pub fn privileged(&self) -> bool {
        matches!(self, AuthCheck::Valid { user } if USERS.iter().any(|(u, _, p)| u == user && *p))
    }
    pub fn valid(&self) -> bool {
        matches!(self, AuthCheck::Valid { .. })
    }
}

/// Token store.
pub struct Auth {
    access: HashMap<String, Tok>,
    refresh: HashMap<String, Tok>,
    counter: u64,
    access_life: Duration,
    refresh_life: Duration,
}

fn b64ish(seed: u64, len: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(len);
    let mut x = seed;
    while s.len() < len {
        x = mix(x);
        for k in 0..10 {
            s.push(A[((x >> (k * 6)) & 63) as usize] as char);
        }
    }
    s.truncate(len);
    s
}

impl Auth {
    pub fn new(access_secs: u64, refresh_secs: u64) -> Auth {
        Auth {
            access: HashMap::new(),
            refresh: HashMap::new(),
            counter: 0,
            access_life: Duration::from_secs(access_secs),
            refresh_life: Duration::from_secs(refresh_secs),
        }
    }

    fn mint(&mut self, kind: &str) -> String {
        self.counter += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        format!(
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
            b64ish(nanos ^ self.counter ^ hstr(kind), 120),
            b64ish(self.counter.wrapping_mul(31) ^ nanos, 43)
        )
    }

    /// Issue an access + refresh token pair for a user; returns the Keycloak-shaped JSON.
    pub fn issue(&mut self, user: &str, session: Option<String>) -> serde_json::Value {
        let session = session.unwrap_or_else(|| {
            self.counter += 1;
            let h = b64ish(self.counter ^ 0x5E55, 32).to_lowercase();
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        });
        let access = self.mint("access");
        let refresh = self.mint("refresh");
        let now = Instant::now();
        self.access.insert(
            access.clone(),
            Tok {
                user: user.to_string(),
                session: session.clone(),
                expires: now + self.access_life,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            Tok {
                user: user.to_string(),
                session: session.clone(),
                expires: now + self.refresh_life,
            },
        );
        serde_json::json!({
            "access_token": access,
            "expires_in": self.access_life.as_secs(),
            "refresh_expires_in": self.refresh_life.as_secs(),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": session,
            "scope": "profile email"
        })
    }

    /// Check an Authorization header value.
    pub fn check(&self, header: Option<&str>) -> AuthCheck {
        let Some(h) = header else {
            return AuthCheck::Missing;
        };
        let token = h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .unwrap_or("")
            .trim();
        match self.access.get(token) {
            Some(t) if t.expires > Instant::now() => AuthCheck::Valid {
                user: t.user.clone(),
            },
            _ => AuthCheck::Invalid,
        }
    }

    /// Invalidate the session that owns an access token. Returns false if the token is unknown.
    pub fn logout(&mut self, header: Option<&str>) -> bool {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("")
            .trim();
        let Some(t) = self.access.remove(token) else {
            return false;
        };
        let session = t.session;
        self.access.retain(|_, v| v.session != session);
        self.refresh.retain(|_, v| v.session != session);
        true
    }

    /// POST /nbia-api/oauth/token with a parsed form.
    pub fn token_endpoint(&mut self, form: &[(String, String)]) -> Response {
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let json =
            |code: u16, v: serde_json::Value| text(code, Some("application/json"), v.to_string());
        match get("grant_type") {
            Some("password") => {
                let user = get("username").unwrap_or("");
                let pass = get("password").unwrap_or("");
                let ok = USERS
                    .iter()
                    .any(|(u, p, _)| *u == user && (*p == pass || *u == GUEST));
                if ok {
                    let v = self.issue(user, None);
                    json(200, v)
                } else {
                    json(
                        401,
                        serde_json::json!({"error":"invalid_grant","error_description":"Invalid user credentials"}),
                    )
                }
            }
            Some("refresh_token") => {
                let rt = get("refresh_token").unwrap_or("");
                match self.refresh.get(rt) {
                    Some(t) if t.expires > Instant::now() => {
                        let (user, session) = (t.user.clone(), t.session.clone());
                        let v = self.issue(&user, Some(session));
                        json(200, v)
                    }
                    _ => json(
                        400,
                        serde_json::json!({"error":"invalid_grant","error_description":"Invalid refresh token"}),
                    ),
                }
            }
            _ => text(
                400,
                Some("text/plain"),
                "Wrong grant_type entered. Valid grant_type is password or refresh_token.",
            ),
        }
    }
}
