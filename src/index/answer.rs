//! The list endpoints answered from the index, row for row as the server answers them: the
//! same filters (case-insensitive where the server ignores case), the same order, the same
//! columns and values (absent where the server leaves a key out). One combination of filter
//! values at a time, as the live path sends one request per combination.

use std::collections::BTreeMap;

use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Statement};
use serde_json::Value;

use super::store::{damaged, Index};
use super::values::cell_ref;
use crate::api::catalogue::{self as cat, Api, Endpoint, Param};
use crate::dates::{loose_parts, Date};
use crate::error::usage;
use crate::output::{Row, RowRef};

/// Rows go here: read in place from SQLite's rows (valid for the call).
pub type OnRow<'a> = dyn FnMut(RowRef<'_>) -> anyhow::Result<()> + 'a;

/// Whether the index can answer this endpoint.
pub fn answers(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint.name,
        "getCollectionValues"
            | "getModalityValues"
            | "getBodyPartValues"
            | "getManufacturerValues"
            | "getPatient"
            | "getPatientStudy"
            | "getSeries"
            | "getUpdatedSeries"
            | "getCollectionValuesAndCounts"
            | "getModalityValuesAndCounts"
            | "getBodyPartValuesAndCounts"
            | "getManufacturerValuesAndCounts"
    )
}

/// Every key the endpoint's rows can have, when the index knows them before answering (the
/// columns of the table it reads); None otherwise.
pub fn keys(ix: &Index, endpoint: &Endpoint) -> anyhow::Result<Option<Vec<String>>> {
    if endpoint.name == "getUpdatedSeries" {
        if let Some(cols) = updated_columns(ix)? {
            return Ok(Some(cols));
        }
    }
    let table = match endpoint.name {
        "getSeries" | "getUpdatedSeries" => "series",
        "getPatient" => "patients",
        "getPatientStudy" => "studies",
        _ => return Ok(None),
    };
    let stmt = prepare(ix, &format!("SELECT * FROM \"{table}\" LIMIT 0"))?;
    Ok(Some(
        stmt.column_names().iter().map(|c| c.to_string()).collect(),
    ))
}

/// The combinations the live path sends requests for (one answer each).
pub use crate::api::rows::combinations;

/// Answer one request (one value per parameter).
pub fn answer(
    ix: &Index,
    endpoint: &Endpoint,
    params: &[(Param, String)],
    on_row: &mut OnRow<'_>,
) -> anyhow::Result<()> {
    let get = |p: Param| {
        params
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, v)| v.as_str())
    };
    match endpoint.name {
        "getCollectionValues" => collections(ix, on_row),
        "getModalityValues" => values(ix, "Modality", &get, on_row),
        "getBodyPartValues" => values(ix, "BodyPartExamined", &get, on_row),
        "getManufacturerValues" => values(ix, "Manufacturer", &get, on_row),
        "getPatient" => table(ix, "patients", &patient_filters(&get), on_row),
        "getPatientStudy" => table(ix, "studies", &study_filters(&get), on_row),
        "getSeries" => table(ix, "series", &series_filters(&get), on_row),
        "getUpdatedSeries" => updated(ix, get(Param::Since), on_row),
        "getCollectionValuesAndCounts" => collection_counts(ix, on_row),
        "getModalityValuesAndCounts" => counts(ix, "Modality", "Modality", &get, on_row),
        "getBodyPartValuesAndCounts" => counts(ix, "BodyPartExamined", "BodyPart", &get, on_row),
        "getManufacturerValuesAndCounts" => {
            counts(ix, "Manufacturer", "Manufacturer", &get, on_row)
        }
        other => Err(usage(format!(
            "{other} cannot be answered from the local index; leave out --offline"
        ))),
    }
}

/// A filter: column, value, and whether case is ignored.
type Filter<'a> = (&'static str, &'a str, bool);

fn patient_filters<'a>(get: &impl Fn(Param) -> Option<&'a str>) -> Vec<Filter<'a>> {
    let mut f = Vec::new();
    push(&mut f, "Collection", get(Param::Collection), true);
    push(&mut f, "PatientId", get(Param::PatientId), true);
    f
}

fn study_filters<'a>(get: &impl Fn(Param) -> Option<&'a str>) -> Vec<Filter<'a>> {
    let mut f = Vec::new();
    push(&mut f, "Collection", get(Param::Collection), true);
    push(&mut f, "PatientID", get(Param::PatientId), true);
    push(&mut f, "StudyInstanceUID", get(Param::StudyUid), false);
    f
}

