//! `series-metadata`: getSeriesMetadata rows for the given UIDs (fetched by `api::metadata`),
//! rendered in the chosen format.

use anyhow::Context as _;

use super::query::columns;
use crate::api::catalogue::{self as cat, Api};
use crate::api::metadata;
use crate::context::Ctx;
use crate::error::usage;
use crate::output::{self, Columns, RowSink};

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
    metadata::for_each(&ctx.client, ctx.api, uids, &mut |uid, rows| {
        if let (Some(uid), true) = (uid, rows.is_empty()) {
            ctx.printer.warn(&format!(
                "no metadata for series {uid} (unknown, or not accessible with this API)"
            ));
        }
        if sink.is_none() && !rows.is_empty() {
            sink = Some(match ctx.api {
                Api::V4 => make(rows[0].keys().cloned().collect()),
                _ => make(cols.known.clone()),
            });
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
