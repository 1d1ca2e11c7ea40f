//! Endpoint dispatch for v1/v2/v4, the advanced (un-versioned) API and the legacy Bindaas API
//! (which endpoints exist where, methods, v4 parameter checks, v2/advanced tokens, legacy api_key),
//! and the handlers of the query endpoints: value lists and counts, patients, studies, series,
//! sizes, SOP UIDs, series metadata, carts, DICOM tags and collection descriptions. Simple search
//! and manifests are in `search`, downloads in `zip`.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, Method};
use axum::response::Response;

use crate::auth::{AuthCheck, LEGACY_API_KEY};
use crate::data::{Patient, Series, RESTRICTED_COLLECTION};
use crate::render::{
    bad_param, empty, json_value, server_error, status, table, text, Row, Table, Val,
};
use crate::request::{form_list, Ctx, Ver};
use crate::rows::*;
use crate::time::{parse_lenient, parse_v4, Order, Timestamp};

fn ci(value: Option<&String>, filter: Option<&str>) -> bool {
    match filter {
        None => true,
        Some(f) => value.is_some_and(|v| v.eq_ignore_ascii_case(f)),
    }
}

/// The v4 GET endpoints whose allowed set (NBIA source) includes `format`; the others answer 400
/// for it like for any other unknown parameter.
pub(crate) const V4_TAKES_FORMAT: &[&str] = &[
    "getCollectionValues",
    "getModalityValues",
    "getBodyPartValues",
    "getManufacturerValues",
    "getPatient",
    "getPatientByCollectionAndModality",
    "NewPatientsInCollection",
    "getPatientStudy",
    "NewStudiesInPatientCollection",
    "getSeries",
    "getUpdatedSeries",
    "getSeriesSize",
    "getSOPInstanceUIDs",
];

/// Allowed query parameters for v4 GET endpoints (`format` where [`V4_TAKES_FORMAT`] says).
fn v4_allowed(ep: &str) -> Option<&'static [&'static str]> {
    Some(match ep {
        "getCollectionValues" | "getCollectionValuesAndCounts" => &[],
        "getModalityValues" | "getModalityValuesAndCounts" => &["Collection", "BodyPartExamined"],
        "getBodyPartValues" | "getBodyPartValuesAndCounts" => &["Collection", "Modality"],
        "getManufacturerValues" | "getManufacturerValuesAndCounts" => {
            &["Collection", "Modality", "BodyPartExamined"]
        }
        "getPatient" => &["Collection", "PatientId"],
        "getPatientByCollectionAndModality" => &["Collection", "Modality"],
        "NewPatientsInCollection" => &["Collection", "fromDate"],
        "getPatientStudy" => &["Collection", "PatientID", "StudyInstanceUID"],
        "NewStudiesInPatientCollection" => &["Collection", "PatientID", "fromDate"],
        "getSeries" => &[
            "Collection",
            "PatientID",
            "StudyInstanceUID",
            "Modality",
            "BodyPartExamined",
            "ManufacturerModelName",
            "Manufacturer",
            "SeriesInstanceUID",
        ],
        "getUpdatedSeries" => &["fromDate"],
        "getSeriesSize" | "getSOPInstanceUIDs" => &["SeriesInstanceUID"],
        "getDicomTags" => &["SeriesUID"],
        "getCollectionDescriptions" => &["collectionName"],
        "getImage" => &["SeriesInstanceUID", "NewFileNames", "IncludeMD5"],
        "getImageWithMD5Hash" => &["SeriesInstanceUID"],
        "getSingleImage" => &["SeriesInstanceUID", "SOPInstanceUID"],
        "getMD5HashForImage" => &["SOPInstanceUID"],
        "getSpeciesValuesAndCounts" => &[],
        _ => return None,
    })
}

