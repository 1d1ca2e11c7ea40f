//! What a download directory remembers, all under `DIR/.tcia/`: the lock, staging areas, and one
//! completion record per published series; beside the data, `metadata.csv` and
//! `failed-series.txt`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::shard::Shard;
use crate::fsutil::{sync_dir, write_atomically, write_atomically_with};

pub const STATE_DIR: &str = ".tcia";

/// One file of a published series.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRec {
    pub name: String,
    pub size: u64,
    /// Lowercase hex MD5 as computed while writing (empty with `--no-md5`).
    pub md5: Md5Hex,
}

/// A recorded MD5, written in records as its text: 16 bytes in memory when it is 32 lowercase
/// hex digits (always, as tcia writes them), which a big download holds for every file; none
/// (`--no-md5`); or any other text, kept as it was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Md5Hex {
    #[default]
    Empty,
    Digest([u8; 16]),
    Text(Box<str>),
}

impl Md5Hex {
    pub fn parse(s: &str) -> Md5Hex {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        if s.is_empty() {
            return Md5Hex::Empty;
        }
        let b = s.as_bytes();
        if b.len() == 32 {
            let mut d = [0u8; 16];
            let all = d.iter_mut().enumerate().all(|(i, out)| {
                match (nibble(b[2 * i]), nibble(b[2 * i + 1])) {
                    (Some(h), Some(l)) => {
                        *out = h << 4 | l;
                        true
                    }
                    _ => false,
                }
            });
            if all {
                return Md5Hex::Digest(d);
            }
        }
        Md5Hex::Text(s.into())
    }

    /// The text as recorded ("" for none).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        use std::fmt::Write as _;
        match self {
            Md5Hex::Empty => "".into(),
            Md5Hex::Digest(d) => {
                let mut s = String::with_capacity(32);
                for b in d {
                    let _ = write!(s, "{b:02x}");
                }
                s.into()
            }
            Md5Hex::Text(t) => t.as_ref().into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Md5Hex::Empty
    }
}

impl From<&str> for Md5Hex {
    fn from(s: &str) -> Md5Hex {
        Md5Hex::parse(s)
    }
}

impl From<String> for Md5Hex {
    fn from(s: String) -> Md5Hex {
        Md5Hex::parse(&s)
    }
}

impl PartialEq<str> for Md5Hex {
    fn eq(&self, other: &str) -> bool {
        self.text() == other
    }
}

impl std::fmt::Display for Md5Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl Serialize for Md5Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Md5Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Md5Hex, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Md5Hex::parse(&s))
    }
}

/// Written once a series is complete and in its final place.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    pub uid: String,
    /// Relative to the download directory, `/`-separated: a directory, or `<...>.zip` with `zip`.
    pub path: String,
    #[serde(default)]
    pub zip: bool,
    pub files: Vec<FileRec>,
    pub bytes: u64,
    pub md5_verified: bool,
    pub downloaded_at: String,
    /// Metadata for metadata.csv (normalised getSeries-style names).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// With `zip`: the archive's size and MD5, so that a re-run notices a truncated archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_md5: Option<String>,
    /// Files the source gave no digest for: only their size was checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub size_only: Vec<String>,
}

/// The state directory of one download directory, as seen by one run (or one shard: each shard
/// keeps its own lock, staging, metadata and failure files; records are shared).
pub struct State {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub shard: Option<Shard>,
}

impl State {
    pub fn new(root: &Path, shard: Option<Shard>) -> State {
        State {
            root: root.to_path_buf(),
            dir: root.join(STATE_DIR),
            shard,
        }
    }

    /// `name` for a whole run, `name-shard-K-of-N` for a shard.
    fn own(&self, name: &str) -> String {
        match &self.shard {
            Some(s) => format!("{name}-{}", s.suffix()),
            None => name.to_string(),
        }
    }

    pub fn staging(&self) -> PathBuf {
        self.dir.join(self.own("staging"))
    }

    /// Where one series is staged: a directory, or `<uid>.zip` with `--zip`.
    pub fn staged_path(&self, uid: &str, zip: bool) -> PathBuf {
        if zip {
            self.staging().join(format!("{uid}.zip"))
        } else {
            self.staging().join(uid)
        }
    }

