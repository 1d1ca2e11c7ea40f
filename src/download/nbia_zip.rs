//! NBIA's series ZIP, the first [`SeriesFetcher`]: request getImage (v4) or
//! getImageWithMD5Hash (v1/v2), and in a single pass stream the body through the ZIP reader
//! (inflating on one thread) into staging files (hashing and writing on another). The ZIP's
//! md5hashes.csv becomes the promised digests; its LICENSE entry travels with the series.
//! Nothing here touches the final paths.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};

use super::report::Reporter;
use super::source::{FailClass, Failure, SeriesFetcher, Staged, Target};
use super::state::FileRec;
use super::zipstream::{check_name, Entry, ZipError, ZipStream};
use crate::api::catalogue::{self as cat, Api};
use crate::api::client::{is_html, Client, Request};
use crate::error::Error;

/// Series ZIPs from an NBIA server.
pub struct NbiaZip<'a> {
    pub client: &'a Client,
    pub api: Api,
    /// Ask for and check MD5s (off with `--no-md5`).
    pub md5: bool,
    /// Keep the ZIP itself (`--zip`) instead of extracting it.
    pub zip: bool,
}

impl SeriesFetcher for NbiaZip<'_> {
    fn checks_digests(&self) -> bool {
        self.md5
    }

    async fn fetch(
        &self,
        target: &Target<'_>,
        staged: &Path,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Staged, Failure> {
        let req = self.request(target.uid);
        let url = self.client.url_for(&req);
        let mut resp = self.client.send_with(&req, 0).await.map_err(classify)?;
        if is_html(resp.headers()) {
            return Err(Failure::new(
                FailClass::Network,
                true,
                "the server sent an HTML page instead of a ZIP (an outage or a proxy page?)",
            ));
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(32);
        let (path, uid, zip) = (staged.to_path_buf(), target.uid.to_string(), self.zip);
        let budget = Budget::for_size(target.file_size);
        let pipeline =
            tokio::task::spawn_blocking(move || extract(rx, &path, zip, reporter, &uid, budget));
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if tx.send(Ok(c)).await.is_err() {
                        break; // the reader stopped early: its error is what counts
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let msg = self.client.transport_error("GET", &url, e).to_string();
                    let _ = tx
                        .send(Err(io::Error::new(io::ErrorKind::ConnectionAborted, msg)))
                        .await;
                    break;
                }
            }
        }
        drop(tx);
        let extracted = pipeline
            .await
            .map_err(|e| Failure::local(format!("extraction task failed: {e}")))??;
        self.promises(extracted)
    }
}

impl NbiaZip<'_> {
    /// The request for a series' ZIP: v4 getImage with new file names and MD5s; v1/v2
    /// getImageWithMD5Hash (or getImage without MD5s when `--no-md5`).
    pub fn request(&self, uid: &str) -> Request {
        let mut q = vec![("SeriesInstanceUID".to_string(), uid.to_string())];
        let endpoint = if self.api == Api::V4 {
            q.push(("NewFileNames".into(), "Yes".into()));
            if self.md5 {
                q.push(("IncludeMD5".into(), "yes".into()));
            }
            &cat::IMAGE
        } else if self.md5 {
            &cat::IMAGE_WITH_MD5
        } else {
            q.push(("NewFileNames".into(), "Yes".into()));
            &cat::IMAGE
        };
        let route = endpoint
            .route(self.api)
            .expect("getImage routes cover v4, v1 and v2");
        Request::for_method(route.method, route.path.url_path(self.api), q)
    }

    /// md5hashes.csv as promises. A LICENSE row (should a server list it) is checked here,
    /// against the LICENSE entry, since LICENSE is not one of the series' files.
    fn promises(&self, x: Extracted) -> Result<Staged, Failure> {
        let mut promised = x.md5csv.as_deref().map(parse_md5_csv);
        if let (true, Some(p)) = (self.md5, promised.as_mut()) {
            if let Some(want) = p.remove("LICENSE") {
                if !x
                    .license_md5
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(&want))
                {
                    return Err(Failure::new(
                        FailClass::Integrity,
                        true,
                        format!("MD5 mismatch for LICENSE: expected {want}"),
                    ));
                }
            }
        }
        Ok(Staged {
            files: x.files,
            promised,
            promised_in: "md5hashes.csv",
            license: x.license,
        })
    }
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
        Error::Usage(m) => Failure::local(m),
        other => Failure::new(FailClass::Network, true, other.to_string()),
    }
}

