//! The local series index: one SQLite file per (server, API) under the cache directory, filled
//! from one bulk getSeries (plus getPatient and getPatientStudy) and kept fresh with
//! getUpdatedSeries. It is a second [`crate::download::source::Catalog`]-like source of rows:
//! the list commands answer from it with `--offline`, and `tcia query` runs SQL on it.
//!
//! - [`store`]: the file: where it lives, its schema, opening and checking it, its facts;
//! - [`values`]: JSON values to SQLite values and back, so rows come out as they went in;
//! - [`build`]: writing rows into tables, working files renamed into place;
//! - [`update`]: the full build and the incremental update from the server;
//! - [`answer`]: the list endpoints answered from the tables;
//! - [`sql`]: one read-only statement's rows;
//! - [`idc`]: IDC's parquet index files imported into the same kind of database;
//! - [`idc_update`]: fetching them (ETag, sha256 sidecar) and replacing the IDC index.

pub mod answer;
pub mod build;
pub mod idc;
pub mod idc_update;
pub mod sql;
pub mod store;
pub mod update;
pub mod values;
