//! File-system helpers: the one atomic write (a temporary file in the same directory, renamed
//! over the target), and its owner-only variant for the token cache.

use std::io::Write;
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
    if private {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o600));
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
