//! The live NBIA server as a [`Catalog`]: getSeries for filters, getContentsByName for carts,
//! getSeriesMetadata for UIDs, getUpdatedSeries for changes.

use std::collections::HashMap;

use super::meta::SeriesInfo;
use super::source::{Catalog, Filters, Lookup};
use crate::api::catalogue::{self as cat, Api, Param};
use crate::api::client::Client;
use crate::api::{metadata, rows};
use crate::dates::Date;
use crate::output::Row;

pub struct NbiaCatalog<'a> {
    pub client: &'a Client,
    pub api: Api,
}

fn infos(rows: Vec<Row>) -> Vec<SeriesInfo> {
    rows.iter().filter_map(SeriesInfo::from_row).collect()
}

impl Catalog for NbiaCatalog<'_> {
    async fn select(&self, filters: Filters) -> anyhow::Result<Vec<SeriesInfo>> {
        let mut out = Vec::new();
        self.select_each(filters, &mut |s| out.push(s)).await?;
        Ok(out)
    }

    async fn select_each(
        &self,
        filters: Filters,
        on_series: &mut dyn FnMut(SeriesInfo),
    ) -> anyhow::Result<()> {
        rows::for_each_row(self.client, self.api, &cat::SERIES, filters, &mut |r| {
            if let Some(s) = SeriesInfo::from_row(&r) {
                on_series(s);
            }
            Ok(())
        })
        .await
    }

    async fn cart(&self, name: &str) -> anyhow::Result<Vec<SeriesInfo>> {
        let params = vec![(Param::CartName, vec![name.to_string()])];
        Ok(infos(
            rows::fetch_rows(self.client, self.api, &cat::CART, params).await?,
        ))
    }

    async fn lookup(&self, uids: &[String]) -> anyhow::Result<Lookup> {
        let mut out = HashMap::new();
        let mut errors = HashMap::new();
        if uids.is_empty() {
            return Ok((out, errors));
        }
        // Row by row: a batch of 10,000 is never held as rows.
        metadata::for_each_row_lenient(
            self.client,
            self.api,
            uids,
            &mut |row| {
                if let Some(info) = SeriesInfo::from_row(&row) {
                    out.insert(info.uid.clone(), info);
                }
                Ok(())
            },
            &mut |uid, why| {
                errors.insert(uid.to_string(), why);
            },
        )
        .await?;
        Ok((out, errors))
    }

    /// getSeriesSize: `ObjectCount` and `TotalSizeInBytes`.
    async fn series_size(&self, uid: &str) -> Option<(u64, u64)> {
        let params = vec![(Param::SeriesUid, vec![uid.to_string()])];
        let rows = rows::fetch_rows(self.client, self.api, &cat::SERIES_SIZE, params)
            .await
            .ok()?;
        let row = rows.first()?;
        let num = |k: &str| {
            let t = crate::output::cell(row.get(k)).into_owned();
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| *f >= 0.0)
                .map(|f| f as u64)
        };
        Some((num("ObjectCount")?, num("TotalSizeInBytes")?))
    }

    async fn updated_since(&self, since: Date) -> anyhow::Result<Vec<SeriesInfo>> {
        let params = vec![(Param::Since, vec![since.to_string()])];
        Ok(infos(
            rows::fetch_rows(self.client, self.api, &cat::UPDATED_SERIES, params).await?,
        ))
    }
}
