//! Writing the index: rows into tables whose columns are the endpoint's keys (the catalogue's
//! known columns first, in the server's order, then any other key as it first appears), typed
//! from the values the server sent. A full build writes a new file that replaces the old one in
//! one rename; an update changes a copy and renames it in the same way, so a reader (or a
//! killed update) never sees half an index.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ToSql};
use serde_json::Value;

use super::store::{check, damaged, APPLICATION_ID, SCHEMA_VERSION};
use super::values::{cell_of, decl_type, to_sql, Cell};
use crate::output::{Row, RowParser, RowRef};

/// A JSON value bound without copying its text.
struct Bound<'a>(Option<&'a Value>);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            None | Some(Value::Null) => ToSqlOutput::Borrowed(ValueRef::Null),
            Some(Value::String(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Some(Value::Bool(b)) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Some(Value::Number(n)) if n.is_i64() => {
                ToSqlOutput::Borrowed(ValueRef::Integer(n.as_i64().unwrap_or(0)))
            }
            Some(v) => ToSqlOutput::Owned(to_sql(v)),
        })
    }
}

/// Rows held back to learn each column's type before the table is created.
const SAMPLE: usize = 1000;

/// One table being written: its columns, and whether rows replace earlier ones by key.
pub struct TableWriter<'c> {
    conn: &'c Connection,
    name: &'static str,
    known: Vec<String>,
    cols: Vec<String>,
    key: Vec<&'static str>,
    upsert: bool,
    pending: Option<Vec<Row>>,
    /// Column name → position in `cols`.
    position: std::collections::HashMap<String, usize>,
    insert: Option<rusqlite::Statement<'c>>,
    update_sql: String,
    pub rows: u64,
    pub inserted: u64,
    /// Reads elements in place ([`TableWriter::push_raw`]).
    parser: RowParser,
    /// Told every inserted row, with its columns' positions.
    watch: Option<(Box<dyn Watch>, Positions)>,
}

/// Where each watched column is in a row (None: no such column).
type Positions = Vec<Option<usize>>;

