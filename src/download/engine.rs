//! The engine: series in, verified and published series out, whatever the source. It runs
//! `jobs` series at a time through a [`SeriesFetcher`], retries what may succeed later,
//! verifies each attempt ([`verify_staged`]), publishes it atomically, keeps metadata.csv and
//! the failed list current, and reports through a [`Reporter`]. It knows no command line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt};

use super::layout::RelPath;
use super::meta::SeriesInfo;
use super::publish::{ensure_no_symlink, publish, recover, remove_any};
use super::report::Reporter;
use super::shard::Shard;
use super::source::{verify_staged, FailClass, Failure, SeriesFetcher, Target};
use super::state::{Record, State, STATE_DIR};
use crate::api::client::backoff;
use crate::error::{exit, Error};
use crate::text::{human_bytes, human_duration};

/// One series to fetch.
#[derive(Clone)]
pub struct Job {
    pub info: SeriesInfo,
    /// Final path relative to the output directory (a directory, or a `.zip` file).
    rel: RelPath,
}

impl Job {
    pub fn new(info: SeriesInfo, rel: &Path) -> Job {
        let rel = RelPath::new(rel, &info.uid);
        Job { info, rel }
    }

    /// Final path relative to the output directory (a directory, or a `.zip` file).
    pub fn rel(&self) -> PathBuf {
        self.rel.path(&self.info.uid)
    }

    /// Point the job at another path.
    pub fn set_rel(&mut self, rel: &Path) {
        self.rel = RelPath::new(rel, &self.info.uid);
    }
}

/// How the engine runs, decided by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Keep each series as a `.zip` instead of its files.
    pub zip: bool,
    /// Series in flight.
    pub jobs: usize,
    /// Attempts after the first, per series.
    pub retries: u32,
    /// Compute and report retry delays without sleeping (tests).
    pub no_retry_delay: bool,
    /// Test hook: end the process after this step of a publish (see `publish`).
    pub abort_publish_after: Option<u32>,
}

/// What to run: the series to fetch, the UIDs the catalogue did not know (reported as
/// failures), and how many were skipped as already complete (for the summary).
pub struct Batch {
    pub todo: Vec<Job>,
    pub unknown: Vec<String>,
    /// Those of `unknown` whose lookup failed, with the reason (reported as such, exit 5).
    pub lookup_errors: std::collections::HashMap<String, String>,
    pub skipped: usize,
}

/// What a run did.
pub struct Report {
    pub done: Vec<String>,
    pub failed: Vec<(String, Failure)>,
}

enum Outcome {
    Done(Box<Record>),
    Failed { uid: String, failure: Failure },
}

/// Images and bytes of some jobs, as far as the catalogue knows them.
pub fn totals<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> (u64, u64) {
    jobs.into_iter().fold((0, 0), |(i, b), j| {
        (
            i + j.info.image_count().unwrap_or(0),
            b + j.info.file_size().unwrap_or(0),
        )
    })
}

/// Take the directory: create it, refuse links, lock (per shard), finish or undo publishes a
/// crash interrupted, then clean staging and trash.
pub fn take_directory(st: &State) -> anyhow::Result<Vec<std::fs::File>> {
    std::fs::create_dir_all(&st.root).with_context(|| format!("creating {}", st.root.display()))?;
    refuse_state_links(st)?;
    let lock = st.lock()?;
    recover(st)?;
    if st.shard.is_none() {
        recover_shards(st)?;
    }
    st.prepare()?;
    Ok(lock)
}

/// A whole run holds the directory alone (no shard runs beside it): it also finishes what
/// crashed shards left in their trash (`trash-shard-K-of-N`).
fn recover_shards(st: &State) -> anyhow::Result<()> {
    let Ok(rd) = std::fs::read_dir(&st.dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((k, n)) = name
            .strip_prefix("trash-shard-")
            .and_then(|r| r.split_once("-of-"))
        else {
            continue;
        };
        if let (Ok(k), Ok(n)) = (k.parse(), n.parse()) {
            recover(&State::new(&st.root, Some(Shard { k, n })))?;
        }
    }
    Ok(())
}

/// No symbolic link at `.tcia` or at any entry inside it (records, staging, trash, locks).
fn refuse_state_links(st: &State) -> anyhow::Result<()> {
    ensure_no_symlink(&st.root, Path::new(STATE_DIR))?;
    if let Ok(rd) = std::fs::read_dir(&st.dir) {
        for e in rd.flatten() {
            ensure_no_symlink(&st.dir, Path::new(&e.file_name()))?;
        }
    }
    Ok(())
}

