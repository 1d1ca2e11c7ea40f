//! The metadata subcommands: each one's endpoint and parameters (`for_command`), then the one
//! generic query path: catalogue route → wire queries (`api::rows`) → streamed JSON rows →
//! transform → renderer.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Write;

use anyhow::Context as _;
use serde_json::Value;

use crate::api::catalogue::{self as cat, Api, Endpoint, Param, Route};
use crate::api::client::{Request, V2_LOGIN_HINT};
use crate::api::rows::{requests, stream_row_refs};
use crate::cli::Command;
use crate::context::Ctx;
use crate::error::usage;
use crate::output::{self, Columns, Row, RowRef};
use crate::uid::{cart_name, read_uid_args, unknown_series};

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

/// The query a metadata subcommand sends; None for commands that are not one query.
pub fn for_command(command: &Command) -> anyhow::Result<Option<Query>> {
    use Param::*;
    let q = |endpoint: &'static Endpoint, params: Vec<(Param, Vec<String>)>| Query {
        endpoint,
        params,
        transform: Transform::None,
    };
    let query = match command {
        Command::Collections => q(&cat::COLLECTIONS, vec![]),
        Command::Modalities(a) => q(
            &cat::MODALITIES,
            vec![
                (Collection, a.collection.clone()),
                (BodyPart, a.body_part.clone()),
            ],
        ),
        Command::BodyParts(a) => q(
            &cat::BODY_PARTS,
            vec![
                (Collection, a.collection.clone()),
                (Modality, a.modality.clone()),
            ],
        ),
        Command::Manufacturers(a) => q(
            &cat::MANUFACTURERS,
            vec![
                (Collection, a.collection.clone()),
                (Modality, a.modality.clone()),
                (BodyPart, a.body_part.clone()),
            ],
        ),
        other => {
            return Ok(patient_query(other)
                .or(series_query(other)?)
                .or_else(|| counts_query(other)))
        }
    };
    Ok(Some(query))
}

/// Patient- and study-level queries.
fn patient_query(command: &Command) -> Option<Query> {
    use Param::*;
    let q = |endpoint: &'static Endpoint, params: Vec<(Param, Vec<String>)>| Query {
        endpoint,
        params,
        transform: Transform::None,
    };
    Some(match command {
        Command::Patients(a) => q(
            &cat::PATIENTS,
            vec![
                (Collection, a.collection.clone()),
                (PatientId, a.patient_id.clone()),
            ],
        ),
        Command::PatientsByModality(a) => q(
            &cat::PATIENTS_BY_MODALITY,
            vec![
                (Collection, a.collection.clone()),
                (Modality, a.modality.clone()),
            ],
        ),
        Command::NewPatients(a) => q(
            &cat::NEW_PATIENTS,
            vec![
                (Collection, a.collection.clone()),
                (Since, vec![a.since.to_string()]),
            ],
        ),
        Command::Studies(a) => q(
            &cat::STUDIES,
            vec![
                (Collection, a.collection.clone()),
                (PatientId, a.patient_id.clone()),
                (StudyUid, a.study_uid.clone()),
            ],
        ),
        Command::NewStudies(a) => q(
            &cat::NEW_STUDIES,
            vec![
                (Collection, a.collection.clone()),
                (PatientId, a.patient_id.clone()),
                (Since, vec![a.since.to_string()]),
            ],
        ),
        _ => return None,
    })
}

/// Series-level queries (getSeries and the per-series endpoints, carts, descriptions).
fn series_query(command: &Command) -> anyhow::Result<Option<Query>> {
    use Param::*;
    let q = |endpoint: &'static Endpoint, params: Vec<(Param, Vec<String>)>| Query {
        endpoint,
        params,
        transform: Transform::None,
    };
    Ok(Some(match command {
        Command::Series(a) => {
            let mut params = a.filters.params();
            params.push((SeriesUid, a.series_uid.clone()));
            q(&cat::SERIES, params)
        }
        Command::UpdatedSeries(a) => q(
            &cat::UPDATED_SERIES,
            vec![(Since, vec![a.since.to_string()])],
        ),
        Command::SeriesSize(a) => q(&cat::SERIES_SIZE, vec![(SeriesUid, uids(&a.all())?)]),
        Command::SopUids(a) => q(&cat::SOP_UIDS, vec![(SeriesUid, uids(&a.all())?)]),
        Command::DicomTags(a) => q(&cat::DICOM_TAGS, vec![(SeriesUid, uids(&a.all())?)]),
        Command::Cart(a) => q(&cat::CART, vec![(CartName, vec![cart_name(&a.name)?])]),
        Command::Descriptions(a) => Query {
            endpoint: &cat::DESCRIPTIONS,
            params: vec![(Collection, a.collection.clone())],
            transform: Transform::Descriptions { keep_html: a.html },
        },
        _ => return Ok(None),
    }))
}

