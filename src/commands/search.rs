//! `search` (getSimpleSearch, paged) and `manifest` (getManifestForSimpleSearch /
//! getManifestText), both driven by the portal's criteria form.

use anyhow::Context as _;
use serde_json::Value;

use super::query::columns;
use crate::api::catalogue::{self as cat, Param};
use crate::api::client::Request;
use crate::api::rows::reject_html;
use crate::cli::{Criteria, ManifestArgs, Phantom, SearchArgs, SortField, YesNo};
use crate::context::Ctx;
use crate::dates::{Date, DateFmt};
use crate::error::{usage, Error};
use crate::fsutil::write_atomically;
use crate::output::{self, Row};
use crate::uid::uid_args;

/// The criteria as v4 SearchUtil reads them: `criteriaType<i>` with `value<i>` (or its own
/// fields: `fromDate<i>`/`toDate<i>` as MM-dd-yyyy, `from<i>`/`to<i>`, `eventType<i>`/
/// `fromDay<i>`/`toDay<i>`), numbered from 0 without gaps (the server stops at the first gap).
pub fn criteria_form(c: &Criteria) -> anyhow::Result<Vec<(String, String)>> {
    let mut f = Form::default();
    let lists: [(&str, &Vec<String>); 10] = [
        ("CollectionCriteria", &c.collection),
        ("ImageModalityCriteria", &c.modality),
        ("AnatomicalSiteCriteria", &c.body_part),
        ("ManufacturerCriteria", &c.manufacturer),
        ("ModelCriteria", &c.model),
        ("SoftwareVersionCriteria", &c.software_version),
        ("PatientSexCriteria", &c.sex),
        ("PatientCriteria", &c.patient_id),
        ("StudyCriteria", &c.study_uid),
        ("SeriesCriteria", &c.series_uid),
    ];
    for (kind, values) in lists {
        for v in values {
            f.value(kind, v);
        }
    }
    for v in &c.species {
        f.value("SpeciesCriteria", species_code(v)?);
    }
    if c.all_modalities {
        f.value("ModalityAndedSearchCriteria", "all");
    }
    if let Some(d) = &c.description {
        f.value("DescriptionCriteria", d);
    }
    if let Some(n) = c.min_studies {
        f.value("MinNumberOfStudiesCriteria", &n.to_string());
    }
    if let Some(n) = c.min_study_dates {
        f.value("MinNumberOfStudyDatesCriteria", &n.to_string());
    }
    flag_criteria(c, &mut f);
    range_criteria(c, &mut f)?;
    Ok(f.pairs)
}

/// The numbered form under construction.
#[derive(Default)]
struct Form {
    pairs: Vec<(String, String)>,
    i: usize,
}

impl Form {
    /// One criterion with its own fields (`fromDate`, `from`, ...), numbered `<i>`.
    fn criterion(&mut self, kind: &str, fields: &[(&str, &str)]) {
        let i = self.i;
        self.pairs
            .push((format!("criteriaType{i}"), kind.to_string()));
        for (k, v) in fields {
            self.pairs.push((format!("{k}{i}"), v.to_string()));
        }
        self.i += 1;
    }
    fn value(&mut self, kind: &str, value: &str) {
        self.criterion(kind, &[("value", value)]);
    }
}

/// Licence, phantom and third-party switches (values as DICOMQueryHandlerImpl compares them).
fn flag_criteria(c: &Criteria, f: &mut Form) {
    if c.exclude_commercial {
        f.value("ExcludeCommercialCriteria", "YES");
    }
    if let Some(p) = c.phantom {
        // PhantomCriteria: "2" phantoms only, "1" exclude phantoms, "0" everything
        let v = match p {
            Phantom::Only => "2",
            Phantom::Exclude => "1",
            Phantom::Include => "0",
        };
        f.value("PhantomCriteria", v);
    }
    if let Some(t) = c.third_party {
        f.value(
            "ThirdPartyAnalysis",
            if t == YesNo::Yes { "YES" } else { "NO" },
        );
    }
}

/// Dates, time points and the numeric ranges.
fn range_criteria(c: &Criteria, f: &mut Form) -> anyhow::Result<()> {
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
        // v4 parses both with SimpleDateFormat("MM-dd-yyyy"); a missing one is a 500.
        let (from, to) = (from.format(DateFmt::DashMdy), to.format(DateFmt::DashMdy));
        f.criterion("DateRangeCriteria", &[("fromDate", &from), ("toDate", &to)]);
    }
    if let Some((event, from, to)) = &c.timepoint {
        let mut fields = vec![("eventType", event.as_str())];
        if !from.is_empty() {
            fields.push(("fromDay", from));
        }
        if !to.is_empty() {
            fields.push(("toDay", to));
        }
        f.criterion("TimePointCriteria", &fields);
    }
    let ranges = [
        ("PatientAgeRangeCriteria", "--age", &c.age),
        (
            "SliceThicknessRangeCriteria",
            "--slice-thickness",
            &c.slice_thickness,
        ),
        (
            "PixelSpacingRangeCriteria",
            "--pixel-spacing",
            &c.pixel_spacing,
        ),
    ];
    for (kind, flag, range) in ranges {
        if let Some((from, to)) = range {
            if from.parse::<f64>().ok() > to.parse::<f64>().ok() {
                return Err(usage(format!("{flag} {from}:{to}: FROM is above TO")));
            }
            f.criterion(kind, &[("from", from), ("to", to)]);
        }
    }
    Ok(())
}

