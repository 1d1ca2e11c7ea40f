//! v4 simple search (`getSimpleSearch`) and the `.tcia` manifest endpoints.

use std::collections::{BTreeMap, HashMap};

use axum::response::Response;

use crate::data::Series;
use crate::render::{json_value, text};
use crate::request::{form_list, Ctx, Params};
use crate::time::{parse_lenient, Order, Timestamp};

/// Parsed criteria: type → values (OR within a type, AND across types).
struct Criteria {
    by_type: HashMap<String, Vec<String>>,
    dates: Vec<(Option<Timestamp>, Option<Timestamp>)>,
}

fn criteria(ctx: &Ctx) -> Criteria {
    let f = &ctx.form;
    let mut by_type: HashMap<String, Vec<String>> = HashMap::new();
    let mut dates = Vec::new();
    let mut i = 0;
    while let Some(ty) = f.get(&format!("criteriaType{i}")) {
        if ty == "DateRangeCriteria" {
            let d = |k: String| f.get(&k).and_then(|v| parse_lenient(v, Order::Mdy));
            dates.push((d(format!("fromDate{i}")), d(format!("toDate{i}"))));
        } else if let Some(v) = f.get(&format!("value{i}")) {
            let e = by_type.entry(ty.to_string()).or_default();
            e.extend(
                v.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty()),
            );
        }
        i += 1;
    }
    Criteria { by_type, dates }
}

