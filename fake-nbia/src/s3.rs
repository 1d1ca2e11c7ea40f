//! The bucket server: its state ([`BucketState`]: the published snapshot of objects, the index
//! artifact versions, fault rules, request log) and the HTTP handler that answers as S3's (or, in
//! GCS mode, Google Cloud Storage's XML API) anonymous, path-style REST API: ListObjectsV2,
//! GetObject and HeadObject with ranges and conditional requests, S3's XML errors, and the
//! injectable [`BucketFault`]s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::hash::{hstr, mix};
use crate::idc::{
    gcs_bucket, multipart_etag, Content, Generator, IdcData, IdcSeries, ARTIFACTS_BUCKET,
    AWS_BUCKETS,
};
use crate::idcfile;

/// A fault rule. `prefix` selects object keys (`<uuid>/`, a whole key, or `<bucket>/<key>`; ""
/// = all); with `list` it selects ListObjectsV2 requests whose `prefix` parameter starts with
/// it instead. `times`: the first N matching requests only (None = always).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BucketFault {
    pub prefix: String,
    #[serde(default)]
    pub list: bool,
    #[serde(default)]
    pub times: Option<u32>,
    pub action: BucketFaultAction,
}

impl BucketFault {
    /// A rule for GetObject/HeadObject of keys starting with `prefix`.
    pub fn object(prefix: &str, times: Option<u32>, action: BucketFaultAction) -> BucketFault {
        BucketFault {
            prefix: prefix.to_string(),
            list: false,
            times,
            action,
        }
    }
    /// A rule for ListObjectsV2 requests whose prefix starts with `prefix`.
    pub fn listing(prefix: &str, times: Option<u32>, action: BucketFaultAction) -> BucketFault {
        BucketFault {
            prefix: prefix.to_string(),
            list: true,
            times,
            action,
        }
    }
}

/// What a matching fault does.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BucketFaultAction {
    /// Normal headers (with the full Content-Length), the first `after_bytes` body bytes, then
    /// the connection is cut.
    DropBody { after_bytes: usize },
    /// 503 `<Code>SlowDown</Code>`, with `Retry-After: <secs>` when given.
    SlowDown { retry_after: Option<u32> },
    /// 500 `<Code>InternalError</Code>`.
    InternalError,
    /// Same length and headers (ETag, x-goog-hash of the right bytes), different bytes: only a
    /// digest check notices. On an index artifact this is the corrupted parquet.
    WrongBytes,
    /// GetObject/HeadObject answer 404 NoSuchKey although the object is listed.
    Missing,
    /// Listings leave out the matching objects (the rule is spent once per listing that did).
    OmitFromListing,
    /// Wait this long before answering (the first byte).
    SlowFirstByte { ms: u64 },
}

/// One request as the bucket saw it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BucketRequest {
    /// `ListObjectsV2`, `GetObject`, `HeadObject` or `Other`.
    pub kind: String,
    pub method: String,
    /// Raw path, e.g. `/idc-open-data/<uuid>/<uuid>.dcm`.
    pub path: String,
    /// Raw query string ("" if none).
    pub query: String,
    pub range: Option<String>,
    pub if_none_match: Option<String>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub status: u16,
}

/// One stored object.
#[derive(Clone)]
struct Stored {
    content: Content,
    md5: [u8; 16],
    crc32c: u32,
    multipart: bool,
    composite: bool,
    modified: i64,
    generation: i64,
    content_type: &'static str,
}

/// A published index version.
#[derive(Clone)]
pub(crate) struct Artifacts {
    pub version: String,
    pub idc: Bytes,
    pub collections: Bytes,
    pub modified: i64,
}

/// What every request works on: one data version and its objects.
pub(crate) struct Snapshot {
    pub data: Arc<IdcData>,
    objects: BTreeMap<(String, String), Stored>,
}