    pub fn trash(&self) -> PathBuf {
        self.dir.join(self.own("trash"))
    }

    /// `DIR/failed-series.txt` (or `failed-series-shard-K-of-N.txt`).
    pub fn failed_path(&self) -> PathBuf {
        self.root.join(format!("{}.txt", self.own("failed-series")))
    }

    /// `DIR/metadata.csv` (or `metadata-shard-K-of-N.csv`).
    pub fn metadata_path(&self) -> PathBuf {
        self.root.join(format!("{}.csv", self.own("metadata")))
    }

    /// This run's sync state file.
    pub fn sync_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.own("sync")))
    }

    /// Every sync state file in the directory (all shards').
    pub fn sync_paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        let n = p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        n.starts_with("sync") && n.ends_with(".json")
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Rewrite this run's metadata CSV from the records (a shard's: its own series only).
    pub fn write_metadata_csv(&self, records: &BTreeMap<String, Record>) -> anyhow::Result<()> {
        // Borrowed, not copied: the records of a big download are most of its memory.
        let mine: Vec<&Record> = records
            .iter()
            .filter(|(uid, _)| self.shard.is_none_or(|s| s.contains(uid)))
            .map(|(_, r)| r)
            .collect();
        write_metadata_csv(&self.metadata_path(), mine)
    }

    /// Write (or, when nothing failed, remove) this run's failed-series list.
    pub fn write_failed(&self, failed: &[String]) -> anyhow::Result<()> {
        write_failed(&self.failed_path(), failed)
    }

    pub fn records_dir(&self) -> PathBuf {
        self.dir.join("complete")
    }

    fn record_path(&self, uid: &str) -> PathBuf {
        self.records_dir().join(format!("{uid}.json"))
    }

    /// Create the state directories; discard staging left by an interrupted run.
    pub fn prepare(&self) -> anyhow::Result<()> {
        for d in [self.staging(), self.trash()] {
            if d.exists() {
                fs::remove_dir_all(&d).with_context(|| format!("cleaning {}", d.display()))?;
            }
        }
        for d in [self.staging(), self.trash(), self.records_dir()] {
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(())
    }

    /// Take the directory's locks, or fail at once: a whole run holds `lock` exclusively; a
    /// shard holds `lock` shared (shards run side by side, never beside a whole run) and its own
    /// `lock-shard-K-of-N` exclusively. The locks are held as long as the files are open.
    pub fn lock(&self) -> anyhow::Result<Vec<File>> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let open = |name: &str| -> anyhow::Result<(File, PathBuf)> {
            let path = self.dir.join(name);
            let f = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            Ok((f, path))
        };
        let busy = |path: &Path, who: &str| {
            anyhow::anyhow!(
                "another tcia run{who} is already running in {} (lock {} is held); wait for it or pick another directory",
                self.root.display(),
                path.display()
            )
        };
        let (dir_lock, dir_path) = open("lock")?;
        let mut held = Vec::new();
        match self.shard {
            None => match dir_lock.try_lock() {
                Ok(()) => held.push(dir_lock),
                Err(fs::TryLockError::WouldBlock) => return Err(busy(&dir_path, "")),
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", dir_path.display()))
                }
            },
            Some(s) => {
                match dir_lock.try_lock_shared() {
                    Ok(()) => held.push(dir_lock),
                    Err(fs::TryLockError::WouldBlock) => {
                        return Err(busy(&dir_path, " (not sharded)"))
                    }
                    Err(fs::TryLockError::Error(e)) => {
                        return Err(e).with_context(|| format!("locking {}", dir_path.display()))
                    }
                }
                let (mine, path) = open(&self.own("lock"))?;
                match mine.try_lock() {
                    Ok(()) => held.push(mine),
                    Err(fs::TryLockError::WouldBlock) => {
                        return Err(busy(&path, &format!(" of shard {s}")))
                    }
                    Err(fs::TryLockError::Error(e)) => {
                        return Err(e).with_context(|| format!("locking {}", path.display()))
                    }
                }
                self.refuse_other_counts(s)?;
            }
        }
        Ok(held)
    }

    /// Shards of another count N over this directory would split the series differently and
    /// fetch some twice at once: refused while any of them runs (holds its lock).
    fn refuse_other_counts(&self, s: Shard) -> anyhow::Result<()> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(n) = name
                .strip_prefix("lock-shard-")
                .and_then(|r| r.split_once("-of-"))
                .and_then(|(_, n)| n.parse::<u32>().ok())
            else {
                continue;
            };
            if n == s.n {
                continue;
            }
            let Ok(f) = File::options().write(true).open(e.path()) else {
                continue;
            };
            if let Err(fs::TryLockError::WouldBlock) = f.try_lock() {
                anyhow::bail!(
                    "shard {s}: a shard of {n} is running in {} ({} is held); every shard of one directory must use the same N",
                    self.root.display(),
                    e.path().display()
                );
            }
        }
        Ok(())
    }

    /// Every completion record, by series UID (unreadable ones left out: see [`State::read_records`]).
    pub fn records(&self) -> BTreeMap<String, Record> {
        self.read_records().0
    }

    /// Every completion record, by series UID, and the record files that could not be read or
    /// parsed (path, reason).
    pub fn read_records(&self) -> (BTreeMap<String, Record>, Vec<(PathBuf, String)>) {
        let mut out = BTreeMap::new();
        let mut bad = Vec::new();
        let Ok(rd) = fs::read_dir(self.records_dir()) else {
            return (out, bad);
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let parsed = fs::read_to_string(&p)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Record>(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(r) if p.file_stem().is_some_and(|s| *s == *r.uid) => {
                    out.insert(r.uid.clone(), r.held());
                }
                Ok(r) => bad.push((p, format!("names series {}", r.uid))),
                Err(e) => bad.push((p, e)),
            }
        }
        (out, bad)
    }

    /// Each readable completion record's series UID and path, without the rest (a record
    /// lists every file: reading them all whole only for their paths would hold them all).
    pub fn record_paths(&self) -> Vec<(String, String)> {
        #[derive(Deserialize)]
        struct UidPath {
            uid: String,
            path: String,
        }
        let Ok(rd) = fs::read_dir(self.records_dir()) else {
            return Vec::new();
        };
        rd.flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| {
                let r: UidPath = serde_json::from_slice(&fs::read(&p).ok()?).ok()?;
                p.file_stem()
                    .is_some_and(|s| *s == *r.uid)
                    .then_some((r.uid, r.path))
            })
            .collect()
    }

    /// The completion record of one series, if there is a readable one.
    pub fn record(&self, uid: &str) -> Option<Record> {
        let text = fs::read_to_string(self.record_path(uid)).ok()?;
        serde_json::from_str::<Record>(&text)
            .ok()
            .filter(|r| r.uid == uid)
    }

    /// Write a completion record durably: the file and its directory flushed to disk.
    pub fn write_record(&self, r: &Record) -> anyhow::Result<()> {
        let text = serde_json::to_vec_pretty(r)?;
        write_atomically_with(&self.record_path(&r.uid), &text, true)?;
        sync_dir(&self.records_dir())
    }

    pub fn remove_record(&self, uid: &str) {
        let _ = fs::remove_file(self.record_path(uid));
    }

    /// Absolute path of a record's data.
    pub fn data_path(&self, r: &Record) -> PathBuf {
        self.root
            .join(r.path.replace('/', std::path::MAIN_SEPARATOR_STR))
    }

    /// Completeness check: every recorded file present with its recorded size (a `--zip`
    /// archive: its recorded size and MD5).
    pub fn looks_complete(&self, r: &Record) -> bool {
        let base = self.data_path(r);
        if r.zip {
            let size_ok = fs::metadata(&base)
                .is_ok_and(|m| m.is_file() && r.zip_size.is_none_or(|n| n == m.len()));
            return size_ok
                && r.zip_md5.as_ref().is_none_or(|want| {
                    fs::File::open(&base)
                        .and_then(crate::fsutil::md5_of)
                        .is_ok_and(|(md5, _)| md5 == *want)
                });
        }
        r.files.iter().all(|f| {
            fs::metadata(base.join(&f.name)).is_ok_and(|m| m.is_file() && m.len() == f.size)
        })
    }
}

