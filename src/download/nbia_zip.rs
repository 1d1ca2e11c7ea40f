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
use super::state::{FileRec, Md5Hex};
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
    /// Series in flight: with more than one, a small series is extracted on one thread.
    pub jobs: usize,
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
        let small = target.file_size.is_some_and(|s| s <= ONE_THREAD_MAX);
        let threads = if small && self.jobs > 1 {
            Threads::One
        } else {
            Threads::Two
        };
        let budget = Budget::for_size(target.file_size);
        let pipeline = tokio::task::spawn_blocking(move || {
            extract(rx, &path, zip, threads, reporter, &uid, budget)
        });
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
            ..Staged::default()
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

/// Series up to this size (as the catalogue gives it) are hashed and written on the inflating
/// thread when several series are in flight: those keep the cores busy, and handing every file
/// to a second thread would cost more than it brings.
const ONE_THREAD_MAX: u64 = 32 << 20;

/// Where the files of a series are hashed and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Threads {
    /// On the thread that inflates.
    One,
    /// On a second thread, so inflating and hashing overlap (large series).
    Two,
}

/// Inflate on this thread; hash and write on this one or a second one.
fn extract(
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    staged: &Path,
    zip: bool,
    threads: Threads,
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
    let files = EntryWriter::new((!zip).then(|| staged.to_path_buf()), reporter, uid);
    let (read, written) = match threads {
        Threads::One => {
            let mut files = files;
            let read = read_zip(reader, &mut Out::Here(&mut files), &mut budget);
            (read, files.finish())
        }
        Threads::Two => {
            let (wtx, wrx) = sync_channel::<Piece>(8);
            let writer = std::thread::spawn(move || write_entries(wrx, files));
            let read = read_zip(reader, &mut Out::Thread(&wtx), &mut budget);
            drop(wtx);
            let written = writer
                .join()
                .map_err(|_| Failure::local("the file writer panicked"))?;
            (read, written)
        }
    };
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

/// Where `read_zip` sends the series' files.
enum Out<'a> {
    Here(&'a mut EntryWriter),
    Thread(&'a SyncSender<Piece>),
}

/// Read every entry: the special ones into memory, the rest to the writer.
fn read_zip(
    reader: ChannelReader,
    out: &mut Out<'_>,
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
            _ => match out {
                Out::Here(w) => write_entry(&mut z, &e, w, budget)?,
                Out::Thread(wtx) => send_entry(&mut z, &e, wtx, budget)?,
            },
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

/// The writer's own error stays with it (it comes first); the reader just stops.
fn stopped() -> io::Error {
    io::Error::other("the file writer stopped")
}

/// A series file, hashed and written as it is inflated.
fn write_entry(
    z: &mut ZipStream<ChannelReader>,
    e: &Entry,
    w: &mut EntryWriter,
    budget: &mut Budget,
) -> Result<(), ZipError> {
    w.begin(e.name.clone());
    let mut over = false;
    let read = z.read_entry(e, &mut |b| {
        if !budget.take(b.len()) {
            over = true;
            return Err(io::Error::other("over budget"));
        }
        w.data(b).then_some(()).ok_or_else(stopped)
    });
    if over {
        return Err(budget.exceeded());
    }
    read?;
    w.end().then_some(()).ok_or(ZipError::Sink(stopped()))
}

/// A series file, to the writer thread in pieces of up to `BATCH` bytes.
fn send_entry(
    z: &mut ZipStream<ChannelReader>,
    e: &Entry,
    wtx: &SyncSender<Piece>,
    budget: &mut Budget,
) -> Result<(), ZipError> {
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

fn write_entries(rx: Receiver<Piece>, mut w: EntryWriter) -> io::Result<Vec<FileRec>> {
    for piece in rx {
        if let Some(name) = piece.name {
            w.begin(name);
        }
        if !w.data(&piece.data) {
            break;
        }
        if piece.last && !w.end() {
            break;
        }
    }
    w.finish()
}

/// The series' files as they come out of the ZIP: created in staging (not for `--zip`),
/// hashed, counted, progress reported. The first failure ends the writing and is kept.
struct EntryWriter {
    dir: Option<PathBuf>,
    reporter: Arc<dyn Reporter>,
    uid: String,
    files: Vec<FileRec>,
    cur: Option<(String, Option<File>, Md5, u64)>,
    error: Option<io::Error>,
    /// Bytes written but not yet reported.
    unreported: u64,
}

impl EntryWriter {
    fn new(dir: Option<PathBuf>, reporter: Arc<dyn Reporter>, uid: &str) -> Self {
        EntryWriter {
            dir,
            reporter,
            uid: uid.to_string(),
            files: Vec::new(),
            cur: None,
            error: None,
            unreported: 0,
        }
    }

    fn begin(&mut self, name: String) {
        let out = match &self.dir {
            Some(d) => {
                let f = File::options()
                    .write(true)
                    .create_new(true)
                    .open(d.join(&name));
                match f {
                    Ok(f) => Some(f),
                    Err(e) => {
                        self.error.get_or_insert(e);
                        None
                    }
                }
            }
            None => None,
        };
        self.cur = Some((name, out, Md5::new(), 0));
    }

    /// False once writing failed.
    fn data(&mut self, b: &[u8]) -> bool {
        if self.error.is_some() {
            return false;
        }
        let Some((_, out, md5, size)) = self.cur.as_mut() else {
            return true;
        };
        md5.update(b);
        if let Some(o) = out {
            if let Err(e) = o.write_all(b) {
                self.error = Some(e);
                return false;
            }
        }
        *size += b.len() as u64;
        self.unreported += b.len() as u64;
        if self.unreported >= BATCH as u64 {
            self.report();
        }
        true
    }

    /// The current file is complete. False once writing failed.
    fn end(&mut self) -> bool {
        if let Some((name, _, md5, size)) = self.cur.take() {
            self.files.push(FileRec {
                name,
                size,
                md5: Md5Hex::Digest(md5.finalize().into()),
            });
        }
        self.report();
        self.error.is_none()
    }

    fn report(&mut self) {
        if self.unreported > 0 {
            self.reporter.progress(&self.uid, self.unreported);
            self.unreported = 0;
        }
    }

    fn finish(mut self) -> io::Result<Vec<FileRec>> {
        self.report();
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.files),
        }
    }
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
            jobs: 1,
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
            jobs: 1,
        };
        let r = z(Api::V4, true).request("1.2");
        assert_eq!(r.path, "/nbia-api/services/v4/getImage");
        assert!(r.query.contains(&("IncludeMD5".into(), "yes".into())));
        let r = z(Api::V1, true).request("1.2");
        assert_eq!(r.path, "/nbia-api/services/v1/getImageWithMD5Hash");
        let r = z(Api::V2, false).request("1.2");
        assert_eq!(r.path, "/nbia-api/services/v2/getImage");
    }

    /// Counts the progress reported.
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicU64);
    impl Reporter for Count {
        fn begin(&self, _: usize, _: u64) {}
        fn series_start(&self, _: &str, _: &str, _: Option<u64>) {}
        fn progress(&self, _: &str, bytes: u64) {
            self.0
                .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        }
        fn series_retry(&self, _: &str, _: u32, _: &str) {}
        fn series_done(&self, _: &str, _: usize, _: u64, _: &str) {}
        fn series_failed(&self, _: &str, _: &str) {}
        fn summary(&self, _: &str) {}
    }

    /// A series ZIP: LICENSE, three files (one empty, one over `BATCH`), md5hashes.csv.
    fn series_zip() -> Vec<u8> {
        use zip::write::SimpleFileOptions;
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let big: Vec<u8> = (0..BATCH + 12345).map(|i| (i * 7 % 251) as u8).collect();
        for (name, data) in [
            ("LICENSE", b"CC BY 4.0".to_vec()),
            ("00000001.dcm", b"first".to_vec()),
            ("00000002.dcm", Vec::new()),
            ("00000003.dcm", big),
            ("md5hashes.csv", b"Filename,MD5Hash\n".to_vec()),
        ] {
            w.start_file(name, opts).unwrap();
            w.write_all(&data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn extract_with(threads: Threads, dir: &Path) -> (Result<Extracted, Failure>, u64) {
        let body = series_zip();
        let chunks: Vec<&[u8]> = body.chunks(4000).collect();
        let (tx, rx) = tokio::sync::mpsc::channel(chunks.len());
        for c in chunks {
            tx.try_send(Ok(Bytes::copy_from_slice(c))).unwrap();
        }
        drop(tx);
        let count = Arc::new(Count::default());
        let got = extract(
            rx,
            dir,
            false,
            threads,
            count.clone(),
            "1.2.3",
            Budget::for_size(None),
        );
        (got, count.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[test]
    fn one_thread_and_two_write_the_same_files() {
        let tmp = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        for (i, threads) in [Threads::One, Threads::Two].into_iter().enumerate() {
            let dir = tmp.path().join(i.to_string());
            std::fs::create_dir(&dir).unwrap();
            let (got, progress) = extract_with(threads, &dir);
            let x = got.unwrap();
            let names: Vec<&str> = x.files.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, ["00000001.dcm", "00000002.dcm", "00000003.dcm"]);
            assert_eq!(
                x.files[0].md5.text(),
                format!("{:x}", Md5::digest(b"first"))
            );
            assert_eq!(progress, x.files.iter().map(|f| f.size).sum::<u64>());
            for f in &x.files {
                let on_disk = std::fs::read(dir.join(&f.name)).unwrap();
                assert_eq!(
                    format!("{:x}", Md5::digest(&on_disk)),
                    f.md5.text(),
                    "{threads:?}"
                );
            }
            assert_eq!(x.license.as_deref(), Some("CC BY 4.0"));
            assert_eq!(x.md5csv.as_deref(), Some("Filename,MD5Hash\n"));
            seen.push(format!("{:?}", x.files));
        }
        assert_eq!(seen[0], seen[1]);
    }

    #[test]
    fn a_file_that_cannot_be_written_names_staging_either_way() {
        let tmp = tempfile::tempdir().unwrap();
        for threads in [Threads::One, Threads::Two] {
            let gone = tmp.path().join("no-such-dir");
            let (got, _) = extract_with(threads, &gone);
            let err = got.err().expect("a failure");
            assert_eq!(err.class, FailClass::Local, "{threads:?}");
            assert!(
                err.message
                    .starts_with(&format!("writing {}: ", gone.display())),
                "{threads:?}: {}",
                err.message
            );
        }
    }

    /// A client for building requests (nothing is sent).
    struct HttpSettingsForTest;
    impl HttpSettingsForTest {
        fn client() -> Client {
            let settings = crate::api::client::HttpSettings {
                base: reqwest::Url::parse("http://127.0.0.1:9").unwrap(),
                timeout: std::time::Duration::from_secs(1),
                idle_timeout: std::time::Duration::from_secs(1),
                retries: 0,
                api_key: None,
                no_retry_delay: true,
                proxy: None,
                ca_cert: None,
                idle_flag: "--timeout",
                offline: true,
            };
            Client::new(settings, crate::printer::Printer::plain()).unwrap()
        }
    }
}
