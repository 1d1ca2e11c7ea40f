//! Rows and what renderers share: the row type, formats, column choice, cell text.

use std::io;

use serde_json::{Map, Value};

pub use super::rowref::cell;
use super::rowref::RowRef;

pub type Row = Map<String, Value>;

/// `--format`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON array of the server's objects (key order kept, absent keys stay absent).
    Json,
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180 CSV with a header row, always.
    Csv,
    /// Tab-separated values; tabs, newlines and backslashes in values escaped as \t \n \\.
    Tsv,
    /// Aligned columns for reading on a terminal.
    Table,
}

/// `--raw`: the server's own bytes for `format=`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RawFormat {
    Json,
    Csv,
    Xml,
    Html,
}

impl RawFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            RawFormat::Json => "json",
            RawFormat::Csv => "csv",
            RawFormat::Xml => "xml",
            RawFormat::Html => "html",
        }
    }
}

/// Which columns to write and in what order.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    /// The endpoint's known columns for the selected API version, in server order.
    pub known: Vec<String>,
    /// `--fields`: exactly these columns, in this order.
    pub fields: Option<Vec<String>>,
}

/// A destination for rows.
pub trait RowSink {
    fn row(&mut self, row: Row) -> io::Result<()>;
    /// A row read in place from a response (the fast path); by default as an owned row.
    fn row_ref(&mut self, row: RowRef<'_>) -> io::Result<()> {
        self.row(row.to_row())
    }
    /// Every row's keys are among the known columns (the caller knows them all in advance):
    /// a header can be fixed now instead of after looking at the first rows.
    fn keys_known(&mut self) {}
    /// Flush everything; called once, also for zero rows.
    fn finish(&mut self) -> io::Result<()>;
    /// Keys seen after a header was fixed, for a warning.
    fn dropped_keys(&self) -> Vec<String> {
        Vec::new()
    }
    /// Columns with values that a table left out (its short default set, or the width).
    fn left_out(&self) -> usize {
        0
    }
}

/// Keep only `fields`, in that order (absent keys stay absent).
pub fn project(row: Row, fields: &[String]) -> Row {
    let mut row = row;
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = row.remove(f) {
            out.insert(f.clone(), v);
        }
    }
    out
}

/// Column order: known columns, then unknown keys in first-seen order.
pub fn header_for<'a>(known: &[String], rows: impl Iterator<Item = &'a Row>) -> Vec<String> {
    let mut cols: Vec<String> = known.to_vec();
    for r in rows {
        for k in r.keys() {
            if !cols.iter().any(|c| c == k) {
                cols.push(k.clone());
            }
        }
    }
    cols
}