/// Series UIDs as given (arguments or --series-uid), each checked.
fn uids(given: &[String]) -> anyhow::Result<Vec<String>> {
    read_uid_args(given, &mut std::io::empty())
}

/// The four counts endpoints, normalised to `{<key>, Count}`.
fn counts_query(command: &Command) -> Option<Query> {
    use Param::*;
    let (endpoint, key, params): (&'static Endpoint, &'static str, _) = match command {
        Command::CollectionCounts => (&cat::COLLECTION_COUNTS, "Collection", vec![]),
        Command::SpeciesCounts => (&cat::SPECIES_COUNTS, "Species", vec![]),
        Command::ModalityCounts(a) => (
            &cat::MODALITY_COUNTS,
            "Modality",
            vec![
                (Collection, a.collection.clone()),
                (BodyPart, a.body_part.clone()),
            ],
        ),
        Command::BodyPartCounts(a) => (
            &cat::BODY_PART_COUNTS,
            "BodyPartExamined",
            vec![
                (Collection, a.collection.clone()),
                (Modality, a.modality.clone()),
            ],
        ),
        Command::ManufacturerCounts(a) => (
            &cat::MANUFACTURER_COUNTS,
            "Manufacturer",
            vec![
                (Collection, a.collection.clone()),
                (Modality, a.modality.clone()),
                (BodyPart, a.body_part.clone()),
            ],
        ),
        _ => return None,
    };
    Some(Query {
        endpoint,
        params,
        transform: Transform::Counts { key },
    })
}

/// Run one metadata query and render its rows.
pub async fn run(ctx: &Ctx, q: Query) -> anyhow::Result<()> {
    if ctx.offline {
        return offline(ctx, q);
    }
    let (route, reqs) = requests(ctx.api, q.endpoint, &q.params)?;
    if let Some(raw) = ctx.raw {
        if ctx.api == Api::V4 && !cat::V4_TAKES_FORMAT.contains(&q.endpoint.name) {
            return Err(usage(format!(
                "--raw is not available for {} with --api v4 (the server takes no format parameter there); use --format",
                q.endpoint.name
            )));
        }
        let [req] = <[Request; 1]>::try_from(reqs)
            .map_err(|_| usage("--raw sends exactly one request: give each filter flag once"))?;
        return raw_passthrough(ctx, req, raw).await;
    }
    ctx.warn_v2_without_login();
    let mut out = Rendered::new(ctx, &q, route.columns, reqs.len() > 1)?;
    let per_series = is_per_series(q.endpoint);
    for req in reqs {
        let (rows_before, empty_before) = (out.rows, out.empty_rows);
        if out.full() {
            break;
        }
        let result = stream_row_refs(&ctx.client, &req, &mut |row| out.push(row)).await;
        match result {
            Err(e) if e.chain().any(|c| c.is::<Enough>()) => break,
            other => other?,
        }
        // Nothing, or one row of nothing (getSeriesSize): the server knows no such series.
        if per_series && out.rows - rows_before == out.empty_rows - empty_before {
            if let Some((_, uid)) = req.query.iter().find(|(k, _)| k.starts_with("Series")) {
                ctx.printer.warn(&unknown_series(uid));
            }
        }
    }
    if out.finish(ctx, route.columns, per_series)? == 0 {
        super::selection::warn_unknown(ctx, &q.params).await;
    }
    Ok(())
}