/// Told the cells of every row a [`TableWriter`] inserts (rows that update others are not
/// told), to learn facts of the table while it is written instead of scanning it afterwards.
pub trait Watch: Send {
    /// The columns it wants.
    fn columns(&self) -> &'static [&'static str];
    /// One row's cells in column order; `at[i]`: where `columns()[i]` is (None: no such column).
    fn row(&mut self, at: &[Option<usize>], cells: &[Cell<'_>]);
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl<'c> TableWriter<'c> {
    /// A writer for a new table (`upsert` false) or an existing one whose rows are replaced by
    /// `key` (`upsert` true; the table is created if missing).
    pub fn new(
        conn: &'c Connection,
        name: &'static str,
        known: &[&str],
        key: &[&'static str],
        upsert: bool,
    ) -> TableWriter<'c> {
        TableWriter {
            conn,
            name,
            known: known.iter().map(|s| s.to_string()).collect(),
            cols: Vec::new(),
            key: key.to_vec(),
            upsert,
            pending: Some(Vec::new()),
            position: std::collections::HashMap::new(),
            insert: None,
            update_sql: String::new(),
            rows: 0,
            inserted: 0,
            parser: RowParser::new(),
            watch: None,
        }
    }

    /// Tell `w` about every row inserted from now on.
    pub fn watch(&mut self, w: Box<dyn Watch>) {
        self.watch = Some((w, Vec::new()));
        self.place_watched();
    }

    /// The watcher, after the last row.
    pub fn take_watch(&mut self) -> Option<Box<dyn Watch>> {
        self.watch.take().map(|(w, _)| w)
    }

    fn place_watched(&mut self) {
        if let Some((w, at)) = self.watch.as_mut() {
            *at = w
                .columns()
                .iter()
                .map(|c| self.position.get(*c).copied())
                .collect();
        }
    }

    /// The INSERT and UPDATE statements for the current columns.
    fn statements(&mut self) -> anyhow::Result<()> {
        self.position = self
            .cols
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        self.place_watched();
        let names: Vec<String> = self.cols.iter().map(|c| quote(c)).collect();
        let marks = vec!["?"; names.len()].join(",");
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            quote(self.name),
            names.join(",")
        );
        self.insert = None;
        self.insert = Some(self.conn.prepare(&insert)?);
        let set: Vec<String> = names.iter().map(|c| format!("{c}=?")).collect();
        let cond: Vec<String> = self.key.iter().map(|k| format!("{}=?", quote(k))).collect();
        self.update_sql = format!(
            "UPDATE {} SET {} WHERE {}",
            quote(self.name),
            set.join(","),
            cond.join(" AND ")
        );
        Ok(())
    }

    pub fn push(&mut self, row: Row) -> anyhow::Result<()> {
        if let Some(p) = self.pending.as_mut() {
            p.push(row);
            if p.len() >= SAMPLE {
                self.create()?;
            }
            return Ok(());
        }
        self.write(&row)
    }

    /// Create the table (or read the existing one's columns), then write the held rows.
    fn create(&mut self) -> anyhow::Result<()> {
        let sample = self.pending.take().unwrap_or_default();
        self.cols = existing_columns(self.conn, self.name)?;
        if self.cols.is_empty() {
            let mut cols = self.known.clone();
            for r in &sample {
                for k in r.keys() {
                    if !cols.contains(k) {
                        cols.push(k.clone());
                    }
                }
            }
            let defs: Vec<String> = cols
                .iter()
                .map(|c| {
                    let t = sample
                        .iter()
                        .find_map(|r| r.get(c).filter(|v| !v.is_null()))
                        .map_or("TEXT", decl_type);
                    format!("{} {t}", quote(c))
                })
                .collect();
            let sql = format!("CREATE TABLE {} ({})", quote(self.name), defs.join(", "));
            self.conn.execute(&sql, [])?;
            self.cols = cols;
        }
        self.statements()?;
        for r in &sample {
            self.write(r)?;
        }
        Ok(())
    }

    fn add_columns(&mut self, row: &Row) -> anyhow::Result<()> {
        let new: Vec<(String, &'static str)> = row
            .iter()
            .filter(|(k, _)| !self.cols.contains(k))
            .map(|(k, v)| (k.clone(), decl_type(v)))
            .collect();
        for (k, t) in new {
            let sql = format!(
                "ALTER TABLE {} ADD COLUMN {} {t}",
                quote(self.name),
                quote(&k)
            );
            self.conn.execute(&sql, [])?;
            self.cols.push(k);
        }
        self.statements()
    }

    fn write(&mut self, row: &Row) -> anyhow::Result<()> {
        if row.keys().any(|k| !self.position.contains_key(k)) {
            self.add_columns(row)?;
        }
        self.rows += 1;
        if self.upsert && self.update(row)? {
            return Ok(());
        }
        let mut values: Vec<Bound<'_>> = (0..self.cols.len()).map(|_| Bound(None)).collect();
        for (k, v) in row {
            values[self.position[k]] = Bound(Some(v));
        }
        if let Some((w, at)) = self.watch.as_mut() {
            let cells: Vec<Cell<'_>> = values.iter().map(|b| cell_of(b.0)).collect();
            w.row(at, &cells);
        }
        self.insert
            .as_mut()
            .expect("prepared with the table")
            .execute(params_from_iter(values))?;
        self.inserted += 1;
        Ok(())
    }

    /// One element's JSON text: parsed in place and bound without building a row, once the
    /// table exists and when every key is a known column; through [`TableWriter::push`]
    /// otherwise (the first rows, new keys, updates, non-objects).
    pub fn push_raw(&mut self, bytes: &[u8], url: &reqwest::Url) -> anyhow::Result<()> {
        if self.pending.is_none() && !self.upsert {
            // The same in-place reader as the live rendering path (one UTF-8 check a row, no
            // allocation a cell); anything it is not sure of goes the general way below.
            if let Some(row) = self.parser.parse(bytes) {
                if let Some(values) = self.positioned(&row) {
                    if let Some((w, at)) = self.watch.as_mut() {
                        w.row(at, &values);
                    }
                    self.rows += 1;
                    self.insert
                        .as_mut()
                        .expect("prepared with the table")
                        .execute(params_from_iter(values))?;
                    self.inserted += 1;
                    return Ok(());
                }
            }
        }
        self.push(crate::api::rows::parse_row(bytes, url)?)
    }

    /// The cells in column order, or None when a key is not a column yet. Keys usually come in
    /// column order, so each is first tried where the last one left off.
    fn positioned<'a>(&self, row: &'a RowRef<'_>) -> Option<Vec<Cell<'a>>> {
        let mut values: Vec<Cell<'a>> = (0..self.cols.len()).map(|_| Cell::Null).collect();
        let mut guess = 0;
        for (k, v) in row.iter() {
            let at = if self.cols.get(guess).is_some_and(|c| c == k) {
                guess
            } else {
                *self.position.get(k)?
            };
            values[at] = Cell::of_ref(v);
            guess = at + 1;
        }
        Some(values)
    }

    /// Replace the row with the same key in place (it keeps its position); false if none.
    fn update(&self, row: &Row) -> anyhow::Result<bool> {
        let keys: Vec<Option<&Value>> = self.key.iter().map(|k| row.get(*k)).collect();
        if keys.iter().any(|k| k.is_none_or(Value::is_null)) {
            return Ok(false);
        }
        let params = self
            .cols
            .iter()
            .map(|c| Bound(row.get(c)))
            .chain(keys.into_iter().map(Bound));
        let n = self
            .conn
            .prepare_cached(&self.update_sql)?
            .execute(params_from_iter(params))?;
        Ok(n > 0)
    }

    /// Write what is held back (a table with fewer rows than the sample); the table exists
    /// afterwards even with no rows.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if self.pending.is_some() {
            self.create()?;
        }
        Ok(())
    }
}