const V4_POST: &[&str] = &[
    "getSeriesMetadata",
    "getSimpleSearch",
    "getManifestForSimpleSearch",
    "getManifestText",
    "getCollectionOrSeriesForDOI",
    "getMD5Hierarchy",
    "getManifestForCollection",
];
const V12_ONLY: &[&str] = &["getSeriesMetaData", "getContentsByName"];
const COMMON: &[&str] = &[
    "getCollectionValues",
    "getModalityValues",
    "getBodyPartValues",
    "getManufacturerValues",
    "getPatient",
    "getPatientByCollectionAndModality",
    "NewPatientsInCollection",
    "getPatientStudy",
    "NewStudiesInPatientCollection",
    "getSeries",
    "getUpdatedSeries",
    "getSeriesSize",
    "getSOPInstanceUIDs",
    "getImage",
    "getImageWithMD5Hash",
    "getSingleImage",
];

/// Serve `/nbia-api/services/{v1,v2,v4}/<ep>`.
pub fn versioned(mut ctx: Ctx, ep: &str, method: &Method, auth: AuthCheck) -> Response {
    let known = COMMON.contains(&ep)
        || (ctx.ver != Ver::V4 && V12_ONLY.contains(&ep))
        || (ctx.ver != Ver::V1 && ep == "getDicomTags")
        || (ctx.ver == Ver::V4 && (V4_POST.contains(&ep) || v4_allowed(ep).is_some()));
    if !known {
        return text(404, Some("text/plain"), "Not Found");
    }
    let post = ctx.ver == Ver::V4 && V4_POST.contains(&ep);
    if (post && method != Method::POST)
        || (!post && method != Method::GET && method != Method::HEAD)
    {
        return status(405);
    }
    if ctx.ver == Ver::V4 && !post {
        let allowed = v4_allowed(ep).unwrap_or(&[]);
        let format = V4_TAKES_FORMAT.contains(&ep);
        if let Some((bad, _)) = ctx
            .q
            .0
            .iter()
            .find(|(k, _)| !(allowed.contains(&k.as_str()) || (format && k == "format")))
        {
            let mut list: Vec<&str> = allowed.to_vec();
            if format {
                list.push("format");
            }
            return text(
                400,
                Some("text/plain"),
                format!(
                    "Invalid query parameter: '{bad}'. Allowed parameters are: [{}]",
                    list.join(", ")
                ),
            );
        }
    }
    if ctx.ver == Ver::V2 {
        if !auth.valid() {
            return match ep {
                "getCollectionValues" | "getImage" | "getImageWithMD5Hash" | "getSingleImage"
                    if auth == AuthCheck::Missing =>
                {
                    server_error("null")
                }
                "getCollectionValues" | "getImage" | "getImageWithMD5Hash" | "getSingleImage" => {
                    status(401)
                }
                "getSeriesMetaData" => status(204),
                _ => empty(),
            };
        }
        ctx.privileged = auth.privileged();
    }
    dispatch(&ctx, ep)
}

/// Serve the un-versioned advanced endpoints (Bearer token required, guest allowed).
pub fn advanced(mut ctx: Ctx, ep: &str, auth: AuthCheck) -> Response {
    let known = matches!(
        ep,
        "getCollectionValuesAndCounts"
            | "getModalityValuesAndCounts"
            | "getBodyPartValuesAndCounts"
            | "getManufacturerValuesAndCounts"
            | "getCollectionDescriptions"
            | "getDicomTags"
    );
    if !known {
        return text(404, Some("text/plain"), "Not Found");
    }
    if !auth.valid() {
        return status(401);
    }
    ctx.privileged = auth.privileged();
    dispatch(&ctx, ep)
}

/// Serve `/services/v3/TCIA/query/<ep>` (api_key header required).
pub fn legacy(ctx: Ctx, ep: &str, api_key: Option<&str>) -> Response {
    let known = matches!(
        ep,
        "getCollectionValues"
            | "getModalityValues"
            | "getBodyPartValues"
            | "getManufacturerValues"
            | "getPatient"
            | "getPatientStudy"
            | "getSeries"
            | "getSeriesSize"
            | "getSOPInstanceUIDs"
    );
    if !known {
        return text(404, Some("text/plain"), "Not Found");
    }
    if api_key != Some(LEGACY_API_KEY) {
        return text(
            401,
            Some("application/json"),
            r#"{"message":"Unauthorized: missing or invalid api_key"}"#,
        );
    }
    dispatch(&ctx, ep)
}

