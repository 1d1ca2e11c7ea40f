//! IDC's index as a [`Catalog`]: filters answered as `tcia --source idc series` answers them,
//! UIDs looked up in its `series` table, and each series' bucket location for the fetcher.

use std::collections::HashMap;

use rusqlite::params_from_iter;

use super::bucket::Location;
use super::meta::SeriesInfo;
use super::source::{Catalog, Filters, Lookup};
use crate::api::catalogue::{self as cat, Param};
use crate::dates::Date;
use crate::error::usage;
use crate::index::store::Index;
use crate::index::{answer, idc};
use crate::output::Row;

/// UIDs per lookup statement.
const CHUNK: usize = 500;

pub struct IdcCatalog<'a> {
    pub ix: &'a Index,
}

impl IdcCatalog<'_> {
    /// The bucket and crdc_series_uuid of each of these series.
    pub fn locations(&self, uids: &[&str]) -> anyhow::Result<HashMap<String, Location>> {
        let mut out = HashMap::with_capacity(uids.len());
        for chunk in uids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self.ix.conn.prepare(&format!(
                "SELECT SeriesInstanceUID, aws_bucket, crdc_series_uuid FROM series WHERE SeriesInstanceUID IN ({marks})"
            ))?;
            let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
            while let Some(r) = rows.next()? {
                let (uid, bucket, uuid): (String, Option<String>, Option<String>) =
                    (r.get(0)?, r.get(1)?, r.get(2)?);
                if let (Some(bucket), Some(uuid)) = (bucket, uuid) {
                    out.insert(uid, Location { bucket, uuid });
                }
            }
        }
        Ok(out)
    }

    /// crdc_series_uuid → SeriesInstanceUID, for those the index has.
    pub fn uids_of_uuids(&self, uuids: &[&str]) -> anyhow::Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in uuids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self.ix.conn.prepare(&format!(
                "SELECT crdc_series_uuid, SeriesInstanceUID FROM series WHERE crdc_series_uuid IN ({marks})"
            ))?;
            let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
            while let Some(r) = rows.next()? {
                out.insert(r.get(0)?, r.get(1)?);
            }
        }
        Ok(out)
    }

    /// The series whose source_DOI is `doi` (a bare DOI or a doi.org URL), ignoring case.
    pub fn series_of_doi(&self, doi: &str) -> anyhow::Result<Vec<String>> {
        let bare = doi
            .trim()
            .trim_start_matches("https://doi.org/")
            .trim_start_matches("http://doi.org/")
            .trim_start_matches("doi:");
        let mut stmt = self.ix.conn.prepare(
            "SELECT SeriesInstanceUID FROM series WHERE source_DOI = ?1 COLLATE NOCASE ORDER BY rowid",
        )?;
        let rows = stmt.query_map([bare], |r| r.get::<_, String>(0))?;
        let uids = rows.collect::<Result<Vec<_>, _>>()?;
        if uids.is_empty() {
            return Err(usage(format!(
                "--doi {doi}: no series in IDC's index has that source_DOI"
            )));
        }
        Ok(uids)
    }

    /// Series rows for some UIDs, as the index holds them.
    fn rows(&self, uids: &[String], on_row: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
        for chunk in uids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self.ix.conn.prepare(&format!(
                "SELECT * FROM series WHERE SeriesInstanceUID IN ({marks})"
            ))?;
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let mut rows = stmt.query(params_from_iter(chunk.iter()))?;
            while let Some(r) = rows.next()? {
                let mut row = Row::new();
                for (i, n) in names.iter().enumerate() {
                    if let Some(v) = crate::index::values::from_sql(r.get_ref(i)?, false) {
                        row.insert(n.clone(), v);
                    }
                }
                on_row(row);
            }
        }
        Ok(())
    }
}

impl Catalog for IdcCatalog<'_> {
    async fn select(&self, filters: Filters) -> anyhow::Result<Vec<SeriesInfo>> {
        let known = idc::known_collections(&self.ix.conn)?;
        let mut filters = filters;
        for (p, values) in filters.iter_mut() {
            if *p == Param::Collection {
                for v in values.iter_mut() {
                    *v = idc::resolve(&known, v)?;
                }
            }
        }
        let mut out = Vec::new();
        for combo in answer::combinations(&filters) {
            answer::answer(self.ix, &cat::SERIES, &combo, &mut |row| {
                out.extend(SeriesInfo::from_row(&row.to_row()));
                Ok(())
            })?;
        }
        Ok(out)
    }

    async fn cart(&self, _name: &str) -> anyhow::Result<Vec<SeriesInfo>> {
        Err(usage(
            "--cart: shared carts are NBIA's; use --source nbia (or give the cart's manifest with --manifest)",
        ))
    }

    async fn lookup(&self, uids: &[String]) -> anyhow::Result<Lookup> {
        let mut out = HashMap::with_capacity(uids.len());
        self.rows(uids, &mut |row| {
            if let Some(info) = SeriesInfo::from_row(&row) {
                out.insert(info.uid.clone(), info);
            }
        })?;
        Ok((out, HashMap::new()))
    }

    async fn updated_since(&self, _since: Date) -> anyhow::Result<Vec<SeriesInfo>> {
        // IDC's index is a whole release: a revision shows as a new crdc_series_uuid.
        Ok(Vec::new())
    }
}
