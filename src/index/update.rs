//! Building and refreshing an index from the server. The first run (or `--full`) streams an
//! unfiltered getSeries, getPatient and getPatientStudy into a new file; later runs ask
//! getUpdatedSeries (and the New* endpoints of the collections it names) since the last update
//! less two days, and upsert. Either way the result replaces the index in one rename.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rusqlite::Connection;
use serde_json::Value;

use super::build::{
    copy_tables, finish_table, open_working, seal, start_sync, TableWriter, Watch, Working,
};
use super::store::{Index, Info};
use super::values::Cell;
use crate::api::catalogue::{self as cat, Api, Endpoint, Param};
use crate::api::client::Client;
use crate::api::{metadata, rows};
use crate::dates::{days_before, now_rfc3339, Date};
use crate::output::Row;

/// Days looked back before the last update, for releases dated late.
const OVERLAP_DAYS: i64 = 2;
/// SQLite's page cache for a full build (its index sorts use as much again, on a thread of
/// their own while the side file is written), for the side file, and for an update.
const BUILD_CACHE_KIB: u32 = 8 * 1024;
const SIDE_CACHE_KIB: u32 = 2 * 1024;
const UPDATE_CACHE_KIB: u32 = 16 * 1024;
/// Series per getSeriesMetadata request.
const METADATA_BATCH: usize = metadata::BATCH;

/// The server an index is built from.
pub struct Source<'a> {
    pub client: &'a Client,
    pub api: Api,
}

/// What an update did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub full: bool,
    /// Series in the index afterwards.
    pub series: u64,
    /// Series rows received (all of them on a full build; the updated ones otherwise).
    pub received: u64,
    /// Series new to the index.
    pub added: u64,
    /// Series the server no longer lists (full builds only).
    pub removed: u64,
    pub patients: u64,
    pub studies: u64,
    /// The date getUpdatedSeries started from.
    pub since: Option<Date>,
    /// How long each step of a full build took, in order (`tcia -v index update` prints them).
    pub phases: Vec<(&'static str, std::time::Duration)>,
}

/// Progress: a table's name and the rows written so far.
pub type Progress<'a> = dyn Fn(&str, u64) + 'a;

/// Build (`full`, or no index yet) or refresh the index at `path`.
pub async fn update(
    src: &Source<'_>,
    path: &Path,
    full: bool,
    with_metadata: bool,
    progress: &Progress<'_>,
) -> anyhow::Result<Outcome> {
    if full || !path.exists() {
        full_build(src, path, with_metadata, progress).await
    } else {
        incremental(src, path, with_metadata, progress).await
    }
}

/// The tables and their keys: (table, endpoint, upsert key, indexed columns).
struct Table {
    name: &'static str,
    endpoint: &'static Endpoint,
    key: &'static [&'static str],
    /// Indexed columns, and whether their filters ignore case.
    indexed: &'static [(&'static str, bool)],
}

const SERIES: Table = Table {
    name: "series",
    endpoint: &cat::SERIES,
    key: &["SeriesInstanceUID"],
    indexed: &[
        ("Collection", true),
        ("PatientID", true),
        ("StudyInstanceUID", false),
        ("Modality", true),
    ],
};
const PATIENTS: Table = Table {
    name: "patients",
    endpoint: &cat::PATIENTS,
    key: &["Collection", "PatientId"],
    indexed: &[],
};
const STUDIES: Table = Table {
    name: "studies",
    endpoint: &cat::STUDIES,
    key: &["StudyInstanceUID"],
    indexed: &[("Collection", true), ("PatientID", true)],
};

fn known(src: &Source<'_>, t: &Table) -> anyhow::Result<&'static [&'static str]> {
    Ok(t.endpoint
        .route(src.api)
        .map_err(crate::error::usage)?
        .columns)
}

/// One endpoint's rows for one table: new rows, or rows that replace theirs by key.
struct Pull<'t> {
    table: &'t Table,
    endpoint: &'static Endpoint,
    params: Vec<(Param, Vec<String>)>,
    upsert: bool,
    /// Told every row inserted.
    watch: Option<Box<dyn Watch>>,
}