/// Fail before downloading when the disk cannot hold `bytes` (plus 1%).
pub fn check_space(root: &Path, bytes: u64) -> anyhow::Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    let free = fs4::available_space(root)
        .with_context(|| format!("checking free space on {}", root.display()))?;
    // Staging lives inside DIR, so a series needs its size once; keep 1% headroom.
    let need = bytes + bytes / 100;
    if need > free {
        return Err(Error::Failed {
            message: format!(
                "not enough space in {}: {} to download, {} free; free some space or pass --no-space-check",
                root.display(),
                human_bytes(need),
                human_bytes(free)
            ),
            code: exit::ERROR,
        }
        .into());
    }
    Ok(())
}

/// Download a batch with `settings.jobs` in flight; records, metadata.csv and the failed list
/// kept current; the summary line printed. The directory must be taken.
pub async fn run_jobs<F: SeriesFetcher>(
    fetcher: &F,
    settings: &Settings,
    st: &State,
    records: &mut BTreeMap<String, Record>,
    batch: Batch,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<Report> {
    let (_, total_bytes) = totals(&batch.todo);
    let uncounted: std::collections::HashSet<String> = batch
        .todo
        .iter()
        .filter(|j| j.info.image_count().is_none() || j.info.file_size().is_none())
        .map(|j| j.info.uid.clone())
        .collect();
    reporter.begin(batch.todo.len(), total_bytes);
    let started = Instant::now();
    let mut failed = unknown_failures(&batch.unknown, &batch.lookup_errors);
    for (u, f) in &failed {
        reporter.series_failed(u, &f.message);
    }
    let mut done = Vec::new();
    let mut done_bytes = 0u64;
    let mut size_only = 0usize;
    let mut last_csv = Instant::now();
    let mut results = stream::iter(batch.todo)
        .map(|job| process(fetcher, settings, st, job, reporter.clone()))
        .buffer_unordered(settings.jobs.max(1));
    while let Some(outcome) = results.next().await {
        match outcome {
            Outcome::Done(rec) => {
                done_bytes += rec.bytes;
                size_only += rec.size_only.len();
                reporter.series_done(&rec.uid, rec.files.len(), rec.bytes, &rec.path);
                done.push(rec.uid.clone());
                let rec = rec.held();
                records.insert(rec.uid.clone(), rec);
                if last_csv.elapsed() > Duration::from_secs(2) {
                    st.write_metadata_csv(records)?;
                    last_csv = Instant::now();
                }
            }
            Outcome::Failed { uid, failure } => {
                reporter.series_failed(&uid, &failure.message);
                failed.push((uid, failure));
            }
        }
    }
    drop(results);
    st.write_metadata_csv(records)?;
    let failed_uids: Vec<String> = failed.iter().map(|(u, _)| u.clone()).collect();
    st.write_failed(&failed_uids)?;
    let unproven = done.iter().filter(|u| uncounted.contains(*u)).count();
    let counts = (done.len(), batch.skipped, failed.len(), unproven);
    let mut line = summary_line(counts, done_bytes, started.elapsed());
    if size_only > 0 {
        line.push_str(&format!(
            "; {size_only} files had no digest from the store: checked by size only"
        ));
    }
    reporter.summary(&line);
    Ok(Report { done, failed })
}

/// `downloaded D, skipped S, failed F: bytes in time (rate)`, and the series published without
/// server counts, if any. `counts` = (done, skipped, failed, without counts).
fn summary_line(counts: (usize, usize, usize, usize), bytes: u64, elapsed: Duration) -> String {
    let (done, skipped, failed, unproven) = counts;
    let rate = bytes as f64 / elapsed.as_secs_f64().max(0.001);
    let mut line = format!(
        "downloaded {done}, skipped {skipped}, failed {failed}: {} in {} ({}/s)",
        human_bytes(bytes),
        human_duration(elapsed),
        human_bytes(rate as u64)
    );
    if unproven > 0 {
        line.push_str(&format!(
            "; {unproven} series without server counts: MD5s checked, completeness not provable"
        ));
    }
    line
}

fn unknown_failures(
    unknown: &[String],
    errors: &std::collections::HashMap<String, String>,
) -> Vec<(String, Failure)> {
    unknown
        .iter()
        .map(|u| {
            if let Some(why) = errors.get(u) {
                let message = format!("metadata lookup failed: {why}");
                return (u.clone(), Failure::new(FailClass::Network, false, message));
            }
            (
                u.clone(),
                Failure::new(
                    FailClass::Denied,
                    false,
                    format!("unknown series: {}", crate::uid::UNKNOWN_SERIES_WHY),
                ),
            )
        })
        .collect()
}

/// Fetch one series with retries, verify it, then publish it.
async fn process<F: SeriesFetcher>(
    fetcher: &F,
    settings: &Settings,
    st: &State,
    job: Job,
    reporter: Arc<dyn Reporter>,
) -> Outcome {
    let uid = job.info.uid.clone();
    let target = Target {
        uid: &uid,
        image_count: job.info.image_count(),
        file_size: job.info.file_size(),
    };
    reporter.series_start(&uid, &job.info.label(), target.file_size);
    let staged = st.staged_path(&uid, settings.zip);
    let mut attempt = 0;
    let mut last: Option<String> = None;
    let failure = loop {
        let result = match prepare_staged(&uid, &staged, settings.zip) {
            Ok(()) => fetcher
                .fetch(&target, &staged, reporter.clone())
                .await
                .and_then(|x| verify_staged(&target, staged.clone(), x, fetcher.checks_digests())),
            Err(f) => Err(f),
        };
        match result {
            Ok(fetched) => {
                let published = publish(
                    st,
                    &job.info,
                    &job.rel(),
                    fetched,
                    settings.abort_publish_after,
                );
                let _ = remove_any(&staged);
                return match published {
                    Ok(rec) => Outcome::Done(Box::new(rec)),
                    Err(e) => Outcome::Failed {
                        uid,
                        failure: Failure::local(format!("{e:#}")),
                    },
                };
            }
            Err(f) if f.retry && attempt < settings.retries => {
                attempt += 1;
                wait_to_retry(&*reporter, settings, &uid, attempt, &f, &mut last).await;
            }
            Err(f) => break f,
        }
    };
    let _ = remove_any(&staged);
    let message = if attempt > 0 {
        format!("{} (after {} attempts)", failure.message, attempt + 1)
    } else {
        failure.message.clone()
    };
    Outcome::Failed {
        uid,
        failure: Failure { message, ..failure },
    }
}

/// Report a retry and wait for it; an error is shown once, not again on every retry.
async fn wait_to_retry(
    reporter: &dyn Reporter,
    settings: &Settings,
    uid: &str,
    attempt: u32,
    f: &Failure,
    last: &mut Option<String>,
) {
    let delay = f.retry_after.unwrap_or_else(|| backoff(attempt));
    let what = if last.as_deref() == Some(f.message.as_str()) {
        "the same error"
    } else {
        f.message.as_str()
    };
    reporter.series_retry(
        uid,
        attempt,
        &format!("{what} (next try in {:.1}s)", delay.as_secs_f64()),
    );
    *last = Some(f.message.clone());
    if !settings.no_retry_delay {
        tokio::time::sleep(delay).await;
    }
}

/// A clean staging path for one attempt: an empty directory, or nothing at the `.zip` path.
fn prepare_staged(uid: &str, staged: &Path, zip: bool) -> Result<(), Failure> {
    if !crate::uid::is_uid(uid) {
        return Err(Failure::local(format!(
            "refusing the series UID {uid:?}: not digits and dots"
        )));
    }
    remove_any(staged)
        .map_err(|e| Failure::local(format!("cleaning {}: {e}", staged.display())))?;
    if !zip {
        std::fs::create_dir_all(staged)
            .map_err(|e| Failure::local(format!("creating {}: {e}", staged.display())))?;
    }
    Ok(())
}

/// The exit status of a run: Ok when nothing failed, else the most telling code.
pub fn conclude(st: &State, failed: &[(String, Failure)]) -> anyhow::Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    let code = if failed.iter().any(|(_, f)| f.class == FailClass::Integrity) {
        exit::INTEGRITY
    } else if failed.iter().any(|(_, f)| f.class == FailClass::Network) {
        exit::HTTP_SERVER
    } else if failed.iter().any(|(_, f)| f.class == FailClass::Denied) {
        exit::HTTP_CLIENT
    } else {
        exit::ERROR
    };
    let list = st.failed_path();
    Err(Error::Failed {
        message: format!(
            "{} series failed; their UIDs are in {} (retry with: tcia download -i {} -o {})",
            failed.len(),
            list.display(),
            list.display(),
            st.root.display()
        ),
        code,
    }
    .into())
}
