//! The one generic query path: catalogue route → wire parameters (one request per combination
//! of repeated filters) → streamed JSON rows → transform → renderer.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Write;

use anyhow::Context as _;
use serde_json::Value;

use super::Ctx;
use crate::catalogue::{Api, Endpoint, Param, Route};
use crate::client::Request;
use crate::dates::Date;
use crate::error::{usage, Error};
use crate::output::{self, Columns, Row};
use crate::stream::ArraySplitter;

/// A metadata query as typed: an endpoint and logical parameters.
pub struct Query {
    pub endpoint: &'static Endpoint,
    pub params: Vec<(Param, Vec<String>)>,
    pub transform: Transform,
}

/// Per-endpoint adjustments to rows.
#[derive(Copy, Clone, Debug)]
pub enum Transform {
    None,
    /// Counts endpoints: normalise `{criteria, count:"12"}` and `{Name, Count}` to `{key, Count}`.
    Counts {
        key: &'static str,
    },
    /// getCollectionDescriptions: HTML description to text unless `--html`.
    Descriptions {
        keep_html: bool,
    },
}

pub async fn run(ctx: &Ctx, q: Query) -> anyhow::Result<()> {
    let route = q.endpoint.route(ctx.api).map_err(usage)?;
    let combos = plan(ctx.api, q.endpoint, route, &q.params)?;
    let path = route.path.url_path(ctx.api);
    if let Some(raw) = ctx.raw {
        if combos.len() != 1 {
            return Err(usage(
                "--raw sends exactly one request: give each filter flag once",
            ));
        }
        let mut query = combos.into_iter().next().unwrap_or_default();
        query.retain(|(k, _)| k != "format");
        query.push(("format".into(), raw.as_str().into()));
        return raw_passthrough(ctx, &Request::get(path, query)).await;
    }
    let columns = columns(ctx, q.endpoint, route)?;
    let mut sink = output::sink(ctx.format, columns, ctx.stdout(), ctx.width);
    let mut seen: Option<HashSet<u64>> = (combos.len() > 1).then(HashSet::new);
    let mut rows = 0u64;
    let mut empty_rows = 0u64;
    for query in combos {
        let req = Request::get(path.clone(), query);
        stream_rows(ctx, &req, &mut |row| {
            let row = apply(q.transform, row);
            if let Some(seen) = seen.as_mut() {
                if !seen.insert(row_hash(&row)) {
                    return Ok(());
                }
            }
            rows += 1;
            if row.is_empty() {
                empty_rows += 1;
            }
            sink.row(row).context("writing output")
        })
        .await?;
    }
    sink.finish().context("writing output")?;
    if rows > 0 && empty_rows == rows && route.columns.len() > 1 {
        // getSeriesSize answers an unknown series with one row of nothing: say so.
        ctx.printer.warn(
            "the server answered with empty rows only: it probably knows no such series or item",
        );
    }
    let dropped = sink.dropped_keys();
    if !dropped.is_empty() {
        ctx.printer.warn(&format!(
            "column(s) {} first appeared after the header was written and are not in this output; use --format json, or --fields",
            dropped.join(", ")
        ));
    }
    if rows == 0 && ctx.format == output::Format::Table {
        ctx.printer.info("no rows");
    }
    if rows == 0 && ctx.api == Api::V2 {
        ctx.printer.warn(
            "no rows: the v2 API also answers an empty result when no valid token is sent; public data needs no login: try --api v4",
        );
    }
    ctx.printer.debug(1, &format!("{rows} row(s)"));
    Ok(())
}

