//! Publishing a verified series, crash-safe at every instant, and replacing or deleting only
//! what tcia itself wrote and recorded. The steps, each durable before the next:
//!
//! 1. a journal (`.tcia/trash/<uid>.journal`: the final path, the old copy's paths, the new
//!    completion record);
//! 2. the old copy at the final path (ours: recorded there) moved aside into trash;
//! 3. the staged series renamed into the final path;
//! 4. the completion record written and flushed with its directory;
//! 5. the old copy (and the series' old path when the layout moved it) removed, then the journal.
//!
//! After a crash at any point, [`recover`] (run before trash is emptied) finishes or undoes the
//! publish from the journal, so the old or the new verified copy is at the final path. The
//! collection's licence goes to `DIR/LICENSES/<Collection>`, never into a series folder.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::layout::rel_string;
use super::meta::SeriesInfo;
use super::names::sanitize_component;
use super::source::Fetched;
use super::state::{now_rfc3339, Record, State};
use crate::fsutil::{md5_of, sync_dir, write_atomically};

/// Top-level directory of the collections' licences.
pub const LICENSES_DIR: &str = "LICENSES";

/// What a publish in progress must be able to finish or undo after a crash.
#[derive(Serialize, Deserialize)]
struct Journal {
    /// The final path (relative, `/`-separated).
    rel: String,
    /// An old copy of ours was at `rel` (and is moved aside).
    had_old: bool,
    /// The series' previous path when it differs from `rel` (removed once the new copy is recorded).
    old_rel: Option<String>,
    record: Record,
}

/// A test hook ([`crate::env::TEST_ABORT_PUBLISH_AFTER`]): end the process after this step.
fn step_done(n: u32, abort_after: Option<u32>) {
    if abort_after == Some(n) {
        eprintln!("tcia: test hook: aborting publish after step {n}");
        std::process::exit(86);
    }
}

/// Move a verified series from staging to its final place (see the module comment for the
/// steps), write the collection's licence, and return the completion record.
pub fn publish(
    st: &State,
    info: &SeriesInfo,
    rel: &Path,
    fetched: Fetched,
    abort_after: Option<u32>,
) -> anyhow::Result<Record> {
    ensure_no_symlink(&st.root, rel)?;
    let dest = st.root.join(rel);
    let rel_s = rel_string(rel);
    let old = st.record(&info.uid);
    let had_old = std::fs::symlink_metadata(&dest).is_ok();
    if had_old && old.as_ref().is_none_or(|r| r.path != rel_s) {
        anyhow::bail!(
            "{} exists and was not written by tcia: move it away or choose another --layout",
            dest.display()
        );
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    if let Some(text) = &fetched.license {
        write_license(st, &info.get("Collection"), text)?;
    }
    let mut record = new_record(info, &rel_s, &fetched);
    zip_digest(&mut record, &fetched.staged)?;
    let journal = Journal {
        rel: rel_s.clone(),
        had_old,
        old_rel: old.map(|r| r.path).filter(|p| *p != rel_s),
        record,
    };
    let jpath = journal_path(st, &info.uid);
    write_atomically(&jpath, &serde_json::to_vec_pretty(&journal)?)?;
    sync_dir(&st.trash())?;
    step_done(1, abort_after);
    swap_in(st, &info.uid, &fetched.staged, &dest, had_old, abort_after)?;
    st.write_record(&journal.record)?;
    step_done(4, abort_after);
    finish(st, &info.uid, &journal)?;
    Ok(journal.record)
}

fn new_record(info: &SeriesInfo, rel: &str, fetched: &Fetched) -> Record {
    Record {
        uid: info.uid.clone(),
        path: rel.to_string(),
        zip: fetched.staged.extension().is_some_and(|e| e == "zip"),
        files: fetched.files.clone(),
        bytes: fetched.bytes,
        md5_verified: fetched.md5_verified,
        downloaded_at: now_rfc3339(),
        fields: info.fields(),
        zip_size: None,
        zip_md5: None,
        size_only: fetched.size_only.clone(),
    }
}

/// A `--zip` archive's size and MD5, recorded so that a re-run notices a truncated archive.
fn zip_digest(rec: &mut Record, staged: &Path) -> anyhow::Result<()> {
    if rec.zip {
        let f =
            std::fs::File::open(staged).with_context(|| format!("reading {}", staged.display()))?;
        let (md5, size) = md5_of(f).with_context(|| format!("reading {}", staged.display()))?;
        rec.zip_size = Some(size);
        rec.zip_md5 = Some(md5);
    }
    Ok(())
}

fn journal_path(st: &State, uid: &str) -> PathBuf {
    st.trash().join(format!("{uid}.journal"))
}

fn aside_path(st: &State, uid: &str) -> PathBuf {
    st.trash().join(format!("{uid}-previous"))
}

/// Steps 2 and 3: the old copy aside, the new one in; if the move fails, the old copy goes back.
fn swap_in(
    st: &State,
    uid: &str,
    staged: &Path,
    dest: &Path,
    had_old: bool,
    abort_after: Option<u32>,
) -> anyhow::Result<()> {
    let aside = aside_path(st, uid);
    if had_old {
        remove_any(&aside)?;
        std::fs::rename(dest, &aside)
            .with_context(|| format!("moving the previous {} aside", dest.display()))?;
        sync_parent(dest)?;
    }
    step_done(2, abort_after);
    if let Err(e) = std::fs::rename(staged, dest) {
        if had_old {
            let _ = std::fs::rename(&aside, dest);
        }
        let _ = std::fs::remove_file(journal_path(st, uid));
        return Err(e).with_context(|| format!("moving the series into {}", dest.display()));
    }
    sync_parent(dest)?;
    step_done(3, abort_after);
    Ok(())
}

fn sync_parent(p: &Path) -> anyhow::Result<()> {
    match p.parent() {
        Some(d) => sync_dir(d),
        None => Ok(()),
    }
}

/// Step 5: the new copy is recorded; the old copy and the old path go, then the journal.
fn finish(st: &State, uid: &str, j: &Journal) -> anyhow::Result<()> {
    remove_any(&aside_path(st, uid))?;
    if let Some(old) = &j.old_rel {
        let p = st
            .root
            .join(old.replace('/', std::path::MAIN_SEPARATOR_STR));
        ensure_no_symlink(&st.root, Path::new(old))?;
        remove_any(&p).with_context(|| format!("removing the old copy {}", p.display()))?;
        prune_empty_parents(&st.root, &p);
    }
    std::fs::remove_file(journal_path(st, uid))
        .with_context(|| format!("removing {}", journal_path(st, uid).display()))
}

/// Remove the directories left empty above a removed series, up to (not including) `root`.
fn prune_empty_parents(root: &Path, removed: &Path) {
    let mut p = removed.parent();
    while let Some(d) = p {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        p = d.parent();
    }
}

/// Finish or undo every publish a crash interrupted (this run's trash), before trash is
/// emptied: the new copy is at its final path → record it and drop the old; the old copy is
/// aside and the final path empty → put it back. Returns how many were repaired.
pub fn recover(st: &State) -> anyhow::Result<usize> {
    let Ok(rd) = std::fs::read_dir(st.trash()) else {
        return Ok(0);
    };
    let mut n = 0;
    let names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        let Some(uid) = name.strip_suffix("-previous") else {
            continue;
        };
        if !names.contains(&format!("{uid}.journal")) {
            n += usize::from(restore_unjournaled(st, uid)?);
        }
    }
    for e in std::fs::read_dir(st.trash())?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(uid) = name.strip_suffix(".journal") else {
            continue;
        };
        let text =
            std::fs::read(e.path()).with_context(|| format!("reading {}", e.path().display()))?;
        let j: Journal = serde_json::from_slice(&text)
            .with_context(|| format!("reading the journal {}", e.path().display()))?;
        recover_one(st, uid, &j)?;
        n += 1;
    }
    Ok(n)
}