/// The fields every getSimpleSearch / getManifestForSimpleSearch request needs: SearchUtil reads
/// `sortField`, `sortDirection`, `start` and `size` unconditionally (a missing one is a 500).
pub fn paging_fields(c: &Criteria, start: u64, size: u64) -> Vec<(String, String)> {
    let field = match c.sort {
        SortField::Subject => "subject",
        SortField::Collection => "collection",
        // ResultSetSorter's names: "study" / "series" (filtered counts); "studies" is unknown
        SortField::Studies => "study",
        SortField::Series => "series",
    };
    let dir = if c.descending {
        "descending"
    } else {
        "ascending"
    };
    vec![
        ("sortField".into(), field.into()),
        ("sortDirection".into(), dir.into()),
        ("start".into(), start.to_string()),
        ("size".into(), size.to_string()),
    ]
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
    let mut criteria = a.criteria.clone();
    criteria.series_uid = a.series_uid.clone();
    let base = criteria_form(&criteria)?;
    let size = a.size;
    let mut start = a.start;
    let mut rows_out = 0u64;
    let mut written = 0u64;
    let mut sink = output::sink(ctx.format, cols, ctx.stdout(), ctx.width);
    loop {
        let mut form = base.clone();
        form.extend(paging_fields(&criteria, start, size));
        let req = Request::post_form(path.clone(), form);
        let (rows, total) = search_page(ctx, &req).await?;
        let n = rows.len() as u64;
        rows_out += n;
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
    if rows_out == 0 {
        super::selection::warn_unknown(ctx, &named(&criteria)).await;
    }
    super::query::table_footer(ctx, sink.left_out());
    Ok(())
}

/// The criteria whose values the server lists, for the "did you mean" check.
fn named(c: &Criteria) -> Vec<(Param, Vec<String>)> {
    vec![
        (Param::Collection, c.collection.clone()),
        (Param::Modality, c.modality.clone()),
        (Param::BodyPart, c.body_part.clone()),
    ]
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

/// The page size a criteria manifest asks for (as tcia_utils does).
const MANIFEST_PAGE: u64 = 1_000_000;

pub async fn manifest(ctx: &Ctx, a: &ManifestArgs) -> anyhow::Result<()> {
    let req = manifest_request(ctx, a).await?;
    let url = ctx.client.url_for(&req);
    let resp = ctx.client.send(&req).await?;
    reject_html(&resp, &url)?;
    let text = resp
        .text()
        .await
        .map_err(|e| ctx.client.transport_error("POST", &url, e))?;
    let count = if text.trim().is_empty() {
        0
    } else {
        manifest_series_count(&text).ok_or_else(|| Error::BadResponse {
            url: url.to_string(),
            message: "the response is not a .tcia manifest (no ListOfSeriesToDownload= line)"
                .into(),
        })?
    };
    if count == 0 {
        ctx.printer.warn("no series matched; no manifest written");
        let mut named = named(&a.criteria);
        named.push((
            Param::Collection,
            a.whole_collection.iter().cloned().collect(),
        ));
        super::selection::warn_unknown(ctx, &named).await;
        return Ok(());
    }
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

/// getManifestText for UIDs, getManifestForCollection for --whole-collection, else
/// getManifestForSimpleSearch for the criteria.
async fn manifest_request(ctx: &Ctx, a: &ManifestArgs) -> anyhow::Result<Request> {
    let uids = uid_args(&a.series_uid, ctx.env.stdin_tty).await?;
    let criteria = criteria_form(&a.criteria)?;
    let include = if a.no_annotations { "false" } else { "true" };
    let given = [
        !uids.is_empty(),
        !criteria.is_empty(),
        a.whole_collection.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(usage(
            "manifest: give one of search criteria, --series-uid or --whole-collection",
        ));
    }
    if !uids.is_empty() {
        let route = cat::MANIFEST_TEXT.route(ctx.api).map_err(usage)?;
        return Ok(Request::post_form(
            route.path.url_path(ctx.api),
            vec![
                ("list".into(), uids.join(",")),
                ("includeAnnotation".into(), include.into()),
            ],
        ));
    }
    if let Some(coll) = &a.whole_collection {
        let route = cat::MANIFEST_COLLECTION.route(ctx.api).map_err(usage)?;
        return Ok(Request::post_form(
            route.path.url_path(ctx.api),
            vec![
                ("collection".into(), coll.clone()),
                ("includeAnnotation".into(), include.into()),
            ],
        ));
    }
    if criteria.is_empty() {
        return Err(usage(
            "manifest: give search criteria (--collection, --modality, ...), --whole-collection NAME or --series-uid UID (- for stdin)",
        ));
    }
    let route = cat::MANIFEST_SEARCH.route(ctx.api).map_err(usage)?;
    let mut form = criteria;
    // The server writes the manifest from one page of the search: ask for all of it.
    form.extend(paging_fields(&a.criteria, 0, MANIFEST_PAGE));
    Ok(Request::post_form(route.path.url_path(ctx.api), form))
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
             criteriaType4=DateRangeCriteria&fromDate4=01-02-2020&toDate4=12-31-2100"
        );
    }

    #[test]
    fn manifest_counting() {
        let m = "downloadServerUrl=x\nListOfSeriesToDownload=\n1.2.3\nSeries ID\n\n1.2.4\n";
        assert_eq!(manifest_series_count(m), Some(2));
        assert_eq!(manifest_series_count("hello"), None);
    }
}
