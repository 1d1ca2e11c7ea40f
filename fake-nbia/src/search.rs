//! v4 simple search (`getSimpleSearch`) and the `.tcia` manifest endpoints.

use std::collections::{BTreeMap, HashMap};

use axum::response::Response;

use crate::data::Series;
use crate::render::{json_value, server_error, text};
use crate::request::{form_list, Ctx, Params};
use crate::time::Timestamp;

/// The criteria as v4 SearchUtil reads them (NBIA server source): list criteria are OR within
/// a type and AND across types; the server's quirks are kept (see each field).
#[derive(Default)]
struct Criteria {
    /// Upper-cased values per type (CriteriaCollectionHandler compares UPPER(field) IN (...)).
    by_type: HashMap<&'static str, Vec<String>>,
    /// DateRangeCriteria: on each series' DateReleased (to_days), inclusive; the last one wins.
    dates: Option<(i64, i64)>,
    /// ModalityAndedSearchCriteria "all": patients having a series of every modality.
    modality_all: bool,
    /// `MANUFACTURER||MODEL` and `MANUFACTURER||MODEL||VERSION`, ORed with ManufacturerCriteria.
    models: Vec<String>,
    versions: Vec<String>,
    description: Option<String>,
    /// MinNumberOfStudiesCriteria / MinNumberOfStudyDatesCriteria: "more than" (> N).
    min_studies: i64,
    min_study_dates: i64,
    exclude_commercial: bool,
    phantom: Option<String>,
    third_party: Vec<String>,
    /// Any time point criterion: the synthetic studies have no longitudinal data.
    timepoint: bool,
    age: Option<(f64, f64)>,
    slice: Option<(f64, f64)>,
    pixel: Option<(f64, f64)>,
}

/// The PatientSexCriteria value "Null", kept apart from the upper-cased values.
const SEX_NULL: &str = "\0Null";

/// SimpleDateFormat("MM-dd-yyyy").parse, lenient: a prefix `M-d-y` of digit runs, month and day
/// overflowing into the next month/year; anything else is Java's ParseException text.
fn parse_mdy(v: &str) -> Result<i64, String> {
    let err = || format!("Unparseable date: \"{v}\"");
    let mut nums = Vec::new();
    let mut rest = v;
    for k in 0..3 {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(err());
        }
        nums.push(rest[..n].parse::<i64>().map_err(|_| err())?);
        rest = &rest[n..];
        if k < 2 {
            rest = rest.strip_prefix('-').ok_or_else(err)?;
        }
    }
    let (m, d, y) = (nums[0], nums[1], nums[2]);
    let months = y * 12 + m - 1;
    let first =
        crate::time::days_from_civil(months.div_euclid(12), (months.rem_euclid(12) + 1) as u32, 1);
    Ok(first + d - 1)
}

/// Java's NumberFormatException text for Integer.parseInt / Double.parseDouble.
fn java_number<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    if v.trim().is_empty() && v.is_empty() {
        return Err("For input string: \"\"".into());
    }
    v.trim()
        .parse()
        .map_err(|_| format!("For input string: \"{v}\""))
}

/// A form field SearchUtil reads with `get(name).get(0)`: absent is a NullPointerException.
fn need(f: &Params, name: String) -> Result<&str, String> {
    f.raw(&name).ok_or_else(|| "null".to_string())
}

/// The criteria, or the message of the exception the server would throw (a 500).
fn criteria(f: &Params) -> Result<Criteria, String> {
    let mut c = Criteria {
        min_studies: -1,
        min_study_dates: -1,
        ..Default::default()
    };
    let mut i = 0;
    while let Some(ty) = f.raw(&format!("criteriaType{i}")) {
        let value = || need(f, format!("value{i}"));
        let range = |c: &mut Option<(f64, f64)>| -> Result<(), String> {
            let (from, to) = (need(f, format!("from{i}"))?, need(f, format!("to{i}"))?);
            *c = Some((java_number(from)?, java_number(to)?));
            Ok(())
        };
        match list_type(ty) {
            Some(key) => {
                let v = value()?;
                // PatientSexCriteria: exactly "Null" (removePatientSex("Null")) means none recorded
                let v = if key == "PatientSexCriteria" && v == "Null" {
                    SEX_NULL.to_string()
                } else {
                    v.to_uppercase()
                };
                c.by_type.entry(key).or_default().push(v);
            }
            None => other_criterion(&mut c, f, ty, i, &value, &range)?,
        }
        i += 1;
    }
    Ok(c)
}