/// Elements per hand-over to the writer thread.
const BATCH: usize = 512;

/// Elements' JSON text, back to back, for the writer thread: one allocation per batch.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn elements(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| &self.bytes[a..b])
    }
}

/// Stream one endpoint's rows into a table: splitting here, parsing and writing on a thread of
/// its own (the connection goes there and comes back), so network and database overlap.
/// `seen` gets each row too (it is parsed twice then: only for small updates). Returns the
/// connection, the rows received and the rows new to the table.
async fn stream_into(
    src: &Source<'_>,
    conn: Connection,
    pull: Pull<'_>,
    progress: &Progress<'_>,
    seen: Option<&mut dyn FnMut(&Row)>,
) -> anyhow::Result<(Connection, u64, u64)> {
    let t = pull.table;
    let (name, known, key, upsert) = (t.name, known(src, t)?, t.key, pull.upsert);
    let watch = pull.watch;
    let (_, reqs) = rows::requests(src.api, pull.endpoint, &pull.params)?;
    let url = reqs.first().map(|r| src.client.url_for(r));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(8);
    let writer = tokio::task::spawn_blocking(move || {
        let result = (|| {
            let mut w = TableWriter::new(&conn, name, known, key, upsert);
            if let Some(watch) = watch {
                w.watch(watch);
            }
            for batch in rx {
                let url = url.as_ref().expect("a request for every batch");
                for elem in batch.elements() {
                    w.push_raw(elem, url)?;
                }
            }
            w.finish()?;
            Ok::<_, anyhow::Error>((w.rows, w.inserted))
        })();
        (conn, result)
    });
    let fetched = send_elements(src, &reqs, &tx, progress, seen, name).await;
    drop(tx);
    let (conn, written) = writer.await?;
    // A writer failure explains a send failure, so it comes first.
    let (_, inserted) = written?;
    let received = fetched?;
    progress(name, received);
    Ok((conn, received, inserted))
}

/// The elements of every request, in batches to the writer.
async fn send_elements(
    src: &Source<'_>,
    reqs: &[crate::api::client::Request],
    tx: &std::sync::mpsc::SyncSender<Batch>,
    progress: &Progress<'_>,
    mut seen: Option<&mut dyn FnMut(&Row)>,
    name: &str,
) -> anyhow::Result<u64> {
    let mut received = 0u64;
    let mut batch = Batch::default();
    let stopped = || anyhow::anyhow!("the index writer stopped");
    for req in reqs {
        let url = src.client.url_for(req);
        rows::stream_raw_elements(src.client, req, &mut |elem| {
            if let Some(seen) = seen.as_mut() {
                seen(&rows::parse_row(elem, &url)?);
            }
            batch.bytes.extend_from_slice(elem);
            batch.ends.push(batch.bytes.len());
            received += 1;
            if batch.ends.len() == BATCH {
                tx.send(std::mem::take(&mut batch)).map_err(|_| stopped())?;
            }
            if received.is_multiple_of(100_000) {
                progress(name, received);
            }
            Ok(())
        })
        .await?;
    }
    if !batch.ends.is_empty() {
        tx.send(batch).map_err(|_| stopped())?;
    }
    Ok(received)
}

