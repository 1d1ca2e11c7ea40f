//! `--source idc`: the list commands and `tcia query` answered from IDC's index (fetched on
//! first use), `index update --source idc`, and the commands IDC has no counterpart for.
//! Downloads (`download`, `sync`) use the same engine with the IDC catalogue and the bucket
//! fetcher (see `download`).

use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::query::{self, Query};
use crate::api::catalogue::{self as cat, Endpoint, Param};
use crate::cli::Command;
use crate::context::Ctx;
use crate::dates::now_unix;
use crate::error::usage;
use crate::index::answer;
use crate::index::idc;
use crate::index::idc::{COLLECTION_COLUMNS, PATIENT_COLUMNS, SERIES_COLUMNS, STUDY_COLUMNS};
use crate::index::idc_update::{self, Base, DEFAULT_BASE};
use crate::index::store::{self, Index};
use crate::output::Row;

/// Days after which an IDC index is called old (IDC releases about monthly).
const STALE_DAYS: i64 = 45;

/// `--idc-index`, or IDC's current release.
pub fn base(ctx: &Ctx) -> anyhow::Result<Base> {
    Base::parse(
        ctx.idc_index.as_deref().unwrap_or(DEFAULT_BASE),
        ctx.allow_http,
    )
}

/// `<cache>/index/idc-<base>.sqlite`.
pub fn index_path(ctx: &Ctx, base: &Base) -> anyhow::Result<PathBuf> {
    let cache = ctx.env.cache_dir.clone().ok_or_else(|| {
        usage("no cache directory for the IDC index: set TCIA_CACHE_DIR (the platform has none)")
    })?;
    Ok(store::dir(&cache).join(format!("idc-{}.sqlite", base.key())))
}

/// The IDC index, fetched first when there is none yet (not with `--offline`).
pub async fn open_index(ctx: &Ctx) -> anyhow::Result<Index> {
    let base = base(ctx)?;
    let path = index_path(ctx, &base)?;
    if !path.exists() {
        if ctx.offline {
            return Err(usage(format!(
                "no IDC index at {} yet: run `tcia index update --source idc` (or leave out --offline to fetch it now)",
                path.display()
            )));
        }
        ctx.printer.info(&format!(
            "no IDC index yet: fetching IDC's index files from {} (about 80 MB, once; `tcia index update --source idc` refreshes them)",
            base.display()
        ));
        update(ctx, &base, &path, false).await?;
    }
    let ix = Index::open(&path)?;
    let info = ix.info()?;
    if info.api != "idc" {
        return Err(store::damaged(&path, "not an IDC index"));
    }
    if let Some(days) = store::age_days(&info, now_unix()).filter(|d| *d > STALE_DAYS) {
        ctx.printer.warn(&format!(
            "the IDC index was last updated {days} days ago ({}); refresh it with `tcia index update --source idc`",
            info.updated_at
        ));
    }
    Ok(ix)
}

/// Fetch and import, with progress on stderr; one line says what happened.
async fn update(ctx: &Ctx, base: &Base, path: &std::path::Path, full: bool) -> anyhow::Result<()> {
    let counter = crate::progress::counter(&ctx.printer, "idc index");
    let last = Cell::new(Instant::now());
    let tty = ctx.printer.stderr_tty;
    let report = |what: &str, n: u64| {
        // Off a terminal: a line every few seconds, not one per chunk.
        if !tty && last.get().elapsed() < Duration::from_secs(5) {
            return;
        }
        last.set(Instant::now());
        if what == "series" {
            counter.set(what, n);
        } else {
            counter.bytes(what, n);
        }
    };
    let out = idc_update::update(ctx.client.http(), base, path, full, &report).await;
    counter.finish();
    let out = out?;
    if out.unchanged {
        ctx.printer.info(&format!(
            "IDC index is current (the files at {} are unchanged) -> {}",
            base.display(),
            path.display()
        ));
        return Ok(());
    }
    let i = &out.imported;
    let checked = if out.no_sidecar.is_empty() {
        "sha256 verified".to_string()
    } else if out.verified.is_empty() {
        "no sha256 sidecar to verify against".to_string()
    } else {
        format!("no sha256 sidecar for {}", out.no_sidecar.join(", "))
    };
    ctx.printer.info(&format!(
        "IDC index built: {} series, {} patients, {} studies, {} collections (idc-index-data {}; {checked}) -> {}",
        i.series,
        i.patients,
        i.studies,
        i.collections,
        i.version.as_deref().unwrap_or("version unknown"),
        path.display()
    ));
    Ok(())
}

