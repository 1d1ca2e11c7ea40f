//! `series-metadata`: getSeriesMetadata rows for the given UIDs (fetched by `api::metadata`),
//! rendered in the chosen format.

use anyhow::Context as _;

use super::query::columns;
use crate::api::catalogue as cat;
use crate::api::metadata;
use crate::context::Ctx;
use crate::error::usage;
use crate::output;

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
    let mut sink = output::sink(ctx.format, cols, ctx.stdout(), ctx.width);
    metadata::for_each(&ctx.client, ctx.api, uids, &mut |uid, rows| {
        if let (Some(uid), true) = (uid, rows.is_empty()) {
            ctx.printer.warn(&format!(
                "no metadata for series {uid} (unknown, or not accessible with this API)"
            ));
        }
        for row in rows {
            sink.row(row).context("writing output")?;
        }
        Ok(())
    })
    .await?;
    sink.finish().context("writing output")?;
    super::query::table_footer(ctx, sink.left_out());
    Ok(())
}