async fn full_build(
    src: &Source<'_>,
    path: &Path,
    with_metadata: bool,
    progress: &Progress<'_>,
) -> anyhow::Result<Outcome> {
    let work = Working::new(path, false)?;
    if private(src) {
        work.make_private()?;
    }
    let conn = open_working(&work, false, BUILD_CACHE_KIB)?;
    let mut out = Outcome {
        full: true,
        ..Outcome::default()
    };
    let mut clock = std::time::Instant::now();
    let mut lap = |out: &mut Outcome, phase: &'static str| {
        let now = std::time::Instant::now();
        out.phases.push((phase, now - clock));
        clock = now;
    };
    let facts = std::sync::Arc::new(std::sync::Mutex::new(SeriesFacts::default()));
    let mut pull = all(&SERIES);
    pull.watch = Some(Box::new(Watcher(facts.clone(), src.api)));
    let (conn, series, inserted) = stream_into(src, conn, pull, progress, None).await?;
    lap(&mut out, "series rows streamed and written");
    let facts = std::mem::take(&mut *facts.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    // The series table's pages go to disk while the rest is built; the previous index's
    // series are compared with these on a thread of their own.
    let early_sync = start_sync(&work.path);
    let (facts, compared) = facts.compare_with(path);
    // Its indexes keep one core busy for a while: meanwhile patients and studies stream into a
    // side file (with their indexes) on the other, and are copied in afterwards.
    let indexing = tokio::task::spawn_blocking(move || {
        let r = finish_table(&conn, SERIES.name, SERIES.key, SERIES.indexed);
        (conn, r)
    });
    let side = Working::side(path)?;
    if private(src) {
        side.make_private()?;
    }
    let beside = side_tables(src, &side, progress).await;
    let (conn, indexed) = indexing.await?;
    indexed?;
    lap(&mut out, "series indexed (patients and studies beside)");
    // And the indexes' pages, while the rest is added.
    let index_sync = start_sync(&work.path);
    let (patients, studies, lists) = beside?;
    copy_tables(&conn, &side.path, &[PATIENTS.name, STUDIES.name])?;
    (out.received, out.patients, out.studies) = (series, patients, studies);
    out.series = count(&conn, "series")?;
    // Facts learnt from rows that a UID listed twice then removed would be wrong.
    let learnt = facts
        .collections
        .as_ref()
        .filter(|_| out.series == inserted);
    write_collections(&conn, src.api, &lists, learnt)?;
    if with_metadata {
        let uids = all_uids(&conn)?;
        add_metadata(src, &conn, &uids, false, progress).await?;
    }
    out.added = out.series;
    if path.exists() {
        (out.added, out.removed) = match compared.join() {
            Ok(Some(changes)) => changes,
            _ => changes_since(&conn, path)?,
        };
    }
    let now = now_rfc3339();
    seal(&conn, &info(src, &now, &now, out.series))?;
    drop(conn);
    lap(&mut out, "collections, metadata and counts");
    let _ = (early_sync.join(), index_sync.join());
    work.publish()?;
    lap(&mut out, "synced to disk and renamed into place");
    Ok(out)
}

