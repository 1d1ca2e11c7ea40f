//! fake-nbia's integration tests, linked as one binary (`autotests = false` in Cargo.toml).
//!
//! - `bucket`: the fake IDC bucket (S3/GCS listings, objects, faults, the parquet index);
//! - `server`: the query API, formats, transport faults, tokens, POST endpoints, legacy API;
//! - `download`: series downloads, ZIP faults, data changes while running, the control API;
//! - `external`: the fake checked from outside with curl, python3 and unzip (skipped per tool,
//!   with a `skipped: <tool> not found` line on stderr, when a tool is missing);
//! - `fidelity`: the search form, DOIs, MD5s, species counts and collection manifests as the
//!   NBIA server source has them;
//! - `layers`: the module graph of `src/` has no import cycles.
//!
//! `common` holds the one HTTP client they all use and the ZIP reader.

mod bucket;
mod common;
mod download;
mod external;
mod fidelity;
mod layers;
mod server;
