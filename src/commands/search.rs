//! `search` (getSimpleSearch, paged) and `manifest` (getManifestForSimpleSearch /
//! getManifestText), both driven by the portal's criteria form.

use anyhow::Context as _;
use serde_json::Value;

use super::query::columns;
use crate::api::catalogue as cat;
use crate::api::client::Request;
use crate::api::rows::reject_html;
use crate::cli::{Criteria, ManifestArgs, SearchArgs};
use crate::context::Ctx;
use crate::dates::{Date, DateFmt};
use crate::error::{usage, Error};
use crate::fsutil::write_atomically;
use crate::output::{self, Row};
use crate::uid::uid_args;

/// The criteria as the portal's form fields: `criteriaTypeN` / `valueN` pairs.
pub fn criteria_form(c: &Criteria) -> anyhow::Result<Vec<(String, String)>> {
    let mut form = Vec::new();
    let mut i = 0;
    let mut push = |form: &mut Vec<(String, String)>, kind: &str, value: &str| {
        form.push((format!("criteriaType{i}"), kind.to_string()));
        form.push((format!("value{i}"), value.to_string()));
        i += 1;
    };
    for v in &c.collection {
        push(&mut form, "CollectionCriteria", v);
    }
    for v in &c.modality {
        push(&mut form, "ImageModalityCriteria", v);
    }
    for v in &c.body_part {
        push(&mut form, "AnatomicalSiteCriteria", v);
    }
    for v in &c.manufacturer {
        push(&mut form, "ManufacturerCriteria", v);
    }
    for v in &c.species {
        push(&mut form, "SpeciesCriteria", species_code(v)?);
    }
    for v in &c.patient_id {
        push(&mut form, "PatientCriteria", v);
    }
    if let Some(n) = c.min_studies {
        push(&mut form, "MinNumberOfStudiesCriteria", &n.to_string());
    }
    if c.from.is_some() || c.to.is_some() {
        let from = c.from.unwrap_or(Date {
            year: 1900,
            month: 1,
            day: 1,
        });
        let to = c.to.unwrap_or(Date {
            year: 2100,
            month: 12,
            day: 31,
        });
        if from > to {
            return Err(usage(format!("--from {from} is after --to {to}")));
        }
        form.push((format!("criteriaType{i}"), "DateRangeCriteria".into()));
        form.push((format!("fromDate{i}"), from.format(DateFmt::SlashMdy)));
        form.push((format!("toDate{i}"), to.format(DateFmt::SlashMdy)));
    }
    Ok(form)
}

fn species_code(s: &str) -> anyhow::Result<&str> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "human" | "homo sapiens" => "337915000",
        "mouse" | "mus musculus" => "447612001",
        "dog" | "canis familiaris" => "448771007",
        _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s,
        _ => {
            return Err(usage(format!(
                "--species '{s}': expected human, mouse, dog, or a numeric species code"
            )))
        }
    })
}

pub async fn search(ctx: &Ctx, a: &SearchArgs) -> anyhow::Result<()> {
    if ctx.raw.is_some() {
        return Err(usage(
            "--raw is not available for search; use --format json",
        ));
    }
    let route = cat::SEARCH.route(ctx.api).map_err(usage)?;
    let cols = columns(ctx, &cat::SEARCH, route)?;
    ctx.warn_v2_without_login();
    let path = route.path.url_path(ctx.api);
    let base = criteria_form(&a.criteria)?;
    let size = a.size;
    let mut start = a.start;
    let mut written = 0u64;
    let mut sink = output::sink(ctx.format, cols, ctx.stdout(), ctx.width);
    loop {
        let mut form = base.clone();
        form.push(("start".into(), start.to_string()));
        form.push(("size".into(), size.to_string()));
        let req = Request::post_form(path.clone(), form);
        let (rows, total) = search_page(ctx, &req).await?;
        let n = rows.len() as u64;
        for r in rows {
            if ctx.limit.is_some_and(|l| written >= l) {
                break;
            }
            sink.row(r).context("writing output")?;
            written += 1;
        }
        start += n;
        let enough = ctx.limit.is_some_and(|l| written >= l);
        if !a.all || n == 0 || enough || total.is_some_and(|t| start >= t) {
            if let Some(t) = total {
                ctx.printer.debug(1, &format!("{t} patient(s) match"));
            }
            break;
        }
    }
    sink.finish().context("writing output")?;
    super::query::table_footer(ctx, sink.left_out());
    Ok(())
}

