//! The download engine: series in, verified files out, from any source. It knows no command
//! line and no terminal: it takes a client (through a source), [`engine::Settings`] and a
//! [`report::Reporter`].
//!
//! - [`source`]: the seams, `Catalog` (series rows for a selection) and `SeriesFetcher` (one
//!   series' files into staging), and the verification every source shares;
//! - [`nbia_catalog`], [`nbia_zip`]: the NBIA server behind those seams;
//! - [`idc_catalog`], [`bucket`]: IDC behind them (its index, its public buckets);
//! - [`engine`]: jobs in flight, retries, publish, bookkeeping, the exit status;
//! - [`input`]: UIDs from arguments, files and manifests; [`meta`]: one normalised record per
//!   series, kept compact with [`intern`] (texts and groups of fields stored once); [`layout`]: final paths; [`names`]: safe names; [`shard`]: `--shard K/N`;
//! - [`state`]: what a download directory remembers; [`publish`]: the atomic move into place;
//!   [`check`]: re-hashing a published series; [`zipstream`]: the streaming ZIP reader;
//!   [`report`]: the `Reporter` trait.

pub mod bucket;
pub mod check;
pub mod engine;
pub mod idc_catalog;
pub mod input;
pub mod intern;
pub mod layout;
pub mod meta;
pub mod names;
pub mod nbia_catalog;
pub mod nbia_zip;
pub mod publish;
pub mod report;
pub mod shard;
pub mod source;
pub mod state;
pub mod zipstream;
