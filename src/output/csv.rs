//! CSV (RFC 4180: CRLF line ends, quotes only where needed, as the csv crate writes it) and TSV.
//! A header is always written, also for zero rows. Columns: `--fields`, or the known columns then unknown
//! keys in first-seen order among the first rows.

use std::io::{self, Write};

use super::row::{Columns, Row, RowSink};
use super::rowref::RowRef;

/// Rows held back to discover unknown keys before the header is fixed.
const LOOKAHEAD: usize = 1000;

pub struct CsvSink {
    w: Records,
    columns: Columns,
    header: Option<Vec<String>>,
    header_done: bool,
    pending: Vec<RowRef<'static>>,
    dropped: Vec<String>,
    /// The header's distinct columns, and each header column's index among them.
    distinct: Vec<String>,
    col_of: Vec<usize>,
    /// Per distinct column, the index of its field in the row being written (`NONE`: absent).
    slots: Vec<usize>,
}

const NONE: usize = usize::MAX;

impl CsvSink {
    pub fn new(out: Box<dyn Write>, columns: Columns, delimiter: u8) -> Self {
        let tsv = delimiter == b'\t';
        let w = Records {
            out,
            buf: Vec::with_capacity(2 * FLUSH_AT),
            tsv,
            fields: 0,
            record_start: 0,
        };
        CsvSink {
            w,
            header: columns.fields.clone(),
            columns,
            header_done: false,
            pending: Vec::new(),
            dropped: Vec::new(),
            distinct: Vec::new(),
            col_of: Vec::new(),
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
        for c in self.header.as_deref().unwrap_or_default() {
            self.w.field(c.as_bytes());
        }
        self.w.end_record()?;
        self.header_done = true;
        Ok(())
    }

    /// Each distinct column's field: rows mostly list their keys in header order, so the
    /// search for a key starts after the previous key's column.
    fn fill_slots(&mut self, row: &RowRef<'_>) {
        let header = self.header.as_deref().expect("header fixed before rows");
        if self.col_of.len() != header.len() {
            (self.distinct, self.col_of) = distinct(header);
        }
        let cols = &self.distinct;
        self.slots.clear();
        self.slots.resize(cols.len(), NONE);
        let mut next = 0;
        for (i, k) in row.keys().enumerate() {
            let found = cols[next..]
                .iter()
                .position(|c| c == k)
                .map(|j| next + j)
                .or_else(|| cols[..next].iter().position(|c| c == k));
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
        for &c in &self.col_of {
            match self.slots[c] {
                NONE => self.w.field(b""),
                i => self.w.field(row.value_at(i).text().as_bytes()),
            }
        }
        self.w.end_record()
    }
}

/// The header's distinct columns (`--fields` may name one twice), and for each header column
/// its index among them.
fn distinct(header: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut cols: Vec<String> = Vec::new();
    let col_of = header
        .iter()
        .map(|h| {
            cols.iter().position(|c| c == h).unwrap_or_else(|| {
                cols.push(h.clone());
                cols.len() - 1
            })
        })
        .collect();
    (cols, col_of)
}

/// Flush the record buffer to the writer beyond this many bytes.
const FLUSH_AT: usize = 64 * 1024;

/// Records as the csv crate writes them (`QuoteStyle::Necessary` for CSV, `Never` for TSV): a
/// CSV field is quoted when it holds a comma, a quote, CR or LF, quotes doubled; TSV cannot
/// quote, so tab, newline, carriage return and backslash are escaped as \t \n \r \\. A record
/// that would be empty (one empty field) is written `""`, so it is not a blank line.
struct Records {
    out: Box<dyn Write>,
    buf: Vec<u8>,
    tsv: bool,
    /// Fields written in the current record, and where it starts in `buf`.
    fields: usize,
    record_start: usize,
}

impl Records {
    fn field(&mut self, s: &[u8]) {
        let (delimiter, special) = if self.tsv {
            (b'\t', b'\\')
        } else {
            (b',', b'"')
        };
        if self.fields > 0 {
            self.buf.push(delimiter);
        }
        self.fields += 1;
        let odd = s.iter().fold(false, |acc, &b| {
            acc | (b == delimiter) | (b == special) | (b == b'\r') | (b == b'\n')
        });
        if !odd {
            self.buf.extend_from_slice(s);
        } else if self.tsv {
            for &b in s {
                match b {
                    b'\\' => self.buf.extend_from_slice(b"\\\\"),
                    b'\t' => self.buf.extend_from_slice(b"\\t"),
                    b'\n' => self.buf.extend_from_slice(b"\\n"),
                    b'\r' => self.buf.extend_from_slice(b"\\r"),
                    b => self.buf.push(b),
                }
            }
        } else {
            self.buf.push(b'"');
            for &b in s {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        }
    }

    fn end_record(&mut self) -> io::Result<()> {
        if self.buf.len() == self.record_start {
            self.buf.extend_from_slice(b"\"\"");
        }
        self.buf
            .extend_from_slice(if self.tsv { b"\n" } else { b"\r\n" });
        self.fields = 0;
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.record_start = self.buf.len();
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.record_start = 0;
        self.out.flush()
    }
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

    fn keys_known(&mut self) {
        if self.header.is_none() && self.pending.is_empty() {
            self.header = Some(self.columns.known.clone());
        }
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

    #[test]
    fn a_record_of_one_empty_field_is_two_quotes() {
        // As the csv crate writes it: an empty line would read back as no record at all.
        assert_eq!(
            render(&["A"], None, r#"[{},{"A":""},{"A":"x"}]"#, b','),
            "A\r\n\"\"\r\n\"\"\r\nx\r\n"
        );
        assert_eq!(
            render(&["A"], None, r#"[{},{"A":"x"}]"#, b'\t'),
            "A\n\"\"\nx\n"
        );
        assert_eq!(render(&["A", "B"], None, "[{}]", b','), "A,B\r\n,\r\n");
    }

    #[test]
    fn quotes_only_where_needed_and_cells_as_serde_prints_them() {
        let out = render(
            &["A", "B", "C", "D", "E"],
            None,
            r#"[{"A":"cr\rhere","B":"lf\nhere","C":"tab\tand\\","D":1.50,"E":[1,{"x":"y"}]},
                {"A":-0,"B":1e3,"C":null,"D":false,"E":"\u00e9\"q\""}]"#,
            b',',
        );
        assert_eq!(
            out,
            "A,B,C,D,E\r\n\"cr\rhere\",\"lf\nhere\",tab\tand\\,1.5,\"[1,{\"\"x\"\":\"\"y\"\"}]\"\r\n\
             -0.0,1000.0,,false,\"é\"\"q\"\"\"\r\n"
        );
    }

    #[test]
    fn keys_known_in_advance_change_nothing() {
        let cols = || Columns {
            known: vec!["A".into(), "B".into()],
            fields: None,
        };
        let json = r#"[{"B":"b"},{"A":"x, y","B":2},{}]"#;
        let buf = Shared::default();
        let mut s = CsvSink::new(Box::new(buf.clone()), cols(), b',');
        s.keys_known();
        for r in serde_json::from_str::<Vec<Row>>(json).unwrap() {
            s.row(r).unwrap();
        }
        s.finish().unwrap();
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out, render(&["A", "B"], None, json, b','));
        assert_eq!(out, "A,B\r\n,b\r\n\"x, y\",2\r\n,\r\n");
    }

    #[test]
    fn a_column_named_twice_is_filled_twice() {
        let out = render(
            &["A", "B"],
            Some(&["B", "A", "B"]),
            r#"[{"A":1,"B":2},{"A":3}]"#,
            b',',
        );
        assert_eq!(out, "B,A,B\r\n2,1,2\r\n,3,\r\n");
    }
}
