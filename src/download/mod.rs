//! `tcia download`: gather the series, look up their metadata once, plan paths, skip what is
//! already complete, then run the engine on `--jobs` series at a time and publish each series
//! atomically with a completion record. Also `single-image` and `verify`.

pub mod engine;
pub mod input;
pub mod layout;
pub mod meta;
pub mod report;
pub mod shard;
pub mod state;
pub mod sync;
pub mod verify;
pub mod zipstream;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::stream::{self, StreamExt};

use crate::catalogue::{self as cat, Api, Param};
use crate::cli::{DownloadArgs, GlobalArgs, SingleImageArgs};
use crate::client::{backoff, Client, Request};
use crate::commands::{cart_name, query, Ctx};
use crate::config::Applied;
use crate::error::{exit, usage, Error};
use engine::{FailClass, Failure, Options, Target};
use layout::Layout;
use meta::SeriesInfo;
use report::{human_bytes, human_duration, BarReporter, LineReporter, Reporter};
use shard::Shard;
use state::{now_rfc3339, Record, State};

/// Default retries per series (the portal's manifests say 4 too).
const DEFAULT_RETRIES: u32 = 4;

/// One series to fetch.
#[derive(Clone)]
pub struct Job {
    pub info: SeriesInfo,
    /// Final path relative to the output directory (a directory, or a `.zip` file).
    pub rel: PathBuf,
}

enum Outcome {
    Done(Box<Record>),
    Failed { uid: String, failure: Failure },
}

/// Everything decided before touching the download directory.
pub struct Plan {
    pub ctx: Ctx,
    pub retries: u32,
    pub jobs: Vec<Job>,
    /// Requested UIDs the server does not know.
    pub unknown: Vec<String>,
    pub shard: Option<Shard>,
    pub root: PathBuf,
}

/// Inputs → UIDs (this shard's) → one metadata lookup → final paths, collisions checked.
pub async fn plan(global: &GlobalArgs, config: &Applied, a: &DownloadArgs) -> anyhow::Result<Plan> {
    let layout = Layout::parse(&a.layout).map_err(usage)?;
    let shard = match &a.shard {
        Some(spec) => {
            Some(Shard::resolve(spec, a.shards, &|k| std::env::var(k).ok()).map_err(usage)?)
        }
        None if a.shards.is_some() => return Err(usage("--shards N goes with --shard auto")),
        None => None,
    };
    if shard.is_some() && !layout.names_the_series() {
        // Shards run at the same time: only per-series paths keep them from colliding.
        return Err(usage(
            "--shard needs a --layout that names %SeriesInstanceUID (or flat, classic, descriptive)",
        ));
    }
    // Manifests first: they may name the server and the retry count.
    let mut manifests = Vec::new();
    for m in &a.manifest {
        manifests.push(input::read_manifest(m)?);
    }
    // A manifest knows its server (NLST manifests point at the NLST host) and retry count: it
    // beats the config file and the defaults, not a flag or an environment variable.
    let mut g = global.clone();
    if !config.explicit("server") {
        if let Some(s) = manifests.iter().find_map(|m| m.server()) {
            g.server = Some(s);
        }
    }
    let manifest_retries = manifests.iter().find_map(|m| m.retries());
    let retries = if config.explicit("retries") {
        global.retries
    } else {
        manifest_retries.or(global.retries)
    }
    .unwrap_or(DEFAULT_RETRIES);
    let ctx = Ctx::with_idle_timeout(&g, Duration::from_secs(a.idle_timeout))?;
    if ctx.api == Api::Legacy {
        return Err(usage(
            "downloads need --api v4, v1 or v2 (the legacy API has no series metadata lookup)",
        ));
    }
    for m in &manifests {
        for line in &m.skipped {
            ctx.printer.warn(&format!(
                "manifest: skipped a line that is not a series UID: {line}"
            ));
        }
    }

    // What to download, in first-seen order; only this shard's part.
    let (mut uids, mut infos) = gather(&ctx, a, &manifests).await?;
    if let Some(sh) = shard {
        let all = uids.len();
        uids.retain(|u| sh.contains(u));
        ctx.printer
            .info(&format!("shard {sh}: {} of {all} series", uids.len()));
    }

    // Metadata for all of them at once.
    let looked_up = if uids.is_empty() {
        HashMap::new()
    } else {
        meta::lookup(&ctx, &uids).await?
    };
    let mut unknown = Vec::new();
    let mut jobs = Vec::new();
    for uid in &uids {
        let mut info = match looked_up.get(uid) {
            Some(i) => i.clone(),
            None => {
                unknown.push(uid.clone());
                continue;
            }
        };
        if let Some(extra) = infos.remove(uid) {
            info.merge(&extra);
        }
        let mut rel = layout.path_for(&info);
        if a.zip {
            let name = rel
                .file_name()
                .map(|n| format!("{}.zip", n.to_string_lossy()))
                .unwrap_or_default();
            rel.set_file_name(name);
        }
        jobs.push(Job { info, rel });
    }
    layout::check_collisions(jobs.iter().map(|j| (j.info.uid.as_str(), &j.rel))).map_err(usage)?;
    // Nor replace or nest into what earlier runs (other layouts, other shards) published.
    let existing: Vec<(String, String)> = State::new(&a.output, None)
        .records()
        .into_values()
        .map(|r| (r.uid, r.path))
        .collect();
    layout::check_existing(
        jobs.iter().map(|j| (j.info.uid.as_str(), &j.rel)),
        &existing,
    )
    .map_err(usage)?;
    Ok(Plan {
        ctx,
        retries,
        jobs,
        unknown,
        shard,
        root: a.output.clone(),
    })
}

