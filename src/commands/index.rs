//! `tcia index update|status`, `tcia query`, and `--offline` answers for the list commands.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::Value;

use crate::cli::{IndexCommand, IndexUpdateArgs};
use crate::context::Ctx;
use crate::dates::now_unix;
use crate::error::usage;
use crate::index::store::{self, Index};
use crate::index::update::{update, Source};
use crate::index::{answer, sql};
use crate::output::{self, Columns, Row};
use crate::text::human_bytes;

/// Days after which `--offline` warns that the index is old.
const STALE_DAYS: i64 = 7;

/// The cache directory, or a usage error saying how to set one.
fn cache_dir(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    ctx.env.cache_dir.clone().ok_or_else(|| {
        usage("no cache directory for the index: set TCIA_CACHE_DIR (the platform has none)")
    })
}

/// The index file of the selected server and API.
pub fn index_path(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    Ok(store::path_for(
        &cache_dir(ctx)?,
        &ctx.client.settings.base,
        ctx.api,
    ))
}

/// An index holds one API's answers (`--api v4`, `v1` or `v2`: one file each); the legacy
/// API has none.
fn refuse_legacy(ctx: &Ctx) -> anyhow::Result<()> {
    if ctx.api == crate::api::catalogue::Api::Legacy {
        return Err(usage(
            "the local index is built from the NBIA APIs, not the legacy one: use --api v4 (the default), v1 or v2",
        ));
    }
    Ok(())
}

/// Open the selected server's index for answering, with a warning when it is old.
pub fn open_for_answers(ctx: &Ctx) -> anyhow::Result<Index> {
    refuse_legacy(ctx)?;
    let path = index_path(ctx)?;
    let build = if ctx.api == crate::api::catalogue::Api::V4 {
        "tcia index update".to_string()
    } else {
        format!("tcia --api {} index update", ctx.api.as_str())
    };
    if !path.exists() {
        return Err(usage(format!(
            "no local index for {} (--api {}) at {}; build it with `{build}`",
            ctx.client.settings.base,
            ctx.api.as_str(),
            path.display()
        )));
    }
    let ix = Index::open(&path)?;
    let info = ix.info()?;
    if let Some(days) = store::age_days(&info, now_unix()).filter(|d| *d > STALE_DAYS) {
        ctx.printer.warn(&format!(
            "the index was last updated {days} days ago ({}); refresh it with `{build}`",
            info.updated_at
        ));
    }
    Ok(ix)
}

pub async fn run(ctx: &Ctx, c: &IndexCommand) -> anyhow::Result<()> {
    match c {
        IndexCommand::Update(a) => update_index(ctx, a).await,
        IndexCommand::Status => status(ctx),
    }
}

async fn update_index(ctx: &Ctx, a: &IndexUpdateArgs) -> anyhow::Result<()> {
    refuse_legacy(ctx)?;
    if ctx.v2_without_login() {
        return Err(usage(
            "tcia --api v2 index update needs a login (v2 answers an empty list without one): run `tcia login` first, or use --api v4 for public data",
        ));
    }
    let path = index_path(ctx)?;
    let src = Source {
        client: &ctx.client,
        api: ctx.api,
    };
    let counter = crate::progress::counter(&ctx.printer, "index");
    let report = |table: &str, rows: u64| counter.set(table, rows);
    let out = update(&src, &path, a.full, a.metadata, &report).await;
    counter.finish();
    let out = out?;
    let line = if out.full {
        format!(
            "index built: {} series ({} new, {} no longer listed, removed), {} patients, {} studies -> {}",
            out.series,
            out.added,
            out.removed,
            out.patients,
            out.studies,
            path.display()
        )
    } else {
        format!(
            "index updated: {} series changed since {} ({} new), {} series in all -> {}",
            out.received,
            out.since.map_or("?".into(), |d| d.to_string()),
            out.added,
            out.series,
            path.display()
        )
    };
    ctx.printer.info(&line);
    let phases: Vec<String> = out
        .phases
        .iter()
        .map(|(what, took)| format!("{what} {:.2} s", took.as_secs_f64()))
        .collect();
    if !phases.is_empty() {
        ctx.printer
            .debug(1, &format!("index build: {}", phases.join("; ")));
    }
    Ok(())
}

/// `tcia index status`: one row per index file.
fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let cols = [
        "server",
        "api",
        "rows",
        "collections",
        "updated_at",
        "size",
        "path",
    ];
    let columns = Columns {
        known: cols.iter().map(|s| s.to_string()).collect(),
        fields: ctx.fields.clone(),
    };
    let mut sink = output::sink(ctx.format, columns, ctx.stdout(), ctx.width);
    let files = store::all(&cache_dir(ctx)?);
    for path in &files {
        let mut row = Row::new();
        match Index::open(path).and_then(|ix| Ok((ix.info()?, ix.collections()?))) {
            Ok((info, colls)) => {
                row.insert("server".into(), Value::from(info.server));
                row.insert("api".into(), Value::from(info.api));
                row.insert("rows".into(), Value::from(info.rows));
                row.insert("collections".into(), Value::from(colls));
                row.insert("updated_at".into(), Value::from(info.updated_at));
            }
            Err(e) => ctx.printer.warn(&format!("{e:#}")),
        }
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        row.insert("size".into(), Value::from(size));
        row.insert("path".into(), Value::from(path.display().to_string()));
        sink.row(row).context("writing output")?;
    }
    sink.finish().context("writing output")?;
    if files.is_empty() {
        ctx.printer
            .info("no index yet: `tcia index update` builds one for the selected server");
    } else if ctx.format == output::Format::Table {
        let total: u64 = files
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        ctx.printer.info(&format!(
            "{} index file(s), {}",
            files.len(),
            human_bytes(total)
        ));
    }
    Ok(())
}

/// `tcia query SQL`: the rows of one read-only statement, in the chosen format.
pub fn query(ctx: &Ctx, statement: &str) -> anyhow::Result<()> {
    let ix = open_for_answers(ctx)?;
    query_on(ctx, &ix, statement)
}

/// One read-only statement on an open index.
pub fn query_on(ctx: &Ctx, ix: &Index, statement: &str) -> anyhow::Result<()> {
    let mut q = sql::prepare(ix, statement)?;
    let columns = Columns {
        known: q.columns(),
        fields: ctx.fields.clone(),
    };
    let mut sink = output::sink(ctx.format, columns, ctx.stdout(), ctx.width);
    q.for_each(&mut |row| sink.row(row).context("writing output"))?;
    sink.finish().context("writing output")?;
    Ok(())
}

pub use answer::{answers, combinations};
