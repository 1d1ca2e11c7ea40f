//! One attempt at one series: request the ZIP, and in a single pass stream the body through the
//! ZIP reader (inflating on one thread) into staging files (hashing and writing on another),
//! then check everything the server promised. Nothing here touches the final paths.

use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use md5::{Digest, Md5};

use super::report::Reporter;
use super::state::FileRec;
use super::zipstream::{check_name, ZipError, ZipStream};
use crate::catalogue::Api;
use crate::client::{Client, Request};
use crate::error::Error;

/// How a series attempt failed, which decides retries and the exit code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FailClass {
    /// Data arrived but did not verify (MD5, counts, sizes, CRC, hostile names): exit 3.
    Integrity,
    /// Connection, timeout, 5xx, 429, truncated or non-ZIP bodies: exit 5.
    Network,
    /// The server refused (400 not granted / not public, 401, 403, 404): exit 4.
    Denied,
    /// Our side: disk full, permissions: exit 1.
    Local,
}

#[derive(Debug)]
pub struct Failure {
    pub class: FailClass,
    pub retry: bool,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn new(class: FailClass, retry: bool, message: impl Into<String>) -> Failure {
        Failure {
            class,
            retry,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// What the engine needs to know about a series.
pub struct Target<'a> {
    pub uid: &'a str,
    pub image_count: Option<u64>,
    pub file_size: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub api: Api,
    pub md5: bool,
    pub zip: bool,
}

/// A verified series in staging.
#[derive(Debug)]
pub struct Fetched {
    pub staged: PathBuf,
    pub files: Vec<FileRec>,
    pub bytes: u64,
    pub license: Option<String>,
    pub md5_verified: bool,
}

/// The request for a series' ZIP: v4 getImage with new file names and MD5s; v1/v2
/// getImageWithMD5Hash (or getImage without MD5s when `--no-md5`).
pub fn image_request(opts: &Options, uid: &str) -> Request {
    let v = opts.api.as_str();
    let mut q = vec![("SeriesInstanceUID".to_string(), uid.to_string())];
    let name = if opts.api == Api::V4 {
        q.push(("NewFileNames".into(), "Yes".into()));
        if opts.md5 {
            q.push(("IncludeMD5".into(), "yes".into()));
        }
        "getImage"
    } else if opts.md5 {
        "getImageWithMD5Hash"
    } else {
        q.push(("NewFileNames".into(), "Yes".into()));
        "getImage"
    };
    Request::get(format!("/nbia-api/services/{v}/{name}"), q)
}

/// Map a request error to a failure class.
pub fn classify(e: Error) -> Failure {
    match e {
        Error::Http {
            status,
            message,
            retry_after,
            ..
        } => {
            let retry = status >= 500 || status == 429;
            let class = if retry {
                FailClass::Network
            } else {
                FailClass::Denied
            };
            Failure {
                class,
                retry,
                message: format!("HTTP {status}: {message}"),
                retry_after,
            }
        }
        Error::Usage(m) => Failure::new(FailClass::Local, false, m),
        other => Failure::new(FailClass::Network, true, other.to_string()),
    }
}

/// One attempt. `staging` is this run's staging directory.
pub async fn attempt(
    client: &Client,
    opts: Options,
    staging: &Path,
    target: &Target<'_>,
    reporter: Arc<dyn Reporter>,
) -> Result<Fetched, Failure> {
    let uid = target.uid.to_string();
    if !super::input::is_uid(&uid) {
        return Err(Failure::new(
            FailClass::Local,
            false,
            format!("refusing the series UID {uid:?}: not digits and dots"),
        ));
    }
    let staged = if opts.zip {
        staging.join(format!("{uid}.zip"))
    } else {
        staging.join(&uid)
    };
    remove_any(&staged).map_err(|e| {
        Failure::new(
            FailClass::Local,
            false,
            format!("cleaning {}: {e}", staged.display()),
        )
    })?;
    if !opts.zip {
        fs::create_dir_all(&staged).map_err(|e| {
            Failure::new(
                FailClass::Local,
                false,
                format!("creating {}: {e}", staged.display()),
            )
        })?;
    }
    let req = image_request(&opts, &uid);
    let url = client.url_for(&req);
    let mut resp = client.send_with(&req, 0).await.map_err(classify)?;
    let html = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if html {
        return Err(Failure::new(
            FailClass::Network,
            true,
            "the server sent an HTML page instead of a ZIP (an outage or a proxy page?)",
        ));
    }

    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(32);
    let staged2 = staged.clone();
    let uid2 = uid.clone();
    let zip = opts.zip;
    let pipeline = tokio::task::spawn_blocking(move || extract(rx, &staged2, zip, reporter, &uid2));
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if tx.send(Ok(c)).await.is_err() {
                    break; // the reader stopped early: its error is what counts
                }
            }
            Ok(None) => break,
            Err(e) => {
                let msg = client.transport_error("GET", &url, e).to_string();
                let _ = tx
                    .send(Err(io::Error::new(io::ErrorKind::ConnectionAborted, msg)))
                    .await;
                break;
            }
        }
    }
    drop(tx);
    let extracted = pipeline.await.map_err(|e| {
        Failure::new(
            FailClass::Local,
            false,
            format!("extraction task failed: {e}"),
        )
    })??;
    check(opts, target, staged, extracted)
}