fn dispatch(ctx: &Ctx, ep: &str) -> Response {
    match ep {
        "getCollectionValues" => collection_values(ctx),
        "getModalityValues" => value_list(ctx, Facet::Modality),
        "getBodyPartValues" => value_list(ctx, Facet::BodyPart),
        "getManufacturerValues" => value_list(ctx, Facet::Manufacturer),
        "getCollectionValuesAndCounts" => collection_counts(ctx),
        "getModalityValuesAndCounts" => facet_counts(ctx, Facet::Modality),
        "getBodyPartValuesAndCounts" => facet_counts(ctx, Facet::BodyPart),
        "getManufacturerValuesAndCounts" => facet_counts(ctx, Facet::Manufacturer),
        "getPatient" => patients(ctx),
        "getPatientByCollectionAndModality" => patients_by_modality(ctx),
        "NewPatientsInCollection" => new_patients(ctx),
        "getPatientStudy" => studies(ctx, false),
        "NewStudiesInPatientCollection" => studies(ctx, true),
        "getSeries" => series(ctx),
        "getUpdatedSeries" => updated_series(ctx),
        "getSeriesSize" => series_size(ctx),
        "getSOPInstanceUIDs" => sop_uids(ctx),
        "getSeriesMetaData" => meta_v1_ep(ctx),
        "getSeriesMetadata" => meta_v4_ep(ctx),
        "getContentsByName" => contents_by_name(ctx),
        "getDicomTags" => dicom_tags_ep(ctx),
        "getCollectionDescriptions" => descriptions(ctx),
        "getSimpleSearch" => crate::search::simple_search(ctx),
        "getManifestForSimpleSearch" => crate::search::manifest_for_search(ctx),
        "getManifestText" => crate::search::manifest_text(ctx),
        "getManifestForCollection" => crate::extra::manifest_for_collection(ctx),
        "getCollectionOrSeriesForDOI" => crate::extra::doi(ctx),
        "getMD5Hierarchy" => crate::extra::md5_hierarchy(ctx),
        "getMD5HashForImage" => crate::extra::md5_for_image(ctx),
        "getSpeciesValuesAndCounts" => crate::extra::species_counts(ctx),
        "getImage" => crate::zip::get_image(ctx, false),
        "getImageWithMD5Hash" => crate::zip::get_image(ctx, true),
        "getSingleImage" => crate::zip::single_image(ctx),
        _ => text(404, Some("text/plain"), "Not Found"),
    }
}

// ---------------------------------------------------------------- value lists and counts

#[derive(Clone, Copy, PartialEq)]
enum Facet {
    Modality,
    BodyPart,
    Manufacturer,
}

/// Series (with weights) matching Collection / Modality / BodyPartExamined filters, visible only.
fn facet_series(ctx: &Ctx, facet: Facet) -> Vec<(Series, u64)> {
    let ds = &ctx.ds;
    let range = match ctx.q.get("Collection") {
        Some(c) => match ds.ranges(c) {
            Some((r, _, _)) => r,
            None => return Vec::new(),
        },
        None => 0..ds.series_count(),
    };
    let modality = if facet == Facet::Modality {
        None
    } else {
        ctx.q.get("Modality")
    };
    let body = if facet == Facet::BodyPart {
        None
    } else {
        ctx.q.get("BodyPartExamined")
    };
    ds.facet_rows(range)
        .into_iter()
        .filter(|(s, _)| ctx.visible(&s.collection))
        .filter(|(s, _)| ci(Some(&s.modality), modality) && ci(s.body_part.as_ref(), body))
        .collect()
}

fn facet_value(s: &Series, facet: Facet) -> Option<String> {
    match facet {
        Facet::Modality => Some(s.modality.clone()),
        Facet::BodyPart => s.body_part.clone(),
        Facet::Manufacturer => s.manufacturer.clone(),
    }
}

fn collection_values(ctx: &Ctx) -> Response {
    let mut names: Vec<String> = ctx
        .ds
        .collection_infos()
        .iter()
        .filter(|c| ctx.visible(&c.name))
        .map(|c| c.name.clone())
        .collect();
    names.sort();
    table(
        Table::new(&["Collection"], names.into_iter().map(|n| vec![Val::S(n)])),
        ctx.format(),
    )
}