/// Split jobs into those to fetch and the UIDs already complete on disk (cheap check, or
/// re-hashed with `verify`).
pub fn split_complete(
    st: &State,
    records: &BTreeMap<String, Record>,
    jobs: Vec<Job>,
    verify: bool,
    printer: &crate::printer::Printer,
) -> (Vec<Job>, Vec<String>) {
    let mut skip = Vec::new();
    let mut todo = Vec::new();
    for job in jobs {
        let done = records
            .get(&job.info.uid)
            .filter(|r| r.path == rel_string(&job.rel))
            .filter(|r| st.looks_complete(r));
        match done {
            Some(r) if verify => {
                let problems = verify::check_record(st, r);
                if problems.is_empty() {
                    skip.push(job.info.uid.clone());
                } else {
                    printer.warn(&format!(
                        "{} failed re-verification ({}); downloading it again",
                        job.info.uid,
                        problems[0].describe()
                    ));
                    todo.push(job);
                }
            }
            Some(_) => skip.push(job.info.uid.clone()),
            None => todo.push(job),
        }
    }
    (todo, skip)
}

pub fn totals(jobs: &[Job]) -> (u64, u64) {
    (
        jobs.iter().filter_map(|j| j.info.image_count()).sum(),
        jobs.iter().filter_map(|j| j.info.file_size()).sum(),
    )
}

/// Take the directory: create it, refuse links, lock (per shard), clean staging.
pub fn take_directory(st: &State) -> anyhow::Result<Vec<std::fs::File>> {
    std::fs::create_dir_all(&st.root).with_context(|| format!("creating {}", st.root.display()))?;
    ensure_no_symlink(&st.root, Path::new(state::STATE_DIR))?;
    let lock = st.lock()?;
    st.prepare()?;
    Ok(lock)
}

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

/// What a run did.
pub struct Report {
    pub done: Vec<String>,
    pub failed: Vec<(String, Failure)>,
}