/// Turn logical parameters into wire query strings: one per combination of repeated values.
pub fn plan(
    api: Api,
    endpoint: &Endpoint,
    route: &Route,
    params: &[(Param, Vec<String>)],
) -> anyhow::Result<Vec<Vec<(String, String)>>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (param, values) in params {
        if values.is_empty() {
            continue;
        }
        let Some(wire) = route.wire(*param) else {
            let takes: Vec<&str> = route.params.iter().map(|w| w.param.flag()).collect();
            return Err(usage(format!(
                "{} is not accepted by {} with --api {}; it takes {}",
                param.flag(),
                endpoint.name,
                api.as_str(),
                if takes.is_empty() {
                    "no filters".to_string()
                } else {
                    takes.join(", ")
                }
            )));
        };
        let mut wire_values = Vec::new();
        for v in values {
            let v = v.trim();
            if v.is_empty() {
                return Err(usage(format!("{} needs a value", param.flag())));
            }
            wire_values.push(match wire.date {
                Some(fmt) => Date::parse_iso(v).map_err(usage)?.format(fmt),
                None => v.to_string(),
            });
        }
        let mut seen = HashSet::new();
        wire_values.retain(|v| seen.insert(v.clone()));
        combos = combos
            .into_iter()
            .flat_map(|c| {
                wire_values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((wire.name.to_string(), v.clone()));
                    c
                })
            })
            .collect();
    }
    for req in route.required {
        let given = params.iter().any(|(p, v)| p == req && !v.is_empty());
        if !given {
            return Err(usage(format!("{} requires {}", endpoint.name, req.flag())));
        }
    }
    if api == Api::Legacy {
        for c in &mut combos {
            c.push(("format".into(), "json".into()));
        }
    }
    Ok(combos)
}

/// The renderer's columns: the route's known columns, or `--fields` checked against them.
pub fn columns(ctx: &Ctx, endpoint: &Endpoint, route: &Route) -> anyhow::Result<Columns> {
    let known: Vec<String> = route.columns.iter().map(|s| s.to_string()).collect();
    if let Some(fields) = &ctx.fields {
        if !known.is_empty() {
            for f in fields {
                if !known.contains(f) {
                    let hint = known
                        .iter()
                        .find(|k| k.eq_ignore_ascii_case(f))
                        .map(|k| format!(" (did you mean {k}?)"))
                        .unwrap_or_default();
                    return Err(usage(format!(
                        "--fields: unknown column '{f}'{hint} for {} with --api {}; valid: {}",
                        endpoint.name,
                        ctx.api.as_str(),
                        known.join(",")
                    )));
                }
            }
        }
    }
    Ok(Columns {
        known,
        fields: ctx.fields.clone(),
    })
}

/// Send a request and hand each row of the JSON array response to `on_row` as it arrives.
pub async fn stream_rows(
    ctx: &Ctx,
    req: &Request,
    on_row: &mut dyn FnMut(Row) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let url = ctx.client.url_for(req);
    let mut resp = ctx.client.send(req).await?;
    reject_html(&resp, &url)?;
    let mut splitter = ArraySplitter::new();
    let mut handle = |bytes: &[u8]| -> anyhow::Result<()> { on_row(parse_row(bytes, &url)?) };
    loop {
        let chunk = resp.chunk().await.map_err(|e| {
            ctx.client
                .transport_error(if req.post { "POST" } else { "GET" }, &url, e)
        })?;
        let Some(chunk) = chunk else { break };
        splitter
            .feed(&chunk, &mut handle)
            .map_err(|e| bad_response(&url, e))?;
    }
    splitter
        .finish(&mut handle)
        .map_err(|e| bad_response(&url, e))?;
    Ok(())
}

fn bad_response(url: &reqwest::Url, e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<crate::stream::SplitError>() {
        Ok(split) => Error::BadResponse {
            url: url.to_string(),
            message: crate::printer::escape_control(&split.to_string()),
        }
        .into(),
        Err(other) => other,
    }
}

/// A 200 with an HTML page (a proxy's error page) is an error, not data.
pub fn reject_html(resp: &reqwest::Response, url: &reqwest::Url) -> Result<(), Error> {
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.contains("text/html") {
        return Err(Error::BadResponse {
            url: url.to_string(),
            message:
                "the server sent an HTML page instead of data (an outage or a proxy login page?)"
                    .into(),
        });
    }
    Ok(())
}

fn parse_row(bytes: &[u8], url: &reqwest::Url) -> anyhow::Result<Row> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::BadResponse {
        url: url.to_string(),
        message: format!("invalid JSON in the response: {e}"),
    })?;
    Ok(match v {
        Value::Object(m) => m,
        other => {
            let mut m = Row::new();
            m.insert("value".into(), other);
            m
        }
    })
}

fn apply(t: Transform, row: Row) -> Row {
    match t {
        Transform::None => row,
        Transform::Counts { key } => normalise_count(row, key),
        Transform::Descriptions { keep_html } => {
            if keep_html {
                return row;
            }
            let mut row = row;
            if let Some(Value::String(h)) = row.get_mut("description") {
                *h = crate::html::to_text(h);
            }
            row
        }
    }
}