/// Every row of a table's endpoint.
fn all(table: &'static Table) -> Pull<'static> {
    Pull {
        table,
        endpoint: table.endpoint,
        params: vec![],
        upsert: false,
        watch: None,
    }
}

/// Patients and studies (indexed) into the side file, and the collection lists fetched:
/// the counts of patients and studies, and the lists.
async fn side_tables(
    src: &Source<'_>,
    side: &Working,
    progress: &Progress<'_>,
) -> anyhow::Result<(u64, u64, CollectionLists)> {
    let conn = open_working(side, false, SIDE_CACHE_KIB)?;
    let (conn, patients, _) = stream_into(src, conn, all(&PATIENTS), progress, None).await?;
    let (conn, studies, _) = stream_into(src, conn, all(&STUDIES), progress, None).await?;
    let indexing = tokio::task::spawn_blocking(move || {
        for t in [&PATIENTS, &STUDIES] {
            finish_table(&conn, t.name, t.key, t.indexed)?;
        }
        conn.execute_batch("COMMIT")?;
        Ok::<_, anyhow::Error>(())
    });
    let lists = fetch_collections(src).await;
    indexing.await??;
    Ok((patients, studies, lists?))
}

async fn incremental(
    src: &Source<'_>,
    path: &Path,
    with_metadata: bool,
    progress: &Progress<'_>,
) -> anyhow::Result<Outcome> {
    let old = Index::open(path)?.info()?;
    let since = days_before(old.updated_at.get(..10).unwrap_or(""), OVERLAP_DAYS)
        .ok_or_else(|| super::store::damaged(path, "its last update time is unreadable"))?;
    let work = Working::new(path, true)?;
    if private(src) {
        work.make_private()?;
    }
    let conn = open_working(&work, true, UPDATE_CACHE_KIB)?;
    let mut out = Outcome {
        since: Some(since),
        ..Outcome::default()
    };
    let mut touched = BTreeSet::new();
    let mut uids = Vec::new();
    let since_param = vec![(Param::Since, vec![since.to_string()])];
    let mut seen = |row: &Row| {
        if let Some(c) = row.get("Collection").and_then(Value::as_str) {
            touched.insert(c.to_string());
        }
        if let Some(u) = row.get("SeriesInstanceUID").and_then(Value::as_str) {
            uids.push(u.to_string());
        }
    };
    let mut conn = if same_columns(src.api) {
        // v4's getUpdatedSeries rows are getSeries rows: they replace theirs in place.
        let updated = Pull {
            table: &SERIES,
            endpoint: &cat::UPDATED_SERIES,
            params: since_param,
            upsert: true,
            watch: None,
        };
        let (conn, received, added) =
            stream_into(src, conn, updated, progress, Some(&mut seen)).await?;
        (out.received, out.added) = (received, added);
        conn
    } else {
        // v1's and v2's lack FileSize, the licence, the DOI and more: they name the
        // collections that changed, whose getSeries rows then replace theirs.
        let mut received = 0u64;
        rows::for_each_row(
            src.client,
            src.api,
            &cat::UPDATED_SERIES,
            since_param,
            &mut |r| {
                seen(&r);
                received += 1;
                Ok(())
            },
        )
        .await?;
        out.received = received;
        let names = ignoring_case(&touched);
        if names.is_empty() {
            conn
        } else {
            let pull = Pull {
                table: &SERIES,
                endpoint: &cat::SERIES,
                params: vec![(Param::Collection, names)],
                upsert: true,
                watch: None,
            };
            let (conn, _, added) = stream_into(src, conn, pull, progress, None).await?;
            out.added = added;
            conn
        }
    };
    for c in &ignoring_case(&touched) {
        let params = vec![
            (Param::Collection, vec![c.clone()]),
            (Param::Since, vec![since.to_string()]),
        ];
        let new = |table: &'static Table, endpoint, params| Pull {
            table,
            endpoint,
            params,
            upsert: true,
            watch: None,
        };
        let p = new(&PATIENTS, &cat::NEW_PATIENTS, params.clone());
        let (c, p, _) = stream_into(src, conn, p, progress, None).await?;
        let st = new(&STUDIES, &cat::NEW_STUDIES, params);
        let (c, s, _) = stream_into(src, c, st, progress, None).await?;
        conn = c;
        out.patients += p;
        out.studies += s;
    }
    add_collections(&conn, src.api, &touched)?;
    if with_metadata || has_table(&conn, "series_metadata")? {
        // The changed series, and any the table lacks (all of them when `--metadata` is new
        // to this index; on v1 and v2, those a collection's re-read added).
        let mut want = uids;
        let mut listed: std::collections::HashSet<String> = want.iter().cloned().collect();
        for u in without_metadata(&conn)? {
            if listed.insert(u.clone()) {
                want.push(u);
            }
        }
        add_metadata(src, &conn, &want, true, progress).await?;
    }
    out.series = count(&conn, "series")?;
    seal(&conn, &info(src, &now_rfc3339(), &old.full_at, out.series))?;
    drop(conn);
    work.publish()?;
    Ok(out)
}

/// An index of what a login shows (v2) is readable by its owner only.
fn private(src: &Source<'_>) -> bool {
    src.api == Api::V2
}

/// Whether the API's getUpdatedSeries rows have getSeries' columns (v4), or fewer (v1, v2).
pub fn same_columns(api: Api) -> bool {
    match (cat::UPDATED_SERIES.route(api), cat::SERIES.route(api)) {
        (Ok(u), Ok(s)) => u.columns == s.columns,
        _ => false,
    }
}

fn info(src: &Source<'_>, updated_at: &str, full_at: &str, rows: u64) -> Info {
    Info {
        server: src.client.settings.base.to_string(),
        api: src.api.as_str().to_string(),
        updated_at: updated_at.to_string(),
        full_at: full_at.to_string(),
        rows: rows as i64,
        tcia_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

fn count(conn: &Connection, table: &str) -> anyhow::Result<u64> {
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })?;
    Ok(n as u64)
}

