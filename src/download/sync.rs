//! `tcia sync`: a download that remembers what it fetched and, on the next run, fetches only
//! what is new or changed.

use crate::cli::{GlobalArgs, SyncArgs};

pub async fn run(global: &GlobalArgs, a: &SyncArgs) -> anyhow::Result<()> {
    let _ = (global, a);
    anyhow::bail!("sync is not implemented yet")
}
