//! v4 endpoints beyond the search: DOIs (`getCollectionOrSeriesForDOI`), hierarchical MD5s
//! (`getMD5Hierarchy`), image MD5s (`getMD5HashForImage`), `getSpeciesValuesAndCounts` and
//! `getManifestForCollection`, as the NBIA server source has them.
//!
//! The stored image digest is the one md5hashes.csv serves (upper-case hex for some series: the
//! DB keeps what it was given). A series hash is the MD5 of its stored digests sorted and
//! concatenated; study, patient and collection hashes the MD5 of their sorted child hashes; all
//! lower-case `%032x`, and empty when there is nothing below.

use md5::{Digest, Md5};

use axum::response::Response;

use crate::data::Series;
use crate::images::{hex, md5_upper};
use crate::render::{bad_param, table, text, Table, Val};
use crate::request::{Ctx, Params};
use crate::search::manifest;

/// The allowed-parameter check these endpoints make over every form and query parameter.
fn reject_unknown(ctx: &Ctx, allowed: &[&str], kind: &str) -> Option<Response> {
    let bad = ctx
        .form
        .0
        .iter()
        .chain(ctx.q.0.iter())
        .find(|(k, _)| !allowed.contains(&k.as_str()))?;
    Some(bad_param(&format!(
        "Invalid {kind} parameter: '{}'. Allowed parameters are: [{}]",
        bad.0,
        allowed.join(", ")
    )))
}

fn plain(body: String) -> Response {
    text(200, Some("text/plain"), body)
}

