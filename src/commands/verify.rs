//! `tcia verify DIR`: re-hash every published series against its completion record and report
//! missing, extra and corrupt files, unreadable records, and series folders no record covers.
//! Exit 0 only when everything is intact; a closed stdout never changes the verdict. With
//! `--remote`, compare the recorded MD5s with the server's instead (`md5::audit`).

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

use super::md5::audit;
use crate::context::Ctx;

use crate::download::check::{check_record, Problem};
use crate::download::names::is_reserved_top_level;
use crate::download::state::{State, STATE_DIR};
use crate::error::{exit, usage, Error};
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
    let (records, bad) = st.read_records();
    let mut problems = Vec::new();
    for (path, why) in &bad {
        printer.warn(&format!(
            "unreadable completion record {}: {why}",
            path.display()
        ));
        problems.push(Problem::BadRecord {
            path: path.display().to_string(),
        });
    }
    let (mut files, mut bytes) = (0usize, 0u64);
    for r in records.values() {
        files += r.files.len();
        bytes += r.bytes;
        problems.extend(check_record(&st, r));
    }
    let recorded: BTreeSet<String> = records.values().map(|r| r.path.clone()).collect();
    problems.extend(untracked(dir, &recorded));
    if let Some((format, width)) = report {
        output::write_report(format, &FINDING_COLUMNS, finding_rows(&problems), width)?;
    } else {
        print_problems(&problems, printer)?;
    }
    let count = |f: fn(&Problem) -> bool| problems.iter().filter(|p| f(p)).count();
    let summary = format!(
        "verified {} series ({files} files, {}): {} corrupt, {} missing, {} extra, {} untracked, {} unreadable records",
        records.len(),
        human_bytes(bytes),
        count(|p| matches!(p, Problem::Corrupt { .. })),
        count(|p| matches!(p, Problem::Missing { .. })),
        count(|p| matches!(p, Problem::Extra { .. })),
        count(|p| matches!(p, Problem::Untracked { .. })),
        count(|p| matches!(p, Problem::BadRecord { .. })),
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

/// One line per problem on stdout; a reader that stops early (`| head -1`) ends the listing
/// quietly, and the verdict stands.
fn print_problems(problems: &[Problem], printer: &Printer) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let written = problems
        .iter()
        .try_for_each(|p| {
            printer.debug(1, &p.describe());
            writeln!(out, "{}", p.line())
        })
        .and_then(|_| out.flush());
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Entries of the download directory that no record covers: not a recorded series path, not
/// on the way to one, not one of tcia's own top-level files.
fn untracked(root: &Path, recorded: &BTreeSet<String>) -> Vec<Problem> {
    let ancestors: BTreeSet<String> = recorded
        .iter()
        .flat_map(|p| {
            p.match_indices('/')
                .map(|(i, _)| p[..i].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            // tcia's own top-level files; and `<Collection>/LICENSE`, where tcia 0.1 put licences.
            let legacy_licence = !rel.is_empty() && !rel.contains('/') && name == "LICENSE";
            if (rel.is_empty() && is_reserved_top_level(&name)) || legacy_licence {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if recorded.contains(&path) {
                continue;
            }
            if ancestors.contains(&path) {
                stack.push(path);
            } else if !(rel.is_empty() && only_a_licence(&root.join(&path))) {
                out.push(Problem::Untracked { path });
            }
        }
    }
    out
}

/// A folder holding only `LICENSE`: a collection folder of tcia 0.1 (which put licences there).
fn only_a_licence(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    let names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.len() == 1 && names[0] == "LICENSE"
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

/// The columns of `verify --format`.
const FINDING_COLUMNS: [&str; 4] = ["kind", "uid", "path", "detail"];

/// One row per finding.
fn finding_rows(problems: &[Problem]) -> Vec<Row> {
    problems
        .iter()
        .map(|p| {
            let none = String::new();
            let (kind, uid, path, detail) = match p {
                Problem::Missing { uid, path } => ("missing", uid, path, None),
                Problem::Corrupt { uid, path, detail } => ("corrupt", uid, path, Some(detail)),
                Problem::Extra { uid, path } => ("extra", uid, path, None),
                Problem::Untracked { path } => ("untracked", &none, path, None),
                Problem::BadRecord { path } => ("bad-record", &none, path, None),
            };
            let v = serde_json::json!({"kind": kind, "uid": uid, "path": path, "detail": detail});
            v.as_object().cloned().unwrap_or_default()
        })
        .collect()
}