fn value_list(ctx: &Ctx, facet: Facet) -> Response {
    // key: (upper, exact) so that sorting is by upper case; None sorts first
    let mut set: BTreeMap<Option<(String, String)>, ()> = BTreeMap::new();
    for (s, _) in facet_series(ctx, facet) {
        let v = facet_value(&s, facet).map(|v| {
            if facet == Facet::BodyPart {
                v.to_uppercase()
            } else {
                v
            }
        });
        set.insert(v.map(|v| (v.to_uppercase(), v)), ());
    }
    if facet == Facet::Modality {
        // distinct modality values ignoring case
        let mut seen = std::collections::HashSet::new();
        set.retain(|k, _| k.as_ref().is_none_or(|(u, _)| seen.insert(u.clone())));
    }
    let col = match facet {
        Facet::Modality => "Modality",
        Facet::BodyPart => "BodyPartExamined",
        Facet::Manufacturer => "Manufacturer",
    };
    let rows: Vec<Row> = set
        .into_keys()
        .map(|k| vec![k.map_or(Val::Null, |(_, v)| Val::S(v))])
        .collect();
    table(Table::new(&[col], rows.into_iter()), ctx.format())
}

fn collection_counts(ctx: &Ctx) -> Response {
    let mut v: Vec<(String, usize)> = ctx
        .ds
        .collection_infos()
        .iter()
        .filter(|c| ctx.visible(&c.name))
        .map(|c| (c.name.clone(), ctx.ds.patient_count_in(&c.name)))
        .collect();
    v.sort();
    counts_response(ctx, "Collection", v)
}

fn facet_counts(ctx: &Ctx, facet: Facet) -> Response {
    let mut m: BTreeMap<(u8, String), usize> = BTreeMap::new();
    for (s, w) in facet_series(ctx, facet) {
        let key = match facet_value(&s, facet) {
            None => (0, "NOT SPECIFIED".to_string()),
            Some(v) => (1, v),
        };
        *m.entry(key).or_default() += w as usize;
    }
    let key = match facet {
        Facet::Modality => "Modality",
        Facet::BodyPart => "BodyPart",
        Facet::Manufacturer => "Manufacturer",
    };
    counts_response(ctx, key, m.into_iter().map(|((_, k), n)| (k, n)).collect())
}

fn counts_response(ctx: &Ctx, key: &'static str, v: Vec<(String, usize)>) -> Response {
    if ctx.ver == Ver::Advanced {
        let arr: Vec<serde_json::Value> = v
            .into_iter()
            .map(|(k, n)| serde_json::json!({"criteria": k, "count": n.to_string()}))
            .collect();
        return json_value(&serde_json::Value::Array(arr));
    }
    let cols: &'static [&'static str] = match key {
        "Collection" => &["Collection", "Count", "Authorized"],
        "Modality" => &["Modality", "Count", "Authorized"],
        "BodyPart" => &["BodyPart", "Count", "Authorized"],
        _ => &["Manufacturer", "Count", "Authorized"],
    };
    table(
        Table::new(
            cols,
            v.into_iter()
                .map(|(k, n)| vec![Val::S(k), Val::I(n as i64), Val::I(1)]),
        ),
        ctx.format(),
    )
}

// ---------------------------------------------------------------- patients and studies

fn patient_range(ctx: &Ctx) -> Option<std::ops::Range<usize>> {
    match ctx.q.get("Collection") {
        Some(c) => ctx.ds.ranges(c).map(|(_, p, _)| p),
        None => Some(0..ctx.ds.patient_count()),
    }
}

fn patient_table(ctx: &Ctx, it: impl Iterator<Item = Patient> + Send + 'static) -> Response {
    match ctx.ver {
        Ver::V4 => table(Table::new(PATIENT_V4, it.map(patient_v4)), ctx.format()),
        Ver::Legacy => table(
            Table::new(PATIENT_LEGACY, it.map(patient_legacy)),
            ctx.format(),
        ),
        _ => table(Table::new(PATIENT_V1, it.map(patient_v1)), ctx.format()),
    }
}

