//! `tcia verify DIR`: re-hash every published series against its completion record and report
//! missing, extra and corrupt files. Exit 0 only when everything is intact.

use std::io::{self, Write};
use std::path::Path;

use crate::download::check::{check_record, Problem};
use crate::download::state::{State, STATE_DIR};
use crate::error::{exit, Error};
use crate::output::{self, Format, Row};
use crate::printer::Printer;
use crate::text::human_bytes;

/// Check a whole download directory. Problems go to stdout, one per line
/// (`kind<TAB>series<TAB>path`), or as rows in `report`'s format (with its width); the
/// summary to stderr.
pub fn run(dir: &Path, printer: &Printer, report: Option<(Format, usize)>) -> anyhow::Result<()> {
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
    if let Some((format, width)) = report {
        output::write_report(format, &FINDING_COLUMNS, finding_rows(&problems), width)?;
    } else {
        let mut out = io::stdout().lock();
        for p in &problems {
            writeln!(out, "{}", p.line())?;
            printer.debug(1, &p.describe());
        }
        out.flush()?;
    }
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

/// The columns of `verify --format`.
const FINDING_COLUMNS: [&str; 4] = ["kind", "uid", "path", "detail"];

/// One row per finding.
fn finding_rows(problems: &[Problem]) -> Vec<Row> {
    problems
        .iter()
        .map(|p| {
            let (kind, uid, path, detail) = match p {
                Problem::Missing { uid, path } => ("missing", uid, path, None),
                Problem::Corrupt { uid, path, detail } => ("corrupt", uid, path, Some(detail)),
                Problem::Extra { uid, path } => ("extra", uid, path, None),
            };
            let v = serde_json::json!({"kind": kind, "uid": uid, "path": path, "detail": detail});
            v.as_object().cloned().unwrap_or_default()
        })
        .collect()
}
