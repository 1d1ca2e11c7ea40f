//! Publishing a verified series: one rename from staging to its final path (an older copy set
//! aside first and removed after), the collection's LICENSE beside it, then the completion
//! record. Never through a symbolic link.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use anyhow::Context as _;

use super::layout::rel_string;
use super::meta::SeriesInfo;
use super::names::sanitize_component;
use super::source::Fetched;
use super::state::{now_rfc3339, Record, State};
use crate::fsutil::write_atomically;

/// Move a verified series from staging to its final place in one rename (an older copy is set
/// aside first and removed after), write the collection's LICENSE, then the completion record.
pub fn publish(
    st: &State,
    info: &SeriesInfo,
    rel: &Path,
    fetched: Fetched,
) -> anyhow::Result<Record> {
    ensure_no_symlink(&st.root, rel)?;
    let dest = st.root.join(rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    swap_in(st, &info.uid, &fetched.staged, &dest)?;
    if let Some(text) = &fetched.license {
        write_license(st, &info.get("Collection"), text)?;
    }
    let fields: BTreeMap<String, String> = info.fields.clone().into_iter().collect();
    let rec = Record {
        uid: info.uid.clone(),
        path: rel_string(rel),
        zip: fetched.staged.extension().is_some_and(|e| e == "zip"),
        files: fetched.files,
        bytes: fetched.bytes,
        md5_verified: fetched.md5_verified,
        downloaded_at: now_rfc3339(),
        fields,
    };
    st.write_record(&rec)?;
    Ok(rec)
}

/// The old copy (a changed series) is set aside, the new one moved in, and the old one
/// deleted; if the move fails, the old copy goes back. Its record stays until replaced.
fn swap_in(st: &State, uid: &str, staged: &Path, dest: &Path) -> anyhow::Result<()> {
    let aside = st.trash().join(format!("{uid}-previous"));
    let had_old = std::fs::symlink_metadata(dest).is_ok();
    if had_old {
        remove_any(&aside)?;
        std::fs::rename(dest, &aside)
            .with_context(|| format!("moving the previous {} aside", dest.display()))?;
    }
    if let Err(e) = std::fs::rename(staged, dest) {
        if had_old {
            let _ = std::fs::rename(&aside, dest);
        }
        return Err(e).with_context(|| format!("moving the series into {}", dest.display()));
    }
    if had_old {
        let _ = remove_any(&aside);
    }
    Ok(())
}

/// `DIR/<Collection>/LICENSE`, rewritten only when its text changed.
fn write_license(st: &State, collection: &str, text: &str) -> anyhow::Result<()> {
    let coll = sanitize_component(collection);
    ensure_no_symlink(&st.root, Path::new(&coll))?;
    let lic = st.root.join(&coll).join("LICENSE");
    if std::fs::read_to_string(&lic).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(st.root.join(&coll))?;
        write_atomically(&lic, text.as_bytes())?;
    }
    Ok(())
}

/// Refuse to write through a symbolic link anywhere on the way from `root` to `root/rel`.
pub fn ensure_no_symlink(root: &Path, rel: &Path) -> anyhow::Result<()> {
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if m.file_type().is_symlink() {
                anyhow::bail!(
                    "{} is a symbolic link; tcia never writes through links in the download directory",
                    p.display()
                );
            }
        }
    }
    Ok(())
}

/// Remove a file or directory tree if it exists.
pub fn remove_any(p: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