/// The official downloader's metadata.csv columns, then ours.
pub const METADATA_COLUMNS: &[&str] = &[
    "Series UID",
    "Collection",
    "3rd Party Analysis",
    "Data Description URI",
    "Subject ID",
    "Study UID",
    "Study Description",
    "Study Date",
    "Series Description",
    "Manufacturer",
    "Modality",
    "SOP Class Name",
    "SOP Class UID",
    "Number of Images",
    "File Size",
    "File Location",
    "Download Timestamp",
    "Path",
    "Files",
    "Bytes",
    "MD5 Verified",
];

/// The series fields metadata.csv shows, in its column order (after "Series UID").
const CSV_FIELDS: [&str; 12] = [
    "Collection",
    "ThirdPartyAnalysis",
    "DataDescriptionURI",
    "PatientID",
    "StudyInstanceUID",
    "StudyDescription",
    "StudyDate",
    "SeriesDescription",
    "Manufacturer",
    "Modality",
    "SOPClassName",
    "SOPClassUID",
];

/// The fields a run reads from the records it holds: metadata.csv's, and IDC's revision marks
/// (sync). The other fields stay in the record files.
const HELD_FIELDS: [&str; 2] = ["crdc_series_uuid", "series_revised_idc_version"];

impl Record {
    /// The record as a run holds it for its whole length: the fields it reads (a record has
    /// every series field, 26 or more, about 3 KB a series), the file list trimmed.
    pub fn held(mut self) -> Record {
        self.fields
            .retain(|k, _| CSV_FIELDS.contains(&k.as_str()) || HELD_FIELDS.contains(&k.as_str()));
        self.files.shrink_to_fit();
        self
    }
}