/// MD5 of sorted, concatenated hashes (empty ones skipped); empty when none.
fn combine(mut v: Vec<String>) -> String {
    v.retain(|h| !h.is_empty());
    if v.is_empty() {
        return String::new();
    }
    v.sort();
    Md5::digest(v.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// getMD5ForSeries: no visibility or authorisation check in the source.
fn series_md5(ctx: &Ctx, uid: &str) -> String {
    let Some(si) = ctx.ds.series_images(uid) else {
        return String::new();
    };
    let upper = md5_upper(uid);
    combine(
        (0..si.count())
            .map(|k| hex(&ctx.images.md5(&ctx.ds, &si, k), upper))
            .collect(),
    )
}

fn visible_series(ctx: &Ctx, keep: &dyn Fn(&Series) -> bool) -> Vec<Series> {
    ctx.ds
        .series()
        .filter(|s| ctx.visible(&s.collection) && keep(s))
        .collect()
}

fn study_md5(ctx: &Ctx, study: &str) -> String {
    let series = visible_series(ctx, &|s| s.study_uid == study);
    combine(
        series
            .iter()
            .map(|s| series_md5(ctx, &s.series_uid))
            .collect(),
    )
}

fn patient_md5(ctx: &Ctx, patient: &str, collection: Option<&str>) -> String {
    let Some(coll) = collection else {
        return String::new();
    };
    let mut studies: Vec<String> =
        visible_series(ctx, &|s| s.patient_id == patient && s.collection == coll)
            .into_iter()
            .map(|s| s.study_uid)
            .collect();
    studies.sort();
    studies.dedup();
    combine(studies.iter().map(|st| study_md5(ctx, st)).collect())
}

fn collection_md5(ctx: &Ctx, coll: &str) -> String {
    if !ctx.visible(coll) {
        return String::new();
    }
    let mut patients: Vec<String> = ctx
        .ds
        .series_in(coll)
        .into_iter()
        .map(|s| s.patient_id)
        .collect();
    patients.sort();
    patients.dedup();
    combine(
        patients
            .iter()
            .map(|p| patient_md5(ctx, p, Some(coll)))
            .collect(),
    )
}

/// POST v4/getMD5Hierarchy: each given level is computed in turn and the last one wins, as in
/// the source (series, study, patient with its collection, else collection).
pub fn md5_hierarchy(ctx: &Ctx) -> Response {
    let allowed = [
        "SeriesInstanceUID",
        "StudyInstanceUID",
        "PatientID",
        "Collection",
    ];
    if let Some(r) = reject_unknown(ctx, &allowed, "form") {
        return r;
    }
    let f: &Params = &ctx.form;
    let mut md5 = String::new();
    if let Some(u) = f.get("SeriesInstanceUID") {
        md5 = series_md5(ctx, u);
    }
    if let Some(u) = f.get("StudyInstanceUID") {
        md5 = study_md5(ctx, u);
    }
    if let Some(p) = f.get("PatientID") {
        md5 = patient_md5(ctx, p, f.get("Collection"));
    } else if let Some(c) = f.get("Collection") {
        md5 = collection_md5(ctx, c);
    }
    plain(md5)
}

/// GET v4/getMD5HashForImage?SOPInstanceUID=: the stored digest, empty when unknown or hidden.
pub fn md5_for_image(ctx: &Ctx) -> Response {
    if let Some(r) = reject_unknown(ctx, &["SOPInstanceUID"], "query") {
        return r;
    }
    let Some(sop) = ctx.q.get("SOPInstanceUID") else {
        return plain(String::new());
    };
    for s in ctx.ds.series().filter(|s| ctx.visible(&s.collection)) {
        let Some(si) = ctx.ds.series_images(&s.series_uid) else {
            continue;
        };
        if let Some(k) = si.sops.iter().position(|x| x == sop) {
            let d = ctx.images.md5(&ctx.ds, &si, k);
            return plain(hex(&d, md5_upper(&s.series_uid)));
        }
    }
    plain(String::new())
}

/// POST v4/getCollectionOrSeriesForDOI: series (or collections) whose DataDescriptionURI equals
/// `DOI` exactly; an absent or empty DOI filters nothing. Jackson JSON, nulls omitted, `[]` for
/// none, and the DTO's misspelt `thirdPartyAnanlysis`.
pub fn doi(ctx: &Ctx) -> Response {
    if let Some(r) = reject_unknown(ctx, &["DOI", "CollectionOrSeries"], "form") {
        return r;
    }
    let doi = ctx.form.get("DOI");
    let for_series = ctx
        .form
        .get("CollectionOrSeries")
        .is_some_and(|v| v.eq_ignore_ascii_case("Series"));
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in visible_series(ctx, &|s| doi.is_none_or(|d| s.doi == d)) {
        let mut o = serde_json::Map::new();
        o.insert("collection".into(), s.collection.clone().into());
        if for_series {
            o.insert("seriesInstanceUID".into(), s.series_uid.clone().into());
        } else if !seen.insert((s.collection.clone(), s.third_party.clone())) {
            continue;
        }
        if let Some(t) = &s.third_party {
            o.insert("thirdPartyAnanlysis".into(), t.clone().into());
        }
        o.insert("authorized".into(), 1.into());
        rows.push(o.into());
    }
    text(
        200,
        Some("application/json"),
        serde_json::Value::Array(rows).to_string(),
    )
}

/// GET v4/getSpeciesValuesAndCounts: distinct patients per species code (every synthetic
/// patient is human, 337915000); the source reads no parameters.
pub fn species_counts(ctx: &Ctx) -> Response {
    let mut patients: Vec<(String, String)> = visible_series(ctx, &|_| true)
        .into_iter()
        .map(|s| (s.collection, s.patient_id))
        .collect();
    patients.sort();
    patients.dedup();
    let rows = (!patients.is_empty())
        .then(|| {
            vec![
                Val::S("337915000".into()),
                Val::I(patients.len() as i64),
                Val::I(1),
            ]
        })
        .into_iter();
    table(Table::new(&["Species", "Count", "Authorized"], rows), None)
}

/// POST v4/getManifestForCollection: every series of `collection` (visibility 1), ordered by
/// UID; `includeAnnotation` defaults to true. The source checks no authorisation here.
pub fn manifest_for_collection(ctx: &Ctx) -> Response {
    let allowed = ["collection", "visibility", "includeAnnotation"];
    if let Some(r) = reject_unknown(ctx, &allowed, "form") {
        return r;
    }
    let coll = ctx.form.get("collection").unwrap_or("null");
    let mut uids: Vec<String> = ctx
        .ds
        .series_in(coll)
        .into_iter()
        .map(|s| s.series_uid)
        .collect();
    uids.sort();
    let include = ctx
        .form
        .get("includeAnnotation")
        .is_none_or(|v| v.eq_ignore_ascii_case("true"));
    text(
        200,
        Some("application/x-nbia-manifest-file"),
        manifest(&ctx.base_url, include, &uids),
    )
}
