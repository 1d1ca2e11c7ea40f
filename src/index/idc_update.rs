//! Fetching IDC's index files and importing them: from a URL base (IDC's public bucket by
//! default, or a pinned version) or a local directory. A transfer is skipped when the server
//! says the files are unchanged (ETag, `If-None-Match`); a `<file>.sha256` sidecar, when there
//! is one, must match what arrived; the previous index stays until the new one is complete.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::build::{open_working, seal, Working};
use super::idc::{self, COLLECTIONS_FILE, SERIES_FILE};
use super::store::{Index, Info};
use crate::dates::now_rfc3339;
use crate::error::{exit, usage, Error};

/// IDC's current index files.
pub const DEFAULT_BASE: &str =
    "https://storage.googleapis.com/idc-index-data-artifacts/current/release_artifacts/";

/// Where the index files come from.
#[derive(Clone, Debug)]
pub enum Base {
    Url(reqwest::Url),
    Dir(PathBuf),
}

impl Base {
    /// `--idc-index URL|DIR`: http(s) URLs (a trailing `/` is added), or an existing directory.
    pub fn parse(s: &str, allow_http: bool) -> anyhow::Result<Base> {
        let t = s.trim();
        if t.starts_with("http://") || t.starts_with("https://") {
            let with_slash = if t.ends_with('/') {
                t.to_string()
            } else {
                format!("{t}/")
            };
            let url = reqwest::Url::parse(&with_slash)
                .map_err(|e| usage(format!("invalid --idc-index '{t}': {e}")))?;
            check_scheme(&url, allow_http, "--idc-index")?;
            return Ok(Base::Url(url));
        }
        if let Some(rest) = t.strip_prefix("file://") {
            return Base::parse(rest, allow_http);
        }
        if t.contains("://") {
            return Err(usage(format!(
                "invalid --idc-index '{t}': give an https:// URL or a local directory"
            )));
        }
        let p = PathBuf::from(t);
        if !p.is_dir() {
            return Err(usage(format!(
                "--idc-index {t}: no such directory (give a directory holding {SERIES_FILE} and {COLLECTIONS_FILE}, or an https:// URL)"
            )));
        }
        Ok(Base::Dir(p))
    }

    /// As shown in messages and stored in the index.
    pub fn display(&self) -> String {
        match self {
            Base::Url(u) => u.to_string(),
            Base::Dir(p) => p.display().to_string(),
        }
    }

    /// A file name for the index of this base.
    pub fn key(&self) -> String {
        let (mut key, raw) = match self {
            Base::Url(u) if u.as_str() == DEFAULT_BASE => return "current".into(),
            Base::Url(u) => (crate::api::catalogue::server_key(u), u.to_string()),
            Base::Dir(p) => {
                let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                let raw = format!("dir{}", abs.display());
                (crate::api::catalogue::file_key(&raw), raw)
            }
        };
        if key.len() > 120 {
            let digest = Sha256::digest(raw.as_bytes());
            key.truncate(100);
            key.push_str(&hex(&digest[..6]));
        }
        key
    }
}

/// http only to loopback unless `--allow-http`; https otherwise.
pub fn check_scheme(url: &reqwest::Url, allow_http: bool, flag: &str) -> anyhow::Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            if crate::api::catalogue::is_loopback(url) || allow_http {
                Ok(())
            } else {
                Err(usage(format!(
                    "refusing plain http:// for {flag} {url}: use https://, or pass --allow-http"
                )))
            }
        }
        other => Err(usage(format!(
            "{flag} {url}: scheme '{other}' is not supported; use https://"
        ))),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What an update did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Nothing changed at the source: the index was left as it was.
    pub unchanged: bool,
    pub imported: idc::Imported,
    /// Files whose sha256 sidecar matched; files that had none.
    pub verified: Vec<&'static str>,
    pub no_sidecar: Vec<&'static str>,
}

/// Progress of an update: what is happening, and a count (bytes or rows).
pub type Progress<'a> = dyn Fn(&str, u64) + 'a;

/// One file's facts, as stored in `idc_files`.
#[derive(Clone, Debug, Default)]
struct FileFacts {
    etag: Option<String>,
    sha256: String,
    bytes: u64,
}

/// A fetched (or local) file ready to import.
struct Got {
    path: PathBuf,
    facts: FileFacts,
    /// Whether a sidecar was there and matched.
    sidecar: bool,
}

/// The download directories beside the index: `<prefix><pid>@<host>-<random>`.
const DOWNLOAD_PREFIX: &str = ".idc-download-";