/// An old copy set aside without a journal (by tcia 0.1): put back when its recorded path is
/// empty, so that emptying trash never loses the only copy.
fn restore_unjournaled(st: &State, uid: &str) -> anyhow::Result<bool> {
    let Some(r) = st.record(uid) else {
        return Ok(false);
    };
    let dest = st.data_path(&r);
    if std::fs::symlink_metadata(&dest).is_ok() {
        return Ok(false);
    }
    ensure_no_symlink(&st.root, Path::new(&r.path))?;
    std::fs::rename(aside_path(st, uid), &dest)
        .with_context(|| format!("restoring {}", dest.display()))?;
    Ok(true)
}

fn recover_one(st: &State, uid: &str, j: &Journal) -> anyhow::Result<()> {
    ensure_no_symlink(&st.root, Path::new(&j.rel))?;
    let dest = st
        .root
        .join(j.rel.replace('/', std::path::MAIN_SEPARATOR_STR));
    let aside = aside_path(st, uid);
    let dest_there = std::fs::symlink_metadata(&dest).is_ok();
    let aside_there = std::fs::symlink_metadata(&aside).is_ok();
    let recorded = st.record(uid).is_some_and(|r| r == j.record);
    // Step 3 happened when the old copy is aside (it was at dest before), or when nothing was
    // there before, or when the new record was written (step 4).
    let new_in_place = dest_there && (aside_there || !j.had_old || recorded);
    if new_in_place {
        if !recorded {
            st.write_record(&j.record)?;
        }
        return finish(st, uid, j);
    }
    if aside_there && !dest_there {
        std::fs::rename(&aside, &dest)
            .with_context(|| format!("restoring {} from {}", dest.display(), aside.display()))?;
        sync_parent(&dest)?;
    }
    std::fs::remove_file(journal_path(st, uid))?;
    Ok(())
}

/// `DIR/LICENSES/<Collection>`, rewritten only when its text changed.
fn write_license(st: &State, collection: &str, text: &str) -> anyhow::Result<()> {
    let name = sanitize_component(collection);
    let rel = Path::new(LICENSES_DIR).join(&name);
    ensure_no_symlink(&st.root, &rel)?;
    let lic = st.root.join(&rel);
    if std::fs::read_to_string(&lic).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(st.root.join(LICENSES_DIR))?;
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
