//! The two seams between the engine and a data source. A [`Catalog`] yields series rows for a
//! selection (live NBIA endpoints today; a local index or IDC later). A [`SeriesFetcher`]
//! fills a staging path with one series' files, each with its computed MD5 and size and what
//! the source promised for it; [`verify_staged`] then checks every promise the same way for
//! every source. Failures carry a class that decides retries and the exit code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::meta::SeriesInfo;
use super::report::Reporter;
use super::state::FileRec;
use crate::dates::Date;

/// Filters of a selection: a field and the values it may take (any of them).
pub type Filters = Vec<(crate::api::catalogue::Param, Vec<String>)>;

/// What a metadata lookup found, and the UIDs whose lookup failed (UID → reason).
pub type Lookup = (HashMap<String, SeriesInfo>, HashMap<String, String>);

/// Where series rows come from.
#[allow(async_fn_in_trait)] // used with concrete types on the command's own task
pub trait Catalog {
    /// Every series the filters select.
    async fn select(&self, filters: Filters) -> anyhow::Result<Vec<SeriesInfo>>;
    /// As [`Catalog::select`], each series handed on as it arrives, so that a plan of 300,000
    /// series never holds them twice. By default, `select`'s list, one by one.
    async fn select_each(
        &self,
        filters: Filters,
        on_series: &mut dyn FnMut(SeriesInfo),
    ) -> anyhow::Result<()> {
        self.select(filters).await?.into_iter().for_each(on_series);
        Ok(())
    }
    /// The series of a shared cart.
    async fn cart(&self, name: &str) -> anyhow::Result<Vec<SeriesInfo>>;
    /// Metadata for these UIDs; UIDs the source does not know are absent; UIDs whose own
    /// lookup failed are in the second map, with the reason.
    async fn lookup(&self, uids: &[String]) -> anyhow::Result<Lookup>;
    /// Series released or changed since `since`.
    async fn updated_since(&self, since: Date) -> anyhow::Result<Vec<SeriesInfo>>;
    /// A series' image count and byte total from a second source, for series whose metadata
    /// lacks them; None when unknown there too.
    async fn series_size(&self, _uid: &str) -> Option<(u64, u64)> {
        None
    }
}

/// Fills a staging path with a series' files.
#[allow(async_fn_in_trait)] // used with concrete types on the command's own task
pub trait SeriesFetcher {
    /// Whether files are verified against digests the source sends (`--no-md5` turns it off).
    fn checks_digests(&self) -> bool;
    /// One attempt: `staged` is a fresh directory (or, with `--zip`, the path of the archive
    /// to write). Progress goes to `reporter` as bytes are written.
    async fn fetch(
        &self,
        target: &Target<'_>,
        staged: &Path,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Staged, Failure>;
}

/// What the engine knows about a series before fetching it.
pub struct Target<'a> {
    pub uid: &'a str,
    pub image_count: Option<u64>,
    pub file_size: Option<u64>,
}

/// What one attempt left in staging, before verification.
#[derive(Debug, Default)]
pub struct Staged {
    /// Every file written, with the MD5 and size computed while writing.
    pub files: Vec<FileRec>,
    /// File name → MD5 the source promised (lower or upper hex); None when it promised none.
    pub promised: Option<HashMap<String, String>>,
    /// Where the promises come from, for messages (`md5hashes.csv`).
    pub promised_in: &'static str,
    /// The collection's licence text, when the source sent one.
    pub license: Option<String>,
    /// The byte total the source's listing gives, when it has one: checked instead of the
    /// catalogue's (IDC's sizes are approximate).
    pub listed_bytes: Option<u64>,
    /// Files the fetcher checked itself (CRC32C) or that the source gave no digest for: not
    /// in `promised`, and not unexpected.
    pub unpromised_ok: Vec<String>,
    /// Files whose size alone could be checked (the source gave no digest).
    pub size_only: Vec<String>,
}