/// The renderer of one query, with what the notes need: rows are transformed, de-duplicated
/// across requests when there are several, counted, and stopped at `--limit`.
struct Rendered {
    sink: Box<dyn output::RowSink>,
    transform: Transform,
    seen: Option<HashSet<u64>>,
    /// A buffer for the rows' JSON text, when `seen` compares them.
    text: Vec<u8>,
    limit: Option<u64>,
    rows: u64,
    empty_rows: u64,
}

impl Rendered {
    fn new(
        ctx: &Ctx,
        q: &Query,
        known: &'static [&'static str],
        several: bool,
    ) -> anyhow::Result<Rendered> {
        let columns = known_columns(ctx, q.endpoint, known)?;
        Ok(Rendered {
            sink: output::sink(ctx.format, columns, ctx.stdout(), ctx.width),
            transform: q.transform,
            seen: several.then(HashSet::new),
            text: Vec::new(),
            limit: ctx.limit,
            rows: 0,
            empty_rows: 0,
        })
    }

    /// `--limit` rows written.
    fn full(&self) -> bool {
        self.limit.is_some_and(|n| self.rows >= n)
    }

    fn push(&mut self, row: RowRef<'_>) -> anyhow::Result<()> {
        if self.full() {
            return Err(Enough.into());
        }
        let row = match self.transform {
            Transform::None => row,
            t => RowRef::from_map(apply(t, row.to_row())),
        };
        if let Some(seen) = self.seen.as_mut() {
            if !seen.insert(row_hash(&row, &mut self.text)?) {
                return Ok(());
            }
        }
        self.rows += 1;
        if row.is_empty() {
            self.empty_rows += 1;
        }
        self.sink.row_ref(row).context("writing output")
    }

    /// Flush, say what stderr should know, and return the rows written.
    fn finish(mut self, ctx: &Ctx, known: &[&str], per_series: bool) -> anyhow::Result<u64> {
        self.sink.finish().context("writing output")?;
        let dropped = self.sink.dropped_keys();
        table_footer(ctx, self.sink.left_out());
        if !per_series {
            notes_on_empty(ctx, known, self.rows, self.empty_rows);
        }
        notes(ctx, self.rows, &dropped);
        Ok(self.rows)
    }
}

/// As `run`, from the local index: the same requests (one per combination of filter values,
/// checked as the live path checks them), answered by `index::answer`.
fn offline(ctx: &Ctx, q: Query) -> anyhow::Result<()> {
    if ctx.raw.is_some() {
        return Err(usage(
            "--raw passes the server's bytes: leave out --offline",
        ));
    }
    let (route, _) = requests(ctx.api, q.endpoint, &q.params)?;
    let ix = super::index::open_for_answers(ctx)?;
    let endpoint = q.endpoint;
    let keys = crate::index::answer::keys(&ix, endpoint)?;
    from_index(ctx, q, route.columns, keys, &mut |combo, on_row| {
        crate::index::answer::answer(&ix, endpoint, combo, on_row)
    })
}

/// Answers one combination of filter values, row by row.
pub type Answer<'a> =
    dyn FnMut(&[(Param, String)], &mut crate::index::answer::OnRow<'_>) -> anyhow::Result<()> + 'a;

/// Render the answers of a local index to `q`, one combination of filter values at a time,
/// with `known` as the columns (checked against `--fields`). `keys`: the columns of the
/// table the rows come from, when known (all of them known: the header needs no look-ahead).
pub fn from_index(
    ctx: &Ctx,
    q: Query,
    known: &'static [&'static str],
    keys: Option<Vec<String>>,
    answer: &mut Answer<'_>,
) -> anyhow::Result<()> {
    let combos = crate::index::answer::combinations(&q.params);
    let mut out = Rendered::new(ctx, &q, known, combos.len() > 1)?;
    if let Some(keys) = keys {
        if keys.iter().all(|k| known.contains(&k.as_str())) {
            out.sink.keys_known();
        }
    }
    for combo in combos {
        let result = answer(&combo, &mut |row| out.push(row));
        match result {
            Err(e) if e.chain().any(|c| c.is::<Enough>()) => break,
            other => other?,
        }
    }
    out.finish(ctx, known, false).map(|_| ())
}

