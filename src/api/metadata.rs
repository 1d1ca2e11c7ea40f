//! getSeriesMetadata, the one copy: v4 POSTs the UIDs in batches of at most 10,000 and answers
//! with CSV; v1/v2 GET getSeriesMetaData once per UID (several at a time, answers kept in input
//! order) and answer with JSON.

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use super::catalogue::{self as cat, Api};
use super::client::{Client, Request};
use super::rows::reject_html;
use crate::error::{usage, Error};
use crate::output::Row;

/// UIDs per POST (the server's documented comfortable maximum).
pub const BATCH: usize = 10_000;
/// Concurrent per-UID requests on v1/v2.
const IN_FLIGHT: usize = 8;

/// What hears of a UID whose lookup failed (its UID and the error's message).
pub type OnError<'a> = dyn FnMut(&str, String) + 'a;

/// What receives the rows of one batch (v4, `None`) or one UID (v1/v2).
pub type OnRows<'a> = dyn FnMut(Option<&str>, Vec<Row>) -> anyhow::Result<()> + 'a;

/// Fetch metadata for `uids`, handing rows to `on_rows` as they come: per batch on v4 (with
/// `None`), per UID on v1/v2 (with `Some(uid)`, also when the server knows none). The first
/// failed lookup ends it.
pub async fn for_each(
    client: &Client,
    api: Api,
    uids: &[String],
    on_rows: &mut OnRows<'_>,
) -> anyhow::Result<()> {
    fetch(client, api, uids, Sink::Batches(on_rows), None).await
}

/// As [`for_each`], except that on v1/v2 a UID whose lookup fails goes to `on_error` (with
/// the error's message) and the others go on: one bad series does not end a download.
pub async fn for_each_lenient(
    client: &Client,
    api: Api,
    uids: &[String],
    on_rows: &mut OnRows<'_>,
    on_error: &mut OnError<'_>,
) -> anyhow::Result<()> {
    fetch(client, api, uids, Sink::Batches(on_rows), Some(on_error)).await
}

/// As [`for_each_lenient`], one row at a time: a v4 batch's CSV is read row by row and never
/// held as 10,000 rows (for callers that keep a little of each row, such as a download plan).
pub async fn for_each_row_lenient(
    client: &Client,
    api: Api,
    uids: &[String],
    on_row: &mut OnRow<'_>,
    on_error: &mut OnError<'_>,
) -> anyhow::Result<()> {
    fetch(client, api, uids, Sink::Rows(on_row), Some(on_error)).await
}

/// What receives rows one at a time.
pub type OnRow<'a> = dyn FnMut(Row) -> anyhow::Result<()> + 'a;

/// Where the rows go: in batches (one call per v4 batch or v1/v2 UID), or one by one.
enum Sink<'a, 'b> {
    Batches(&'a mut OnRows<'b>),
    Rows(&'a mut OnRow<'b>),
}

/// The one lookup loop: v4 batches, or v1/v2 per UID, failures ending it or going to
/// `on_error`.
async fn fetch(
    client: &Client,
    api: Api,
    uids: &[String],
    mut sink: Sink<'_, '_>,
    mut on_error: Option<&mut OnError<'_>>,
) -> anyhow::Result<()> {
    let route = cat::SERIES_METADATA.route(api).map_err(usage)?;
    let path = route.path.url_path(api);
    if api == Api::V4 {
        for batch in uids.chunks(BATCH) {
            let req = Request::post_form(path.clone(), vec![("list".into(), batch.join(","))]);
            match &mut sink {
                Sink::Batches(on_rows) => on_rows(None, fetch_csv(client, &req).await?)?,
                Sink::Rows(on_row) => each_csv_row(client, &req, on_row).await?,
            }
        }
        return Ok(());
    }
    let mut results = stream::iter(uids.iter().cloned())
        .map(|uid| {
            let req = Request::get(
                path.clone(),
                vec![("SeriesInstanceUID".into(), uid.clone())],
            );
            async move { (uid, fetch_json(client, &req).await) }
        })
        .buffered(IN_FLIGHT);
    while let Some((uid, rows)) = results.next().await {
        match (rows, on_error.as_mut()) {
            (Ok(rows), _) => match &mut sink {
                Sink::Batches(on_rows) => on_rows(Some(&uid), rows)?,
                Sink::Rows(on_row) => rows.into_iter().try_for_each(&mut **on_row)?,
            },
            (Err(e), Some(on_error)) => on_error(&uid, format!("{e:#}")),
            (Err(e), None) => return Err(e),
        }
    }
    Ok(())
}

async fn body(client: &Client, req: &Request) -> anyhow::Result<(reqwest::Url, u16, Vec<u8>)> {
    let url = client.url_for(req);
    let resp = client.send(req).await?;
    reject_html(&resp, &url)?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| client.transport_error(req.method(), &url, e))?;
    Ok((url, status, bytes.to_vec()))
}

/// v4: a quoted CSV document, one row per series; every value stays a string.
async fn fetch_csv(client: &Client, req: &Request) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    each_csv_row(client, req, &mut |r| {
        rows.push(r);
        Ok(())
    })
    .await?;
    Ok(rows)
}

/// v4, one row at a time: the rows of [`fetch_csv`], in order.
async fn each_csv_row(
    client: &Client,
    req: &Request,
    on_row: &mut OnRow<'_>,
) -> anyhow::Result<()> {
    let (url, _, bytes) = body(client, req).await?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let bad = |e: csv::Error| Error::BadResponse {
        url: url.to_string(),
        message: format!("invalid CSV in the response: {e}"),
    };
    let header = rdr.headers().map_err(bad)?.clone();
    for rec in rdr.records() {
        let rec = rec.map_err(bad)?;
        let mut row = Row::new();
        for (k, v) in header.iter().zip(rec.iter()) {
            row.insert(k.to_string(), Value::String(v.to_string()));
        }
        on_row(row)?;
    }
    Ok(())
}

/// v1/v2: a one-element JSON array (sometimes a bare object); 204 or an empty body for unknown.
async fn fetch_json(client: &Client, req: &Request) -> anyhow::Result<Vec<Row>> {
    let (url, status, bytes) = body(client, req).await?;
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