/// Download directories that killed runs left (their process is gone, or they were left a
/// day ago), with the partial files in them.
fn clean_stale_downloads(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(DOWNLOAD_PREFIX) else {
            continue;
        };
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && crate::fsutil::left_by_ended_run(&e.path(), rest) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Fetch (when changed, or `full`) and import into the index at `target`.
pub async fn update(
    http: &reqwest::Client,
    base: &Base,
    target: &Path,
    full: bool,
    progress: &Progress<'_>,
) -> anyhow::Result<Outcome> {
    let stored = if target.exists() && !full {
        stored_facts(target)
    } else {
        Vec::new()
    };
    let stored_etag = |name: &str| {
        stored
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, f)| f.etag.clone())
    };
    let dir = target.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the index directory {}", dir.display()))?;
    clean_stale_downloads(&dir);
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{DOWNLOAD_PREFIX}{}-", crate::fsutil::run_tag()))
        .tempdir_in(&dir)
        .with_context(|| format!("creating a download directory in {}", dir.display()))?;
    let mut got: Vec<(&'static str, Got)> = Vec::new();
    match base {
        Base::Url(url) => {
            // Both unchanged: nothing to do. One changed: fetch both (the import is whole).
            let mut changed = Vec::new();
            for name in [SERIES_FILE, COLLECTIONS_FILE] {
                let etag = stored_etag(name);
                if let Some(g) =
                    fetch(http, url, name, etag.as_deref(), tmp.path(), progress).await?
                {
                    changed.push((name, g));
                }
            }
            if changed.is_empty() {
                return Ok(Outcome {
                    unchanged: true,
                    ..Outcome::default()
                });
            }
            for name in [SERIES_FILE, COLLECTIONS_FILE] {
                match changed.iter().position(|(n, _)| *n == name) {
                    Some(i) => got.push(changed.remove(i)),
                    None => {
                        let g = fetch(http, url, name, None, tmp.path(), progress)
                            .await?
                            .expect("an unconditional GET returns the file");
                        got.push((name, g));
                    }
                }
            }
        }
        Base::Dir(d) => {
            for name in [SERIES_FILE, COLLECTIONS_FILE] {
                let g = local(d, name, progress)?;
                got.push((name, g));
            }
            let same = got.iter().all(|(name, g)| {
                stored
                    .iter()
                    .any(|(n, f)| n == name && f.sha256 == g.facts.sha256)
            });
            if same && !stored.is_empty() {
                return Ok(Outcome {
                    unchanged: true,
                    ..Outcome::default()
                });
            }
        }
    }
    let series_path = got[0].1.path.clone();
    let collections_path = got[1].1.path.clone();
    let work = Working::new(target, false)?;
    let conn = open_working(&work, false, 16 * 1024)?;
    let rows = |n: u64| progress("series", n);
    let imported = idc::import(&conn, &series_path, &collections_path, &rows)
        .with_context(|| format!("importing the IDC index from {}", base.display()))?;
    conn.execute_batch(
        "CREATE TABLE idc_files (name TEXT PRIMARY KEY, etag TEXT, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, version TEXT)",
    )?;
    for (name, g) in &got {
        conn.execute(
            "INSERT INTO idc_files VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                name,
                g.facts.etag,
                g.facts.sha256,
                g.facts.bytes as i64,
                imported.version
            ],
        )?;
    }
    let now = now_rfc3339();
    seal(
        &conn,
        &Info {
            server: base.display(),
            api: "idc".into(),
            updated_at: now.clone(),
            full_at: now,
            rows: imported.series as i64,
            tcia_version: env!("CARGO_PKG_VERSION").into(),
        },
    )?;
    drop(conn);
    work.publish()?;
    let verified = got
        .iter()
        .filter(|(_, g)| g.sidecar)
        .map(|(n, _)| *n)
        .collect();
    let no_sidecar = got
        .iter()
        .filter(|(_, g)| !g.sidecar)
        .map(|(n, _)| *n)
        .collect();
    Ok(Outcome {
        unchanged: false,
        imported,
        verified,
        no_sidecar,
    })
}

/// The facts of the files the index was built from (empty when unreadable).
fn stored_facts(target: &Path) -> Vec<(String, FileFacts)> {
    let Ok(ix) = Index::open(target) else {
        return Vec::new();
    };
    let read = |c: &Connection| -> rusqlite::Result<Vec<(String, FileFacts)>> {
        let mut st = c.prepare("SELECT name, etag, sha256, bytes FROM idc_files")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                FileFacts {
                    etag: r.get(1)?,
                    sha256: r.get(2)?,
                    bytes: r.get::<_, i64>(3)? as u64,
                },
            ))
        })?;
        rows.collect()
    };
    read(&ix.conn).unwrap_or_default()
}

