//! The index file: `<cache>/index/<server>-<api>.sqlite`, marked with SQLite's application id
//! so that a foreign or damaged file is recognised, and its facts (`index_info`).

use std::path::{Path, PathBuf};

use reqwest::Url;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::api::catalogue::{server_key, Api};
use crate::error::{exit, Error};

/// `PRAGMA application_id` of a tcia index ("TCIA").
pub const APPLICATION_ID: i64 = 0x5443_4941;
/// `PRAGMA user_version`: the schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// The directory of every index: `<cache>/index`.
pub fn dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("index")
}

/// The index file of a server and API version.
pub fn path_for(cache_dir: &Path, server: &Url, api: Api) -> PathBuf {
    dir(cache_dir).join(format!("{}-{}.sqlite", server_key(server), api.as_str()))
}

/// What `index_info` says.
#[derive(Clone, Debug)]
pub struct Info {
    pub server: String,
    pub api: String,
    /// When the last update finished (RFC 3339, UTC).
    pub updated_at: String,
    /// When the last full build finished.
    pub full_at: String,
    pub rows: i64,
    pub tcia_version: String,
}

/// An index file opened for reading.
pub struct Index {
    pub conn: Connection,
    pub path: PathBuf,
}

/// The error for a file that is not a readable tcia index, with the fix.
pub fn damaged(path: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    // The file's name says which index it is: `idc-<key>.sqlite`, `<server>-<api>.sqlite`.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let fix = if name.starts_with("idc-") {
        "tcia --source idc index update --full"
    } else if name.ends_with("-v1.sqlite") {
        "tcia --api v1 index update --full"
    } else if name.ends_with("-v2.sqlite") {
        "tcia --api v2 index update --full"
    } else {
        "tcia index update --full"
    };
    Error::Failed {
        message: format!(
            "{} is not a usable tcia index ({why}); rebuild it with `{fix}`",
            path.display()
        ),
        code: exit::ERROR,
    }
    .into()
}

impl Index {
    /// Open read-only and check that it is a tcia index of this schema.
    pub fn open(path: &Path) -> anyhow::Result<Index> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| damaged(path, e))?;
        check(&conn, path)?;
        Ok(Index {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn info(&self) -> anyhow::Result<Info> {
        read_info(&self.conn).map_err(|e| damaged(&self.path, e))
    }

    /// Series per collection count and the number of collections.
    pub fn collections(&self) -> anyhow::Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM collections", [], |r| r.get(0))
            .map_err(|e| damaged(&self.path, e))
    }
}

/// The marks of a tcia index: application id, schema version, an `index_info` row.
pub fn check(conn: &Connection, path: &Path) -> anyhow::Result<()> {
    let id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| damaged(path, e))?;
    if id != APPLICATION_ID {
        return Err(damaged(path, "not written by tcia"));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| damaged(path, e))?;
    if version != SCHEMA_VERSION {
        return Err(damaged(
            path,
            format!("schema version {version}; this tcia reads version {SCHEMA_VERSION}"),
        ));
    }
    read_info(conn).map_err(|e| damaged(path, e))?;
    Ok(())
}

fn read_info(conn: &Connection) -> rusqlite::Result<Info> {
    conn.query_row(
        "SELECT server, api, updated_at, full_at, rows, tcia_version FROM index_info",
        [],
        |r| {
            Ok(Info {
                server: r.get(0)?,
                api: r.get(1)?,
                updated_at: r.get(2)?,
                full_at: r.get(3)?,
                rows: r.get(4)?,
                tcia_version: r.get(5)?,
            })
        },
    )
    .optional()?
    .ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// Every index file in the directory, sorted.
pub fn all(cache_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(cache_dir))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The age of an index in days, from `updated_at`.
pub fn age_days(info: &Info, now_unix: i64) -> Option<i64> {
    let t = crate::dates::parse_rfc3339_utc(&info.updated_at)?;
    Some((now_unix - t) / 86_400)
}