/// Rewrite a metadata CSV from the records, atomically.
pub fn write_metadata_csv(path: &Path, mut rows: Vec<&Record>) -> anyhow::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(METADATA_COLUMNS)?;
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    for r in rows {
        let f = |i: usize| r.fields.get(CSV_FIELDS[i]).cloned().unwrap_or_default();
        let location = format!("./{}", r.path);
        w.write_record([
            r.uid.clone(),
            f(0),
            f(1),
            f(2),
            f(3),
            f(4),
            f(5),
            f(6),
            f(7),
            f(8),
            f(9),
            f(10),
            f(11),
            r.files.len().to_string(),
            r.bytes.to_string(),
            location,
            r.downloaded_at.clone(),
            r.path.clone(),
            r.files.len().to_string(),
            r.bytes.to_string(),
            if r.md5_verified { "yes" } else { "no" }.to_string(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomically(path, &bytes)
}

/// The failed UIDs, ready for `-i`; the file is removed when nothing failed.
pub fn write_failed(path: &Path, failed: &[String]) -> anyhow::Result<()> {
    if failed.is_empty() {
        let _ = fs::remove_file(path);
        return Ok(());
    }
    let mut text = failed.join("\n");
    text.push('\n');
    write_atomically(path, text.as_bytes())
}

/// Now as RFC 3339 UTC, seconds precision.
pub use crate::dates::now_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_md5s_read_back_as_written() {
        let digest = "0123456789abcdef0123456789abcdef";
        for (text, kind) in [
            ("", "empty"),
            (digest, "digest"),
            ("0123456789ABCDEF0123456789ABCDEF", "text"),
            ("aaaa", "text"),
            ("0123456789abcdef0123456789abcdeg", "text"),
        ] {
            let m = Md5Hex::parse(text);
            let got = match &m {
                Md5Hex::Empty => "empty",
                Md5Hex::Digest(_) => "digest",
                Md5Hex::Text(_) => "text",
            };
            assert_eq!(got, kind, "{text}");
            assert_eq!(m.text(), text);
            assert!(m == *text);
            let json = format!(r#"{{"name":"1-1.dcm","size":3,"md5":"{text}"}}"#);
            let f: FileRec = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&f).unwrap(), json);
        }
        assert!(Md5Hex::parse("").is_empty());
        assert!(!Md5Hex::parse(digest).is_empty());
        assert!(std::mem::size_of::<Md5Hex>() <= 24);
    }
}
