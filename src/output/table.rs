//! Aligned columns for reading on a terminal: buffered (widths need every row), a short default
//! set of columns for the common row kinds (series, studies, patients), numbers right-aligned,
//! sizes in human units, columns that do not fit the width left out whole, a UID column last
//! cut from the left, empty columns left out, control characters escaped. What was left out is
//! counted ([`RowSink::left_out`]) for the footer on stderr. Other formats keep every column.

use std::io::{self, Write};

use super::row::{cell, header_for, project, Columns, Row, RowSink};
use crate::text::{escape_control, human_bytes};

/// Long enough for any DICOM UID (at most 64 characters), so they stay copyable.
const MAX_CELL: usize = 64;
/// The fewest characters a UID column cut from the left still shows.
const MIN_UID: usize = 12;
/// The fewest characters a description column cut to fit still shows.
const MIN_TEXT: usize = 12;

/// The default table columns of a row kind, recognised by its known columns (`needs`), in the
/// order shown; a UID comes last.
const BRIEF: &[(&[&str], &[&str])] = &[
    (
        &["SeriesInstanceUID", "ImageCount"],
        &[
            "PatientID",
            "Modality",
            "SeriesDescription",
            "ImageCount",
            "FileSize",
            "SeriesInstanceUID",
        ],
    ),
    (
        &["Series UID", "Number of Images"],
        &[
            "Subject ID",
            "Modality",
            "Series Description",
            "Number of Images",
            "File Size",
            "Series UID",
        ],
    ),
    (
        &["StudyInstanceUID", "SeriesCount"],
        &[
            "PatientID",
            "StudyDate",
            "StudyDescription",
            "SeriesCount",
            "StudyInstanceUID",
        ],
    ),
    (
        &["PatientName", "Collection"],
        &[
            "PatientId",
            "PatientID",
            "PatientName",
            "PatientSex",
            "Collection",
            "SpeciesDescription",
        ],
    ),
];

/// Columns holding byte counts, shown in human units.
const SIZES: &[&str] = &["FileSize", "File Size", "TotalSizeInBytes"];

/// The default table columns for rows with these known columns, if the kind has a short set.
pub fn brief_columns(known: &[String]) -> Option<Vec<String>> {
    let has = |c: &str| known.iter().any(|k| k == c);
    BRIEF
        .iter()
        .find(|(needs, _)| needs.iter().all(|c| has(c)))
        .map(|(_, show)| {
            show.iter()
                .filter(|c| has(c))
                .map(|c| c.to_string())
                .collect()
        })
}

pub struct TableSink {
    out: Box<dyn Write>,
    columns: Columns,
    rows: Vec<Row>,
    width: usize,
    left_out: usize,
}

impl TableSink {
    pub fn new(out: Box<dyn Write>, columns: Columns, width: usize) -> Self {
        TableSink {
            out,
            columns,
            rows: Vec::new(),
            width: width.max(20),
            left_out: 0,
        }
    }

    /// Every column with a value in some row, in the known order.
    fn filled(&self) -> Vec<String> {
        header_for(&self.columns.known, self.rows.iter())
            .into_iter()
            .filter(|c| self.rows.iter().any(|r| !cell(r.get(c)).is_empty()))
            .collect()
    }

    /// `--fields`, else the kind's short set (those with values), else every filled column.
    fn chosen(&self, filled: &[String]) -> Vec<String> {
        if let Some(f) = &self.columns.fields {
            return f.clone();
        }
        match brief_columns(&self.columns.known) {
            Some(b) => {
                let b: Vec<String> = b.into_iter().filter(|c| filled.contains(c)).collect();
                if b.is_empty() {
                    filled.to_vec()
                } else {
                    b
                }
            }
            None => filled.to_vec(),
        }
    }
}

/// Cut to `max` characters, marking the cut with `…` at the end.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Cut to `max` characters from the left (the distinctive end of a UID stays).
fn truncate_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n + 1 - max.max(1)).collect();
    format!("…{tail}")
}

/// One table cell: sizes in human units, the rest as text, escaped and cut.
fn show(column: &str, v: Option<&serde_json::Value>) -> String {
    if SIZES.contains(&column) {
        let bytes = match v {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        if let Some(b) = bytes {
            return human_bytes(b as u64);
        }
    }
    let text = escape_control(&cell(v));
    if is_uid_column(column) {
        text
    } else {
        truncate(&text, MAX_CELL)
    }
}

fn is_uid_column(c: &str) -> bool {
    c.ends_with("UID") || c.ends_with("Uid")
}

/// A column of numbers: every value is a JSON number or reads as one (UIDs do not).
fn is_numeric(column: &str, rows: &[Row]) -> bool {
    !is_uid_column(column)
        && rows.iter().all(|r| match r.get(column) {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::Number(_)) => true,
            Some(serde_json::Value::String(s)) => s.is_empty() || s.trim().parse::<f64>().is_ok(),
            Some(_) => false,
        })
}