async fn search_page(ctx: &Ctx, req: &Request) -> anyhow::Result<(Vec<Row>, Option<u64>)> {
    let url = ctx.client.url_for(req);
    let resp = ctx.client.send(req).await?;
    reject_html(&resp, &url)?;
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ctx.client.transport_error("POST", &url, e))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok((Vec::new(), Some(0)));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadResponse {
        url: url.to_string(),
        message: format!("invalid JSON in the response: {e}"),
    })?;
    let total = v
        .get("totalPatients")
        .and_then(|t| t.as_u64().or_else(|| t.as_str()?.parse().ok()));
    let rows = match v.get("resultSet") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_object().cloned())
            .collect(),
        _ => Vec::new(),
    };
    Ok((rows, total))
}

pub async fn manifest(ctx: &Ctx, a: &ManifestArgs) -> anyhow::Result<()> {
    let uids = uid_args(&a.series_uid, ctx.env.stdin_tty).await?;
    let criteria = criteria_form(&a.criteria)?;
    let include = if a.no_annotations { "false" } else { "true" };
    let req = if !uids.is_empty() {
        if !criteria.is_empty() {
            return Err(usage(
                "manifest: give either search criteria or --series-uid, not both",
            ));
        }
        let route = cat::MANIFEST_TEXT.route(ctx.api).map_err(usage)?;
        Request::post_form(
            route.path.url_path(ctx.api),
            vec![
                ("list".into(), uids.join(",")),
                ("includeAnnotation".into(), include.into()),
            ],
        )
    } else {
        if criteria.is_empty() {
            return Err(usage(
                "manifest: give search criteria (--collection, --modality, ...) or --series-uid UID (- for stdin)",
            ));
        }
        let route = cat::MANIFEST_SEARCH.route(ctx.api).map_err(usage)?;
        let mut form = criteria;
        form.push(("includeAnnotation".into(), include.into()));
        form.push(("start".into(), "0".into()));
        form.push(("size".into(), "1000000".into()));
        Request::post_form(route.path.url_path(ctx.api), form)
    };
    let url = ctx.client.url_for(&req);
    let resp = ctx.client.send(&req).await?;
    reject_html(&resp, &url)?;
    let text = resp
        .text()
        .await
        .map_err(|e| ctx.client.transport_error("POST", &url, e))?;
    if text.trim().is_empty() {
        ctx.printer.warn("no series matched; no manifest written");
        return Ok(());
    }
    let count = manifest_series_count(&text).ok_or_else(|| Error::BadResponse {
        url: url.to_string(),
        message: "the response is not a .tcia manifest (no ListOfSeriesToDownload= line)".into(),
    })?;
    if a.output.as_os_str() == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).context("writing output")?;
        out.flush().context("writing output")?;
    } else {
        write_atomically(&a.output, text.as_bytes())?;
    }
    if a.output.as_os_str() != "-" {
        ctx.printer
            .info(&format!("wrote {} ({count} series)", a.output.display()));
    }
    Ok(())
}

/// The number of series in a manifest, or None when it is not one.
pub fn manifest_series_count(text: &str) -> Option<usize> {
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.trim().eq_ignore_ascii_case("ListOfSeriesToDownload="))?;
    Some(lines.filter(|l| crate::uid::is_uid(l.trim())).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs() {
        let c = Criteria {
            collection: vec!["A".into(), "B".into()],
            modality: vec!["CT".into()],
            species: vec!["human".into()],
            from: Some(Date {
                year: 2020,
                month: 1,
                day: 2,
            }),
            ..Default::default()
        };
        let f = criteria_form(&c).unwrap();
        let s: Vec<String> = f.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            s.join("&"),
            "criteriaType0=CollectionCriteria&value0=A&criteriaType1=CollectionCriteria&value1=B&\
             criteriaType2=ImageModalityCriteria&value2=CT&criteriaType3=SpeciesCriteria&value3=337915000&\
             criteriaType4=DateRangeCriteria&fromDate4=01/02/2020&toDate4=12/31/2100"
        );
    }

    #[test]
    fn manifest_counting() {
        let m = "downloadServerUrl=x\nListOfSeriesToDownload=\n1.2.3\nSeries ID\n\n1.2.4\n";
        assert_eq!(manifest_series_count(m), Some(2));
        assert_eq!(manifest_series_count("hello"), None);
    }
}