fn existing_columns(conn: &Connection, table: &str) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quote(table)))?;
    let cols = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cols)
}

/// Keep the first row of each key and index the table: a unique index on `key`, plain ones on
/// `indexed` (column, and whether case is ignored, as the server's filters ignore it).
pub fn finish_table(
    conn: &Connection,
    table: &str,
    key: &[&str],
    indexed: &[(&str, bool)],
) -> anyhow::Result<()> {
    let cols = existing_columns(conn, table)?;
    let have = |c: &str| cols.iter().any(|x| x == c);
    let t = quote(table);
    if key.iter().all(|k| have(k)) {
        let k: Vec<String> = key.iter().map(|c| quote(c)).collect();
        let unique = format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {t} ({})",
            quote(&format!("{table}_key")),
            k.join(",")
        );
        if conn.execute(&unique, []).is_err() {
            // A key listed twice: the first row wins.
            conn.execute(
                &format!(
                    "DELETE FROM {t} WHERE rowid NOT IN (SELECT min(rowid) FROM {t} GROUP BY {})",
                    k.join(",")
                ),
                [],
            )?;
            conn.execute(&unique, [])?;
        }
    }
    for (c, nocase) in indexed.iter().filter(|(c, _)| have(c)) {
        let collate = if *nocase { " COLLATE NOCASE" } else { "" };
        conn.execute(
            &format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} ({}{collate})",
                quote(&format!("{table}_{c}")),
                quote(c)
            ),
            [],
        )?;
    }
    Ok(())
}

/// A working copy beside `path`, removed if dropped before [`Working::publish`].
pub struct Working {
    pub path: PathBuf,
    target: PathBuf,
    published: bool,
}

impl Working {
    /// A fresh working file (`copy`: starting from the current index).
    pub fn new(target: &Path, copy: bool) -> anyhow::Result<Working> {
        let dir = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        clean_stale(dir, target);
        Working::at(target, "", copy)
    }

    /// A second working file beside the first, for tables written at the same time on another
    /// connection and then copied in (it is never published; dropping it removes it).
    pub fn side(target: &Path) -> anyhow::Result<Working> {
        Working::at(target, "-side", false)
    }

    fn at(target: &Path, suffix: &str, copy: bool) -> anyhow::Result<Working> {
        let tag = crate::fsutil::run_tag();
        let path = target.with_extension(format!("sqlite.tmp-{tag}{suffix}"));
        let _ = std::fs::remove_file(&path);
        if copy {
            std::fs::copy(target, &path)?;
            // Some systems copy the modification time too: this file is new, and a run that
            // looks for abandoned ones must see it so (see `fsutil::left_by_ended_run`).
            std::fs::File::options()
                .write(true)
                .open(&path)?
                .set_modified(std::time::SystemTime::now())?;
        }
        Ok(Working {
            path,
            target: target.to_path_buf(),
            published: false,
        })
    }

