//! IDC's public buckets as a [`SeriesFetcher`]: a series is the objects under
//! `<bucket>/<crdc_series_uuid>/`, listed with ListObjectsV2 (continuation tokens followed) and
//! fetched in parallel within a global connection budget, each hashed while it is written and
//! checked against the digest the store gives: the MD5 of an S3 ETag without `-`, GCS's
//! `x-goog-hash` (md5, else crc32c), otherwise its size only (recorded as such). Requests are
//! anonymous and path-style (`<endpoint>/<bucket>/<key>`), as s5cmd sends them with
//! `--endpoint-url`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt as _;
use md5::{Digest, Md5};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::names::is_plain_file_name;
use super::report::Reporter;
use super::source::{FailClass, Failure, SeriesFetcher, Staged, Target};
use super::state::FileRec;

/// The default endpoint (AWS, where most of IDC's data is).
pub const AWS_ENDPOINT: &str = "https://s3.amazonaws.com";
/// Google Cloud Storage's XML API.
pub const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

/// Attempts per object (a dropped body, a 503 SlowDown, a digest mismatch) before the series
/// fails and the engine's own retries take over.
const OBJECT_ATTEMPTS: u32 = 3;

/// Where a series lives.
#[derive(Clone, Debug)]
pub struct Location {
    pub bucket: String,
    pub uuid: String,
}

/// The name of an AWS bucket of IDC's on Google Cloud (as idc-index maps them).
pub fn gcs_name(aws: &str) -> &str {
    match aws {
        "idc-open-data-two" => "idc-open-idc1",
        "idc-open-data-cr" => "idc-open-cr",
        other => other,
    }
}

/// Whether an endpoint is Google Cloud Storage (bucket names mapped from the start).
pub fn is_gcs(endpoint: &reqwest::Url) -> bool {
    endpoint
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case("storage.googleapis.com"))
}

pub struct BucketObjects {
    pub http: reqwest::Client,
    /// No trailing slash.
    pub endpoint: String,
    pub gcs: bool,
    pub locations: HashMap<String, Location>,
    /// Check digests (`--no-md5` turns it off; sizes are always checked).
    pub md5: bool,
    /// Write a ZIP archive of the objects (`--zip`).
    pub zip: bool,
    /// Connections across every series in flight.
    pub budget: Arc<Semaphore>,
    pub no_retry_delay: bool,
    /// AWS bucket names that answered NoSuchBucket here, and the name that worked.
    renamed: Mutex<HashMap<String, String>>,
}

