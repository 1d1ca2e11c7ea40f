//! `tcia query`: one read-only statement on the index, its rows streamed as JSON objects.

use rusqlite::Statement;

use super::store::Index;
use super::values::from_sql;
use crate::error::usage;
use crate::output::Row;

/// A checked, read-only statement.
pub struct Query<'c> {
    stmt: Statement<'c>,
    cols: Vec<(String, bool)>,
}

/// Prepare one statement; anything that would write is refused (exit 2).
pub fn prepare<'c>(ix: &'c Index, sql: &str) -> anyhow::Result<Query<'c>> {
    let sql = sql.trim().trim_end_matches(';').trim();
    if sql.is_empty() {
        return Err(usage("tcia query: the SQL statement is empty"));
    }
    let stmt = ix.conn.prepare(sql).map_err(|e| {
        usage(format!(
            "tcia query: {e} (tables: series, patients, studies, collections, index_info)"
        ))
    })?;
    if !stmt.readonly() {
        return Err(usage(
            "tcia query runs read-only statements only (SELECT, WITH, EXPLAIN); the index is changed by `tcia index update`",
        ));
    }
    let cols = super::values::column_kinds(&stmt);
    Ok(Query { stmt, cols })
}

impl Query<'_> {
    /// The result's column names, in order.
    pub fn columns(&self) -> Vec<String> {
        self.cols.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Each row as an object (NULL cells left out, as absent keys).
    pub fn for_each(
        &mut self,
        on_row: &mut dyn FnMut(Row) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let cols = self.cols.clone();
        let bad = |e: rusqlite::Error| usage(format!("tcia query: {e}"));
        let mut rows = self.stmt.query([]).map_err(bad)?;
        while let Some(r) = rows.next().map_err(bad)? {
            let mut row = Row::new();
            for (i, (name, boolean)) in cols.iter().enumerate() {
                if let Some(v) = from_sql(r.get_ref(i)?, *boolean) {
                    row.insert(name.clone(), v);
                }
            }
            on_row(row)?;
        }
        Ok(())
    }
}
