//! `series-metadata`: v4 POSTs getSeriesMetadata (CSV) in batches of at most 10,000 UIDs;
//! v1/v2 GET getSeriesMetaData once per UID, several at a time, rows kept in input order.

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use super::query::{columns, reject_html};
use super::Ctx;
use crate::catalogue::{self as cat, Api};
use crate::client::Request;
use crate::error::{usage, Error};
use crate::output::{self, Row};

/// UIDs per POST (the server's documented comfortable maximum).
pub const BATCH: usize = 10_000;
/// Concurrent per-UID requests on v1/v2.
const IN_FLIGHT: usize = 8;

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
    let path = route.path.url_path(ctx.api);
    let mut sink = output::sink(ctx.format, cols, ctx.stdout(), ctx.width);
    if ctx.api == Api::V4 {
        for batch in uids.chunks(BATCH) {
            let req = Request::post_form(path.clone(), vec![("list".into(), batch.join(","))]);
            for row in fetch_csv(ctx, &req).await? {
                sink.row(row).context("writing output")?;
            }
        }
    } else {
        let mut results = stream::iter(uids.iter().cloned())
            .map(|uid| {
                let req = Request::get(
                    path.clone(),
                    vec![("SeriesInstanceUID".into(), uid.clone())],
                );
                async move { (uid, fetch_json(ctx, &req).await) }
            })
            .buffered(IN_FLIGHT);
        while let Some((uid, rows)) = results.next().await {
            let rows = rows?;
            if rows.is_empty() {
                ctx.printer.warn(&format!(
                    "no metadata for series {uid} (unknown, or not accessible with this API)"
                ));
            }
            for row in rows {
                sink.row(row).context("writing output")?;
            }
        }
    }
    sink.finish().context("writing output")?;
    Ok(())
}

async fn body(ctx: &Ctx, req: &Request) -> anyhow::Result<(reqwest::Url, u16, Vec<u8>)> {
    let url = ctx.client.url_for(req);
    let resp = ctx.client.send(req).await?;
    reject_html(&resp, &url)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| {
        ctx.client
            .transport_error(if req.post { "POST" } else { "GET" }, &url, e)
    })?;
    Ok((url, status, bytes.to_vec()))
}

/// v4: a quoted CSV document, one row per series; every value stays a string.
pub async fn fetch_csv(ctx: &Ctx, req: &Request) -> anyhow::Result<Vec<Row>> {
    let (url, _, bytes) = body(ctx, req).await?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let bad = |e: csv::Error| Error::BadResponse {
        url: url.to_string(),
        message: format!("invalid CSV in the response: {e}"),
    };
    let header = rdr.headers().map_err(bad)?.clone();
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(bad)?;
        let mut row = Row::new();
        for (k, v) in header.iter().zip(rec.iter()) {
            row.insert(k.to_string(), Value::String(v.to_string()));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// v1/v2: a one-element JSON array (sometimes a bare object); 204 or an empty body for unknown.
pub async fn fetch_json(ctx: &Ctx, req: &Request) -> anyhow::Result<Vec<Row>> {
    let (url, status, bytes) = body(ctx, req).await?;
    if status == 204 || bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadResponse {
        url: url.to_string(),
        message: format!("invalid JSON in the response: {e}"),
    })?;
    Ok(match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect(),
        Value::Object(m) => vec![m],
        _ => Vec::new(),
    })
}
