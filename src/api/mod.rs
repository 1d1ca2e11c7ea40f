//! The NBIA service: its endpoints ([`catalogue`]), the HTTP layer ([`client`]), OAuth tokens
//! ([`auth`]), metadata rows ([`rows`]) and getSeriesMetadata ([`metadata`]). No command line,
//! no context, no download knowledge.

pub mod auth;
pub mod catalogue;
pub mod client;
pub mod metadata;
pub mod rows;