/// `--limit` reached: stop reading (not an error).
#[derive(Debug, thiserror::Error)]
#[error("--limit reached")]
struct Enough;

/// The endpoints asked once per series UID, which answer an unknown one with nothing.
fn is_per_series(e: &Endpoint) -> bool {
    [&cat::SERIES_SIZE, &cat::SOP_UIDS, &cat::DICOM_TAGS]
        .iter()
        .any(|p| std::ptr::eq(*p, e))
}

/// Rows that are all empty: the server probably knows no such item.
fn notes_on_empty(ctx: &Ctx, known: &[&str], rows: u64, empty_rows: u64) {
    if rows > 0 && empty_rows == rows && known.len() > 1 {
        ctx.printer.warn(
            "the server answered with empty rows only: it probably knows no such series or item",
        );
    }
}

/// After a table: how many columns it left out, and how to see them (stderr).
pub fn table_footer(ctx: &Ctx, left_out: usize) {
    if left_out > 0 {
        ctx.printer.info(&format!(
            "{left_out} more column{}: --fields, or --format csv",
            if left_out == 1 { "" } else { "s" }
        ));
    }
}

/// What stderr says after the rows: columns left out, no rows, the v2 login trap.
fn notes(ctx: &Ctx, rows: u64, dropped: &[String]) {
    if !dropped.is_empty() {
        ctx.printer.warn(&format!(
            "column(s) {} first appeared after the header was written and are not in this output; use --format json, or --fields",
            dropped.join(", ")
        ));
    }
    if rows == 0 && ctx.format == output::Format::Table {
        ctx.printer.info("no rows");
    }
    if rows == 0 && ctx.v2_without_login() {
        ctx.printer.warn(&format!("no rows: {V2_LOGIN_HINT}"));
    } else if rows == 0 && ctx.api == Api::V2 {
        ctx.printer.warn(
            "no rows: the v2 API also answers an empty result when no valid token is sent; public data needs no login: try --api v4",
        );
    }
    ctx.printer.debug(1, &format!("{rows} row(s)"));
}

/// The renderer's columns: the route's known columns, or `--fields` checked against them.
pub fn columns(ctx: &Ctx, endpoint: &Endpoint, route: &Route) -> anyhow::Result<Columns> {
    known_columns(ctx, endpoint, route.columns)
}

/// As `columns`, for a list of known columns.
pub fn known_columns(ctx: &Ctx, endpoint: &Endpoint, known: &[&str]) -> anyhow::Result<Columns> {
    let known: Vec<String> = known.iter().map(|s| s.to_string()).collect();
    if let Some(fields) = &ctx.fields {
        if !known.is_empty() {
            for f in fields {
                if !known.contains(f) {
                    let hint = known
                        .iter()
                        .find(|k| k.eq_ignore_ascii_case(f))
                        .map(|k| format!(" (did you mean {k}?)"))
                        .unwrap_or_default();
                    let with = match ctx.source {
                        crate::cli::DataSource::Idc => "--source idc".to_string(),
                        crate::cli::DataSource::Nbia => format!("--api {}", ctx.api.as_str()),
                    };
                    return Err(usage(format!(
                        "--fields: unknown column '{f}'{hint} for {} with {with}; valid: {}",
                        endpoint.name,
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

/// Rows are the same when their JSON text is.
fn row_hash(row: &RowRef<'_>, text: &mut Vec<u8>) -> anyhow::Result<u64> {
    text.clear();
    row.write_json(text, None)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    Ok(h.finish())
}

/// `--raw`: the server's bytes for `format=<raw>`, untouched, to stdout.
async fn raw_passthrough(
    ctx: &Ctx,
    mut req: Request,
    raw: output::RawFormat,
) -> anyhow::Result<()> {
    req.query.retain(|(k, _)| k != "format");
    req.query.push(("format".into(), raw.as_str().into()));
    let req = &req;
    let url = ctx.client.url_for(req);
    let mut resp = ctx.client.send(req).await?;
    let mut out = ctx.stdout();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ctx.client.transport_error(req.method(), &url, e))?
    {
        out.write_all(&chunk).context("writing output")?;
    }
    out.flush().context("writing output")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
