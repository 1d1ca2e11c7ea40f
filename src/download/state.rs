//! What a download directory remembers, all under `DIR/.tcia/`: the lock, staging areas, and one
//! completion record per published series; beside the data, `metadata.csv` and
//! `failed-series.txt`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomically;

pub const STATE_DIR: &str = ".tcia";

/// One file of a published series.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRec {
    pub name: String,
    pub size: u64,
    /// Lowercase hex MD5 as computed while writing (empty with `--no-md5`).
    pub md5: String,
}

/// Written once a series is complete and in its final place.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
}

/// The state directory of one download directory.
pub struct State {
    pub root: PathBuf,
    pub dir: PathBuf,
}

impl State {
    pub fn new(root: &Path) -> State {
        State {
            root: root.to_path_buf(),
            dir: root.join(STATE_DIR),
        }
    }

    pub fn staging(&self) -> PathBuf {
        self.dir.join("staging")
    }

    pub fn trash(&self) -> PathBuf {
        self.dir.join("trash")
    }

    fn records_dir(&self) -> PathBuf {
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

    /// Take the directory's lock, or fail at once if another run holds it. The lock is held as
    /// long as the returned file is open.
    pub fn lock(&self) -> anyhow::Result<File> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.dir.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
                "another tcia download is already running in {} (lock {} is held); wait for it or pick another directory",
                self.root.display(),
                path.display()
            )),
            Err(fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }

    /// Every completion record, by series UID.
    pub fn records(&self) -> BTreeMap<String, Record> {
        let mut out = BTreeMap::new();
        let Ok(rd) = fs::read_dir(self.records_dir()) else {
            return out;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Ok(text) = fs::read_to_string(&p) {
                    if let Ok(r) = serde_json::from_str::<Record>(&text) {
                        out.insert(r.uid.clone(), r);
                    }
                }
            }
        }
        out
    }

    pub fn write_record(&self, r: &Record) -> anyhow::Result<()> {
        let text = serde_json::to_vec_pretty(r)?;
        crate::fsutil::write_atomically_with(&self.record_path(&r.uid), &text, false)
    }

    pub fn remove_record(&self, uid: &str) {
        let _ = fs::remove_file(self.record_path(uid));
    }

    /// Absolute path of a record's data.
    pub fn data_path(&self, r: &Record) -> PathBuf {
        self.root
            .join(r.path.replace('/', std::path::MAIN_SEPARATOR_STR))
    }

    /// Cheap completeness check: every recorded file present with its recorded size.
    pub fn looks_complete(&self, r: &Record) -> bool {
        let base = self.data_path(r);
        if r.zip {
            return fs::metadata(&base).is_ok_and(|m| m.is_file());
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
    "Downloaded At",
];

/// Rewrite DIR/metadata.csv from the records, atomically.
pub fn write_metadata_csv(root: &Path, records: &BTreeMap<String, Record>) -> anyhow::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(METADATA_COLUMNS)?;
    let mut rows: Vec<&Record> = records.values().collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    for r in rows {
        let f = |k: &str| r.fields.get(k).cloned().unwrap_or_default();
        let location = format!("./{}", r.path);
        w.write_record([
            r.uid.clone(),
            f("Collection"),
            f("ThirdPartyAnalysis"),
            f("DataDescriptionURI"),
            f("PatientID"),
            f("StudyInstanceUID"),
            f("StudyDescription"),
            f("StudyDate"),
            f("SeriesDescription"),
            f("Manufacturer"),
            f("Modality"),
            f("SOPClassName"),
            f("SOPClassUID"),
            r.files.len().to_string(),
            r.bytes.to_string(),
            location,
            r.downloaded_at.clone(),
            r.path.clone(),
            r.files.len().to_string(),
            r.bytes.to_string(),
            if r.md5_verified { "yes" } else { "no" }.to_string(),
            r.downloaded_at.clone(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomically(&root.join("metadata.csv"), &bytes)
}

/// DIR/failed-series.txt: the failed UIDs, ready for `-i`; removed when nothing failed.
pub fn write_failed(root: &Path, failed: &[String]) -> anyhow::Result<()> {
    let path = root.join("failed-series.txt");
    if failed.is_empty() {
        let _ = fs::remove_file(&path);
        return Ok(());
    }
    let mut text = failed.join("\n");
    text.push('\n');
    write_atomically(&path, text.as_bytes())
}

/// Now as RFC 3339 UTC, seconds precision.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