/// The names once each, whatever their case (the server's filters ignore it: one request per
/// collection however it is spelt).
fn ignoring_case(names: &BTreeSet<String>) -> Vec<String> {
    let mut spelt = std::collections::HashSet::new();
    names
        .iter()
        .filter(|c| spelt.insert(c.to_lowercase()))
        .cloned()
        .collect()
}

/// Series with no `series_metadata` row (every series when there is no such table).
fn without_metadata(conn: &Connection) -> anyhow::Result<Vec<String>> {
    if !has_table(conn, "series_metadata")? {
        return all_uids(conn);
    }
    let mut stmt = conn.prepare(
        "SELECT SeriesInstanceUID FROM series WHERE SeriesInstanceUID IS NOT NULL \
         AND SeriesInstanceUID NOT IN (SELECT SeriesInstanceUID FROM series_metadata \
         WHERE SeriesInstanceUID IS NOT NULL)",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn has_table(conn: &Connection, table: &str) -> anyhow::Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

fn all_uids(conn: &Connection) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT SeriesInstanceUID FROM series ORDER BY rowid")?;
    let uids = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(uids)
}

/// Against the previous index: series new in this one, and series it no longer has (withdrawn).
/// Zero and zero when there is no readable previous index.
fn changes_since(conn: &Connection, old: &Path) -> anyhow::Result<(u64, u64)> {
    // Attached until the connection closes: DETACH is not allowed inside the transaction.
    if conn
        .execute("ATTACH DATABASE ?1 AS old", [old.to_string_lossy()])
        .is_err()
    {
        return Ok((0, 0));
    }
    let id: i64 = conn
        .query_row("PRAGMA old.application_id", [], |r| r.get(0))
        .unwrap_or(0);
    if id != super::store::APPLICATION_ID {
        return Ok((0, 0));
    }
    let missing = |a: &str, b: &str| -> u64 {
        conn.query_row(
            &format!(
                "SELECT count(*) FROM {a} WHERE SeriesInstanceUID NOT IN \
                 (SELECT SeriesInstanceUID FROM {b})"
            ),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_or(0, |n| n as u64)
    };
    Ok((
        missing("main.series", "old.series"),
        missing("old.series", "main.series"),
    ))
}

/// What the series table tells, learnt while it is written: each series UID's hash (to count
/// series added and removed against the previous index), and each collection's DOI and
/// licence as `fill_collection_facts` would find them (None when a value is not text: then
/// SQL's rules for comparing mixed types apply, and SQL finds them).
struct SeriesFacts {
    uids: Option<Vec<u128>>,
    collections: Option<HashMap<String, CollectionFacts>>,
}

impl Default for SeriesFacts {
    fn default() -> Self {
        SeriesFacts {
            uids: Some(Vec::new()),
            collections: Some(HashMap::new()),
        }
    }
}

/// A collection's least DOI and licence among its series (SQL's `min`: NULL ignored, text by
/// bytes).
#[derive(Default)]
struct CollectionFacts {
    doi: Option<String>,
    license: Option<String>,
}

/// The least of the two, as SQL's `min` over text: NULL ignored.
fn keep_least(have: &mut Option<String>, v: Option<&str>) {
    if let Some(v) = v {
        if have.as_deref().is_none_or(|h| v < h) {
            *have = Some(v.to_string());
        }
    }
}

/// Two 64-bit SipHashes of a UID: equal texts, equal hashes; distinct ones collide with odds
/// of about 2^-128 a pair.
fn uid_hash(uid: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    uid.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (0x5eed_u16, uid).hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// A text cell: Some(Some(text)); NULL: Some(None); anything else: None.
fn text<'a>(cells: &'a [Cell<'_>], at: Option<usize>) -> Option<Option<&'a str>> {
    match at.map(|i| &cells[i]) {
        None | Some(Cell::Null) => Some(None),
        Some(Cell::Text(t)) => Some(Some(t.as_ref())),
        Some(_) => None,
    }
}

/// The columns [`SeriesFacts`] needs, in this order: v4 names a collection's DOI
/// `DataDescriptionURI`, v1 and v2 `CollectionURI`.
const WATCHED_V4: &[&str] = &[
    "SeriesInstanceUID",
    "Collection",
    "DataDescriptionURI",
    "LicenseName",
];
const WATCHED_V1: &[&str] = &[
    "SeriesInstanceUID",
    "Collection",
    "CollectionURI",
    "LicenseName",
];

/// The series column that holds a collection's DOI.
fn doi_column(api: Api) -> &'static str {
    watched(api)[2]
}

fn watched(api: Api) -> &'static [&'static str] {
    if api == Api::V4 {
        WATCHED_V4
    } else {
        WATCHED_V1
    }
}

struct Watcher(std::sync::Arc<std::sync::Mutex<SeriesFacts>>, Api);

impl Watch for Watcher {
    fn columns(&self) -> &'static [&'static str] {
        watched(self.1)
    }

    fn row(&mut self, at: &[Option<usize>], cells: &[Cell<'_>]) {
        let Ok(mut f) = self.0.lock() else {
            return;
        };
        let f = &mut *f;
        match text(cells, at[0]) {
            Some(Some(uid)) => {
                if let Some(u) = f.uids.as_mut() {
                    u.push(uid_hash(uid));
                }
            }
            _ => f.uids = None,
        }
        let (c, doi, lic) = (text(cells, at[1]), text(cells, at[2]), text(cells, at[3]));
        match (c, doi, lic, f.collections.as_mut()) {
            (Some(Some(c)), Some(doi), Some(lic), Some(m)) => {
                let e = match m.get_mut(c) {
                    Some(e) => e,
                    None => m.entry(c.to_string()).or_default(),
                };
                keep_least(&mut e.doi, doi);
                keep_least(&mut e.license, lic);
            }
            // A series of no collection is in no group that a name matches.
            (Some(None), Some(_), Some(_), _) => {}
            _ => f.collections = None,
        }
    }
}

impl SeriesFacts {
    /// Count, on a thread, the series new since the index at `old` and those it had and this
    /// one has not (None: compare with SQL, as when a UID was not text or there is no old
    /// index to read).
    fn compare_with(
        mut self,
        old: &Path,
    ) -> (SeriesFacts, std::thread::JoinHandle<Option<(u64, u64)>>) {
        let new = self.uids.take();
        let old = old.to_path_buf();
        let handle = std::thread::spawn(move || {
            let mut new = new?;
            new.sort_unstable();
            new.dedup();
            let old = old_uid_hashes(&old)?;
            let common = old.iter().filter(|h| new.binary_search(h).is_ok()).count() as u64;
            Some((new.len() as u64 - common, old.len() as u64 - common))
        });
        (self, handle)
    }
}

/// The hashes of the series UIDs in the index at `path` (None when it cannot be read as one,
/// or a UID is not text).
fn old_uid_hashes(path: &Path) -> Option<Vec<u128>> {
    if !path.exists() {
        return None;
    }
    let ix = Index::open(path).ok()?;
    let mut stmt = ix
        .conn
        .prepare("SELECT SeriesInstanceUID FROM series")
        .ok()?;
    let mut rows = stmt.query([]).ok()?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().ok()? {
        match r.get_ref(0).ok()? {
            rusqlite::types::ValueRef::Text(t) => out.push(uid_hash(std::str::from_utf8(t).ok()?)),
            _ => return None,
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// The server's list of collections, and its descriptions (None where it has none).
struct CollectionLists {
    names: Vec<Row>,
    descriptions: Option<Vec<Row>>,
}

async fn fetch_collections(src: &Source<'_>) -> anyhow::Result<CollectionLists> {
    let names = rows::fetch_rows(src.client, src.api, &cat::COLLECTIONS, vec![]).await?;
    let descriptions = rows::fetch_rows(src.client, src.api, &cat::DESCRIPTIONS, vec![])
        .await
        .ok();
    Ok(CollectionLists {
        names,
        descriptions,
    })
}

/// `collections`: the server's list of names, in its order, with the description (where the
/// server has one), and the DOI and licence its series carry.
fn write_collections(
    conn: &Connection,
    api: Api,
    lists: &CollectionLists,
    facts: Option<&HashMap<String, CollectionFacts>>,
) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE collections (name TEXT NOT NULL, description TEXT, doi TEXT, license TEXT)",
    )?;
    {
        let mut ins = conn.prepare("INSERT INTO collections (name) VALUES (?1)")?;
        for r in &lists.names {
            if let Some(n) = r.get("Collection").and_then(Value::as_str) {
                ins.execute([n])?;
            }
        }
    }
    if let Some(descs) = &lists.descriptions {
        let mut up = conn.prepare("UPDATE collections SET description = ?2 WHERE name = ?1")?;
        for r in descs {
            if let (Some(n), Some(d)) = (
                r.get("collectionName").and_then(Value::as_str),
                r.get("description").and_then(Value::as_str),
            ) {
                up.execute([n, d])?;
            }
        }
    }
    match facts {
        Some(facts) => {
            let mut up =
                conn.prepare("UPDATE collections SET doi = ?2, license = ?3 WHERE name = ?1")?;
            for (name, f) in facts {
                up.execute(rusqlite::params![name, f.doi, f.license])?;
            }
            Ok(())
        }
        None => fill_collection_facts(conn, api),
    }
}

fn fill_collection_facts(conn: &Connection, api: Api) -> anyhow::Result<()> {
    // One pass over the series (a correlated subquery per collection would scan them again
    // for every collection).
    let doi = doi_column(api);
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE facts AS SELECT Collection AS name, \
             min({doi}) AS doi, min(LicenseName) AS license \
         FROM series GROUP BY Collection; \
         UPDATE collections SET \
             doi = (SELECT doi FROM facts WHERE facts.name = collections.name), \
             license = (SELECT license FROM facts WHERE facts.name = collections.name); \
         DROP TABLE facts;"
    ))
    .or_else(|_| Ok::<(), rusqlite::Error>(()))?;
    Ok(())
}

/// Collections first seen in an update join the list, which stays sorted as the server sorts it.
fn add_collections(conn: &Connection, api: Api, names: &BTreeSet<String>) -> anyhow::Result<()> {
    let mut added = false;
    for n in names {
        let have: i64 = conn.query_row(
            "SELECT count(*) FROM collections WHERE name = ?1 COLLATE NOCASE",
            [n],
            |r| r.get(0),
        )?;
        if have == 0 {
            conn.execute("INSERT INTO collections (name) VALUES (?1)", [n])?;
            added = true;
        }
    }
    if added {
        conn.execute_batch(
            "CREATE TABLE collections_sorted AS SELECT * FROM collections ORDER BY name; \
             DROP TABLE collections; ALTER TABLE collections_sorted RENAME TO collections;",
        )?;
    }
    fill_collection_facts(conn, api)
}

/// `series_metadata`: getSeriesMetadata's columns for these series, as the server spells them.
async fn add_metadata(
    src: &Source<'_>,
    conn: &Connection,
    uids: &[String],
    upsert: bool,
    progress: &Progress<'_>,
) -> anyhow::Result<()> {
    let mut w = TableWriter::new(conn, "series_metadata", &[], &["SeriesInstanceUID"], upsert);
    for batch in uids.chunks(METADATA_BATCH) {
        metadata::for_each(src.client, src.api, batch, &mut |_, rows| {
            for mut row in rows {
                if !row.contains_key("SeriesInstanceUID") {
                    let uid = ["Series UID", "Series ID", "Series Instance UID"]
                        .iter()
                        .find_map(|k| row.get(*k).cloned());
                    if let Some(u) = uid {
                        row.insert("SeriesInstanceUID".into(), u);
                    }
                }
                w.push(row)?;
            }
            Ok(())
        })
        .await?;
        progress("series_metadata", w.rows);
    }
    w.finish()?;
    if !upsert {
        finish_table(conn, "series_metadata", &["SeriesInstanceUID"], &[])?;
    }
    Ok(())
}
