//! Aligned columns for a terminal: buffered (widths need every row), cells cut to a maximum
//! width, lines cut to the terminal width, empty columns left out, control characters escaped.

use std::io::{self, Write};

use super::row::{cell, header_for, project, Columns, Row, RowSink};
use crate::text::escape_control;

/// Long enough for any DICOM UID (at most 64 characters), so they stay copyable.
const MAX_CELL: usize = 64;

pub struct TableSink {
    out: Box<dyn Write>,
    columns: Columns,
    rows: Vec<Row>,
    width: usize,
}

impl TableSink {
    pub fn new(out: Box<dyn Write>, columns: Columns, width: usize) -> Self {
        TableSink {
            out,
            columns,
            rows: Vec::new(),
            width: width.max(20),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
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
        let header = match &self.columns.fields {
            Some(f) => f.clone(),
            None => header_for(&self.columns.known, self.rows.iter())
                .into_iter()
                .filter(|c| self.rows.iter().any(|r| !cell(r.get(c)).is_empty()))
                .collect(),
        };
        if self.rows.is_empty() {
            return self.out.flush();
        }
        let grid: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                header
                    .iter()
                    .map(|c| truncate(&escape_control(&cell(r.get(c))), MAX_CELL))
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = header
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
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.extend(std::iter::repeat_n(
                        ' ',
                        widths[i].saturating_sub(c.chars().count()),
                    ));
                }
            }
            truncate(s.trim_end(), self.width)
        };
        let head: Vec<String> = header.iter().map(|h| truncate(h, MAX_CELL)).collect();
        writeln!(self.out, "{}", line(&head))?;
        for r in &grid {
            writeln!(self.out, "{}", line(r))?;
        }
        self.out.flush()
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