impl BucketObjects {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        http: reqwest::Client,
        endpoint: &reqwest::Url,
        locations: HashMap<String, Location>,
        md5: bool,
        zip: bool,
        connections: usize,
        no_retry_delay: bool,
    ) -> BucketObjects {
        BucketObjects {
            http,
            endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
            gcs: is_gcs(endpoint),
            locations,
            md5,
            zip,
            budget: Arc::new(Semaphore::new(connections.max(1))),
            no_retry_delay,
            renamed: Mutex::new(HashMap::new()),
        }
    }

    fn bucket_name(&self, aws: &str) -> String {
        if self.gcs {
            return gcs_name(aws).to_string();
        }
        let renamed = self.renamed.lock().unwrap_or_else(|e| e.into_inner());
        renamed.get(aws).cloned().unwrap_or_else(|| aws.to_string())
    }

    async fn pause(&self, attempt: u32, after: Option<Duration>) {
        if !self.no_retry_delay {
            let d = after.unwrap_or_else(|| crate::api::client::backoff(attempt));
            tokio::time::sleep(d).await;
        }
    }

    /// Every object under the series' prefix. A bucket this endpoint does not know under its
    /// AWS name is tried once under its GCS name.
    async fn list(&self, loc: &Location) -> Result<(String, Vec<Listed>), Failure> {
        let bucket = self.bucket_name(&loc.bucket);
        match self.list_in(&bucket, &loc.uuid).await {
            Err(ListError::NoSuchBucket(msg)) => {
                let alt = gcs_name(&loc.bucket);
                if alt != bucket {
                    let listed = self.list_in(alt, &loc.uuid).await;
                    if listed.is_ok() {
                        self.renamed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(loc.bucket.clone(), alt.to_string());
                        return listed
                            .map(|l| (alt.to_string(), l))
                            .map_err(ListError::into_failure);
                    }
                }
                Err(Failure::new(FailClass::Denied, false, msg))
            }
            other => other.map(|l| (bucket, l)).map_err(ListError::into_failure),
        }
    }

    async fn list_in(&self, bucket: &str, uuid: &str) -> Result<Vec<Listed>, ListError> {
        let prefix = format!("{uuid}/");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut seen_tokens = std::collections::HashSet::new();
        let mut attempt = 0u32;
        loop {
            let mut url = reqwest::Url::parse(&format!("{}/{bucket}", self.endpoint))
                .map_err(|e| ListError::Final(Failure::local(format!("bucket URL: {e}"))))?;
            url.query_pairs_mut()
                .append_pair("list-type", "2")
                .append_pair("prefix", &prefix);
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("continuation-token", t);
            }
            let shown = format!("s3://{bucket}/{prefix}");
            let result = async {
                let _permit = self.budget.acquire().await.ok();
                let resp = self.http.get(url.clone()).send().await.map_err(|e| {
                    ListError::Retry(format!("listing {shown}: {}", one_line(&e)), None)
                })?;
                let status = resp.status();
                let after = crate::api::client::parse_retry_after(
                    resp.headers().get(reqwest::header::RETRY_AFTER),
                );
                let body = resp.text().await.map_err(|e| {
                    ListError::Retry(format!("listing {shown}: {}", one_line(&e)), None)
                })?;
                if !status.is_success() {
                    return Err(error_of(status, &body, &shown, after));
                }
                quick_xml::de::from_str::<ListBucketResult>(&body).map_err(|e| {
                    ListError::Retry(
                        format!("listing {shown}: not a ListObjectsV2 answer ({e})"),
                        None,
                    )
                })
            }
            .await;
            match result {
                Ok(page) => {
                    attempt = 0;
                    out.extend(page.contents.into_iter().map(|c| Listed {
                        key: c.key,
                        size: c.size,
                        etag: c.etag,
                    }));
                    match (page.is_truncated, page.next_continuation_token) {
                        (true, Some(t)) if !seen_tokens.insert(t.clone()) => {
                            // The same page again would never end.
                            return Err(ListError::Final(Failure::new(
                                FailClass::Network,
                                false,
                                format!(
                                    "listing {shown}: the store repeated its continuation token"
                                ),
                            )));
                        }
                        (true, Some(t)) if !t.is_empty() => token = Some(t),
                        (true, _) => {
                            return Err(ListError::Retry(
                                format!("listing {shown}: truncated, without a continuation token"),
                                None,
                            ))
                        }
                        (false, _) => return Ok(out),
                    }
                }
                Err(ListError::Retry(msg, after)) if attempt + 1 < OBJECT_ATTEMPTS => {
                    attempt += 1;
                    let _ = msg;
                    self.pause(attempt, after).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// One object of a listing.
#[derive(Clone, Debug)]
struct Listed {
    key: String,
    size: u64,
    etag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
    #[serde(default)]
    contents: Vec<Contents>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    size: u64,
    #[serde(rename = "ETag", default)]
    etag: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct S3Error {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

enum ListError {
    NoSuchBucket(String),
    Retry(String, Option<Duration>),
    Final(Failure),
}

impl ListError {
    fn into_failure(self) -> Failure {
        match self {
            ListError::NoSuchBucket(m) => Failure::new(FailClass::Denied, false, m),
            ListError::Retry(m, after) => {
                let mut f = Failure::new(FailClass::Network, true, m);
                f.retry_after = after;
                f
            }
            ListError::Final(f) => f,
        }
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    crate::text::one_line(&e.to_string(), 300)
}

/// An S3 error answer as a failure: 5xx and 429 retried, NoSuchBucket apart, the rest final.
fn error_of(
    status: reqwest::StatusCode,
    body: &str,
    what: &str,
    after: Option<Duration>,
) -> ListError {
    let err: S3Error = quick_xml::de::from_str(body).unwrap_or_default();
    let why = if err.code.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {} {}: {}", status.as_u16(), err.code, err.message)
    };
    let msg = format!("{what}: {why}");
    if err.code == "RequestTimeout" {
        return ListError::Retry(msg, after);
    }
    if err.code == "NoSuchBucket" {
        return ListError::NoSuchBucket(msg);
    }
    if status.is_server_error() || status.as_u16() == 429 {
        return ListError::Retry(msg, after);
    }
    ListError::Final(Failure::new(FailClass::Denied, false, msg))
}

/// What the store promised for an object.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Promise {
    Md5(String),
    Crc32c(u32),
    SizeOnly,
}

/// The digest an object's headers (or its listing's ETag) give.
fn promise(headers: &reqwest::header::HeaderMap, listed_etag: Option<&str>) -> Promise {
    let mut crc = None;
    for v in headers.get_all("x-goog-hash") {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(',') {
            let Some((k, b64)) = part.trim().split_once('=') else {
                continue;
            };
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
                continue;
            };
            match (k.trim(), bytes.len()) {
                ("md5", 16) => return Promise::Md5(hex(&bytes)),
                ("crc32c", 4) => {
                    crc = Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                }
                _ => {}
            }
        }
    }
    if let Some(c) = crc {
        return Promise::Crc32c(c);
    }
    let etag = headers
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .or(listed_etag);
    match etag.map(|e| e.trim().trim_matches('"').to_ascii_lowercase()) {
        Some(e) if e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit()) => Promise::Md5(e),
        _ => Promise::SizeOnly,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One object fetched and checked.
struct Got {
    rec: FileRec,
    promise: Promise,
}

/// What an object attempt can end with.
enum ObjError {
    Retry(Failure),
    Final(Failure),
}

/// GET one object into `path`, hashing as it is written; checks size and digest.
#[allow(clippy::too_many_arguments)]
async fn get_object(
    http: reqwest::Client,
    url: String,
    shown: String,
    name: String,
    listed: Listed,
    path: PathBuf,
    md5: bool,
    reporter: Arc<dyn Reporter>,
    uid: Arc<str>,
    reported: &mut u64,
) -> Result<Got, ObjError> {
    let net = |m: String| ObjError::Retry(Failure::new(FailClass::Network, true, m));
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| net(format!("GET {shown}: {}", one_line(&e))))?;
    let status = resp.status();
    if !status.is_success() {
        let after =
            crate::api::client::parse_retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
        let body = resp.text().await.unwrap_or_default();
        return Err(
            match error_of(status, &body, &format!("GET {shown}"), after) {
                ListError::Retry(m, after) => {
                    let mut f = Failure::new(FailClass::Network, true, m);
                    f.retry_after = after;
                    ObjError::Retry(f)
                }
                ListError::NoSuchBucket(m) => {
                    ObjError::Final(Failure::new(FailClass::Denied, false, m))
                }
                ListError::Final(f) if status.as_u16() == 404 => ObjError::Final(Failure::new(
                    FailClass::Denied,
                    false,
                    format!("{} (the bucket lists it)", f.message),
                )),
                ListError::Final(f) => ObjError::Final(f),
            },
        );
    }
    let promise = promise(resp.headers(), listed.etag.as_deref());
    if let Some(n) = resp.content_length().filter(|n| *n != listed.size) {
        return Err(ObjError::Retry(Failure::new(
            FailClass::Integrity,
            true,
            format!("{shown}: {n} bytes sent, the listing says {}", listed.size),
        )));
    }
    let file = std::fs::File::create(&path).map_err(|e| {
        ObjError::Final(Failure::local(format!("creating {}: {e}", path.display())))
    })?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = Md5::new();
    let mut crc = 0u32;
    let want_crc = matches!(promise, Promise::Crc32c(_));
    let mut bytes = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| net(format!("GET {shown}: {}", one_line(&e))))?;
        hasher.update(&chunk);
        if want_crc {
            crc = crc32c::crc32c_append(crc, &chunk);
        }
        out.write_all(&chunk).map_err(|e| {
            ObjError::Final(Failure::local(format!("writing {}: {e}", path.display())))
        })?;
        bytes += chunk.len() as u64;
        // An earlier attempt at this object reported its bytes already: only what goes
        // beyond them counts, so that a retried object is not counted twice.
        if bytes > *reported {
            reporter.progress(&uid, bytes - *reported);
            *reported = bytes;
        }
    }
    out.flush()
        .map_err(|e| ObjError::Final(Failure::local(format!("writing {}: {e}", path.display()))))?;
    if bytes != listed.size {
        return Err(net(format!(
            "GET {shown}: the body ended after {bytes} of {} bytes",
            listed.size
        )));
    }
    let computed = hex(&hasher.finalize());
    if md5 {
        let bad = match &promise {
            Promise::Md5(want) if *want != computed => Some(format!(
                "MD5 mismatch for {name}: the store says {want}, computed {computed}"
            )),
            Promise::Crc32c(want) if *want != crc => Some(format!(
                "CRC32C mismatch for {name}: the store says {want:08x}, computed {crc:08x}"
            )),
            _ => None,
        };
        if let Some(m) = bad {
            return Err(ObjError::Retry(Failure::new(FailClass::Integrity, true, m)));
        }
    }
    Ok(Got {
        rec: FileRec {
            name,
            size: bytes,
            md5: computed.into(),
        },
        promise,
    })
}

impl SeriesFetcher for BucketObjects {
    fn checks_digests(&self) -> bool {
        self.md5
    }

    async fn fetch(
        &self,
        target: &Target<'_>,
        staged: &Path,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Staged, Failure> {
        let Some(loc) = self.locations.get(target.uid) else {
            return Err(Failure::new(
                FailClass::Denied,
                false,
                "not in IDC's index (no bucket location)",
            ));
        };
        let (bucket, listed) = self.list(loc).await?;
        let prefix = format!("{}/", loc.uuid);
        // The series' objects: folder markers (`<uuid>/`, empty) are not instances; a name
        // listed twice, or two names one file system could confuse, refuse the series.
        let mut names = std::collections::HashSet::new();
        let mut jobs = Vec::with_capacity(listed.len());
        for l in listed {
            let Some(name) = l.key.strip_prefix(&prefix).map(str::to_string) else {
                continue;
            };
            if name.is_empty() && l.size == 0 {
                continue;
            }
            if !is_plain_file_name(&name) || !names.insert(name.to_lowercase()) {
                return Err(Failure::new(
                    FailClass::Integrity,
                    false,
                    format!(
                        "refusing object name {:?} under s3://{bucket}/{prefix} (not a plain file name, or listed twice)",
                        name
                    ),
                ));
            }
            jobs.push((name, l));
        }
        if jobs.is_empty() {
            return Err(Failure::new(
                FailClass::Integrity,
                true,
                format!("s3://{bucket}/{prefix} lists no objects"),
            ));
        }
        if let Some(n) = target.image_count.filter(|n| *n != jobs.len() as u64) {
            return Err(Failure::new(
                FailClass::Integrity,
                true,
                format!(
                    "s3://{bucket}/{prefix} lists {} objects, IDC's index says {n}",
                    jobs.len()
                ),
            ));
        }
        let dir = if self.zip {
            let d = staged.with_extension("parts");
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d)
                .map_err(|e| Failure::local(format!("creating {}: {e}", d.display())))?;
            d
        } else {
            staged.to_path_buf()
        };
        // With --zip the objects wait beside the archive: removed however this attempt ends.
        let _parts = self.zip.then(|| RemoveOnDrop(dir.clone()));
        let listed_bytes: u64 = jobs.iter().map(|(_, l)| l.size).sum();
        let uid: Arc<str> = Arc::from(target.uid);
        // Each object on its own task (hashing spreads over the runtime's threads), all waiting
        // on the global budget; a JoinSet, so that the rest are stopped when one fails for good.
        let mut set = tokio::task::JoinSet::new();
        for (name, l) in jobs {
            let url = object_url(&self.endpoint, &bucket, &loc.uuid, &name)?;
            let shown = format!("s3://{bucket}/{}", l.key);
            let (http, budget, reporter, uid) = (
                self.http.clone(),
                self.budget.clone(),
                reporter.clone(),
                uid.clone(),
            );
            let path = dir.join(&name);
            let md5 = self.md5;
            let no_delay = self.no_retry_delay;
            set.spawn(async move {
                let (mut attempt, mut reported) = (0u32, 0u64);
                loop {
                    let permit = budget.clone().acquire_owned().await.ok();
                    let r = get_object(
                        http.clone(),
                        url.clone(),
                        shown.clone(),
                        name.clone(),
                        l.clone(),
                        path.clone(),
                        md5,
                        reporter.clone(),
                        uid.clone(),
                        &mut reported,
                    )
                    .await;
                    drop(permit);
                    match r {
                        Ok(g) => return Ok(g),
                        Err(ObjError::Retry(f)) if attempt + 1 < OBJECT_ATTEMPTS => {
                            attempt += 1;
                            if !no_delay {
                                let d = f
                                    .retry_after
                                    .unwrap_or_else(|| crate::api::client::backoff(attempt));
                                tokio::time::sleep(d).await;
                            }
                        }
                        Err(ObjError::Retry(f)) | Err(ObjError::Final(f)) => return Err(f),
                    }
                }
            });
        }
        let mut files = Vec::new();
        let mut promised = HashMap::new();
        let mut unpromised_ok = Vec::new();
        let mut size_only = Vec::new();
        let mut first_error: Option<Failure> = None;
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(g)) => {
                    match &g.promise {
                        Promise::Md5(m) => {
                            promised.insert(g.rec.name.clone(), m.clone());
                        }
                        Promise::Crc32c(_) => unpromised_ok.push(g.rec.name.clone()),
                        Promise::SizeOnly => {
                            unpromised_ok.push(g.rec.name.clone());
                            size_only.push(g.rec.name.clone());
                        }
                    }
                    files.push(g.rec);
                }
                Ok(Err(f)) => {
                    first_error.get_or_insert(f);
                }
                Err(e) => {
                    first_error
                        .get_or_insert(Failure::local(format!("a download task failed: {e}")));
                }
            }
            if first_error.is_some() {
                // The series has failed: stop the other objects, and wait until they have
                // stopped, so that none writes into the next attempt's staging.
                set.abort_all();
                while set.join_next().await.is_some() {}
            }
        }
        if let Some(f) = first_error {
            return Err(f);
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        if self.zip {
            let d = dir.clone();
            let out = staged.to_path_buf();
            let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
            tokio::task::spawn_blocking(move || write_zip(&d, &names, &out))
                .await
                .map_err(|e| Failure::local(format!("zip task failed: {e}")))?
                .map_err(|e| Failure::local(format!("writing {}: {e}", staged.display())))?;
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(Staged {
            files,
            promised: Some(promised),
            promised_in: "the bucket's digests",
            license: None,
            listed_bytes: Some(listed_bytes),
            unpromised_ok,
            size_only,
        })
    }
}

