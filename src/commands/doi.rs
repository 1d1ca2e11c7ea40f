//! `tcia doi DOI`: the collections or series a DOI describes (v4 getCollectionOrSeriesForDOI),
//! and the series of a DOI as a download/sync selection (`--doi`).
//!
//! The server compares the form value with each series' stored DataDescriptionURI exactly, so
//! a bare DOI never matches: tcia sends `https://doi.org/<doi>`, then the older
//! `http://dx.doi.org/<doi>` form, before saying that none matched.

use anyhow::Context as _;

use crate::api::catalogue as cat;
use crate::api::client::Request;
use crate::api::rows::stream_rows;
use crate::cli::{DoiArgs, DoiLevel};
use crate::context::Ctx;
use crate::error::{usage, Error};
use crate::output::{self, Columns, Row};

/// The DOI itself (`10.7937/...`) from any of the accepted spellings.
pub fn bare_doi(s: &str) -> anyhow::Result<String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let mut rest = t;
    for prefix in [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "http://dx.doi.org/",
        "doi:",
    ] {
        if lower.starts_with(prefix) {
            rest = t[prefix.len()..].trim_start();
            break;
        }
    }
    let ok = rest.starts_with("10.")
        && rest.split_once('/').is_some_and(|(reg, suffix)| {
            reg.len() > 3
                && reg[3..].bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && !suffix.is_empty()
        })
        && !rest.chars().any(char::is_whitespace);
    if !ok {
        return Err(usage(format!(
            "'{s}' is not a DOI: expected 10.7937/..., doi:10.7937/... or https://doi.org/10.7937/..."
        )));
    }
    Ok(rest.to_string())
}

/// The stored DataDescriptionURI forms to try, in order.
pub fn uri_forms(doi: &str) -> [String; 2] {
    [
        format!("https://doi.org/{doi}"),
        format!("http://dx.doi.org/{doi}"),
    ]
}

/// The rows for a DOI: the first URI form that matches anything, and that form; empty rows when
/// none matched.
pub async fn rows_for(ctx: &Ctx, doi: &str, level: DoiLevel) -> anyhow::Result<(Vec<Row>, String)> {
    let route = cat::DOI.route(ctx.api).map_err(usage)?;
    let path = route.path.url_path(ctx.api);
    let level = match level {
        DoiLevel::Series => "Series",
        DoiLevel::Collection => "Collection",
    };
    let forms = uri_forms(&bare_doi(doi)?);
    for uri in &forms {
        let req = Request::post_form(
            path.clone(),
            vec![
                ("DOI".into(), uri.clone()),
                ("CollectionOrSeries".into(), level.into()),
            ],
        );
        let mut rows = Vec::new();
        stream_rows(&ctx.client, &req, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .await?;
        if !rows.is_empty() {
            return Ok((rows, uri.clone()));
        }
    }
    Ok((Vec::new(), forms[0].clone()))
}

/// `tcia doi`. The json keys are the server's (`thirdPartyAnanlysis` included); csv and tsv
/// columns are clean names.
pub async fn run(ctx: &Ctx, a: &DoiArgs) -> anyhow::Result<()> {
    if ctx.raw.is_some() {
        return Err(usage("--raw is not available for doi; use --format json"));
    }
    let (rows, uri) = rows_for(ctx, &a.doi, a.level).await?;
    if rows.is_empty() {
        ctx.printer.warn(&format!(
            "no collection or series cites {uri} (nor its http://dx.doi.org/ form)"
        ));
    } else {
        ctx.printer
            .debug(1, &format!("matched DataDescriptionURI {uri}"));
    }
    let plain = !matches!(ctx.format, output::Format::Json | output::Format::Ndjson);
    let keys: &[&str] = match a.level {
        DoiLevel::Series => &[
            "collection",
            "seriesInstanceUID",
            "thirdPartyAnanlysis",
            "authorized",
        ],
        DoiLevel::Collection => &["collection", "thirdPartyAnanlysis", "authorized"],
    };
    let names: Vec<String> = keys
        .iter()
        .map(|k| if plain { clean_name(k) } else { k.to_string() })
        .collect();
    let cols = Columns {
        known: names.clone(),
        fields: None,
    };
    let mut sink = output::sink(ctx.format, cols, ctx.stdout(), ctx.width);
    for r in rows {
        let mut out = Row::new();
        for (k, n) in keys.iter().zip(&names) {
            if let Some(v) = r.get(*k) {
                out.insert(n.clone(), v.clone());
            }
        }
        sink.row(out).context("writing output")?;
    }
    sink.finish().context("writing output")?;
    Ok(())
}

/// The csv column for a server key.
fn clean_name(key: &str) -> String {
    match key {
        "collection" => "Collection",
        "seriesInstanceUID" => "SeriesInstanceUID",
        "thirdPartyAnanlysis" => "ThirdPartyAnalysis",
        "authorized" => "Authorized",
        other => other,
    }
    .to_string()
}

/// `download --doi` / `sync --doi`: the series UIDs of a DOI; a DOI that matches nothing is a
/// usage error (exit 2), as a misspelt collection is.
pub async fn series_of(ctx: &Ctx, doi: &str) -> anyhow::Result<Vec<String>> {
    let (rows, uri) = rows_for(ctx, doi, DoiLevel::Series).await?;
    let uids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get("seriesInstanceUID")?.as_str().map(str::to_string))
        .collect();
    if uids.is_empty() {
        return Err(Error::Usage(format!(
            "--doi {doi}: no series cites {uri} (nor its http://dx.doi.org/ form) on this server"
        ))
        .into());
    }
    ctx.printer
        .info(&format!("--doi {doi}: {} series", uids.len()));
    Ok(uids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doi_spellings() {
        for s in [
            "10.7937/K9/TCIA.2015.LO9QL9SX",
            "doi:10.7937/K9/TCIA.2015.LO9QL9SX",
            "https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX",
            "HTTP://DX.DOI.ORG/10.7937/K9/TCIA.2015.LO9QL9SX",
        ] {
            assert_eq!(bare_doi(s).unwrap(), "10.7937/K9/TCIA.2015.LO9QL9SX", "{s}");
        }
        for s in ["LIDC-IDRI", "10.7937", "https://example.org/x", "11.1/x"] {
            assert!(bare_doi(s).is_err(), "{s}");
        }
    }
}