/// The bucket server's state.
pub struct BucketState {
    pub(crate) gen: Generator,
    snap: RwLock<Arc<Snapshot>>,
    artifacts: Mutex<Vec<Artifacts>>,
    faults: Mutex<Vec<BucketFault>>,
    log: Mutex<Vec<BucketRequest>>,
    pub addr: SocketAddr,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// 2020-09-01 + 45 days per IDC version, as epoch seconds.
fn version_time(v: i64, seed: u64) -> i64 {
    let base = crate::time::days_from_civil(2020, 9, 1) * 86_400;
    base + v * 45 * 86_400 + (seed % 86_400) as i64
}

fn md5_of_hex(h: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    out
}

impl BucketState {
    pub fn new(gen: Generator, addr: SocketAddr) -> BucketState {
        let data = gen.generate();
        let arts = vec![make_artifacts(&data, 0)];
        let snap = build_snapshot(&gen, Arc::new(data), &arts);
        BucketState {
            gen,
            snap: RwLock::new(Arc::new(snap)),
            artifacts: Mutex::new(arts),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            addr,
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn data(&self) -> Arc<IdcData> {
        self.snapshot().data.clone()
    }

    /// The current index files (idc_index.parquet, collections_index.parquet).
    pub fn index_files(&self) -> (Bytes, Bytes) {
        let a = lock(&self.artifacts);
        let last = a.last().expect("one version at least");
        (last.idc.clone(), last.collections.clone())
    }

    pub fn revise(&self, series_uid: &str) -> Result<String, String> {
        let mut g = self.snap.write().unwrap_or_else(|e| e.into_inner());
        let next = self.gen.revise(&g.data, series_uid)?;
        let uuid = next
            .series
            .iter()
            .find(|s| s.series_instance_uid == series_uid)
            .map(|s| s.crdc_series_uuid.clone())
            .unwrap_or_default();
        let mut arts = lock(&self.artifacts);
        arts.push(make_artifacts(&next, next.revisions));
        *g = Arc::new(build_snapshot(&self.gen, Arc::new(next), &arts));
        Ok(uuid)
    }

    pub fn inject(&self, f: BucketFault) {
        lock(&self.faults).push(f);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub fn requests(&self) -> Vec<BucketRequest> {
        lock(&self.log).clone()
    }

    /// First matching rule (not OmitFromListing), one use consumed.
    fn take_fault(&self, list: bool, bucket: &str, key: &str) -> Option<BucketFaultAction> {
        let mut rules = lock(&self.faults);
        let full = format!("{bucket}/{key}");
        let i = rules.iter().position(|r| {
            r.list == list
                && r.action != BucketFaultAction::OmitFromListing
                && (key.starts_with(&r.prefix) || full.starts_with(&r.prefix))
        })?;
        Some(consume(&mut rules, i))
    }

    /// Whether a listing omits this object (does not consume; see `spend_omit`).
    fn omit_rule(&self, bucket: &str, key: &str) -> Option<usize> {
        let rules = lock(&self.faults);
        let full = format!("{bucket}/{key}");
        rules.iter().position(|r| {
            r.action == BucketFaultAction::OmitFromListing
                && (key.starts_with(&r.prefix) || full.starts_with(&r.prefix))
        })
    }

    fn spend_omits(&self, used: &[String]) {
        let mut rules = lock(&self.faults);
        for p in used {
            if let Some(i) = rules
                .iter()
                .position(|r| r.action == BucketFaultAction::OmitFromListing && &r.prefix == p)
            {
                consume(&mut rules, i);
            }
        }
    }
}

fn consume(rules: &mut Vec<BucketFault>, i: usize) -> BucketFaultAction {
    let action = rules[i].action.clone();
    if let Some(n) = rules[i].times.as_mut() {
        *n = n.saturating_sub(1);
        if *n == 0 {
            rules.remove(i);
        }
    }
    action
}

fn make_artifacts(data: &IdcData, revision: u64) -> Artifacts {
    Artifacts {
        version: data.version.clone(),
        idc: Bytes::from(idcfile::idc_index(data)),
        collections: Bytes::from(idcfile::collections_index(data)),
        modified: crate::time::days_from_civil(2025, 6, 1) * 86_400
            + revision as i64 * 86_400
            + 3_723,
    }
}

fn stored(content: Content, modified: i64, content_type: &'static str) -> Stored {
    let mut h = <md5::Md5 as md5::Digest>::new();
    let mut crc = 0u32;
    for b in content.slices(0, content.len()) {
        md5::Digest::update(&mut h, &b);
        crc = crc32c::crc32c_append(crc, &b);
    }
    Stored {
        md5: md5::Digest::finalize(h).into(),
        crc32c: crc,
        content,
        multipart: false,
        composite: false,
        modified,
        generation: modified * 1_000_000 + 123_456,
        content_type,
    }
}

fn build_snapshot(gen: &Generator, data: Arc<IdcData>, arts: &[Artifacts]) -> Snapshot {
    let gcs = gen.cfg.gcs;
    let mut objects = BTreeMap::new();
    let mut add_series = |s: &IdcSeries| {
        let bucket = if gcs {
            gcs_bucket(&s.aws_bucket)
        } else {
            &s.aws_bucket
        }
        .to_string();
        for o in &s.objects {
            let seed = hstr(&o.key);
            let modified = version_time(s.series_revised_idc_version, seed);
            objects.insert(
                (bucket.clone(), o.key.clone()),
                Stored {
                    content: o.content.clone(),
                    md5: md5_of_hex(&o.md5_hex),
                    crc32c: o.crc32c,
                    multipart: o.multipart,
                    composite: o.composite,
                    modified,
                    generation: modified * 1_000_000 + (mix(seed) % 1_000_000) as i64,
                    content_type: "application/dicom",
                },
            );
        }
    };
    data.series.iter().for_each(&mut add_series);
    data.retired.iter().for_each(&mut add_series);
    let n = arts.len();
    for (i, a) in arts.iter().enumerate() {
        let mut dirs = vec![a.version.clone()];
        if i + 1 == n {
            dirs.push("current".to_string());
        }
        for dir in dirs {
            for (name, bytes) in [
                ("idc_index.parquet", &a.idc),
                ("collections_index.parquet", &a.collections),
            ] {
                let key = format!("{dir}/release_artifacts/{name}");
                let c = Content {
                    head: bytes.clone(),
                    fill: 0,
                    tail: Bytes::new(),
                };
                objects.insert(
                    (ARTIFACTS_BUCKET.to_string(), key.clone()),
                    stored(c, a.modified, "application/octet-stream"),
                );
                if gen.cfg.sidecars {
                    let side = idcfile::sidecar(bytes, name);
                    objects.insert(
                        (ARTIFACTS_BUCKET.to_string(), format!("{key}.sha256")),
                        stored(Content::bytes(side.into_bytes()), a.modified, "text/plain"),
                    );
                }
            }
        }
    }
    Snapshot { data, objects }
}

// ------------------------------------------------------------------ responses

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {
                o.push_str(&format!("&#x{:X};", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// S3's `encoding-type=url` encoding (everything but unreserved characters and `/`).
fn url_encode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn path_decode(s: &str) -> String {
    // '+' is literal in a path
    percent_decode(&s.replace('+', "%2B"))
}

fn iso8601(secs: i64) -> String {
    let (y, m, d) = crate::time::civil_from_days(secs.div_euclid(86_400));
    let r = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        r / 3600,
        r / 60 % 60,
        r % 60
    )
}

fn http_date(secs: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

fn request_id(n: usize) -> String {
    format!("{:016X}", mix(n as u64 ^ 0x5EED))
}

struct Ctx {
    gcs: bool,
    request_id: String,
}

impl Ctx {
    fn base(&self, status: u16) -> axum::http::response::Builder {
        let b = Response::builder().status(status);
        if self.gcs {
            b.header("server", "UploadServer")
                .header("x-guploader-uploadid", format!("ABgVH{}", self.request_id))
        } else {
            b.header("server", "AmazonS3")
                .header("x-amz-request-id", &self.request_id)
                .header("x-amz-id-2", format!("fake/{}=", self.request_id))
                .header("x-amz-bucket-region", "us-east-1")
        }
    }

    fn xml(&self, status: u16, body: String) -> Response {
        self.base(status)
            .header(header::CONTENT_TYPE, "application/xml")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .expect("response")
    }

    /// An S3 XML error; `extra` are more elements (already escaped).
    fn error(&self, status: u16, code: &str, message: &str, extra: &[(&str, &str)]) -> Response {
        let mut b = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>",
            xml_escape(message)
        );
        for (k, v) in extra {
            b.push_str(&format!("<{k}>{}</{k}>", xml_escape(v)));
        }
        if !self.gcs {
            b.push_str(&format!(
                "<RequestId>{}</RequestId><HostId>fake/{}=</HostId>",
                self.request_id, self.request_id
            ));
        }
        b.push_str("</Error>");
        self.xml(status, b)
    }
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Query parameters, decoded, in order.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The axum handler for every request.
pub async fn handle(State(st): State<Arc<BucketState>>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let n = lock(&st.log).len();
    let ctx = Ctx {
        gcs: st.gen.cfg.gcs,
        request_id: request_id(n),
    };
    let (kind, resp) = route(&st, &ctx, &parts.method, &path, &query, &parts.headers).await;
    let h = &parts.headers;
    lock(&st.log).push(BucketRequest {
        kind: kind.to_string(),
        method: parts.method.to_string(),
        path,
        query,
        range: header_str(h, "range"),
        if_none_match: header_str(h, "if-none-match"),
        authorization: header_str(h, "authorization"),
        user_agent: header_str(h, "user-agent"),
        status: resp.status().as_u16(),
    });
    resp
}

async fn route(
    st: &BucketState,
    ctx: &Ctx,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> (&'static str, Response) {
    let q = parse_query(query);
    let signed = headers.contains_key(header::AUTHORIZATION)
        || q.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("X-Amz-Signature")
                || k.eq_ignore_ascii_case("X-Amz-Credential")
                || k.eq_ignore_ascii_case("Signature")
        });
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (bucket, raw_key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let bucket = path_decode(bucket);
    let key = path_decode(raw_key);
    let kind = match (method, key.is_empty()) {
        (&Method::GET, true) if !bucket.is_empty() => "ListObjectsV2",
        (&Method::GET, false) => "GetObject",
        (&Method::HEAD, false) => "HeadObject",
        _ => "Other",
    };
    if signed {
        return (
            kind,
            ctx.error(
                403,
                if ctx.gcs {
                    "AccessDenied"
                } else {
                    "InvalidAccessKeyId"
                },
                if ctx.gcs {
                    "Access denied."
                } else {
                    "The AWS Access Key Id you provided does not exist in our records."
                },
                &[],
            ),
        );
    }
    if method != Method::GET && method != Method::HEAD {
        return (kind, ctx.error(403, "AccessDenied", "Access Denied", &[]));
    }
    if bucket.is_empty() {
        // ListBuckets needs credentials
        return (kind, ctx.error(403, "AccessDenied", "Access Denied", &[]));
    }
    let known = bucket == ARTIFACTS_BUCKET
        || AWS_BUCKETS
            .iter()
            .any(|b| bucket == if ctx.gcs { gcs_bucket(b) } else { b });
    if !known {
        let resp = if method == Method::HEAD {
            ctx.base(404).body(Body::empty()).expect("response")
        } else {
            ctx.error(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist",
                &[("BucketName", &bucket)],
            )
        };
        return (kind, resp);
    }
    let snap = st.snapshot();
    if key.is_empty() {
        if method == Method::HEAD {
            return (
                "Other",
                ctx.base(200).body(Body::empty()).expect("response"),
            );
        }
        if param(&q, "list-type") != Some("2") {
            return (
                "Other",
                ctx.error(
                    400,
                    "InvalidArgument",
                    "This fake bucket answers ListObjectsV2 only (list-type=2).",
                    &[("ArgumentName", "list-type")],
                ),
            );
        }
        return (kind, list(st, ctx, &snap, &bucket, &q).await);
    }
    (
        kind,
        object(st, ctx, &snap, method, &bucket, &key, headers).await,
    )
}

// ------------------------------------------------------------------ ListObjectsV2

fn token_check(s: &str) -> u64 {
    hstr(&format!("fake-bucket-token\0{s}"))
}

fn make_token(pos: &str) -> String {
    let raw = format!("{pos}\0{:016x}", token_check(pos));
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The position a token encodes (`k:<key>` or `p:<common prefix>`), if it is one of ours.
fn read_token(t: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (pos, check) = raw.rsplit_once('\0')?;
    (format!("{:016x}", token_check(pos)) == check
        && (pos.starts_with("k:") || pos.starts_with("p:")))
    .then(|| pos.to_string())
}

enum Entry<'a> {
    Key(&'a str, &'a Stored),
    Prefix(String),
}

async fn list(
    st: &BucketState,
    ctx: &Ctx,
    snap: &Snapshot,
    bucket: &str,
    q: &[(String, String)],
) -> Response {
    let prefix = param(q, "prefix").unwrap_or("");
    let delimiter = param(q, "delimiter").unwrap_or("");
    let url = match param(q, "encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return ctx.error(
                400,
                "InvalidArgument",
                "Invalid Encoding Method specified in Request",
                &[("ArgumentName", "encoding-type")],
            )
        }
    };
    let requested: usize = match param(q, "max-keys") {
        None => 1000,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => n as usize,
            _ => {
                return ctx.error(
                    400,
                    "InvalidArgument",
                    "Provided max-keys not an integer or within integer range",
                    &[("ArgumentName", "max-keys"), ("ArgumentValue", v)],
                )
            }
        },
    };
    let max = requested.min(st.gen.cfg.max_keys_cap).min(1000);
    let token = param(q, "continuation-token");
    let start: Option<String> = match token {
        Some(t) => match read_token(t) {
            Some(p) => Some(p),
            None => {
                return ctx.error(
                    400,
                    "InvalidArgument",
                    "The continuation token provided is incorrect",
                    &[("ArgumentName", "continuation-token")],
                )
            }
        },
        None => param(q, "start-after").map(|s| format!("k:{s}")),
    };
    if let Some(a) = st.take_fault(true, bucket, prefix) {
        if let Some(r) = immediate(ctx, &a, bucket, prefix).await {
            return r;
        }
    }
    // walk the bucket's keys after the start position, under the prefix
    let lo_key = match &start {
        Some(p) => p[2..].to_string(),
        None => prefix.to_string(),
    };
    let lo = (bucket.to_string(), lo_key.clone());
    let lower = if start.is_some() {
        Bound::Excluded(lo)
    } else {
        Bound::Included(lo)
    };
    let skip_prefix = start
        .as_deref()
        .and_then(|p| p.strip_prefix("p:"))
        .map(str::to_string);
    let mut entries: Vec<Entry> = Vec::new();
    let mut truncated = false;
    let mut omitted: Vec<String> = Vec::new();
    for ((b, k), o) in snap.objects.range((lower, Bound::Unbounded)) {
        if b != bucket || (!k.starts_with(prefix) && k.as_str() > prefix) {
            break;
        }
        if !k.starts_with(prefix) {
            continue;
        }
        if skip_prefix.as_deref().is_some_and(|p| k.starts_with(p)) {
            continue;
        }
        if let Some(i) = st.omit_rule(bucket, k) {
            let p = lock(&st.faults)[i].prefix.clone();
            if !omitted.contains(&p) {
                omitted.push(p);
            }
            continue;
        }
        let cp = (!delimiter.is_empty())
            .then(|| {
                k[prefix.len()..]
                    .find(delimiter)
                    .map(|i| k[..prefix.len() + i + delimiter.len()].to_string())
            })
            .flatten();
        if let (Some(cp), Some(Entry::Prefix(last))) = (&cp, entries.last()) {
            if cp == last {
                continue;
            }
        }
        if entries.len() == max {
            truncated = true;
            break;
        }
        entries.push(match cp {
            Some(cp) => Entry::Prefix(cp),
            None => Entry::Key(k, o),
        });
    }
    st.spend_omits(&omitted);
    let enc = |s: &str| {
        if url {
            url_encode(s)
        } else {
            xml_escape(s)
        }
    };
    let ns = if ctx.gcs {
        "http://doc.s3.amazonaws.com/2006-03-01"
    } else {
        "http://s3.amazonaws.com/doc/2006-03-01/"
    };
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{ns}\"><Name>{}</Name><Prefix>{}</Prefix>",
        xml_escape(bucket),
        enc(prefix)
    );
    if let Some(t) = token {
        x.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            xml_escape(t)
        ));
    }
    if token.is_none() {
        if let Some(sa) = param(q, "start-after") {
            x.push_str(&format!("<StartAfter>{}</StartAfter>", enc(sa)));
        }
    }
    if truncated {
        let pos = match entries.last() {
            Some(Entry::Key(k, _)) => format!("k:{k}"),
            Some(Entry::Prefix(p)) => format!("p:{p}"),
            None => format!("k:{lo_key}"),
        };
        x.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            make_token(&pos)
        ));
    }
    x.push_str(&format!(
        "<KeyCount>{}</KeyCount><MaxKeys>{requested}</MaxKeys>",
        entries.len()
    ));
    if !delimiter.is_empty() {
        x.push_str(&format!("<Delimiter>{}</Delimiter>", enc(delimiter)));
    }
    if url {
        x.push_str("<EncodingType>url</EncodingType>");
    }
    x.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
    let mut prefixes = String::new();
    for e in &entries {
        match e {
            Entry::Key(k, o) => {
                x.push_str("<Contents>");
                x.push_str(&format!("<Key>{}</Key>", enc(k)));
                if ctx.gcs {
                    x.push_str(&format!(
                        "<Generation>{}</Generation><MetaGeneration>1</MetaGeneration>",
                        o.generation
                    ));
                }
                x.push_str(&format!(
                    "<LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size>",
                    iso8601(o.modified),
                    xml_escape(&etag(ctx, o)),
                    o.content.len()
                ));
                if !ctx.gcs {
                    x.push_str("<StorageClass>STANDARD</StorageClass>");
                }
                x.push_str("</Contents>");
            }
            Entry::Prefix(p) => {
                prefixes.push_str(&format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    enc(p)
                ));
            }
        }
    }
    x.push_str(&prefixes);
    x.push_str("</ListBucketResult>");
    ctx.xml(200, x)
}