fn patients(ctx: &Ctx) -> Response {
    let Some(range) = patient_range(ctx) else {
        return empty();
    };
    let ds = ctx.ds.clone();
    let pid = ctx
        .q
        .get(if ctx.ver == Ver::Legacy {
            "PatientID"
        } else {
            "PatientId"
        })
        .map(str::to_string);
    let privileged = ctx.privileged;
    let it = range.map(move |i| ds.patient_at(i)).filter(move |p| {
        (privileged || p.collection != RESTRICTED_COLLECTION)
            && ci(Some(&p.patient_id), pid.as_deref())
    });
    patient_table(ctx, it)
}

fn patients_by_modality(ctx: &Ctx) -> Response {
    let (Some(coll), Some(modality)) = (ctx.q.get("Collection"), ctx.q.get("Modality")) else {
        return bad_param("A parameter, Collection and Modality, are required for this API call.");
    };
    let Some((range, _, _)) = ctx.ds.ranges(coll) else {
        return empty();
    };
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::new();
    for i in range {
        let s = ctx.ds.series_at(i);
        if ctx.visible(&s.collection)
            && s.modality.eq_ignore_ascii_case(modality)
            && seen.insert(s.patient_id.clone())
        {
            ids.push(s.patient_id);
        }
    }
    if ctx.v4() {
        table(
            Table::new(
                &["PatientId", "Authorized"],
                ids.into_iter().map(|p| vec![Val::S(p), Val::I(1)]),
            ),
            ctx.format(),
        )
    } else {
        table(
            Table::new(&["PatientId"], ids.into_iter().map(|p| vec![Val::S(p)])),
            ctx.format(),
        )
    }
}

/// The date parameter of the New* endpoints: None = missing, Some(None) = unparseable.
fn new_since(ctx: &Ctx) -> Option<Option<Timestamp>> {
    if ctx.v4() {
        ctx.q.get("fromDate").map(parse_v4)
    } else {
        ctx.q.get("Date").map(|d| parse_lenient(d, Order::Ymd))
    }
}

fn new_patients(ctx: &Ctx) -> Response {
    let (Some(coll), Some(date)) = (ctx.q.get("Collection"), new_since(ctx)) else {
        return bad_param("A parameter, Collection and Date are required for this API call.");
    };
    let (Some(date), Some((_, range, _))) = (date, ctx.ds.ranges(coll)) else {
        return empty();
    };
    let ds = ctx.ds.clone();
    let privileged = ctx.privileged;
    let it = range.map(move |i| ds.patient_at(i)).filter(move |p| {
        (privileged || p.collection != RESTRICTED_COLLECTION) && p.released > date
    });
    patient_table(ctx, it)
}

fn studies(ctx: &Ctx, new_only: bool) -> Response {
    let mut since = None;
    if new_only {
        let (Some(_), Some(date)) = (ctx.q.get("Collection"), new_since(ctx)) else {
            return bad_param("A parameter, Collection and Date are required for this API call.");
        };
        let Some(date) = date else { return empty() };
        since = Some(date);
    }
    let range = match ctx.q.get("Collection") {
        Some(c) => match ctx.ds.ranges(c) {
            Some((_, _, r)) => r,
            None => return empty(),
        },
        None => 0..ctx.ds.study_count(),
    };
    let ds = ctx.ds.clone();
    let pid = ctx.q.get("PatientID").map(str::to_string);
    let suid = ctx.q.get("StudyInstanceUID").map(str::to_string);
    let privileged = ctx.privileged;
    let v4 = ctx.v4();
    let ds2 = ds.clone();
    let it = range.map(move |i| ds2.study_at(i)).filter_map(move |st| {
        if !privileged && st.collection == RESTRICTED_COLLECTION {
            return None;
        }
        if !ci(Some(&st.patient_id), pid.as_deref())
            || suid.as_deref().is_some_and(|u| u != st.study_uid)
        {
            return None;
        }
        if since.is_some_and(|d| st.released <= d) {
            return None;
        }
        let p = ds.patient(&st.collection, &st.patient_id)?;
        Some(if v4 {
            study_v4(st, &p)
        } else {
            study_v1(st, &p)
        })
    });
    table(
        Table::new(if v4 { STUDY_V4 } else { STUDY_V1 }, it),
        ctx.format(),
    )
}