/// The types whose values are collected into a list; None for the others.
fn list_type(ty: &str) -> Option<&'static str> {
    const LISTS: [&str; 10] = [
        "CollectionCriteria",
        "SpeciesCriteria",
        "ImageModalityCriteria",
        "PatientSexCriteria",
        "AnatomicalSiteCriteria",
        "ManufacturerCriteria",
        "PatientCriteria",
        "StudyCriteria",
        "SeriesCriteria",
        "BodyPartExaminedCriteria",
    ];
    let found = LISTS.iter().find(|t| t.eq_ignore_ascii_case(ty))?;
    Some(if *found == "BodyPartExaminedCriteria" {
        "AnatomicalSiteCriteria"
    } else {
        found
    })
}

type Field<'a> = dyn Fn() -> Result<&'a str, String> + 'a;
type RangeField<'a> = dyn Fn(&mut Option<(f64, f64)>) -> Result<(), String> + 'a;

/// Every criterion that is not a plain list; unknown types are ignored, as SearchUtil does.
fn other_criterion(
    c: &mut Criteria,
    f: &Params,
    ty: &str,
    i: usize,
    value: &Field<'_>,
    range: &RangeField<'_>,
) -> Result<(), String> {
    match ty.to_ascii_lowercase().as_str() {
        // the handler takes split("\\|\\|")[1] (and [2]): too few parts is an
        // ArrayIndexOutOfBoundsException
        "modelcriteria" => c.models.push(tree_parts(value()?, 2)?),
        "softwareversioncriteria" => c.versions.push(tree_parts(value()?, 3)?),
        "daterangecriteria" => {
            let from = parse_mdy(need(f, format!("fromDate{i}"))?)?;
            let to = parse_mdy(need(f, format!("toDate{i}"))?)?;
            c.dates = Some((from, to));
        }
        "patientagerangecriteria" => range(&mut c.age)?,
        "pixelspacingrangecriteria" => range(&mut c.pixel)?,
        "slicethicknessrangecriteria" => range(&mut c.slice)?,
        "descriptioncriteria" => c.description = Some(value()?.to_string()),
        "minnumberofstudiescriteria" => c.min_studies = java_number(value()?)?,
        "minnumberofstudydatescriteria" => c.min_study_dates = java_number(value()?)?,
        "modalityandedsearchcriteria" => c.modality_all = value()? == "all",
        "phantomcriteria" => c.phantom = Some(value()?.to_string()),
        "thirdpartyanalysis" => c.third_party.push(value()?.to_string()),
        "excludecommercialcriteria" => c.exclude_commercial = value()?.eq_ignore_ascii_case("YES"),
        "timepointcriteria" => {
            let day = |k: String| -> Result<Option<i32>, String> {
                match f.raw(&k).filter(|v| !v.is_empty()) {
                    Some(v) => java_number(v).map(Some),
                    None => Ok(None),
                }
            };
            let (from, to) = (day(format!("fromDay{i}"))?, day(format!("toDay{i}"))?);
            // "time points must include event type" / "... a from day or to day": thrown as
            // `new Exception()`, whose message is null
            if f.raw(&format!("eventType{i}")).is_none() || (from.is_none() && to.is_none()) {
                return Err("null".into());
            }
            c.timepoint = true;
        }
        _ => {}
    }
    Ok(())
}

fn tree_parts(v: &str, n: usize) -> Result<String, String> {
    let have = v.split("||").count();
    if have < n {
        return Err(format!("Index {have} out of bounds for length {have}"));
    }
    Ok(v.to_string())
}

/// SQL LIKE with `%` (the server turns `*` into `%`), case-insensitive.
fn like(text: &str, pattern: &str) -> bool {
    let t = text.to_uppercase();
    let parts: Vec<&str> = pattern.split('%').collect();
    let mut pos = 0;
    for (k, p) in parts.iter().enumerate() {
        let p = p.to_uppercase();
        if k == 0 {
            if !t.starts_with(&p) {
                return false;
            }
            pos = p.len();
        } else if k == parts.len() - 1 && !p.is_empty() {
            return t.len() >= pos + p.len() && t[pos..].ends_with(&p);
        } else if let Some(at) = t[pos..].find(&p) {
            pos += at + p.len();
        } else {
            return false;
        }
    }
    parts.len() > 1 || t.len() == pos
}

