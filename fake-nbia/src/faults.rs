//! Fault rules ([`Fault`], [`FaultAction`], the ordered [`Faults`] list) and how the transport
//! faults are applied: status and HTML pages, dropped connections (with a quiet panic hook), and
//! truncated or dripped bodies. Delays are awaited by `handler`; the ZIP-level actions (BadMd5,
//! ShortZip, ExtraEntry, CorruptEntry) are applied by `zip`.

use std::sync::Once;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::render::text;

/// A fault rule: which endpoint (last path segment, or "*"), how many times, what to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    pub endpoint: String,
    /// Apply to the first N matching requests only, then the rule is spent; None = always.
    #[serde(default)]
    pub times: Option<u32>,
    pub action: FaultAction,
}

/// What a matching fault does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status/body instead of the normal response.
    Status {
        code: u16,
        #[serde(default)]
        body: String,
        #[serde(default)]
        content_type: Option<String>,
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// An nginx-like HTML error page.
    HtmlPage { code: u16, title: String },
    /// Answer with a redirect (301, 302, 303, 307, 308) to `location`.
    Redirect { code: u16, location: String },
    /// Wait before answering normally.
    Delay { ms: u64 },
    /// Close the connection without any HTTP response.
    Drop,
    /// Normal headers and the first N body bytes, then abort the connection.
    TruncateBody { after_bytes: usize },
    /// The normal body, `chunk` bytes every `interval_ms`.
    Drip { chunk: usize, interval_ms: u64 },
    /// Downloads: the md5hashes.csv row of the `entry`-th image (0-based) holds a wrong
    /// (valid-looking) hash.
    BadMd5 { entry: usize },
    /// Downloads: only the first `entries` ZIP entries (LICENSE counts), then a clean central
    /// directory: a valid but short ZIP (no md5hashes.csv either).
    ShortZip { entries: usize },
    /// Downloads: an extra entry with this (possibly hostile) name and `bytes` bytes of content,
    /// just before md5hashes.csv (or last), not listed in md5hashes.csv.
    ExtraEntry { name: String, bytes: usize },
    /// Downloads: the `entry`-th image's (0-based) content is corrupted after its MD5 was taken;
    /// the CRC matches the corrupted bytes.
    CorruptEntry { entry: usize },
}

impl Fault {
    /// Convenience constructor.
    pub fn new(endpoint: &str, times: Option<u32>, action: FaultAction) -> Fault {
        Fault {
            endpoint: endpoint.to_string(),
            times,
            action,
        }
    }
}

/// Ordered rule list; first match wins, spent rules are removed.
#[derive(Default)]
pub struct Faults {
    rules: Vec<Fault>,
}

impl Faults {
    pub fn push(&mut self, f: Fault) {
        self.rules.push(f);
    }
    pub fn clear(&mut self) {
        self.rules.clear();
    }
    /// Find (and consume one use of) the first rule matching `endpoint`.
    pub fn take(&mut self, endpoint: &str) -> Option<FaultAction> {
        let i = self
            .rules
            .iter()
            .position(|r| r.endpoint == "*" || r.endpoint == endpoint)?;
        let action = self.rules[i].action.clone();
        if let Some(n) = self.rules[i].times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.rules.remove(i);
            }
        }
        Some(action)
    }
}

/// Panic payload used to kill a connection without a response; the panic hook keeps it quiet.
pub struct DropConnection;

static HOOK: Once = Once::new();

/// Install (once) a panic hook that silences `DropConnection` panics and forwards all others.
pub fn install_quiet_hook() {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().is::<DropConnection>() {
                return;
            }
            prev(info)
        }));
    });
}

/// Responses produced directly by a fault (no normal handling).
pub fn immediate(action: &FaultAction) -> Option<Response> {
    match action {
        FaultAction::Status { code, body, content_type, retry_after } => {
            let mut r = text(*code, content_type.as_deref(), body.clone());
            if let Some(ra) = retry_after {
                if let Ok(v) = HeaderValue::from_str(ra) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Some(r)
        }
        FaultAction::Redirect { code, location } => {
            let mut r = text(*code, Some("text/plain"), String::new());
            if let Ok(v) = HeaderValue::from_str(location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Some(r)
        }
        FaultAction::HtmlPage { code, title } => Some(text(
            *code,
            Some("text/html"),
            format!(
                "<html>\r\n<head><title>{code} {title}</title></head>\r\n<body>\r\n<center><h1>{code} {title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            ),
        )),
        _ => None,
    }
}

/// Wrap a normal response's body for TruncateBody / Drip.
pub fn wrap(action: &FaultAction, resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let stream = body.into_data_stream();
    let new_body = match *action {
        FaultAction::TruncateBody { after_bytes } => {
            // Emit up to `after_bytes`, pause so hyper flushes what it has, then fail the body,
            // which makes hyper abort the connection without the terminating chunk.
            let s = futures_util::stream::unfold(
                (stream, after_bytes, false),
                |(mut st, left, done)| async move {
                    if done {
                        return None;
                    }
                    let next = if left == 0 { None } else { st.next().await };
                    match next {
                        Some(Ok(b)) => {
                            let n = b.len().min(left);
                            Some((Ok(b.slice(..n)), (st, left - n, false)))
                        }
                        _ => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Some((
                                Err(std::io::Error::other("fault: truncated body")),
                                (st, 0, true),
                            ))
                        }
                    }
                },
            );
            Body::from_stream(s)
        }
        FaultAction::Drip { chunk, interval_ms } => {
            let chunk = chunk.max(1);
            let s = stream
                .map(move |r| {
                    let pieces: Vec<Result<Bytes, axum::Error>> = match r {
                        Ok(b) => (0..b.len())
                            .step_by(chunk)
                            .map(|i| Ok(b.slice(i..(i + chunk).min(b.len()))))
                            .collect(),
                        Err(e) => vec![Err(e)],
                    };
                    futures_util::stream::iter(pieces)
                })
                .flatten()
                .then(move |item| async move {
                    tokio::time::sleep(Duration::from_millis(interval_ms)).await;
                    item
                });
            Body::from_stream(s)
        }
        _ => return Response::from_parts(parts, Body::from_stream(stream)),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, new_body)
}