/// The result of reading one ZIP.
struct Extracted {
    files: Vec<FileRec>,
    license: Option<String>,
    /// MD5 of the LICENSE entry, in case md5hashes.csv lists it too.
    license_md5: Option<String>,
    md5csv: Option<String>,
}

fn zip_failure(e: ZipError) -> Failure {
    match e {
        ZipError::Truncated(_) => Failure::new(FailClass::Network, true, e.to_string()),
        ZipError::NotZip(_) => Failure::new(FailClass::Network, true, e.to_string()),
        ZipError::Corrupt { .. } => Failure::new(FailClass::Integrity, true, e.to_string()),
        ZipError::HostileName(_) | ZipError::Unsupported { .. } => {
            Failure::new(FailClass::Integrity, false, e.to_string())
        }
        ZipError::Sink(io) => {
            if io.kind() == io::ErrorKind::ConnectionAborted {
                Failure::new(FailClass::Network, true, io.to_string())
            } else {
                Failure::new(FailClass::Local, false, io.to_string())
            }
        }
    }
}

/// A blocking `BufRead` over the chunks the async side receives; optionally copies every byte
/// to a file (`--zip`).
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
    tee: Option<BufWriter<File>>,
    /// A failure writing the `--zip` copy (disk full): ours, not the network's.
    tee_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => {
                    if let Some(t) = self.tee.as_mut() {
                        if let Err(e) = t.write_all(&b) {
                            *self.tee_error.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(e.to_string());
                            return Err(e);
                        }
                    }
                    self.cur = b;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(&[]),
            }
        }
        Ok(&self.cur)
    }

    fn consume(&mut self, amt: usize) {
        let _ = self.cur.split_to(amt.min(self.cur.len()));
    }
}

/// A piece of an entry for the writer thread. Entries up to `BATCH` bytes travel as one piece.
struct Piece {
    /// Set on an entry's first piece.
    name: Option<String>,
    data: Vec<u8>,
    last: bool,
}

const BATCH: usize = 1 << 20;

