//! What a request handler gets: decoded parameters ([`Params`]), the API flavour ([`Ver`]) and
//! the per-request context ([`Ctx`]: data set snapshot, image caches, privilege, base URL, fault),
//! plus [`form_list`], the `list` parameter parser shared by the v4 POST endpoints.

use std::sync::Arc;

use crate::data::Dataset;
use crate::faults::FaultAction;
use crate::images::Store;

/// Decoded query or form parameters, in order (first occurrence wins on `get`).
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push((hex(b[i + 1]).unwrap_or(0) * 16 + hex(b[i + 2]).unwrap_or(0)) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Params {
    pub fn parse(raw: &str) -> Params {
        Params(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (pct_decode(k), pct_decode(v))
                })
                .collect(),
        )
    }
    /// First value of a parameter (may be empty).
    pub fn raw(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    /// First non-empty value of a parameter (empty values count as absent).
    pub fn get(&self, k: &str) -> Option<&str> {
        self.raw(k).filter(|v| !v.is_empty())
    }
    /// Every value of a parameter.
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// API flavour being served.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Ver {
    V1,
    V2,
    V4,
    Advanced,
    Legacy,
}

/// Per-request context.
pub struct Ctx {
    pub ds: Arc<Dataset>,
    /// The server's image caches, shared by every version of the data set.
    pub images: Arc<Store>,
    pub ver: Ver,
    pub q: Params,
    pub form: Params,
    pub privileged: bool,
    /// "http://host:port" of this server as the client addressed it.
    pub base_url: String,
    /// The fault applied to this request, if any (ZIP-level faults act inside the handler).
    pub fault: Option<FaultAction>,
}

impl Ctx {
    /// Whether this request may see `collection` (the restricted one needs a privileged token).
    pub fn visible(&self, collection: &str) -> bool {
        self.privileged || !self.ds.is_restricted(collection)
    }
    /// The `format` query parameter as given (csv/xml/html/json; None = JSON).
    pub fn format(&self) -> Option<&str> {
        self.q.raw("format")
    }
    pub fn v4(&self) -> bool {
        self.ver == Ver::V4
    }
}

/// UIDs from the `list` form (or query) parameter; everything but [0-9,.] is stripped.
pub fn form_list(ctx: &Ctx) -> Vec<String> {
    let mut raw: Vec<&str> = ctx.form.all("list");
    if raw.is_empty() {
        raw = ctx.q.all("list");
    }
    let joined: String = raw
        .join(",")
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .collect();
    let mut seen = std::collections::HashSet::new();
    joined
        .split(',')
        .filter(|u| !u.is_empty() && seen.insert(u.to_string()))
        .map(str::to_string)
        .collect()
}