// ---------------------------------------------------------------- series

fn series(ctx: &Ctx) -> Response {
    let ds = ctx.ds.clone();
    let range = if let Some(uid) = ctx.q.get("SeriesInstanceUID") {
        match ds.series_index(uid) {
            Some(i) => i..i + 1,
            None => return empty(),
        }
    } else {
        match ctx.q.get("Collection") {
            Some(c) => match ds.ranges(c) {
                Some((r, _, _)) => r,
                None => return empty(),
            },
            None => 0..ds.series_count(),
        }
    };
    let own = |k: &str| ctx.q.get(k).map(str::to_string);
    let (coll, pid, study, modality) = (
        own("Collection"),
        own("PatientID"),
        own("StudyInstanceUID"),
        own("Modality"),
    );
    let legacy = ctx.ver == Ver::Legacy;
    let (body, manu, model) = if legacy {
        (None, None, None)
    } else {
        (
            own("BodyPartExamined"),
            own("Manufacturer"),
            own("ManufacturerModelName"),
        )
    };
    let privileged = ctx.privileged;
    let it = range.map(move |i| ds.series_at(i)).filter(move |s| {
        (privileged || s.collection != RESTRICTED_COLLECTION)
            && ci(Some(&s.collection), coll.as_deref())
            && ci(Some(&s.patient_id), pid.as_deref())
            && study.as_deref().is_none_or(|u| u == s.study_uid)
            && ci(Some(&s.modality), modality.as_deref())
            && ci(s.body_part.as_ref(), body.as_deref())
            && ci(s.manufacturer.as_ref(), manu.as_deref())
            && ci(s.manufacturer_model.as_ref(), model.as_deref())
    });
    match ctx.ver {
        Ver::V4 => table(Table::new(SERIES_V4, it.map(series_v4)), ctx.format()),
        Ver::Legacy => table(
            Table::new(SERIES_LEGACY, it.map(series_legacy)),
            ctx.format(),
        ),
        _ => table(Table::new(SERIES_V1, it.map(series_v1)), ctx.format()),
    }
}

fn updated_series(ctx: &Ctx) -> Response {
    let from = match ctx.q.get("fromDate") {
        None => Some(Timestamp::date(1900, 1, 1)),
        Some(d) if ctx.v4() => parse_v4(d),
        Some(d) => parse_lenient(d, Order::Dmy),
    };
    let Some(from) = from else { return empty() };
    let ds = ctx.ds.clone();
    let privileged = ctx.privileged;
    let it = (0..ds.series_count())
        .map(move |i| ds.series_at(i))
        .filter(move |s| {
            (privileged || s.collection != RESTRICTED_COLLECTION) && s.released > from
        });
    if ctx.v4() {
        table(Table::new(SERIES_V4, it.map(series_v4)), ctx.format())
    } else {
        table(Table::new(UPDATED_V1, it.map(updated_v1)), ctx.format())
    }
}

const NEED_SERIES: &str = "A parameter, SeriesInstanceUID is required for this API call.";

fn visible_series(ctx: &Ctx, uid: &str) -> Option<Series> {
    ctx.ds
        .find_series(uid)
        .filter(|s| ctx.visible(&s.collection))
}

fn series_size(ctx: &Ctx) -> Response {
    let Some(uid) = ctx.q.get("SeriesInstanceUID") else {
        return bad_param(NEED_SERIES);
    };
    let row = match visible_series(ctx, uid) {
        Some(s) => vec![Val::I(s.file_size as i64), Val::I(s.image_count as i64)],
        None => vec![Val::Null, Val::Null],
    };
    table(
        Table::new(&["TotalSizeInBytes", "ObjectCount"], std::iter::once(row)),
        ctx.format(),
    )
}

