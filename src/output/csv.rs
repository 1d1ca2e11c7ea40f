//! CSV (RFC 4180 via the csv crate: CRLF line ends, quotes only where needed) and TSV. A header
//! is always written, also for zero rows. Columns: `--fields`, or the known columns then unknown
//! keys in first-seen order among the first rows.

use std::borrow::Cow;
use std::io::{self, Write};

use super::row::{Columns, Row, RowSink};
use super::rowref::RowRef;

/// Rows held back to discover unknown keys before the header is fixed.
const LOOKAHEAD: usize = 1000;

pub struct CsvSink {
    w: csv::Writer<Box<dyn Write>>,
    columns: Columns,
    header: Option<Vec<String>>,
    header_done: bool,
    pending: Vec<RowRef<'static>>,
    tsv: bool,
    dropped: Vec<String>,
    /// Per column, the index of its field in the row being written (`NONE`: absent).
    slots: Vec<usize>,
}

const NONE: usize = usize::MAX;

impl CsvSink {
    pub fn new(out: Box<dyn Write>, columns: Columns, delimiter: u8) -> Self {
        let tsv = delimiter == b'\t';
        let w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .quote_style(if tsv {
                csv::QuoteStyle::Never
            } else {
                csv::QuoteStyle::Necessary
            })
            .terminator(if tsv {
                csv::Terminator::Any(b'\n')
            } else {
                csv::Terminator::CRLF
            })
            .from_writer(out);
        CsvSink {
            w,
            header: columns.fields.clone(),
            columns,
            header_done: false,
            pending: Vec::new(),
            tsv,
            dropped: Vec::new(),
            slots: Vec::new(),
        }
    }

    fn fix_header(&mut self) -> io::Result<()> {
        let mut cols = self.columns.known.clone();
        for r in &self.pending {
            for k in r.keys() {
                if !cols.iter().any(|c| c == k) {
                    cols.push(k.to_string());
                }
            }
        }
        self.header = Some(cols);
        self.write_header()?;
        for r in std::mem::take(&mut self.pending) {
            self.write_row(&r)?;
        }
        Ok(())
    }

    fn write_header(&mut self) -> io::Result<()> {
        let cells: Vec<String> = self
            .header
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|c| escape_tsv(self.tsv, Cow::Borrowed(c.as_str())).into_owned())
            .collect();
        self.w.write_record(&cells).map_err(io_error)?;
        self.header_done = true;
        Ok(())
    }

    /// Each column's field: rows mostly list their keys in header order, so the search for
    /// a key starts after the previous key's column.
    fn fill_slots(&mut self, row: &RowRef<'_>) {
        let header = self.header.as_deref().expect("header fixed before rows");
        self.slots.clear();
        self.slots.resize(header.len(), NONE);
        let mut next = 0;
        for (i, k) in row.keys().enumerate() {
            let found = header[next..]
                .iter()
                .position(|c| c == k)
                .map(|j| next + j)
                .or_else(|| header[..next].iter().position(|c| c == k));
            match found {
                Some(c) => {
                    self.slots[c] = i;
                    next = c + 1;
                }
                None if self.columns.fields.is_none() && !self.dropped.iter().any(|d| d == k) => {
                    self.dropped.push(k.to_string());
                }
                None => {}
            }
        }
    }

    fn write_row(&mut self, row: &RowRef<'_>) -> io::Result<()> {
        self.fill_slots(row);
        for &s in &self.slots {
            let text = match s {
                NONE => Cow::Borrowed(""),
                i => escape_tsv(self.tsv, row.value_at(i).text()),
            };
            self.w.write_field(text.as_bytes()).map_err(io_error)?;
        }
        self.w.write_record(None::<&[u8]>).map_err(io_error)?;
        Ok(())
    }
}

/// Keep the underlying I/O error (a closed pipe must stay recognisable).
fn io_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// TSV cannot quote: escape tab, newline, carriage return and backslash.
fn escape_tsv(tsv: bool, s: Cow<'_, str>) -> Cow<'_, str> {
    if !tsv || !s.contains(['\t', '\n', '\r', '\\']) {
        return s;
    }
    Cow::Owned(
        s.replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n")
            .replace('\r', "\\r"),
    )
}

impl RowSink for CsvSink {
    fn row(&mut self, row: Row) -> io::Result<()> {
        self.row_ref(RowRef::from_map(row))
    }

    fn row_ref(&mut self, row: RowRef<'_>) -> io::Result<()> {
        if self.header.is_none() {
            self.pending.push(row.into_static());
            if self.pending.len() >= LOOKAHEAD {
                self.fix_header()?;
            }
            return Ok(());
        }
        if !self.header_done {
            self.write_header()?;
        }
        self.write_row(&row)
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.header.is_none() {
            self.fix_header()?;
        } else if !self.header_done {
            self.write_header()?;
        }
        self.w.flush()
    }

    fn dropped_keys(&self) -> Vec<String> {
        self.dropped.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::json::tests::Shared;

    fn render(known: &[&str], fields: Option<&[&str]>, json: &str, delim: u8) -> String {
        let buf = Shared::default();
        let cols = Columns {
            known: known.iter().map(|s| s.to_string()).collect(),
            fields: fields.map(|f| f.iter().map(|s| s.to_string()).collect()),
        };
        let mut s = CsvSink::new(Box::new(buf.clone()), cols, delim);
        let rows: Vec<Row> = serde_json::from_str(json).unwrap();
        for r in rows {
            s.row(r).unwrap();
        }
        s.finish().unwrap();
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        out
    }

    #[test]
    fn header_always_even_without_rows() {
        assert_eq!(render(&["A", "B"], None, "[]", b','), "A,B\r\n");
        assert_eq!(render(&["A", "B"], Some(&["B"]), "[]", b','), "B\r\n");
    }

    #[test]
    fn known_then_unknown_columns_and_quoting() {
        let out = render(
            &["A", "B"],
            None,
            r#"[{"Z":"z","A":"x, \"y\""},{},{"B":3,"Y":true}]"#,
            b',',
        );
        assert_eq!(
            out,
            "A,B,Z,Y\r\n\"x, \"\"y\"\"\",,z,\r\n,,,\r\n,3,,true\r\n"
        );
    }

    #[test]
    fn tsv_escapes() {
        let out = render(&["A", "B"], None, r#"[{"A":"a\tb","B":"l1\nl2\\"}]"#, b'\t');
        assert_eq!(out, "A\tB\na\\tb\tl1\\nl2\\\\\n");
    }
}