// ------------------------------------------------------------------ GetObject / HeadObject

fn etag(ctx: &Ctx, o: &Stored) -> String {
    if ctx.gcs && (o.composite || o.multipart) {
        let g = base64::engine::general_purpose::STANDARD.encode(o.generation.to_le_bytes());
        format!("\"-C{}\"", g.trim_end_matches('='))
    } else if !ctx.gcs && o.multipart {
        format!("\"{}\"", multipart_etag(&o.content))
    } else {
        format!("\"{}\"", crate::idc::hex(&o.md5))
    }
}

/// Responses a fault gives instead of the normal one (after any delay); None = carry on.
async fn immediate(ctx: &Ctx, a: &BucketFaultAction, _bucket: &str, key: &str) -> Option<Response> {
    match a {
        BucketFaultAction::SlowDown { retry_after } => {
            let mut r = ctx.error(503, "SlowDown", "Please reduce your request rate.", &[]);
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*s));
            }
            Some(r)
        }
        BucketFaultAction::InternalError => Some(ctx.error(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
            &[],
        )),
        BucketFaultAction::Missing => Some(no_such_key(ctx, key)),
        BucketFaultAction::SlowFirstByte { ms } => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            None
        }
        _ => None,
    }
}

fn no_such_key(ctx: &Ctx, key: &str) -> Response {
    ctx.error(
        404,
        "NoSuchKey",
        "The specified key does not exist.",
        &[("Key", key)],
    )
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → Ok(Some(start, end_exclusive)); Ok(None) = ignore the
/// header (whole object); Err = unsatisfiable (416).
fn parse_range(h: Option<&str>, len: usize) -> Result<Option<(usize, usize)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<usize>() else {
            return Ok(None);
        };
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok(Some((len - n.min(len), len)));
    }
    let Ok(start) = a.parse::<usize>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        len
    } else {
        match b.parse::<usize>() {
            Ok(e) if e >= start => (e + 1).min(len),
            _ => return Ok(None),
        }
    };
    if start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