fn sop_uids(ctx: &Ctx) -> Response {
    let Some(uid) = ctx.q.get("SeriesInstanceUID") else {
        return bad_param(NEED_SERIES);
    };
    if visible_series(ctx, uid).is_none() {
        return empty();
    }
    let v = ctx.ds.sop_uids(uid);
    table(
        Table::new(&["SOPInstanceUID"], v.into_iter().map(|u| vec![Val::S(u)])),
        ctx.format(),
    )
}

fn meta_v1_ep(ctx: &Ctx) -> Response {
    let Some(uid) = ctx.q.get("SeriesInstanceUID") else {
        return bad_param(NEED_SERIES);
    };
    let Some(s) = visible_series(ctx, uid) else {
        return status(204);
    };
    let row = meta_v1(&ctx.ds, s);
    table(Table::new(META_V1, std::iter::once(row)), ctx.format())
}

fn meta_v4_ep(ctx: &Ctx) -> Response {
    let uids = form_list(ctx);
    if uids.is_empty() {
        return text(
            400,
            Some("text/plain"),
            "A form parameter, list, containing at least one SeriesInstanceUID is required.",
        );
    }
    let series: Vec<Series> = uids.iter().filter_map(|u| visible_series(ctx, u)).collect();
    let ds = ctx.ds.clone();
    let it = series.into_iter().map(move |s| meta_v4(&ds, s));
    let fmt = ctx
        .form
        .raw("format")
        .or(ctx.q.raw("format"))
        .unwrap_or("csv")
        .to_string();
    let mut r = table(Table::new(META_V4, it), Some(&fmt));
    if fmt.eq_ignore_ascii_case("csv") && r.headers().contains_key(header::CONTENT_TYPE) {
        r.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"SeriesMetaData.csv\""),
        );
    }
    r
}

fn contents_by_name(ctx: &Ctx) -> Response {
    let Some(name) = ctx.q.get("name") else {
        return bad_param("A parameter, name is required for this API call.");
    };
    let Some((_, uids)) = ctx.ds.carts().iter().find(|(n, _)| n == name) else {
        return empty();
    };
    let rows: Vec<Row> = uids
        .iter()
        .filter_map(|u| visible_series(ctx, u))
        .map(updated_v1)
        .collect();
    table(Table::new(CART_V1, rows.into_iter()), ctx.format())
}

fn dicom_tags_ep(ctx: &Ctx) -> Response {
    let Some(uid) = ctx.q.get("SeriesUID") else {
        return bad_param("A parameter, SeriesUID is required for this API call.");
    };
    let Some(s) = visible_series(ctx, uid) else {
        return empty();
    };
    let tags = dicom_tags(&ctx.ds, &s);
    if ctx.ver == Ver::Advanced {
        let arr: Vec<serde_json::Value> = tags
            .into_iter()
            .map(|(e, n, d)| serde_json::json!({"element": e, "name": n, "data": d}))
            .collect();
        return json_value(&serde_json::Value::Array(arr));
    }
    let rows = tags
        .into_iter()
        .map(|(e, n, d)| vec![Val::S(e), Val::S(n), d.map_or(Val::Null, Val::S)]);
    table(Table::new(&["element", "name", "data"], rows), ctx.format())
}

fn descriptions(ctx: &Ctx) -> Response {
    let want = ctx.q.get("collectionName");
    let arr: Vec<serde_json::Value> = ctx
        .ds
        .collection_infos()
        .iter()
        .enumerate()
        .filter(|(_, c)| ctx.visible(&c.name) && want.is_none_or(|w| w.eq_ignore_ascii_case(&c.name)))
        .map(|(i, c)| {
            if ctx.ver == Ver::Advanced {
                serde_json::json!({
                    "description": c.description, "id": 1000 + i, "collectionDescTimestamp": c.desc_timestamp_ms,
                    "collectionName": c.name, "userName": "tcia_admin", "licenseId": 1 + (i % 3), "descriptionURI": c.doi
                })
            } else {
                serde_json::json!({
                    "collectionName": c.name, "description": c.description, "descriptionURI": c.doi,
                    "collectionDescTimestamp": c.desc_timestamp_ms
                })
            }
        })
        .collect();
    json_value(&serde_json::Value::Array(arr))
}
