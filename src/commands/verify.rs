//! `tcia verify DIR`: re-hash every published series against its completion record and report
//! missing, extra and corrupt files. Exit 0 only when everything is intact. With `--remote`,
//! compare the recorded MD5s with the server's instead (`md5::audit`).

use std::io::{self, Write};
use std::path::Path;

use super::md5::audit;
use crate::context::Ctx;
use crate::download::check::{check_record, Problem};
use crate::download::state::{State, STATE_DIR};
use crate::error::{exit, usage, Error};
use crate::printer::Printer;
use crate::text::human_bytes;

/// Check a whole download directory. Problems go to stdout, one per line
/// (`kind<TAB>series<TAB>path`); the summary to stderr.
pub fn run(dir: &Path, printer: &Printer) -> anyhow::Result<()> {
    let st = State::new(dir, None);
    if !st.dir.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a tcia download directory (no {} inside)",
            dir.display(),
            STATE_DIR
        ))
        .into());
    }
    let records = st.records();
    let mut problems = Vec::new();
    let (mut files, mut bytes) = (0usize, 0u64);
    for r in records.values() {
        files += r.files.len();
        bytes += r.bytes;
        problems.extend(check_record(&st, r));
    }
    let mut out = io::stdout().lock();
    for p in &problems {
        writeln!(out, "{}", p.line())?;
        printer.debug(1, &p.describe());
    }
    out.flush()?;
    let count = |f: fn(&Problem) -> bool| problems.iter().filter(|p| f(p)).count();
    let summary = format!(
        "verified {} series ({files} files, {}): {} corrupt, {} missing, {} extra",
        records.len(),
        human_bytes(bytes),
        count(|p| matches!(p, Problem::Corrupt { .. })),
        count(|p| matches!(p, Problem::Missing { .. })),
        count(|p| matches!(p, Problem::Extra { .. })),
    );
    if problems.is_empty() {
        printer.info(&summary);
        Ok(())
    } else {
        Err(Error::Failed {
            message: summary,
            code: exit::INTEGRITY,
        }
        .into())
    }
}

/// `tcia verify DIR --remote`: problems on stdout (`changed|gone<TAB>series<TAB>path`), the
/// summary on stderr; exit 3 when a series differs from the server.
pub async fn remote(ctx: &Ctx, dir: &std::path::Path) -> anyhow::Result<()> {
    let st = State::new(dir, None);
    if !st.dir.is_dir() {
        return Err(usage(format!(
            "{} is not a tcia download directory (no {STATE_DIR} inside)",
            dir.display()
        )));
    }
    let records = st.records();
    let a = audit(ctx, records.values()).await?;
    let mut out = std::io::stdout().lock();
    for (kind, list) in [("changed", &a.changed), ("gone", &a.gone)] {
        for u in list {
            let path = records.get(u).map(|r| r.path.as_str()).unwrap_or("");
            writeln!(out, "{kind}\t{u}\t{path}")?;
        }
    }
    out.flush()?;
    for u in &a.unchecked {
        ctx.printer.warn(&format!(
            "{u}: recorded without MD5s or its study/patient/collection; not checked"
        ));
    }
    let summary = format!(
        "compared {} series with the server in {} requests: {} changed, {} gone, {} not checked",
        records.len(),
        a.requests,
        a.changed.len(),
        a.gone.len(),
        a.unchecked.len()
    );
    if a.changed.is_empty() && a.gone.is_empty() {
        ctx.printer.info(&summary);
        return Ok(());
    }
    Err(Error::Failed {
        message: summary,
        code: exit::INTEGRITY,
    }
    .into())
}