/// "058Y" → 58, "030M" → 2, "010W" → 0 (as the server's CASE expression).
fn age_years(a: &str) -> Option<f64> {
    let l = a.to_lowercase();
    let (num, div) = match l.chars().last()? {
        'y' => (&l[..l.len() - 1], 1.0),
        'm' => (&l[..l.len() - 1], 12.0),
        'w' => (&l[..l.len() - 1], 52.0),
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    Some(if div == 1.0 { n } else { (n / div).floor() })
}

fn first_number(s: &Option<String>) -> Option<f64> {
    s.as_deref()?.split([',', '\\']).next()?.trim().parse().ok()
}

fn within(v: Option<f64>, r: Option<(f64, f64)>) -> bool {
    r.is_none_or(|(a, b)| v.is_some_and(|v| v >= a && v <= b))
}

impl Criteria {
    fn any(&self, ty: &str, v: Option<&String>) -> bool {
        let wild = matches!(ty, "PatientCriteria" | "StudyCriteria" | "SeriesCriteria");
        match self.by_type.get(ty) {
            None => true,
            Some(list) => v.is_some_and(|v| {
                let u = v.to_uppercase();
                list.iter().any(|x| {
                    if wild && x.contains('*') {
                        like(&u, &x.replace('*', "%"))
                    } else {
                        *x == u
                    }
                })
            }),
        }
    }
    fn sex_ok(&self, sex: Option<&String>) -> bool {
        match self.by_type.get("PatientSexCriteria") {
            None => true,
            Some(list) => match sex {
                None => list.iter().any(|x| x == SEX_NULL),
                Some(v) => list.iter().any(|x| *x == v.to_uppercase()),
            },
        }
    }
    fn body_ok(&self, s: &Series) -> bool {
        match self.by_type.get("AnatomicalSiteCriteria") {
            None => true,
            Some(list) => match &s.body_part {
                None => list.iter().any(|x| x == "NOT SPECIFIED"),
                Some(b) => list.contains(&b.to_uppercase()),
            },
        }
    }
    /// Manufacturer, model and software version are one ORed clause (the portal's tree).
    fn equipment_ok(&self, s: &Series) -> bool {
        let m = self.by_type.get("ManufacturerCriteria");
        if m.is_none() && self.models.is_empty() && self.versions.is_empty() {
            return true;
        }
        let man = s.manufacturer.clone().unwrap_or_default();
        let model = s.manufacturer_model.clone().unwrap_or_default();
        let ver = s.software_versions.clone().unwrap_or_default();
        m.is_some_and(|l| {
            s.manufacturer
                .as_ref()
                .is_some_and(|v| l.contains(&v.to_uppercase()))
        }) || self
            .models
            .iter()
            .any(|v| v.split("||").collect::<Vec<_>>() == [man.as_str(), model.as_str()])
            || self.versions.iter().any(|v| {
                v.split("||").collect::<Vec<_>>() == [man.as_str(), model.as_str(), ver.as_str()]
            })
    }
    fn description_ok(&self, s: &Series) -> bool {
        let Some(d) = &self.description else {
            return true;
        };
        let words = split_words(&d.to_uppercase().replace('*', "%"));
        let fields = [&s.study_desc, &s.series_description, &s.protocol_name];
        words.iter().any(|w| {
            fields
                .iter()
                .any(|f| f.as_ref().is_some_and(|f| like(f, &format!("%{w}%"))))
        })
    }
}

/// Words split at spaces outside double quotes, quotes removed.
fn split_words(s: &str) -> Vec<String> {
    let mut words = vec![String::new()];
    let mut quoted = false;
    for ch in s.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => words.push(String::new()),
            c => words.last_mut().expect("a word").push(c),
        }
    }
    words
}