/// The version of IDC's data an index was built from.
pub fn version(ix: &Index) -> Option<String> {
    ix.conn
        .query_row(
            "SELECT version FROM idc_files WHERE name = ?1",
            [SERIES_FILE],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .ok()
        .flatten()
        .flatten()
}

fn integrity(message: String) -> anyhow::Error {
    Error::Failed {
        message,
        code: exit::INTEGRITY,
    }
    .into()
}

fn network(url: &reqwest::Url, e: &reqwest::Error) -> anyhow::Error {
    Error::Network {
        method: "GET",
        url: url.to_string(),
        what: crate::text::one_line(&e.to_string(), 300),
    }
    .into()
}

/// GET `base/name` into `dir`, hashing as it arrives; None when the ETag still matches (304).
async fn fetch(
    http: &reqwest::Client,
    base: &reqwest::Url,
    name: &'static str,
    etag: Option<&str>,
    dir: &Path,
    progress: &Progress<'_>,
) -> anyhow::Result<Option<Got>> {
    let url = base
        .join(name)
        .with_context(|| format!("joining {name} to {base}"))?;
    let mut req = http.get(url.clone());
    if let Some(e) = etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, e);
    }
    let mut resp = req.send().await.map_err(|e| network(&url, &e))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(Error::Http {
            method: "GET",
            url: url.to_string(),
            status: status.as_u16(),
            message: format!("no {name} there (check --idc-index)"),
            retry_after: None,
        }
        .into());
    }
    let new_etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let expected_len = resp.content_length();
    let path = dir.join(name);
    let mut file = std::io::BufWriter::with_capacity(
        256 * 1024,
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut last = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| network(&url, &e))? {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .with_context(|| format!("writing {}", path.display()))?;
        bytes += chunk.len() as u64;
        if bytes - last >= 4 << 20 {
            progress(name, bytes);
            last = bytes;
        }
    }
    file.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    progress(name, bytes);
    if let Some(n) = expected_len.filter(|n| *n != bytes) {
        return Err(Error::Network {
            method: "GET",
            url: url.to_string(),
            what: format!("the body ended after {bytes} of {n} bytes"),
        }
        .into());
    }
    let sha = hex(&hasher.finalize());
    let sidecar = sidecar(http, &url, name, &sha).await?;
    Ok(Some(Got {
        path,
        facts: FileFacts {
            etag: new_etag,
            sha256: sha,
            bytes,
        },
        sidecar,
    }))
}

/// Check `<name>.sha256` when the server has one: Ok(true) when it matched, Ok(false) when
/// there is none; a mismatch is an integrity error.
async fn sidecar(
    http: &reqwest::Client,
    url: &reqwest::Url,
    name: &str,
    sha: &str,
) -> anyhow::Result<bool> {
    let side = reqwest::Url::parse(&format!("{url}.sha256"))?;
    let resp = http
        .get(side.clone())
        .send()
        .await
        .map_err(|e| network(&side, &e))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND
        || resp.status() == reqwest::StatusCode::FORBIDDEN
    {
        return Ok(false);
    }
    if !resp.status().is_success() {
        return Err(Error::Http {
            method: "GET",
            url: side.to_string(),
            status: resp.status().as_u16(),
            message: "the checksum sidecar could not be read".into(),
            retry_after: None,
        }
        .into());
    }
    let text = resp.text().await.map_err(|e| network(&side, &e))?;
    compare_sidecar(&text, name, sha, side.as_ref()).map(|_| true)
}

fn compare_sidecar(text: &str, name: &str, sha: &str, from: &str) -> anyhow::Result<()> {
    let want = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(integrity(format!(
            "{from}: not a sha256 checksum; the index was not changed"
        )));
    }
    if want != sha {
        return Err(integrity(format!(
            "sha256 mismatch for {name}: {from} says {want}, the file has {sha}; the index was not changed"
        )));
    }
    Ok(())
}

/// A file of a local directory, hashed, its sidecar checked when there is one.
fn local(dir: &Path, name: &'static str, progress: &Progress<'_>) -> anyhow::Result<Got> {
    let path = dir.join(name);
    let mut f = std::fs::File::open(&path).map_err(|e| {
        usage(format!(
            "--idc-index {}: cannot read {name}: {e}",
            dir.display()
        ))
    })?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut f, &mut hasher)
        .with_context(|| format!("reading {}", path.display()))?;
    progress(name, bytes);
    let sha = hex(&hasher.finalize());
    let side = dir.join(format!("{name}.sha256"));
    let sidecar = match std::fs::read_to_string(&side) {
        Ok(text) => {
            compare_sidecar(&text, name, &sha, &side.display().to_string())?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // There, but unreadable: not silently unverified.
        Err(e) => {
            return Err(integrity(format!(
                "cannot read {}: {e}; the index was not changed",
                side.display()
            )))
        }
    };
    Ok(Got {
        path,
        facts: FileFacts {
            etag: None,
            sha256: sha,
            bytes,
        },
        sidecar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_are_compared() {
        let sha = "ab".repeat(32);
        assert!(compare_sidecar(&format!("{sha}  idc_index.parquet\n"), "x", &sha, "s").is_ok());
        assert!(compare_sidecar(&sha.to_uppercase(), "x", &sha, "s").is_ok());
        assert!(compare_sidecar(&"cd".repeat(32), "x", &sha, "s").is_err());
        assert!(compare_sidecar("<html>", "x", &sha, "s").is_err());
    }

    #[test]
    fn bases_parse() {
        let b = Base::parse(DEFAULT_BASE, false).unwrap();
        assert_eq!(b.key(), "current");
        assert!(Base::parse("http://example.org/x", false).is_err());
        assert!(Base::parse("http://127.0.0.1:9/x", false).is_ok());
        assert!(Base::parse("ftp://x/y", false).is_err());
        assert!(Base::parse("/no/such/dir/here", false).is_err());
        let Base::Url(u) = Base::parse("https://h/a/b", false).unwrap() else {
            panic!()
        };
        assert_eq!(u.as_str(), "https://h/a/b/");
    }
}