/// Download `todo` with `--jobs` in flight; records, metadata.csv and the failed list kept
/// current; the summary line printed. The directory must be taken.
pub async fn execute(
    plan: &Plan,
    a: &DownloadArgs,
    st: &State,
    records: &mut BTreeMap<String, Record>,
    todo: Vec<Job>,
    skipped: usize,
) -> anyhow::Result<Report> {
    let ctx = &plan.ctx;
    let reporter: Arc<dyn Reporter> =
        if ctx.printer.stderr_tty && !ctx.printer.quiet && ctx.printer.verbose == 0 {
            Arc::new(BarReporter::new(ctx.printer.clone()))
        } else {
            Arc::new(LineReporter::new(ctx.printer.clone()))
        };
    let (_, total_bytes) = totals(&todo);
    reporter.begin(todo.len(), total_bytes);
    let opts = Options {
        api: ctx.api,
        md5: !a.no_md5,
        zip: a.zip,
    };
    let started = Instant::now();
    let no_delay = ctx.client.settings.no_retry_delay;
    let staging = st.staging();
    let mut last_csv = Instant::now();
    let mut failed: Vec<(String, Failure)> = plan
        .unknown
        .iter()
        .map(|u| {
            (
                u.clone(),
                Failure {
                    class: FailClass::Denied,
                    retry: false,
                    message: "not found on this server (not public, or on another server: NLST series need --server nlst)".into(),
                    retry_after: None,
                },
            )
        })
        .collect();
    for (u, f) in &failed {
        reporter.series_failed(u, &f.message);
    }
    let mut done = Vec::new();
    let mut done_bytes = 0u64;
    let mut results = stream::iter(todo)
        .map(|job| {
            process(
                &ctx.client,
                opts,
                st,
                &staging,
                job,
                plan.retries,
                no_delay,
                reporter.clone(),
            )
        })
        .buffer_unordered(a.jobs as usize);
    while let Some(outcome) = results.next().await {
        match outcome {
            Outcome::Done(rec) => {
                done_bytes += rec.bytes;
                reporter.series_done(&rec.uid, rec.files.len(), rec.bytes, &rec.path);
                done.push(rec.uid.clone());
                records.insert(rec.uid.clone(), *rec);
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
    let elapsed = started.elapsed();
    let rate = done_bytes as f64 / elapsed.as_secs_f64().max(0.001);
    reporter.summary(&format!(
        "downloaded {}, skipped {skipped}, failed {}: {} in {} ({}/s)",
        done.len(),
        failed.len(),
        human_bytes(done_bytes),
        human_duration(elapsed),
        human_bytes(rate as u64)
    ));
    Ok(Report { done, failed })
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

pub async fn run(global: &GlobalArgs, config: &Applied, a: &DownloadArgs) -> anyhow::Result<()> {
    let plan = plan(global, config, a).await?;
    if plan.jobs.is_empty() && plan.unknown.is_empty() {
        plan.ctx
            .printer
            .info("nothing to download: the selection is empty");
        return Ok(());
    }
    let st = State::new(&plan.root, plan.shard);
    let mut records = st.records();
    let (todo, skip) = split_complete(
        &st,
        &records,
        plan.jobs.clone(),
        a.verify,
        &plan.ctx.printer,
    );
    let (images, bytes) = totals(&todo);
    if a.dry_run {
        let p = &plan.ctx.printer;
        for j in &todo {
            p.info(&format!(
                "would download {} ({} images, {}) -> {}",
                j.info.uid,
                j.info.image_count().map_or("?".into(), |n| n.to_string()),
                j.info.file_size().map_or("?".into(), human_bytes),
                rel_string(&j.rel)
            ));
        }
        for u in &plan.unknown {
            p.warn(&format!("{u}: not found on this server"));
        }
        p.info(&format!(
            "dry run: would download {} series ({images} images, {}), skip {} already complete{}",
            todo.len(),
            human_bytes(bytes),
            skip.len(),
            if plan.unknown.is_empty() {
                String::new()
            } else {
                format!(", {} not found", plan.unknown.len())
            }
        ));
        return Ok(());
    }
    let _lock = take_directory(&st)?;
    if !a.no_space_check {
        check_space(&st.root, bytes)?;
    }
    let report = execute(&plan, a, &st, &mut records, todo, skip.len()).await?;
    conclude(&st, &report.failed)
}

pub fn rel_string(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// UIDs from every input, de-duplicated in first-seen order, with any metadata that came along.
async fn gather(
    ctx: &Ctx,
    a: &DownloadArgs,
    manifests: &[input::Manifest],
) -> anyhow::Result<(Vec<String>, HashMap<String, SeriesInfo>)> {
    let mut uids = Vec::new();
    let mut infos: HashMap<String, SeriesInfo> = HashMap::new();
    for u in &a.uids {
        let u = u.trim();
        if !input::is_uid(u) {
            return Err(usage(format!(
                "'{u}' is not a series instance UID (digits and dots); to read UIDs from a file use -i FILE"
            )));
        }
        uids.push(u.to_string());
    }
    for path in &a.input {
        let (u, i) = input::read_input(path)?;
        uids.extend(u);
        infos.extend(i);
    }
    for m in manifests {
        uids.extend(m.uids.iter().cloned());
    }
    let mut rows_from = |rows: Vec<crate::output::Row>, uids: &mut Vec<String>| {
        for row in rows {
            if let Some(info) = SeriesInfo::from_row(&row) {
                uids.push(info.uid.clone());
                infos.insert(info.uid.clone(), info);
            }
        }
    };
    if let Some(c) = &a.cart {
        let name = cart_name(c)?;
        let rows = fetch_rows(ctx, &cat::CART, vec![(Param::CartName, vec![name])]).await?;
        rows_from(rows, &mut uids);
    }
    if !a.filters.is_empty() {
        let rows = fetch_rows(ctx, &cat::SERIES, a.filters.params()).await?;
        rows_from(rows, &mut uids);
    }
    let nothing_given = a.uids.is_empty()
        && a.input.is_empty()
        && a.manifest.is_empty()
        && a.cart.is_none()
        && a.filters.is_empty();
    if nothing_given {
        return Err(usage(
            "download: say what to download: UIDs, -i FILE, --manifest FILE, --cart NAME, or filters such as --collection",
        ));
    }
    let mut seen = HashSet::new();
    uids.retain(|u| seen.insert(u.clone()));
    Ok((uids, infos))
}

/// All rows of a metadata query (used for selections, which are modest in size).
pub(crate) async fn fetch_rows(
    ctx: &Ctx,
    endpoint: &'static cat::Endpoint,
    params: Vec<(Param, Vec<String>)>,
) -> anyhow::Result<Vec<crate::output::Row>> {
    let route = endpoint.route(ctx.api).map_err(usage)?;
    let combos = query::plan(ctx.api, endpoint, route, &params)?;
    let mut rows = Vec::new();
    for q in combos {
        let req = Request::get(route.path.url_path(ctx.api), q);
        query::stream_rows(ctx, &req, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .await?;
    }
    Ok(rows)
}

/// Fetch one series with retries, then publish it.
#[allow(clippy::too_many_arguments)]
async fn process(
    client: &Client,
    opts: Options,
    st: &State,
    staging: &Path,
    job: Job,
    retries: u32,
    no_delay: bool,
    reporter: Arc<dyn Reporter>,
) -> Outcome {
    let uid = job.info.uid.clone();
    let target = Target {
        uid: &uid,
        image_count: job.info.image_count(),
        file_size: job.info.file_size(),
    };
    reporter.series_start(&uid, target.file_size);
    let mut attempt = 0;
    loop {
        match engine::attempt(client, opts, staging, &target, reporter.clone()).await {
            Ok(fetched) => {
                let staged = fetched.staged.clone();
                let result = publish(st, &job, fetched);
                let _ = engine::remove_any(&staged);
                return match result {
                    Ok(rec) => Outcome::Done(Box::new(rec)),
                    Err(e) => Outcome::Failed {
                        uid,
                        failure: Failure {
                            class: FailClass::Local,
                            retry: false,
                            message: format!("{e:#}"),
                            retry_after: None,
                        },
                    },
                };
            }
            Err(f) if f.retry && attempt < retries => {
                attempt += 1;
                let delay = f.retry_after.unwrap_or_else(|| backoff(attempt));
                reporter.series_retry(
                    &uid,
                    attempt,
                    &format!("{} (next try in {:.1}s)", f.message, delay.as_secs_f64()),
                );
                if !no_delay {
                    tokio::time::sleep(delay).await;
                }
            }
            Err(f) => {
                let staged = if opts.zip {
                    staging.join(format!("{uid}.zip"))
                } else {
                    staging.join(&uid)
                };
                let _ = engine::remove_any(&staged);
                let message = if attempt > 0 {
                    format!("{} (after {} attempts)", f.message, attempt + 1)
                } else {
                    f.message.clone()
                };
                return Outcome::Failed {
                    uid,
                    failure: Failure { message, ..f },
                };
            }
        }
    }
}

/// Move a verified series from staging to its final place in one rename (an older copy is set
/// aside first and removed after), write the collection's LICENSE, then the completion record.
fn publish(st: &State, job: &Job, fetched: engine::Fetched) -> anyhow::Result<Record> {
    ensure_no_symlink(&st.root, &job.rel)?;
    let dest = st.root.join(&job.rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // The old copy (a changed series) is set aside, the new one moved in, and the old one
    // deleted; if the move fails, the old copy goes back. Its record stays until replaced.
    let aside = st.trash().join(format!("{}-previous", job.info.uid));
    let had_old = std::fs::symlink_metadata(&dest).is_ok();
    if had_old {
        engine::remove_any(&aside)?;
        std::fs::rename(&dest, &aside)
            .with_context(|| format!("moving the previous {} aside", dest.display()))?;
    }
    if let Err(e) = std::fs::rename(&fetched.staged, &dest) {
        if had_old {
            let _ = std::fs::rename(&aside, &dest);
        }
        return Err(e).with_context(|| format!("moving the series into {}", dest.display()));
    }
    if had_old {
        let _ = engine::remove_any(&aside);
    }
    if let Some(text) = &fetched.license {
        let coll = layout::sanitize_component(&job.info.get("Collection"));
        ensure_no_symlink(&st.root, Path::new(&coll))?;
        let lic = st.root.join(&coll).join("LICENSE");
        if std::fs::read_to_string(&lic).ok().as_deref() != Some(text.as_str()) {
            std::fs::create_dir_all(st.root.join(&coll))?;
            crate::fsutil::write_atomically(&lic, text.as_bytes())?;
        }
    }
    let fields: BTreeMap<String, String> = job.info.fields.clone().into_iter().collect();
    let rec = Record {
        uid: job.info.uid.clone(),
        path: rel_string(&job.rel),
        zip: fetched.staged.extension().is_some_and(|e| e == "zip"),
        files: fetched.files,
        bytes: fetched.bytes,
        md5_verified: fetched.md5_verified,
        downloaded_at: now_rfc3339(),
        fields,
    };
    st.write_record(&rec)?;
    Ok(rec)
}

/// Refuse to write through a symbolic link anywhere on the way from `root` to `root/rel`.
pub(crate) fn ensure_no_symlink(root: &Path, rel: &Path) -> anyhow::Result<()> {
    let mut p = root.to_path_buf();
    for c in rel.components() {
        p.push(c);
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            if m.file_type().is_symlink() {
                anyhow::bail!(
                    "{} is a symbolic link; tcia never writes through links in the download directory",
                    p.display()
                );
            }
        }
    }
    Ok(())
}

/// `tcia single-image`: one DICOM file, written atomically.
pub async fn single_image(global: &GlobalArgs, a: &SingleImageArgs) -> anyhow::Result<()> {
    let ctx = Ctx::new(global)?;
    if ctx.api == Api::Legacy {
        return Err(usage("single-image needs --api v4, v1 or v2"));
    }
    for (flag, v) in [("--series-uid", &a.series_uid), ("--sop-uid", &a.sop_uid)] {
        if !input::is_uid(v) {
            return Err(usage(format!(
                "{flag} '{v}' is not a UID (digits and dots)"
            )));
        }
    }
    let req = Request::get(
        format!("/nbia-api/services/{}/getSingleImage", ctx.api.as_str()),
        vec![
            ("SeriesInstanceUID".into(), a.series_uid.clone()),
            ("SOPInstanceUID".into(), a.sop_uid.clone()),
        ],
    );
    let url = ctx.client.url_for(&req);
    let resp = ctx.client.send(&req).await?;
    query::reject_html(&resp, &url)?;
    let body = resp
        .bytes()
        .await
        .map_err(|e| ctx.client.transport_error("GET", &url, e))?;
    if body.len() < 132 || &body[128..132] != b"DICM" {
        ctx.printer
            .warn("the image has no DICM preamble; it may not be a DICOM Part 10 file");
    }
    let path = if a.output.is_dir() {
        a.output.join(format!("{}.dcm", a.sop_uid))
    } else {
        a.output.clone()
    };
    crate::fsutil::write_atomically(&path, &body)?;
    ctx.printer.info(&format!(
        "wrote {} ({})",
        path.display(),
        human_bytes(body.len() as u64)
    ));
    Ok(())
}