fn series_filters<'a>(get: &impl Fn(Param) -> Option<&'a str>) -> Vec<Filter<'a>> {
    let mut f = Vec::new();
    push(&mut f, "SeriesInstanceUID", get(Param::SeriesUid), false);
    push(&mut f, "Collection", get(Param::Collection), true);
    push(&mut f, "PatientID", get(Param::PatientId), true);
    push(&mut f, "StudyInstanceUID", get(Param::StudyUid), false);
    push(&mut f, "Modality", get(Param::Modality), true);
    push(&mut f, "BodyPartExamined", get(Param::BodyPart), true);
    push(&mut f, "Manufacturer", get(Param::Manufacturer), true);
    push(&mut f, "ManufacturerModelName", get(Param::Model), true);
    f
}

fn facet_filters<'a>(facet: &str, get: &impl Fn(Param) -> Option<&'a str>) -> Vec<Filter<'a>> {
    let mut f = Vec::new();
    push(&mut f, "Collection", get(Param::Collection), true);
    if facet != "Modality" {
        push(&mut f, "Modality", get(Param::Modality), true);
    }
    if facet != "BodyPartExamined" {
        push(&mut f, "BodyPartExamined", get(Param::BodyPart), true);
    }
    f
}

fn push<'a>(f: &mut Vec<Filter<'a>>, col: &'static str, v: Option<&'a str>, nocase: bool) {
    if let Some(v) = v {
        f.push((col, v, nocase));
    }
}

fn where_clause(filters: &[Filter<'_>]) -> (String, Vec<Sql>) {
    if filters.is_empty() {
        return (String::new(), Vec::new());
    }
    let conds: Vec<String> = filters
        .iter()
        .map(|(c, _, nocase)| {
            if *nocase {
                format!("\"{c}\" = ? COLLATE NOCASE")
            } else {
                format!("\"{c}\" = ?")
            }
        })
        .collect();
    let values = filters
        .iter()
        .map(|(_, v, _)| Sql::Text(v.to_string()))
        .collect();
    (format!(" WHERE {}", conds.join(" AND ")), values)
}

fn prepare<'c>(ix: &'c Index, sql: &str) -> anyhow::Result<Statement<'c>> {
    ix.conn.prepare(sql).map_err(|e| damaged(&ix.path, e))
}

/// Rows of a table, in the server's order, keys as stored.
fn table(
    ix: &Index,
    name: &str,
    filters: &[Filter<'_>],
    on_row: &mut OnRow<'_>,
) -> anyhow::Result<()> {
    let (cond, values) = where_clause(filters);
    let mut stmt = prepare(
        ix,
        &format!("SELECT * FROM \"{name}\"{cond} ORDER BY rowid"),
    )?;
    emit(&mut stmt, values, on_row, &mut |_| true)
}

/// Run a statement and hand each row on as a JSON object (NULL keys left out), its text
/// borrowed from SQLite's row: no map per row.
fn emit(
    stmt: &mut Statement<'_>,
    values: Vec<Sql>,
    on_row: &mut OnRow<'_>,
    keep: &mut dyn FnMut(&RowRef<'_>) -> bool,
) -> anyhow::Result<()> {
    let cols = super::values::column_kinds(stmt);
    let mut rows = stmt.query(params_from_iter(values))?;
    while let Some(r) = rows.next()? {
        let mut fields = Vec::with_capacity(cols.len());
        for (i, (name, boolean)) in cols.iter().enumerate() {
            if let Some(v) = cell_ref(r.get_ref(i)?, *boolean) {
                fields.push((std::borrow::Cow::Borrowed(name.as_str()), v));
            }
        }
        let row = RowRef::from_fields(fields);
        if keep(&row) {
            on_row(row)?;
        }
    }
    Ok(())
}

fn collections(ix: &Index, on_row: &mut OnRow<'_>) -> anyhow::Result<()> {
    let mut stmt = prepare(
        ix,
        "SELECT name AS Collection FROM collections ORDER BY rowid",
    )?;
    emit(&mut stmt, Vec::new(), on_row, &mut |_| true)
}

/// A distinct-values list: sorted ignoring case, null (`{}`) first; body parts in upper case;
/// modalities distinct ignoring case.
fn values<'a>(
    ix: &Index,
    facet: &'static str,
    get: &impl Fn(Param) -> Option<&'a str>,
    on_row: &mut OnRow<'_>,
) -> anyhow::Result<()> {
    let (cond, params) = where_clause(&facet_filters(facet, get));
    let mut stmt = prepare(
        ix,
        &format!("SELECT DISTINCT \"{facet}\" FROM series{cond}"),
    )?;
    let mut set: BTreeMap<Option<(String, String)>, ()> = BTreeMap::new();
    let mut rows = stmt.query(params_from_iter(params))?;
    while let Some(r) = rows.next()? {
        let v: Option<String> = r.get(0)?;
        let v = v.map(|v| {
            if facet == "BodyPartExamined" {
                v.to_uppercase()
            } else {
                v
            }
        });
        set.insert(v.map(|v| (v.to_uppercase(), v)), ());
    }
    if facet == "Modality" {
        let mut seen = std::collections::HashSet::new();
        set.retain(|k, _| k.as_ref().is_none_or(|(u, _)| seen.insert(u.clone())));
    }
    for k in set.into_keys() {
        let mut row = Row::new();
        if let Some((_, v)) = k {
            row.insert(facet.to_string(), Value::String(v));
        }
        on_row(RowRef::from_map(row))?;
    }
    Ok(())
}

/// The columns of getUpdatedSeries rows when they are fewer than getSeries' (an index of v1 or
/// v2: the table's columns among the endpoint's, in the endpoint's order); None for v4, whose
/// rows are whole series rows.
fn updated_columns(ix: &Index) -> anyhow::Result<Option<Vec<String>>> {
    let api = match ix.info()?.api.as_str() {
        "v1" => Api::V1,
        "v2" => Api::V2,
        _ => return Ok(None),
    };
    if crate::index::update::same_columns(api) {
        return Ok(None);
    }
    let route = cat::UPDATED_SERIES.route(api).map_err(usage)?;
    let stmt = prepare(ix, "SELECT * FROM series LIMIT 0")?;
    let have = stmt.column_names();
    Ok(Some(
        route
            .columns
            .iter()
            .filter(|c| have.contains(c))
            .map(|c| c.to_string())
            .collect(),
    ))
}

/// getUpdatedSeries: series released on or after the day, in the server's order.
fn updated(ix: &Index, since: Option<&str>, on_row: &mut OnRow<'_>) -> anyhow::Result<()> {
    let since = match since {
        Some(s) => Date::parse_iso(s).map_err(usage)?,
        None => Date {
            year: 1900,
            month: 1,
            day: 1,
        },
    };
    let select = match updated_columns(ix)? {
        Some(cols) => cols
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", "),
        None => "*".to_string(),
    };
    let mut stmt = prepare(ix, &format!("SELECT {select} FROM series ORDER BY rowid"))?;
    let mut keep = |row: &RowRef<'_>| {
        row.get("DateReleased")
            .and_then(|c| c.as_str())
            .and_then(released_on)
            .is_some_and(|d| d >= since)
    };
    emit(&mut stmt, Vec::new(), on_row, &mut keep)
}

