//! File-system helpers: the one atomic write (a temporary file in the same directory, renamed
//! over the target), its owner-only variant for the token cache, flushing a directory, the
//! MD5 of a file's content, and telling whether a temporary entry's run is over.

use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::Context as _;

/// Write a file so that it is either the old one or the complete new one, never half, and
/// flushed to disk before it replaces the old one.
pub fn write_atomically(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    write_atomically_with(path, data, true)
}

/// As [`write_atomically`], with the flush to disk optional (for small bookkeeping files
/// written often, where a rename suffices).
pub fn write_atomically_with(path: &Path, data: &[u8], durable: bool) -> anyhow::Result<()> {
    write_via_temp(path, data, durable, false)
}

/// As [`write_atomically`], readable and writable by the owner only (mode 0600) from the first
/// byte: for tokens.
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    write_via_temp(path, data, true, true)
}

/// Create a directory (and its parents) that only its owner may enter (mode 0700).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn write_via_temp(path: &Path, data: &[u8], durable: bool, private: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut b = tempfile::Builder::new();
    b.prefix(".tcia-").suffix(".tmp");
    #[cfg(unix)]
    {
        // Private files 0600 from the first byte; the rest as the umask says (tempfile's own
        // default would be 0600 for everything).
        use std::os::unix::fs::PermissionsExt;
        let mode = if private { 0o600 } else { 0o666 };
        b.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut tmp = b
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(data)
        .and_then(|_| {
            if durable {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Flush a directory's entries (renames, new files) to disk. A no-op where directories cannot
/// be opened (Windows).
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("flushing {}", dir.display()))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// MD5 (lowercase hex) and length of everything `r` yields.
pub fn md5_of(r: impl Read) -> io::Result<(String, u64)> {
    let mut r = io::BufReader::with_capacity(256 * 1024, r);
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((format!("{:x}", h.finalize()), n))
}

/// Names a temporary file or directory by the run that owns it: `<pid>@<host>` (the host's
/// name kept to letters, digits, `.` and `_`), so that a later run can tell whether the owner is
/// gone, also in a cache directory that several machines share.
pub fn run_tag() -> String {
    format!("{}@{}", std::process::id(), host())
}

/// This machine's name as [`run_tag`] writes it: Linux's host name and its process-number
/// namespace (containers that share a host name and a cache do not share process numbers), where
/// owners are looked up ("" elsewhere, where only a day's age counts).
fn host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|l| {
            l.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    format!("{}.{ns}", name.trim())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Left untouched this long, a run's temporary entry is taken for abandoned whoever owns it.
const ABANDONED: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Whether the temporary entry at `path`, whose name after its prefix is `rest`
/// (`<pid>[@<host>][-...]`, see [`run_tag`]), was left by a run that is over: its process is
/// gone (looked up where that is possible: Linux, on this machine), or nothing in it has
/// changed for a day. Names without a host are this machine's (older tcia wrote them so).
pub fn left_by_ended_run(path: &Path, rest: &str) -> bool {
    if untouched_for(path).is_some_and(|d| d > ABANDONED) {
        return true;
    }
    let owner = rest.split('-').next().unwrap_or(rest);
    let (pid, host_name) = match owner.split_once('@') {
        Some((p, h)) => (p, Some(h)),
        None => (owner, None),
    };
    // Processes are looked up in /proc, on Linux, for this machine's (and namespace's) runs.
    let lookup = cfg!(target_os = "linux") && Path::new("/proc/self").exists();
    if !lookup || host_name.is_some_and(|h| h != host()) {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(p) => !Path::new(&format!("/proc/{p}")).exists(),
        // No number at all: not a name any run of tcia gave.
        Err(_) => false,
    }
}

/// How long since the entry (or, for a directory, the newest entry in it) last changed.
fn untouched_for(path: &Path) -> Option<std::time::Duration> {
    let modified = |p: &Path| std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok();
    let mut newest = modified(path)?;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            if let Some(t) = modified(&e.path()) {
                newest = newest.max(t);
            }
        }
    }
    std::time::SystemTime::now().duration_since(newest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_over_only_when_surely_so() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("x");
        std::fs::write(&fresh, b"x").unwrap();
        let me = run_tag();
        assert!(me.starts_with(&format!("{}@", std::process::id())));
        assert!(!me.contains('-'), "{me}");
        let linux = cfg!(target_os = "linux");
        // This run, with or without the side suffix: never over.
        assert!(!left_by_ended_run(&fresh, &me));
        assert!(!left_by_ended_run(&fresh, &format!("{me}-side")));
        // A process number no system gives, on this machine: over where it can be looked up.
        let dead = format!("999999999@{}", host());
        assert_eq!(left_by_ended_run(&fresh, &dead), linux);
        assert_eq!(left_by_ended_run(&fresh, "999999999-aBcDeF"), linux);
        // Another machine's, or a name with no number: not ours to judge, until a day passes.
        assert!(!left_by_ended_run(&fresh, "999999999@elsewhere.1-aBcDeF"));
        assert!(!left_by_ended_run(&fresh, "aBcDeF"));
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&fresh)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(left_by_ended_run(&fresh, "999999999@elsewhere.1-aBcDeF"));
        assert!(left_by_ended_run(&fresh, "aBcDeF"));
    }
}