/// `<endpoint>/<bucket>/<uuid>/<name>`, each part percent-encoded as a path segment.
fn object_url(endpoint: &str, bucket: &str, uuid: &str, name: &str) -> Result<String, Failure> {
    let mut u = reqwest::Url::parse(endpoint)
        .map_err(|e| Failure::local(format!("bucket URL {endpoint}: {e}")))?;
    u.path_segments_mut()
        .map_err(|_| Failure::local(format!("bucket URL {endpoint}: cannot take a path")))?
        .pop_if_empty()
        .push(bucket)
        .push(uuid)
        .push(name);
    Ok(u.to_string())
}

/// A directory removed when this is dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The objects, stored (DICOM does not compress much), into one archive.
fn write_zip(dir: &Path, names: &[String], out: &Path) -> std::io::Result<()> {
    let f = std::fs::File::create(out)?;
    let mut z = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, f));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for n in names {
        z.start_file(n.as_str(), opts)
            .map_err(std::io::Error::other)?;
        let mut src = std::fs::File::open(dir.join(n))?;
        std::io::copy(&mut src, &mut z)?;
    }
    let mut w = z.finish().map_err(std::io::Error::other)?;
    w.flush()?;
    w.get_ref().sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn digests_come_from_the_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "etag",
            HeaderValue::from_static("\"0cc175b9c0f1b6a831c399e269772661\""),
        );
        assert_eq!(
            promise(&h, None),
            Promise::Md5("0cc175b9c0f1b6a831c399e269772661".into())
        );
        h.insert(
            "etag",
            HeaderValue::from_static("\"0cc175b9c0f1b6a831c399e269772661-2\""),
        );
        assert_eq!(promise(&h, None), Promise::SizeOnly);
        h.insert("x-goog-hash", HeaderValue::from_static("crc32c=AAAAAQ=="));
        assert_eq!(promise(&h, None), Promise::Crc32c(1));
        h.append(
            "x-goog-hash",
            HeaderValue::from_static("md5=DMF1ucDxtqgxw5niaXcmYQ=="),
        );
        assert_eq!(
            promise(&h, None),
            Promise::Md5("0cc175b9c0f1b6a831c399e269772661".into())
        );
        assert_eq!(gcs_name("idc-open-data-two"), "idc-open-idc1");
        assert_eq!(gcs_name("idc-open-data-cr"), "idc-open-cr");
        assert_eq!(gcs_name("idc-open-data"), "idc-open-data");
    }

    #[test]
    fn object_urls_are_encoded() {
        let u = object_url("http://127.0.0.1:9", "b", "u", "a b#?%.dcm").unwrap();
        assert_eq!(u, "http://127.0.0.1:9/b/u/a%20b%23%3F%25.dcm");
        let u = object_url("https://s3.amazonaws.com/", "idc-open-data", "u", "x.dcm").unwrap();
        assert_eq!(u, "https://s3.amazonaws.com/idc-open-data/u/x.dcm");
    }

    #[test]
    fn listings_parse() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>u/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken><Contents><Key>u/a.dcm</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>u/b.dcm</Key><ETag>"x"</ETag><Size>2</Size></Contents></ListBucketResult>"#;
        let r: ListBucketResult = quick_xml::de::from_str(xml).unwrap();
        assert!(r.is_truncated);
        assert_eq!(r.next_continuation_token.as_deref(), Some("tok"));
        assert_eq!(r.contents.len(), 2);
        assert_eq!(r.contents[0].key, "u/a.dcm");
        assert_eq!(
            r.contents[0].etag.as_deref(),
            Some("\"0cc175b9c0f1b6a831c399e269772661\"")
        );
        let e: S3Error = quick_xml::de::from_str(
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        )
        .unwrap();
        assert_eq!(e.code, "SlowDown");
        let empty: ListBucketResult = quick_xml::de::from_str(
            "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert!(empty.contents.is_empty());
    }
}