/// `{criteria:"CT", count:"12"}` (advanced API) or `{BodyPart:"CT", Count:12, Authorized:1}`
/// (v4) → `{<key>:"CT", Count:12, ...rest}`.
pub fn normalise_count(row: Row, key: &str) -> Row {
    let mut out = Row::new();
    let mut rest = Row::new();
    for (k, v) in row {
        match k.as_str() {
            "criteria" | "Collection" | "Modality" | "BodyPart" | "BodyPartExamined"
            | "Manufacturer"
                if !out.contains_key(key) =>
            {
                out.insert(key.to_string(), v);
            }
            "count" | "Count" => {
                let n = match &v {
                    Value::String(s) => s.trim().parse::<u64>().map(Value::from).unwrap_or(v),
                    _ => v,
                };
                rest.insert("Count".into(), n);
            }
            _ => {
                rest.insert(k, v);
            }
        }
    }
    if let Some(c) = rest.shift_remove("Count") {
        out.insert("Count".into(), c);
    }
    out.extend(rest);
    out
}

fn row_hash(row: &Row) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(row).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// `--raw`: the server's bytes, untouched, to stdout.
async fn raw_passthrough(ctx: &Ctx, req: &Request) -> anyhow::Result<()> {
    let url = ctx.client.url_for(req);
    let mut resp = ctx.client.send(req).await?;
    let mut out = ctx.stdout();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ctx.client.transport_error("GET", &url, e))?
    {
        out.write_all(&chunk).context("writing output")?;
    }
    out.flush().context("writing output")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue as cat;

    fn p(v: &[(Param, &[&str])]) -> Vec<(Param, Vec<String>)> {
        v.iter()
            .map(|(p, vs)| (*p, vs.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn spelling_and_dates_per_version() {
        let params = p(&[(Param::Collection, &["X"]), (Param::Since, &["2024-03-07"])]);
        let v4 = plan(
            Api::V4,
            &cat::NEW_PATIENTS,
            cat::NEW_PATIENTS.route(Api::V4).unwrap(),
            &params,
        )
        .unwrap();
        assert_eq!(
            v4,
            vec![vec![
                ("Collection".into(), "X".into()),
                ("fromDate".into(), "03-07-2024".into())
            ]]
        );
        let v1 = plan(
            Api::V1,
            &cat::NEW_PATIENTS,
            cat::NEW_PATIENTS.route(Api::V1).unwrap(),
            &params,
        )
        .unwrap();
        assert_eq!(
            v1,
            vec![vec![
                ("Collection".into(), "X".into()),
                ("Date".into(), "2024/03/07".into())
            ]]
        );
        let upd = p(&[(Param::Since, &["2024-03-07"])]);
        let v1u = plan(
            Api::V1,
            &cat::UPDATED_SERIES,
            cat::UPDATED_SERIES.route(Api::V1).unwrap(),
            &upd,
        )
        .unwrap();
        assert_eq!(v1u[0][0].1, "07/03/2024");
    }

    #[test]
    fn repeated_values_multiply() {
        let params = p(&[
            (Param::Collection, &["A", "B"]),
            (Param::Modality, &["CT", "MR"]),
        ]);
        let combos = plan(
            Api::V4,
            &cat::SERIES,
            cat::SERIES.route(Api::V4).unwrap(),
            &params,
        )
        .unwrap();
        assert_eq!(combos.len(), 4);
    }

    #[test]
    fn unsupported_flag_is_usage_error() {
        let params = p(&[(Param::BodyPart, &["CHEST"])]);
        let err = plan(
            Api::Legacy,
            &cat::SERIES,
            cat::SERIES.route(Api::Legacy).unwrap(),
            &params,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("--body-part is not accepted by getSeries with --api legacy"),
            "{err}"
        );
    }

    #[test]
    fn counts_normalised() {
        let old: Row = serde_json::from_str(r#"{"criteria":"CHEST","count":"298"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&normalise_count(old, "BodyPartExamined")).unwrap(),
            r#"{"BodyPartExamined":"CHEST","Count":298}"#
        );
        let v4: Row =
            serde_json::from_str(r#"{"BodyPart":"CHEST","Count":3,"Authorized":1}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&normalise_count(v4, "BodyPartExamined")).unwrap(),
            r#"{"BodyPartExamined":"CHEST","Count":3,"Authorized":1}"#
        );
    }
}
