//! `series-metadata`: getSeriesMetadata rows for the given UIDs (fetched by `api::metadata`),
//! rendered in the chosen format.

use anyhow::Context as _;

use super::query::columns;
use crate::api::catalogue::{self as cat, Api};
use crate::api::metadata;
use crate::context::Ctx;
use crate::error::usage;
use crate::output::{self, cell, Columns, Row, RowSink};
use crate::uid::unknown_series;

pub async fn run(ctx: &Ctx, uids: &[String]) -> anyhow::Result<()> {
    if uids.is_empty() {
        return Err(usage(
            "series-metadata: no series UIDs given (arguments, or - for stdin)",
        ));
    }
    if ctx.raw.is_some() {
        return Err(usage(
            "--raw is not available for series-metadata; use --format csv",
        ));
    }
    let route = cat::SERIES_METADATA.route(ctx.api).map_err(usage)?;
    let cols = columns(ctx, &cat::SERIES_METADATA, route)?;
    ctx.warn_v2_without_login();
    let make = |known: Vec<String>| {
        let cols = Columns {
            known,
            fields: cols.fields.clone(),
        };
        output::sink(ctx.format, cols, ctx.stdout(), ctx.width)
    };
    // v4 answers CSV with a header of its own, which has changed between server versions:
    // its columns are the output's, in its order. v1/v2 leave null keys out: the catalogue's.
    let mut sink: Option<Box<dyn RowSink>> = None;
    let mut batches = uids.chunks(metadata::BATCH);
    metadata::for_each(&ctx.client, ctx.api, uids, &mut |uid, rows| {
        if let (Some(uid), true) = (uid, rows.is_empty()) {
            ctx.printer.warn(&unknown_series(uid));
        }
        if sink.is_none() && !rows.is_empty() {
            sink = Some(match ctx.api {
                Api::V4 => make(rows[0].keys().cloned().collect()),
                _ => make(cols.known.clone()),
            });
        }
        if uid.is_none() {
            // v4: one call per batch of UIDs, in order.
            let asked = batches.next().unwrap_or_default();
            for u in missing(asked, &rows) {
                ctx.printer.warn(&unknown_series(u));
            }
        }
        for row in rows {
            if let Some(sink) = sink.as_mut() {
                sink.row(row).context("writing output")?;
            }
        }
        Ok(())
    })
    .await?;
    // No rows: the header of the catalogue's columns.
    let mut sink = sink.unwrap_or_else(|| make(cols.known.clone()));
    sink.finish().context("writing output")?;
    super::query::table_footer(ctx, sink.left_out());
    Ok(())
}

/// The UID column of a v4 CSV row, whatever its server version calls it.
const UID_COLUMNS: [&str; 3] = ["SeriesInstanceUID", "Series Instance UID", "Series UID"];

/// The requested UIDs that no row answers.
fn missing<'a>(asked: &'a [String], rows: &[Row]) -> Vec<&'a String> {
    let got: std::collections::HashSet<String> = rows
        .iter()
        .filter_map(|r| UID_COLUMNS.iter().find_map(|c| r.get(*c)))
        .map(|v| cell(Some(v)).into_owned())
        .collect();
    if got.is_empty() && !rows.is_empty() {
        // No UID column that we know: nothing to compare.
        return Vec::new();
    }
    asked.iter().filter(|u| !got.contains(*u)).collect()
}
