//! What each subcommand does: the only code that sees clap's argument types besides `config`
//! and `context`. Metadata endpoints all go through `query::run`.

pub mod docs;
pub mod doi;
pub mod download;
pub mod idc;
pub mod index;
pub mod login;
pub mod md5;
pub mod query;
pub mod search;
pub mod selection;
pub mod series_metadata;
pub mod single_image;
pub mod sync;
pub mod verify;