fn released_on(s: &str) -> Option<Date> {
    let (y, m, d) = loose_parts(s)?;
    Date::parse_iso(&format!("{y:0>4}-{m:0>2}-{d:0>2}")).ok()
}

/// getCollectionValuesAndCounts: patients per collection, by name.
fn collection_counts(ix: &Index, on_row: &mut OnRow<'_>) -> anyhow::Result<()> {
    let mut stmt = prepare(
        ix,
        "SELECT c.name, (SELECT count(*) FROM patients p WHERE p.Collection = c.name) \
         FROM collections c ORDER BY c.name",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (name, n): (String, i64) = (r.get(0)?, r.get(1)?);
        on_row(RowRef::from_map(count_row("Collection", name, n)))?;
    }
    Ok(())
}

/// The value-and-count endpoints: series per value, "NOT SPECIFIED" (no value) first.
fn counts<'a>(
    ix: &Index,
    facet: &'static str,
    key: &'static str,
    get: &impl Fn(Param) -> Option<&'a str>,
    on_row: &mut OnRow<'_>,
) -> anyhow::Result<()> {
    let (cond, params) = where_clause(&facet_filters(facet, get));
    let sql = format!("SELECT \"{facet}\", count(*) FROM series{cond} GROUP BY 1");
    let mut stmt = prepare(ix, &sql)?;
    let mut m: BTreeMap<(u8, String), i64> = BTreeMap::new();
    let mut rows = stmt.query(params_from_iter(params))?;
    while let Some(r) = rows.next()? {
        let (v, n): (Option<String>, i64) = (r.get(0)?, r.get(1)?);
        let k = v.map_or((0, "NOT SPECIFIED".to_string()), |v| (1, v));
        *m.entry(k).or_default() += n;
    }
    for ((_, v), n) in m {
        on_row(RowRef::from_map(count_row(key, v, n)))?;
    }
    Ok(())
}

fn count_row(key: &str, v: String, n: i64) -> Row {
    let mut row = Row::new();
    row.insert(key.to_string(), Value::String(v));
    row.insert("Count".into(), Value::from(n));
    row.insert("Authorized".into(), Value::from(1));
    row
}