/// Inflate on this thread; hash and write on a second one.
fn extract(
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    staged: &Path,
    zip: bool,
    reporter: Arc<dyn Reporter>,
    uid: &str,
) -> Result<Extracted, Failure> {
    let tee = if zip {
        let f = File::create(staged).map_err(|e| {
            Failure::new(
                FailClass::Local,
                false,
                format!("creating {}: {e}", staged.display()),
            )
        })?;
        Some(BufWriter::with_capacity(1 << 20, f))
    } else {
        None
    };
    let tee_error = Arc::new(std::sync::Mutex::new(None));
    let reader = ChannelReader {
        rx,
        cur: Bytes::new(),
        tee,
        tee_error: tee_error.clone(),
    };
    let (wtx, wrx) = sync_channel::<Piece>(8);
    let dir = (!zip).then(|| staged.to_path_buf());
    let uid2 = uid.to_string();
    let rep = reporter.clone();
    let writer = std::thread::spawn(move || write_entries(wrx, dir, rep, &uid2));

    type Read = (
        Option<String>,
        Option<String>,
        Option<String>,
        ChannelReader,
    );
    let read = (|| -> Result<Read, ZipError> {
        let mut z = ZipStream::new(reader);
        let mut license = None;
        let mut license_md5 = None;
        let mut md5csv = None;
        let mut seen = std::collections::HashSet::new();
        while let Some(e) = z.next_entry()? {
            check_name(&e.name)?;
            if !seen.insert(e.name.clone()) {
                return Err(ZipError::Corrupt {
                    name: e.name.clone(),
                    what: "the entry appears twice".into(),
                });
            }
            match e.name.as_str() {
                "LICENSE" | "md5hashes.csv" => {
                    let mut buf = Vec::new();
                    z.read_entry(&e, &mut |b| {
                        if buf.len() + b.len() > 64 << 20 {
                            return Err(io::Error::other(format!(
                                "{} is implausibly large",
                                e.name
                            )));
                        }
                        buf.extend_from_slice(b);
                        Ok(())
                    })?;
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if e.name == "LICENSE" {
                        license_md5 = Some(format!("{:x}", Md5::digest(&buf)));
                        license = Some(text);
                    } else {
                        md5csv = Some(text);
                    }
                }
                name => {
                    let stopped = || io::Error::other("the file writer stopped");
                    let mut first = Some(name.to_string());
                    let mut pending = Vec::new();
                    z.read_entry(&e, &mut |b| {
                        pending.extend_from_slice(b);
                        if pending.len() >= BATCH {
                            let data = std::mem::take(&mut pending);
                            wtx.send(Piece {
                                name: first.take(),
                                data,
                                last: false,
                            })
                            .map_err(|_| stopped())?;
                        }
                        Ok(())
                    })?;
                    wtx.send(Piece {
                        name: first.take(),
                        data: pending,
                        last: true,
                    })
                    .map_err(|_| ZipError::Sink(stopped()))?;
                }
            }
        }
        Ok((license, license_md5, md5csv, z.finish()?))
    })();
    drop(wtx);
    let written = writer
        .join()
        .map_err(|_| Failure::new(FailClass::Local, false, "the file writer panicked"))?;
    // A writer failure (disk full) explains a reader failure, so it comes first.
    let files = written.map_err(|e| {
        Failure::new(
            FailClass::Local,
            false,
            format!("writing {}: {e}", staged.display()),
        )
    })?;
    if let Some(e) = tee_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(Failure::new(
            FailClass::Local,
            false,
            format!("writing {}: {e}", staged.display()),
        ));
    }
    let (license, license_md5, md5csv, reader) = read.map_err(zip_failure)?;
    if let Some(mut t) = reader.tee {
        t.flush().map_err(|e| {
            Failure::new(
                FailClass::Local,
                false,
                format!("writing {}: {e}", staged.display()),
            )
        })?;
    }
    Ok(Extracted {
        files,
        license,
        license_md5,
        md5csv,
    })
}

fn write_entries(
    rx: Receiver<Piece>,
    dir: Option<PathBuf>,
    reporter: Arc<dyn Reporter>,
    uid: &str,
) -> io::Result<Vec<FileRec>> {
    let mut files = Vec::new();
    let mut cur: Option<(String, Option<File>, Md5, u64)> = None;
    for piece in rx {
        if let Some(name) = piece.name {
            let out = match &dir {
                Some(d) => Some(
                    File::options()
                        .write(true)
                        .create_new(true)
                        .open(d.join(&name))?,
                ),
                None => None,
            };
            cur = Some((name, out, Md5::new(), 0));
        }
        let Some((_, out, md5, size)) = cur.as_mut() else {
            continue;
        };
        md5.update(&piece.data);
        if let Some(o) = out {
            o.write_all(&piece.data)?;
        }
        *size += piece.data.len() as u64;
        reporter.progress(uid, piece.data.len() as u64);
        if piece.last {
            if let Some((name, _, md5, size)) = cur.take() {
                files.push(FileRec {
                    name,
                    size,
                    md5: format!("{:x}", md5.finalize()),
                });
            }
        }
    }
    Ok(files)
}