/// A verified series in staging.
#[derive(Debug)]
pub struct Fetched {
    pub staged: PathBuf,
    pub files: Vec<FileRec>,
    pub bytes: u64,
    pub license: Option<String>,
    pub md5_verified: bool,
    /// Files checked by size only (the source gave no digest).
    pub size_only: Vec<String>,
}

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
    pub fn new(class: FailClass, retry: bool, message: impl Into<String>) -> Failure {
        Failure {
            class,
            retry,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Our own side failed (disk, permissions): not retried.
    pub fn local(message: impl Into<String>) -> Failure {
        Failure::new(FailClass::Local, false, message)
    }
}

/// Every promise checked: each file listed with a matching digest, nothing listed missing,
/// the image count and the byte total as the catalogue said.
pub fn verify_staged(
    target: &Target<'_>,
    staged: PathBuf,
    x: Staged,
    md5: bool,
) -> Result<Fetched, Failure> {
    let integrity = |m: String| Failure::new(FailClass::Integrity, true, m);
    let bytes: u64 = x.files.iter().map(|f| f.size).sum();
    if md5 {
        let Some(expected) = &x.promised else {
            return Err(integrity(format!(
                "no {} arrived (use --no-md5 to download without verification)",
                x.promised_in
            )));
        };
        check_digests(&x.files, expected, &x.unpromised_ok, x.promised_in)?;
    }
    if let Some(n) = target.image_count {
        if x.files.len() as u64 != n {
            return Err(integrity(format!(
                "short series: {} of {n} images",
                x.files.len()
            )));
        }
    }
    if let Some(size) = x.listed_bytes.or(target.file_size) {
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
        md5_verified: md5,
        size_only: x.size_only,
    })
}

fn check_digests(
    files: &[FileRec],
    expected: &HashMap<String, String>,
    unpromised_ok: &[String],
    list: &str,
) -> Result<(), Failure> {
    let ok: std::collections::HashSet<&str> = unpromised_ok.iter().map(String::as_str).collect();
    for f in files {
        match expected.get(f.name.as_str()) {
            None if ok.contains(f.name.as_str()) => {}
            None => {
                return Err(Failure::new(
                    FailClass::Integrity,
                    false,
                    format!("unexpected entry {} (not in {list})", f.name),
                ))
            }
            Some(want) if !want.eq_ignore_ascii_case(&f.md5.text()) => {
                return Err(Failure::new(
                    FailClass::Integrity,
                    true,
                    format!(
                        "MD5 mismatch for {}: expected {want}, computed {}",
                        f.name, f.md5
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(missing) = expected
        .keys()
        .find(|k| !files.iter().any(|f| f.name == **k))
    {
        return Err(Failure::new(
            FailClass::Integrity,
            true,
            format!(
                "{missing} is listed in {list} but missing ({} of {} files)",
                files.len(),
                expected.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(promised: &[(&str, &str)]) -> Staged {
        Staged {
            files: vec![FileRec {
                name: "a.dcm".into(),
                size: 3,
                md5: "aaaa".into(),
            }],
            promised: Some(
                promised
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            promised_in: "md5hashes.csv",
            license: None,
            ..Staged::default()
        }
    }

    #[test]
    fn every_promise_is_checked() {
        let t = Target {
            uid: "1.2",
            image_count: Some(1),
            file_size: Some(3),
        };
        let ok = |s| verify_staged(&t, PathBuf::from("x"), s, true);
        assert!(ok(staged(&[("a.dcm", "AAAA")])).is_ok());
        let bad = ok(staged(&[("a.dcm", "bbbb")])).unwrap_err();
        assert!(bad.message.contains("MD5 mismatch"), "{}", bad.message);
        let missing = ok(staged(&[("a.dcm", "aaaa"), ("b.dcm", "cc")])).unwrap_err();
        assert!(missing.message.contains("b.dcm"), "{}", missing.message);
        let extra = ok(staged(&[])).unwrap_err();
        assert!(!extra.retry && extra.message.contains("unexpected"));
        let short = Target {
            image_count: Some(2),
            ..t
        };
        let err = verify_staged(
            &short,
            PathBuf::from("x"),
            staged(&[("a.dcm", "aaaa")]),
            true,
        );
        assert!(err.unwrap_err().message.contains("short series"));
    }
}