impl Criteria {
    fn series_ok(&self, s: &Series) -> bool {
        self.any("CollectionCriteria", Some(&s.collection))
            && (self.modality_all || self.any("ImageModalityCriteria", Some(&s.modality)))
            && self.body_ok(s)
            && self.equipment_ok(s)
            && self.any("PatientCriteria", Some(&s.patient_id))
            && self.any("StudyCriteria", Some(&s.study_uid))
            && self.any("SeriesCriteria", Some(&s.series_uid))
            && self.sex_ok(s.patient_sex.as_ref())
            && self
                .by_type
                .get("SpeciesCriteria")
                .is_none_or(|v| v.iter().any(|x| x == "337915000"))
            && self.description_ok(s)
            && self.more_ok(s)
    }
    /// Dates, licences, phantoms, third-party analyses, time points and the numeric ranges.
    fn more_ok(&self, s: &Series) -> bool {
        let commercial_excluded = s.license_name.contains("NonCommercial");
        let tp = s.third_party.as_deref();
        self.dates
            .is_none_or(|(from, to)| (from..=to).contains(&s.released.days()))
            && !(self.exclude_commercial && commercial_excluded)
            // every synthetic patient is recorded with Phantom NO: "2" (only) keeps none
            && self.phantom.as_deref() != Some("2")
            && (self.third_party.is_empty()
                || self.third_party.iter().any(|v| {
                    tp.is_some_and(|t| t.eq_ignore_ascii_case(v))
                        || (v.eq_ignore_ascii_case("NO") && tp.is_none())
                }))
            && !self.timepoint
            && within(s.patient_age.as_deref().and_then(age_years), self.age)
            && within(first_number(&s.slice_thickness), self.slice)
            && within(first_number(&s.pixel_spacing), self.pixel)
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

/// Matching patients in DB order, with stable 1-based ids (patient/study/series position in the
/// DB); Err is the message of the exception the server would throw.
fn search(ctx: &Ctx) -> Result<Vec<Hit>, String> {
    let c = criteria(&ctx.form)?;
    let ds = &ctx.ds;
    // narrow the scan to the requested collections when given (compared in upper case)
    let ranges: Vec<std::ops::Range<usize>> = match c.by_type.get("CollectionCriteria") {
        Some(list) => ds
            .all_collections()
            .iter()
            .filter(|n| list.contains(&n.to_uppercase()))
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
            add_hit(ctx, &mut hits, i, s);
        }
    }
    if c.modality_all {
        if let Some(mods) = c.by_type.get("ImageModalityCriteria") {
            hits.retain(|h| {
                let theirs: Vec<String> = ds
                    .series_in(&h.project)
                    .into_iter()
                    .filter(|s| s.patient_id == h.subject)
                    .map(|s| s.modality.to_uppercase())
                    .collect();
                mods.iter().all(|m| theirs.contains(m))
            });
        }
    }
    hits.retain(|h| {
        let dates: std::collections::BTreeSet<Option<Timestamp>> = h
            .studies
            .iter()
            .map(|st| st.2.first().and_then(|(_, s)| s.study_date))
            .collect();
        h.studies.len() as i64 > c.min_studies && dates.len() as i64 > c.min_study_dates
    });
    Ok(hits)
}

fn add_hit(ctx: &Ctx, hits: &mut Vec<Hit>, i: usize, s: Series) {
    let ds = &ctx.ds;
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

/// What SearchUtil reads after the criteria, unconditionally: sortField, sortDirection, start and
/// size (a missing one is a NullPointerException, a non-number a NumberFormatException).
fn paging(f: &Params) -> Result<(usize, usize), String> {
    need(f, "sortField".into())?;
    need(f, "sortDirection".into())?;
    let start: i64 = java_number(need(f, "start".into())?)?;
    let size: i64 = java_number(need(f, "size".into())?)?;
    Ok((start.max(0) as usize, size.max(0) as usize))
}

/// POST v4/getSimpleSearch.
pub fn simple_search(ctx: &Ctx) -> Response {
    let f = &ctx.form;
    let (mut hits, (start, size)) = match search(ctx).and_then(|h| Ok((h, paging(f)?))) {
        Ok(x) => x,
        Err(msg) => return server_error(&msg),
    };
    sort_hits(&mut hits, f);
    let facets = facets(&hits);
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

/// Order the hits as ResultSetSorter.sort2 does: `collection`, `subject` (case-insensitive),
/// `study` / `series` (matching counts), `totalNumberOfStudies` / `totalNumberOfSeries`; any
/// other field sorts by collection. Ascending for "ascending" (any case), else descending.
/// Stable, like Collections.sort.
fn sort_hits(hits: &mut [Hit], f: &Params) {
    let asc = f
        .raw("sortDirection")
        .is_none_or(|d| d.eq_ignore_ascii_case("ascending"));
    let nseries = |h: &Hit| h.studies.iter().map(|s| s.2.len()).sum::<usize>();
    let field = f.raw("sortField").unwrap_or("").to_ascii_lowercase();
    let key = |a: &Hit, b: &Hit| match field.as_str() {
        "subject" => a.subject.to_lowercase().cmp(&b.subject.to_lowercase()),
        "study" | "totalnumberofstudies" => a.studies.len().cmp(&b.studies.len()),
        "series" | "totalnumberofseries" => nseries(a).cmp(&nseries(b)),
        _ => a.project.to_lowercase().cmp(&b.project.to_lowercase()),
    };
    if asc {
        hits.sort_by(key);
    } else {
        hits.sort_by(|a, b| key(b, a));
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
/// The server writes the series of the returned page (start/size) of the sorted search, and
/// always `includeAnnotation=false`.
pub fn manifest_for_search(ctx: &Ctx) -> Response {
    let f = &ctx.form;
    let (mut hits, (start, size)) = match search(ctx).and_then(|h| Ok((h, paging(f)?))) {
        Ok(x) => x,
        Err(msg) => return server_error(&msg),
    };
    sort_hits(&mut hits, f);
    let uids: Vec<String> = hits
        .into_iter()
        .skip(start)
        .take(size)
        .flat_map(|h| {
            h.studies
                .into_iter()
                .flat_map(|st| st.2.into_iter().map(|(_, s)| s.series_uid))
        })
        .collect();
    manifest_response(manifest(&ctx.base_url, false, &uids))
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
