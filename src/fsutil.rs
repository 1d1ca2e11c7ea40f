//! File-system helpers: the one atomic write (a temporary file in the same directory, renamed
//! over the target), its owner-only variant for the token cache, flushing a directory, and the
//! MD5 of a file's content.

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