/// The result of reading one ZIP: the files written, and its two special entries.
struct Extracted {
    files: Vec<FileRec>,
    license: Option<String>,
    /// MD5 of the LICENSE entry, in case md5hashes.csv lists it too.
    license_md5: Option<String>,
    md5csv: Option<String>,
}

/// The special entries, kept in memory rather than written as series files.
#[derive(Default)]
struct Specials {
    license: Option<String>,
    license_md5: Option<String>,
    md5csv: Option<String>,
}

fn zip_failure(e: ZipError) -> Failure {
    match e {
        ZipError::Truncated(_) => Failure::new(FailClass::Network, true, e.to_string()),
        ZipError::NotZip(_) => Failure::new(FailClass::Network, true, e.to_string()),
        ZipError::Corrupt { .. } => Failure::new(FailClass::Integrity, true, e.to_string()),
        ZipError::HostileName(_) | ZipError::Unsupported { .. } | ZipError::TooLarge { .. } => {
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
    mut budget: Budget,
) -> Result<Extracted, Failure> {
    let writing =
        |e: &dyn std::fmt::Display| Failure::local(format!("writing {}: {e}", staged.display()));
    let tee = if zip {
        let f = File::create(staged)
            .map_err(|e| Failure::local(format!("creating {}: {e}", staged.display())))?;
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
    let writer = std::thread::spawn(move || write_entries(wrx, dir, reporter, &uid2));
    let read = read_zip(reader, &wtx, &mut budget);
    drop(wtx);
    let written = writer
        .join()
        .map_err(|_| Failure::local("the file writer panicked"))?;
    // A writer failure (disk full) explains a reader failure, so it comes first.
    let files = written.map_err(|e| writing(&e))?;
    if let Some(e) = tee_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(writing(&e));
    }
    let (specials, reader) = read.map_err(zip_failure)?;
    if let Some(mut t) = reader.tee {
        t.flush().map_err(|e| writing(&e))?;
    }
    Ok(Extracted {
        files,
        license: specials.license,
        license_md5: specials.license_md5,
        md5csv: specials.md5csv,
    })
}

/// Read every entry: the special ones into memory, the rest to the writer thread.
fn read_zip(
    reader: ChannelReader,
    wtx: &SyncSender<Piece>,
    budget: &mut Budget,
) -> Result<(Specials, ChannelReader), ZipError> {
    let mut z = ZipStream::new(reader);
    let mut sp = Specials::default();
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
            "LICENSE" => {
                let buf = read_small(&mut z, &e)?;
                sp.license_md5 = Some(format!("{:x}", Md5::digest(&buf)));
                sp.license = Some(String::from_utf8_lossy(&buf).into_owned());
            }
            "md5hashes.csv" => {
                sp.md5csv = Some(String::from_utf8_lossy(&read_small(&mut z, &e)?).into_owned())
            }
            _ => send_entry(&mut z, &e, wtx, budget)?,
        }
    }
    Ok((sp, z.finish()?))
}

/// A special entry, in memory (at most 64 MiB).
fn read_small(z: &mut ZipStream<ChannelReader>, e: &Entry) -> Result<Vec<u8>, ZipError> {
    let mut buf = Vec::new();
    z.read_entry(e, &mut |b| {
        if buf.len() + b.len() > 64 << 20 {
            return Err(io::Error::other(format!("{} is implausibly large", e.name)));
        }
        buf.extend_from_slice(b);
        Ok(())
    })?;
    Ok(buf)
}