impl Criteria {
    fn any_ci(&self, ty: &str, v: Option<&String>) -> bool {
        match self.by_type.get(ty) {
            None => true,
            Some(list) => v.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v))),
        }
    }
    fn series_ok(&self, s: &Series) -> bool {
        self.any_ci("CollectionCriteria", Some(&s.collection))
            && self.any_ci("ImageModalityCriteria", Some(&s.modality))
            && self.any_ci("AnatomicalSiteCriteria", s.body_part.as_ref())
            && self.any_ci("ManufacturerCriteria", s.manufacturer.as_ref())
            && self.any_ci("PatientCriteria", Some(&s.patient_id))
            && self
                .by_type
                .get("SpeciesCriteria")
                .is_none_or(|v| v.iter().any(|x| x == "337915000"))
            && self.dates.iter().all(|(from, to)| {
                s.study_date
                    .is_some_and(|d| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t))
            })
    }
    fn min_studies(&self) -> usize {
        self.by_type
            .get("MinNumberOfStudiesCriteria")
            .and_then(|v| v.first())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// (study id, study uid, [(series id, series)])
type HitStudy = (usize, String, Vec<(usize, Series)>);

struct Hit {
    id: usize,
    subject: String,
    project: String,
    /// (study id, study uid, [(series id, series)])
    studies: Vec<HitStudy>,
}

/// Matching patients in DB order, with stable 1-based ids (patient/study/series position in the DB).
fn search(ctx: &Ctx) -> Vec<Hit> {
    let c = criteria(ctx);
    let ds = &ctx.ds;
    // narrow the scan to the requested collections when given
    let ranges: Vec<std::ops::Range<usize>> = match c.by_type.get("CollectionCriteria") {
        Some(list) => list
            .iter()
            .filter_map(|n| ds.ranges(n).map(|r| r.0))
            .collect(),
        None => std::iter::once(0..ds.series_count()).collect(),
    };
    let mut hits: Vec<Hit> = Vec::new();
    for range in ranges {
        for i in range {
            let s = ds.series_at(i);
            if !ctx.visible(&s.collection) || !c.series_ok(&s) {
                continue;
            }
            let new_patient = hits
                .last()
                .is_none_or(|h| h.subject != s.patient_id || h.project != s.collection);
            if new_patient {
                let pid = ds
                    .ranges(&s.collection)
                    .map(|(_, p, _)| p.start)
                    .unwrap_or(0)
                    + ds.patients_in_order_index(&s.collection, &s.patient_id);
                hits.push(Hit {
                    id: pid + 1,
                    subject: s.patient_id.clone(),
                    project: s.collection.clone(),
                    studies: Vec::new(),
                });
            }
            let h = hits.last_mut().expect("hit");
            if h.studies.last().is_none_or(|(_, u, _)| *u != s.study_uid) {
                let sid = h.studies.len() + 1 + h.id * 100;
                h.studies.push((sid, s.study_uid.clone(), Vec::new()));
            }
            h.studies.last_mut().expect("study").2.push((i + 1, s));
        }
    }
    let min = c.min_studies();
    hits.retain(|h| h.studies.len() >= min);
    hits
}

/// POST v4/getSimpleSearch.
pub fn simple_search(ctx: &Ctx) -> Response {
    let mut hits = search(ctx);
    let f = &ctx.form;
    sort_hits(&mut hits, f);
    let facets = facets(&hits);
    let start: usize = f.get("start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let size: usize = f.get("size").and_then(|v| v.parse().ok()).unwrap_or(10);
    let total = hits.len();
    let page: Vec<serde_json::Value> = hits
        .into_iter()
        .skip(start)
        .take(size)
        .map(hit_json)
        .collect();
    let facet = |m: &BTreeMap<String, usize>| -> Vec<serde_json::Value> {
        m.iter()
            .map(|(k, v)| serde_json::json!({"value": k, "count": v}))
            .collect()
    };
    json_value(&serde_json::json!({
        "resultSet": page,
        "totalPatients": total,
        "bodyParts": facet(&facets[0]),
        "modalities": facet(&facets[1]),
        "collections": facet(&facets[2]),
        "species": facet(&facets[3]),
    }))
}

/// Order the hits by `sortField` (stable; unknown fields keep DB order), reversed when
/// `sortDirection` starts with "desc".
fn sort_hits(hits: &mut [Hit], f: &Params) {
    let desc = f
        .get("sortDirection")
        .is_some_and(|d| d.to_ascii_lowercase().starts_with("desc"));
    match f.get("sortField").unwrap_or("") {
        "subject" | "subjectId" => hits.sort_by(|a, b| a.subject.cmp(&b.subject)),
        "project" | "collection" => {
            hits.sort_by(|a, b| a.project.cmp(&b.project).then(a.subject.cmp(&b.subject)))
        }
        "studies" => hits.sort_by_key(|h| h.studies.len()),
        "series" => hits.sort_by_key(|h| h.studies.iter().map(|s| s.2.len()).sum::<usize>()),
        _ => {}
    }
    if desc {
        hits.reverse();
    }
}

/// Series counts of every hit by body part, modality and collection, and the patient count of
/// the one species (absent when nothing matched).
fn facets(hits: &[Hit]) -> [BTreeMap<String, usize>; 4] {
    let mut facets: [BTreeMap<String, usize>; 4] = Default::default();
    for h in hits {
        for (_, _, series) in &h.studies {
            for (_, s) in series {
                *facets[0]
                    .entry(
                        s.body_part
                            .clone()
                            .unwrap_or_else(|| "NOT SPECIFIED".into()),
                    )
                    .or_default() += 1;
                *facets[1].entry(s.modality.clone()).or_default() += 1;
                *facets[2].entry(s.collection.clone()).or_default() += 1;
            }
        }
    }
    if !hits.is_empty() {
        facets[3].insert("337915000".into(), hits.len());
    }
    facets
}

/// One `resultSet` entry: the patient, its counts and its study / series identifiers.
fn hit_json(h: Hit) -> serde_json::Value {
    let nseries: usize = h.studies.iter().map(|s| s.2.len()).sum();
    serde_json::json!({
        "subjectId": h.subject,
        "project": h.project,
        "id": h.id,
        "totalNumberOfStudies": h.studies.len(),
        "totalNumberOfSeries": nseries,
        "studyIdentifiers": h.studies.iter().map(|(sid, _, series)| serde_json::json!({
            "studyIdentifier": sid,
            "seriesIdentifiers": series.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The `.tcia` manifest text for a list of series UIDs.
pub fn manifest(base_url: &str, include_annotation: bool, uids: &[String]) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut s = format!(
        "downloadServerUrl={base_url}/nbia-download/servlet/DownloadServlet\nincludeAnnotation={include_annotation}\nnoOfrRetry=4\ndatabasketId=manifest-{ms}.tcia\nmanifestVersion=3.0\nListOfSeriesToDownload=\n"
    );
    for u in uids {
        s.push_str(u);
        s.push('\n');
    }
    s
}

fn manifest_response(body: String) -> Response {
    text(200, Some("application/x-nbia-manifest-file"), body)
}

/// POST v4/getManifestForSimpleSearch.
pub fn manifest_for_search(ctx: &Ctx) -> Response {
    let uids: Vec<String> = search(ctx)
        .into_iter()
        .flat_map(|h| {
            h.studies
                .into_iter()
                .flat_map(|st| st.2.into_iter().map(|(_, s)| s.series_uid))
        })
        .collect();
    manifest_response(manifest(&ctx.base_url, true, &uids))
}

/// POST v4/getManifestText.
pub fn manifest_text(ctx: &Ctx) -> Response {
    let uids = form_list(ctx);
    if uids.is_empty() {
        return text(
            400,
            Some("text/plain"),
            "A form parameter, list, containing at least one SeriesInstanceUID is required.",
        );
    }
    let uids: Vec<String> = uids
        .into_iter()
        .filter(|u| {
            ctx.ds
                .find_series(u)
                .is_some_and(|s| ctx.visible(&s.collection))
        })
        .collect();
    let include = ctx
        .form
        .get("includeAnnotation")
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    manifest_response(manifest(&ctx.base_url, include, &uids))
}