/// Everything the server promised: md5hashes.csv rows present and matching, nothing extra,
/// image count and byte total as in the metadata.
fn check(
    opts: Options,
    target: &Target<'_>,
    staged: PathBuf,
    x: Extracted,
) -> Result<Fetched, Failure> {
    let integrity = |m: String| Failure::new(FailClass::Integrity, true, m);
    let bytes: u64 = x.files.iter().map(|f| f.size).sum();
    if opts.md5 {
        let Some(csv) = &x.md5csv else {
            return Err(integrity(
                "the ZIP has no md5hashes.csv (use --no-md5 to download without verification)"
                    .into(),
            ));
        };
        let expected = parse_md5_csv(csv);
        for f in &x.files {
            match expected.get(f.name.as_str()) {
                None => {
                    return Err(Failure::new(
                        FailClass::Integrity,
                        false,
                        format!("unexpected entry {} (not in md5hashes.csv)", f.name),
                    ))
                }
                Some(want) if !want.eq_ignore_ascii_case(&f.md5) => {
                    return Err(integrity(format!(
                        "MD5 mismatch for {}: expected {want}, computed {}",
                        f.name, f.md5
                    )))
                }
                Some(_) => {}
            }
        }
        // A LICENSE row (should a server list it) is checked against the LICENSE entry.
        if let Some(want) = expected.get("LICENSE") {
            if !x
                .license_md5
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(want))
            {
                return Err(integrity(format!(
                    "MD5 mismatch for LICENSE: expected {want}"
                )));
            }
        }
        if let Some(missing) = expected
            .keys()
            .filter(|k| **k != "LICENSE")
            .find(|k| !x.files.iter().any(|f| f.name == **k))
        {
            return Err(integrity(format!(
                "{missing} is listed in md5hashes.csv but missing from the ZIP ({} of {} files)",
                x.files.len(),
                expected.len()
            )));
        }
    }
    if let Some(n) = target.image_count {
        if x.files.len() as u64 != n {
            return Err(integrity(format!(
                "short series: {} of {n} images",
                x.files.len()
            )));
        }
    }
    if let Some(size) = target.file_size {
        if bytes != size {
            return Err(integrity(format!(
                "{bytes} bytes received, but the series has {size}"
            )));
        }
    }
    Ok(Fetched {
        staged,
        files: x.files,
        bytes,
        license: x.license,
        md5_verified: opts.md5,
    })
}

/// `Filename,MD5Hash` rows (header skipped, any order, any hex case).
pub fn parse_md5_csv(text: &str) -> std::collections::HashMap<&str, &str> {
    text.lines()
        .filter_map(|l| {
            let (name, hash) = l.trim().split_once(',')?;
            let (name, hash) = (name.trim().trim_matches('"'), hash.trim().trim_matches('"'));
            (!name.eq_ignore_ascii_case("Filename") && !hash.is_empty()).then_some((name, hash))
        })
        .collect()
}

/// Remove a file or directory tree if it exists.
pub fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extracted(license_row: &str) -> Extracted {
        Extracted {
            files: vec![FileRec {
                name: "a.dcm".into(),
                size: 3,
                md5: "aaaa".into(),
            }],
            license: Some("text".into()),
            license_md5: Some("bbbb".into()),
            md5csv: Some(format!("Filename,MD5Hash\na.dcm,AAAA\n{license_row}")),
        }
    }

    #[test]
    fn a_license_row_is_checked_not_reported_missing() {
        let opts = Options {
            api: Api::V4,
            md5: true,
            zip: false,
        };
        let t = Target {
            uid: "1.2",
            image_count: Some(1),
            file_size: Some(3),
        };
        assert!(check(opts, &t, PathBuf::from("x"), extracted("")).is_ok());
        assert!(check(opts, &t, PathBuf::from("x"), extracted("LICENSE,BBBB\n")).is_ok());
        let err = check(opts, &t, PathBuf::from("x"), extracted("LICENSE,cccc\n")).unwrap_err();
        assert!(err.message.contains("LICENSE"), "{}", err.message);
        let short = Target {
            uid: "1.2",
            image_count: Some(2),
            file_size: Some(3),
        };
        assert!(check(opts, &short, PathBuf::from("x"), extracted(""))
            .unwrap_err()
            .message
            .contains("short series"));
    }

    #[test]
    fn md5_rows() {
        let m = parse_md5_csv("Filename,MD5Hash\n00000002.dcm,ABC\n00000001.dcm,def\n\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m["00000002.dcm"], "ABC");
    }

    #[test]
    fn requests_per_version() {
        let r = image_request(
            &Options {
                api: Api::V4,
                md5: true,
                zip: false,
            },
            "1.2",
        );
        assert_eq!(r.path, "/nbia-api/services/v4/getImage");
        assert!(r.query.contains(&("IncludeMD5".into(), "yes".into())));
        let r = image_request(
            &Options {
                api: Api::V1,
                md5: true,
                zip: false,
            },
            "1.2",
        );
        assert_eq!(r.path, "/nbia-api/services/v1/getImageWithMD5Hash");
    }
}
