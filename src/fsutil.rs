//! File-system helpers shared by commands: atomic writes.

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
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(data).context("writing output")?;
        return out.flush().context("writing output");
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tcia-")
        .suffix(".tmp")
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