    /// Readable by its owner only (mode 0600 where files have modes): for an index of data
    /// that a login shows (`--api v2`). Before SQLite opens a new file, so that it never has
    /// wider permissions; a copy keeps its own, which are set again.
    pub fn make_private(&self) -> anyhow::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&self.path)?;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// Flush the file to disk and move it over the index in one rename.
    pub fn publish(mut self) -> anyhow::Result<()> {
        std::fs::File::open(&self.path)?.sync_all()?;
        std::fs::rename(&self.path, &self.target)?;
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.published = true;
        Ok(())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Working files of killed runs (`<name>.sqlite.tmp-<pid>@<host>`) that are over.
fn clean_stale(dir: &Path, target: &Path) {
    let Some(stem) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!("{stem}.tmp-");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        // `<pid>@<host>` or `<pid>@<host>-side` (`<pid>...` from older runs)
        if crate::fsutil::left_by_ended_run(&e.path(), rest) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Open a working file for writing: a new one (marks set at the end), or a copy (checked).
/// `cache_kib`: SQLite's page cache (and so its sorter's memory) for this connection.
pub fn open_working(w: &Working, existing: bool, cache_kib: u32) -> anyhow::Result<Connection> {
    let conn = Connection::open(&w.path)?;
    if existing {
        check(&conn, &w.target)?;
    }
    // A private file renamed into place when complete, so no journal is needed for a crash. A
    // copy has none; a new file keeps its (tiny: it had no pages) rollback journal in memory,
    // so that a statement that fails (a unique index over a key listed twice) is undone
    // instead of leaving the file damaged. A new file also gets 16 KiB pages (SQLite's default
    // is 4 KiB): fewer, fuller pages make the inserts and index sorts faster and the file
    // smaller; a copy keeps the pages it has.
    let journal = if existing {
        "PRAGMA journal_mode=OFF;"
    } else {
        "PRAGMA page_size=16384; PRAGMA journal_mode=MEMORY;"
    };
    conn.execute_batch(&format!(
        "{journal} PRAGMA synchronous=OFF; PRAGMA cache_size=-{cache_kib}; BEGIN"
    ))
    .map_err(|e| damaged(&w.target, e))?;
    Ok(conn)
}

/// Tables of a finished side file (see [`Working::side`]) into this connection's database:
/// the same definitions and indexes, then the rows as stored (SQLite's transfer optimisation
/// copies records without decoding them when the two tables are alike), in the same order.
pub fn copy_tables(conn: &Connection, side: &Path, tables: &[&str]) -> anyhow::Result<()> {
    conn.execute("ATTACH DATABASE ?1 AS side", [side.to_string_lossy()])?;
    for t in tables {
        let defs: Vec<String> = {
            let mut stmt = conn.prepare(
                "SELECT sql FROM side.sqlite_master WHERE tbl_name = ?1 AND sql IS NOT NULL \
                 ORDER BY type = 'index', rowid",
            )?;
            let rows = stmt.query_map([t], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for sql in &defs {
            conn.execute_batch(sql)?;
        }
        let q = quote(t);
        conn.execute(&format!("INSERT INTO main.{q} SELECT * FROM side.{q}"), [])?;
    }
    // Attached until the connection closes: DETACH is not allowed inside the transaction.
    Ok(())
}

/// Start writing a file's pages to disk on a thread of its own, so that the sync before the
/// rename has less left to wait for (that sync is the one that counts).
pub fn start_sync(path: &Path) -> std::thread::JoinHandle<()> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        if let Ok(f) = std::fs::File::open(&path) {
            let _ = f.sync_data();
        }
    })
}

/// The facts of the index, and its marks, then commit.
pub fn seal(conn: &Connection, info: &super::store::Info) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS index_info (server TEXT NOT NULL, api TEXT NOT NULL, \
         updated_at TEXT NOT NULL, full_at TEXT NOT NULL, rows INTEGER NOT NULL, \
         tcia_version TEXT NOT NULL); DELETE FROM index_info;",
    )?;
    conn.execute(
        "INSERT INTO index_info VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            info.server,
            info.api,
            info.updated_at,
            info.full_at,
            info.rows,
            info.tcia_version
        ],
    )?;
    // Statistics for the query planner: a filter on a patient must not scan a collection.
    conn.execute_batch(&format!(
        "PRAGMA analysis_limit=1000; ANALYZE; PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={SCHEMA_VERSION}; COMMIT"
    ))?;
    Ok(())
}

/// The distinct values of one key in some rows, in first-seen order.
pub fn distinct(rows: &[Row], key: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    rows.iter()
        .filter_map(|r| r.get(key).and_then(Value::as_str))
        .filter(|v| seen.insert(v.to_string()))
        .map(str::to_string)
        .collect()
}