/// `tcia index update --source idc [--full]`.
pub async fn index_update(ctx: &Ctx, full: bool) -> anyhow::Result<()> {
    let base = base(ctx)?;
    let path = index_path(ctx, &base)?;
    update(ctx, &base, &path, full).await
}

/// `tcia query SQL` on the IDC index.
pub async fn query_sql(ctx: &Ctx, statement: &str) -> anyhow::Result<()> {
    let ix = open_index(ctx).await?;
    super::index::query_on(ctx, &ix, statement)
}

/// The endpoints IDC's index answers, with their columns.
fn columns_for(endpoint: &'static Endpoint) -> Option<&'static [&'static str]> {
    Some(match endpoint.name {
        "getCollectionValues" => COLLECTION_COLUMNS,
        "getPatient" => PATIENT_COLUMNS,
        "getPatientStudy" => STUDY_COLUMNS,
        "getSeries" => SERIES_COLUMNS,
        // The value lists and counts: as NBIA's v4 answers them.
        "getModalityValues"
        | "getBodyPartValues"
        | "getManufacturerValues"
        | "getCollectionValuesAndCounts"
        | "getModalityValuesAndCounts"
        | "getBodyPartValuesAndCounts"
        | "getManufacturerValuesAndCounts" => endpoint.route(cat::Api::V4).ok()?.columns,
        _ => return None,
    })
}

/// The error for a command IDC has no counterpart for.
pub fn nbia_only(command: &Command) -> anyhow::Error {
    let name = crate::cli::command_name(command);
    usage(format!(
        "`tcia {name}` needs --source nbia: IDC has no such endpoint (with --source idc: collections, modalities, body-parts, manufacturers, patients, studies, series, the *-counts commands, query, index, download, sync, verify)"
    ))
}

/// Whether `--source idc` answers this command from the index.
pub fn answers(command: &Command) -> bool {
    query::for_command(command)
        .ok()
        .flatten()
        .is_some_and(|q| columns_for(q.endpoint).is_some())
}

/// A list command under `--source idc`.
pub async fn list(ctx: &Ctx, q: Query) -> anyhow::Result<()> {
    let Some(known) = columns_for(q.endpoint) else {
        return Err(usage(format!(
            "`tcia {}` needs --source nbia: IDC's index has no {}",
            q.endpoint.command, q.endpoint.name
        )));
    };
    if ctx.raw.is_some() {
        return Err(usage(
            "--raw passes NBIA's bytes: leave it out with --source idc",
        ));
    }
    // The same checks of the parameters as the live path.
    crate::api::rows::requests(crate::api::catalogue::Api::V4, q.endpoint, &q.params)?;
    let ix = open_index(ctx).await?;
    let q = resolve_collections(&ix, q)?;
    let endpoint = q.endpoint;
    let keys = answer::keys(&ix, endpoint)?;
    query::from_index(ctx, q, known, keys, &mut |combo, on_row| {
        if std::ptr::eq(endpoint, &cat::COLLECTIONS) {
            return collections(&ix, on_row);
        }
        answer::answer(&ix, endpoint, combo, on_row)
    })
}

/// getCollectionValues from collections_index: names, ids and what IDC says of them.
fn collections(ix: &Index, on_row: &mut answer::OnRow<'_>) -> anyhow::Result<()> {
    let mut stmt = ix.conn.prepare(
        "SELECT name, collection_id, cancer_types, tumor_locations, species, subjects, status, updated FROM collections ORDER BY rowid",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let mut row = Row::new();
        for (i, col) in COLLECTION_COLUMNS.iter().enumerate() {
            let v = crate::index::values::from_sql(r.get_ref(i)?, false);
            if let Some(v) = v {
                row.insert((*col).to_string(), v);
            }
        }
        on_row(crate::output::RowRef::from_map(row))?;
    }
    Ok(())
}

/// `--collection` values as NBIA names or IDC ids, matched ignoring case, spaces and dashes as
/// underscores: each becomes the collection's display name. An unknown one is an error with
/// the nearest names.
fn resolve_collections(ix: &Index, mut q: Query) -> anyhow::Result<Query> {
    let known = idc::known_collections(&ix.conn)?;
    for (p, values) in q.params.iter_mut() {
        if *p != Param::Collection {
            continue;
        }
        for v in values.iter_mut() {
            *v = idc::resolve(&known, v)?;
        }
    }
    Ok(q)
}