fn etag_matches(list: &str, tag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t == tag || t.strip_prefix("W/") == Some(tag)
    })
}

async fn object(
    st: &BucketState,
    ctx: &Ctx,
    snap: &Snapshot,
    method: &Method,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> Response {
    let head = method == Method::HEAD;
    let fault = st.take_fault(false, bucket, key);
    if let Some(a) = &fault {
        if let Some(mut r) = immediate(ctx, a, bucket, key).await {
            if head {
                *r.body_mut() = Body::empty();
            }
            return r;
        }
    }
    let Some(o) = snap.objects.get(&(bucket.to_string(), key.to_string())) else {
        let mut r = no_such_key(ctx, key);
        if head {
            *r.body_mut() = Body::empty();
        }
        return r;
    };
    let tag = etag(ctx, o);
    let len = o.content.len();
    let common = |status: u16| {
        let mut b = ctx
            .base(status)
            .header(header::ETAG, &tag)
            .header(header::LAST_MODIFIED, http_date(o.modified))
            .header(header::ACCEPT_RANGES, "bytes");
        if ctx.gcs {
            let b64 = |x: &[u8]| base64::engine::general_purpose::STANDARD.encode(x);
            let mut hash = format!("crc32c={}", b64(&o.crc32c.to_be_bytes()));
            if !(o.composite || o.multipart) {
                hash.push_str(&format!(",md5={}", b64(&o.md5)));
            }
            b = b
                .header("x-goog-hash", hash)
                .header("x-goog-generation", o.generation)
                .header("x-goog-metageneration", 1)
                .header("x-goog-stored-content-length", len)
                .header("x-goog-stored-content-encoding", "identity")
                .header("x-goog-storage-class", "STANDARD");
            if o.composite || o.multipart {
                b = b.header("x-goog-component-count", 2);
            }
        }
        b
    };
    if let Some(inm) = header_str(headers, "if-none-match") {
        if etag_matches(&inm, &tag) {
            return common(304).body(Body::empty()).expect("response");
        }
    } else if let Some(ims) = header_str(headers, "if-modified-since") {
        if let Ok(t) = httpdate::parse_http_date(&ims) {
            let t = t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            if o.modified <= t {
                return common(304).body(Body::empty()).expect("response");
            }
        }
    }
    if let Some(im) = header_str(headers, "if-match") {
        if !etag_matches(&im, &tag) {
            return ctx.error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                &[("Condition", "If-Match")],
            );
        }
    }
    let range = match parse_range(header_str(headers, "range").as_deref(), len) {
        Ok(r) => r,
        Err(()) => {
            let mut r = ctx.error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                &[(
                    "RangeRequested",
                    &header_str(headers, "range").unwrap_or_default(),
                )],
            );
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("header"),
            );
            return r;
        }
    };
    let (start, end) = range.unwrap_or((0, len));
    let mut b = common(if range.is_some() { 206 } else { 200 })
        .header(header::CONTENT_TYPE, o.content_type)
        .header(header::CONTENT_LENGTH, end - start);
    if range.is_some() {
        b = b.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end.saturating_sub(1)),
        );
    }
    if head {
        return b.body(Body::empty()).expect("response");
    }
    let mut slices = o.content.slices(start, end);
    match fault {
        Some(BucketFaultAction::WrongBytes) => {
            // flip the byte in the middle of the object, and the last one, if in range
            let mut whole: Vec<u8> = slices.concat();
            for pos in [len / 2, len.saturating_sub(1)] {
                if pos >= start && pos < end {
                    whole[pos - start] ^= 0xFF;
                }
            }
            slices = vec![Bytes::from(whole)];
        }
        Some(BucketFaultAction::DropBody { after_bytes }) => {
            let mut left = after_bytes;
            let mut cut = Vec::new();
            for s in slices {
                if left == 0 {
                    break;
                }
                let n = s.len().min(left);
                cut.push(s.slice(..n));
                left -= n;
            }
            let head = futures_util::stream::iter(cut.into_iter().map(Ok::<_, std::io::Error>));
            let tail = futures_util::stream::once(async {
                // let hyper flush what it has before the connection is cut
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::other("fault: dropped body"))
            });
            return b
                .body(Body::from_stream(head.chain(tail)))
                .expect("response");
        }
        _ => {}
    }
    b.body(Body::from_stream(futures_util::stream::iter(
        slices.into_iter().map(Ok::<_, std::io::Error>),
    )))
    .expect("response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some((0, 10))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some((90, 100))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some((90, 100))));
        assert_eq!(parse_range(Some("bytes=95-200"), 100), Ok(Some((95, 100))));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Ok(None));
        assert_eq!(parse_range(None, 100), Ok(None));
    }

    #[test]
    fn tokens_and_escapes() {
        let t = make_token("k:a/b.dcm");
        assert_eq!(read_token(&t).as_deref(), Some("k:a/b.dcm"));
        assert_eq!(read_token("bm9wZQ=="), None);
        assert_eq!(read_token("!!!"), None);
        assert_eq!(xml_escape("a&b<c>'\""), "a&amp;b&lt;c&gt;&apos;&quot;");
        assert_eq!(url_encode("a b/c+d"), "a%20b/c%2Bd");
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(path_decode("a%20b+c"), "a b+c");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    }
}