/// Which columns fit in `width` (two spaces between), with their widths: a description column
/// gives up characters first (down to [`MIN_TEXT`]), then columns are left out from the right,
/// except a UID column last, which keeps at least [`MIN_UID`] characters and takes what is left.
/// Returns (column index, width) for each column drawn, and whether a UID column is last.
fn fit(header: &[String], natural: &[usize], width: usize) -> (Vec<(usize, usize)>, bool) {
    let uid_last = header.last().is_some_and(|h| is_uid_column(h)) && header.len() > 1;
    let body = if uid_last {
        header.len() - 1
    } else {
        header.len()
    };
    let reserve = if uid_last { MIN_UID + 2 } else { 0 };
    let mut natural = natural.to_vec();
    let total: usize = natural
        .iter()
        .map(|w| w + 2)
        .sum::<usize>()
        .saturating_sub(2);
    let mut excess = total.saturating_sub(width);
    for (i, h) in header[..body].iter().enumerate() {
        if h.contains("Description") && natural[i] > MIN_TEXT && excess > 0 {
            let cut = (natural[i] - MIN_TEXT).min(excess);
            natural[i] -= cut;
            excess -= cut;
        }
    }
    let mut out = Vec::new();
    let mut used = 0;
    for (i, w) in natural[..body].iter().enumerate() {
        let need = if out.is_empty() { *w } else { w + 2 };
        if !out.is_empty() && used + need + reserve > width {
            continue;
        }
        used += need;
        out.push((i, (*w).min(width)));
    }
    if uid_last {
        let room = width.saturating_sub(used + 2).max(MIN_UID);
        out.push((body, natural[body].min(room)));
    }
    (out, uid_last)
}

/// How to draw each line: which columns, how wide, aligned which way.
struct Lines {
    shown: Vec<usize>,
    widths: Vec<usize>,
    right: Vec<bool>,
    uid_last: bool,
    width: usize,
}

impl Lines {
    fn draw(&self, cells: &[String]) -> String {
        let mut s = String::new();
        for (k, &i) in self.shown.iter().enumerate() {
            let w = self.widths[k];
            let c = if self.uid_last && k + 1 == self.shown.len() {
                truncate_left(&cells[i], w)
            } else {
                truncate(&cells[i], w)
            };
            let pad = " ".repeat(w.saturating_sub(c.chars().count()));
            if k > 0 {
                s.push_str("  ");
            }
            if self.right[k] {
                s.push_str(&pad);
                s.push_str(&c);
            } else {
                s.push_str(&c);
                s.push_str(&pad);
            }
        }
        truncate(s.trim_end(), self.width)
    }
}

impl RowSink for TableSink {
    fn row(&mut self, row: Row) -> io::Result<()> {
        let row = match &self.columns.fields {
            Some(f) => project(row, f),
            None => row,
        };
        self.rows.push(row);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.rows.is_empty() {
            return self.out.flush();
        }
        let filled = self.filled();
        let chosen = self.chosen(&filled);
        let grid: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| chosen.iter().map(|c| show(c, r.get(c))).collect())
            .collect();
        let natural: Vec<usize> = chosen
            .iter()
            .enumerate()
            .map(|(i, h)| {
                grid.iter()
                    .map(|r| r[i].chars().count())
                    .chain([h.chars().count().min(MAX_CELL)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let (fitted, uid_last) = fit(&chosen, &natural, self.width);
        let (shown, widths): (Vec<usize>, Vec<usize>) = fitted.into_iter().unzip();
        let extra = filled.iter().filter(|c| !chosen.contains(c)).count();
        self.left_out = extra + chosen.len() - shown.len();
        let lines = Lines {
            right: shown
                .iter()
                .map(|&i| is_numeric(&chosen[i], &self.rows))
                .collect(),
            shown,
            widths,
            uid_last,
            width: self.width,
        };
        writeln!(self.out, "{}", lines.draw(&chosen))?;
        for r in &grid {
            writeln!(self.out, "{}", lines.draw(r))?;
        }
        self.out.flush()
    }

    fn left_out(&self) -> usize {
        self.left_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::json::tests::Shared;

    #[test]
    fn aligned_and_cut() {
        let buf = Shared::default();
        let cols = Columns {
            known: vec!["A".into(), "Empty".into(), "B".into()],
            fields: None,
        };
        let mut t = TableSink::new(Box::new(buf.clone()), cols, 30);
        let rows: Vec<Row> =
            serde_json::from_str(r#"[{"A":"x","B":"yy"},{"A":"long value here","B":"z\u001b"}]"#)
                .unwrap();
        for r in rows {
            t.row(r).unwrap();
        }
        t.finish().unwrap();
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out,
            "A                B\nx                yy\nlong value here  z\\u{1b}\n"
        );
    }
}
