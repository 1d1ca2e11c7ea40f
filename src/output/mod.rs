//! Output renderers: rows (JSON objects, key order kept) in, bytes on stdout out. Pure
//! functions of rows and a writer; no renderer touches the network. `row` holds what they
//! share; this module only picks the renderer for a format.

mod csv;
mod json;
mod row;
mod rowref;
mod table;

use std::io::Write;

pub use self::csv::CsvSink;
pub use self::json::JsonSink;
pub use self::row::{cell, header_for, project, Columns, Format, RawFormat, Row, RowSink};
pub use self::rowref::{CellRef, RowParser, RowRef};
pub use self::table::TableSink;

/// Build the sink for a format.
pub fn sink(
    format: Format,
    columns: Columns,
    out: Box<dyn Write>,
    width: usize,
) -> Box<dyn RowSink> {
    match format {
        Format::Json => Box::new(JsonSink::new(out, columns.fields, false)),
        Format::Ndjson => Box::new(JsonSink::new(out, columns.fields, true)),
        Format::Csv => Box::new(CsvSink::new(out, columns, b',')),
        Format::Tsv => Box::new(CsvSink::new(out, columns, b'\t')),
        Format::Table => Box::new(TableSink::new(out, columns, width)),
    }
}

/// A report (a plan, per-series results, findings) on stdout in `format`: these columns, these
/// rows, the same renderers as the queries. Rows are rendered as they come (only the table
/// holds them, for its widths).
pub fn write_report(
    format: Format,
    columns: &[&str],
    rows: impl IntoIterator<Item = Row>,
    width: usize,
) -> std::io::Result<()> {
    let cols = Columns {
        known: columns.iter().map(|c| c.to_string()).collect(),
        fields: None,
    };
    let out = Box::new(std::io::BufWriter::new(std::io::stdout()));
    let mut sink = sink(format, cols, out, width);
    for r in rows {
        sink.row(r)?;
    }
    sink.finish()
}