/// A series file, to the writer thread in pieces of up to `BATCH` bytes.
fn send_entry(
    z: &mut ZipStream<ChannelReader>,
    e: &Entry,
    wtx: &SyncSender<Piece>,
    budget: &mut Budget,
) -> Result<(), ZipError> {
    let stopped = || io::Error::other("the file writer stopped");
    let mut first = Some(e.name.clone());
    let mut pending = Vec::new();
    let mut over = false;
    let read = z.read_entry(e, &mut |b| {
        if !budget.take(b.len()) {
            over = true;
            return Err(io::Error::other("over budget"));
        }
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
    });
    if over {
        return Err(budget.exceeded());
    }
    read?;
    wtx.send(Piece {
        name: first.take(),
        data: pending,
        last: true,
    })
    .map_err(|_| ZipError::Sink(stopped()))
}

/// How many inflated bytes a series' files may take: its FileSize plus 1% and 1 MiB, or a hard
/// cap when the size is unknown. Passing it stops the series (a ZIP bomb, or a wrong archive).
pub struct Budget {
    limit: u64,
    used: u64,
    known: bool,
}

/// The cap when the catalogue gives no size.
pub const UNKNOWN_SIZE_CAP: u64 = 64 << 30;

impl Budget {
    pub fn for_size(file_size: Option<u64>) -> Budget {
        let limit = file_size.map_or(UNKNOWN_SIZE_CAP, |n| {
            n.saturating_add(n / 100).saturating_add(1 << 20)
        });
        Budget {
            limit,
            used: 0,
            known: file_size.is_some(),
        }
    }

    fn take(&mut self, n: usize) -> bool {
        self.used = self.used.saturating_add(n as u64);
        self.used <= self.limit
    }

    fn exceeded(&self) -> ZipError {
        let why = if self.known {
            "FileSize plus 1% and 1 MiB"
        } else {
            "the series' size is unknown: the 64 GiB cap"
        };
        ZipError::TooLarge {
            limit: self.limit,
            why: why.into(),
        }
    }
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

/// `Filename,MD5Hash` rows (header skipped, any order, any hex case).
pub fn parse_md5_csv(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (name, hash) = l.trim().split_once(',')?;
            let (name, hash) = (name.trim().trim_matches('"'), hash.trim().trim_matches('"'));
            (!name.eq_ignore_ascii_case("Filename") && !hash.is_empty())
                .then(|| (name.to_string(), hash.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_rows() {
        let m = parse_md5_csv("Filename,MD5Hash\n00000002.dcm,ABC\n00000001.dcm,def\n\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m["00000002.dcm"], "ABC");
    }

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
        let settings = HttpSettingsForTest::client();
        let z = NbiaZip {
            client: &settings,
            api: Api::V4,
            md5: true,
            zip: false,
        };
        let ok = z.promises(extracted("")).unwrap();
        assert_eq!(ok.promised.unwrap().len(), 1);
        let ok = z.promises(extracted("LICENSE,BBBB\n")).unwrap();
        assert!(!ok.promised.unwrap().contains_key("LICENSE"));
        let err = z.promises(extracted("LICENSE,cccc\n")).unwrap_err();
        assert!(err.message.contains("LICENSE"), "{}", err.message);
    }

    #[test]
    fn requests_per_version() {
        let client = HttpSettingsForTest::client();
        let z = |api, md5| NbiaZip {
            client: &client,
            api,
            md5,
            zip: false,
        };
        let r = z(Api::V4, true).request("1.2");
        assert_eq!(r.path, "/nbia-api/services/v4/getImage");
        assert!(r.query.contains(&("IncludeMD5".into(), "yes".into())));
        let r = z(Api::V1, true).request("1.2");
        assert_eq!(r.path, "/nbia-api/services/v1/getImageWithMD5Hash");
        let r = z(Api::V2, false).request("1.2");
        assert_eq!(r.path, "/nbia-api/services/v2/getImage");
    }

    /// A client for building requests (nothing is sent).
    struct HttpSettingsForTest;
    impl HttpSettingsForTest {
        fn client() -> Client {
            let settings = crate::api::client::HttpSettings {
                base: reqwest::Url::parse("http://127.0.0.1:9").unwrap(),
                timeout: std::time::Duration::from_secs(1),
                idle_timeout: std::time::Duration::from_secs(1),
                idle_flag: "--timeout",
                retries: 0,
                api_key: None,
                no_retry_delay: true,
                proxy: None,
                ca_cert: None,
                offline: true,
            };
            Client::new(settings, crate::printer::Printer::plain()).unwrap()
        }
    }
}
