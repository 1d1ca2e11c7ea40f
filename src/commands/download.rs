//! `tcia download`: gather the series, look up their metadata once, plan paths, skip what is
//! already complete, then hand the rest to the engine (`download::engine`) with the NBIA
//! source, and turn its report into the exit status.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::api::catalogue::Api;
use crate::cli::{DownloadArgs, GlobalArgs};
use crate::config::Applied;
use crate::context::{engine_settings, with_manifests, Ctx};
use crate::download::check::check_record;
use crate::download::engine::{self, totals, Batch, Job, Report};
use crate::download::input::{self, Manifest};
use crate::download::layout::{self, rel_string, Layout};
use crate::download::meta::SeriesInfo;
use crate::download::nbia_catalog::NbiaCatalog;
use crate::download::nbia_zip::NbiaZip;
use crate::download::shard::Shard;
use crate::download::source::Catalog;
use crate::download::state::{Record, State};
use crate::env::Env;
use crate::error::usage;
use crate::text::human_bytes;
use crate::uid::{cart_name, is_uid};

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

/// `--shard K/N|auto` (with `--shards N`), or none.
fn shard_of(a: &DownloadArgs, env: &Env, layout: &Layout) -> anyhow::Result<Option<Shard>> {
    let shard = match &a.shard {
        Some(spec) => Some(Shard::resolve(spec, a.shards, &|k| env.var(k)).map_err(usage)?),
        None if a.shards.is_some() => return Err(usage("--shards N goes with --shard auto")),
        None => None,
    };
    if shard.is_some() && !layout.names_the_series() {
        // Shards run at the same time: only per-series paths keep them from colliding.
        return Err(usage(
            "--shard needs a --layout that names %SeriesInstanceUID (or flat, classic, descriptive)",
        ));
    }
    Ok(shard)
}

/// Inputs → UIDs (this shard's) → one metadata lookup → final paths, collisions checked.
pub async fn plan(
    global: &GlobalArgs,
    config: &Applied,
    env: &Env,
    a: &DownloadArgs,
) -> anyhow::Result<Plan> {
    let layout = Layout::parse(&a.layout).map_err(usage)?;
    let shard = shard_of(a, env, &layout)?;
    // Manifests first: they may name the server and the retry count.
    let manifests = a
        .manifest
        .iter()
        .map(|m| input::read_manifest(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (g, retries) = with_manifests(global, config, &manifests);
    let ctx = Ctx::with_idle_timeout(&g, env, Duration::from_secs(a.idle_timeout))?;
    if ctx.api == Api::Legacy {
        return Err(usage(
            "downloads need --api v4, v1 or v2 (the legacy API has no series metadata lookup)",
        ));
    }
    for line in manifests.iter().flat_map(|m| &m.skipped) {
        ctx.printer.warn(&format!(
            "manifest: skipped a line that is not a series UID: {line}"
        ));
    }
    let catalog = NbiaCatalog {
        client: &ctx.client,
        api: ctx.api,
    };
    // What to download, in first-seen order; only this shard's part.
    let (mut uids, infos) = gather(&catalog, a, &manifests).await?;
    if let Some(sh) = shard {
        let all = uids.len();
        uids.retain(|u| sh.contains(u));
        ctx.printer
            .info(&format!("shard {sh}: {} of {all} series", uids.len()));
    }
    // Metadata for all of them at once.
    let looked_up = catalog.lookup(&uids).await?;
    let (jobs, unknown) = jobs_for(&layout, a.zip, &uids, looked_up, infos);
    check_paths(&jobs, a)?;
    Ok(Plan {
        ctx,
        retries,
        jobs,
        unknown,
        shard,
        root: a.output.clone(),
    })
}

/// One job per known UID, at its layout path; the UIDs the server does not know.
fn jobs_for(
    layout: &Layout,
    zip: bool,
    uids: &[String],
    looked_up: HashMap<String, SeriesInfo>,
    mut infos: HashMap<String, SeriesInfo>,
) -> (Vec<Job>, Vec<String>) {
    let mut unknown = Vec::new();
    let mut jobs = Vec::new();
    for uid in uids {
        let Some(mut info) = looked_up.get(uid).cloned() else {
            unknown.push(uid.clone());
            continue;
        };
        if let Some(extra) = infos.remove(uid) {
            info.merge(&extra);
        }
        let mut rel = layout.path_for(&info);
        if zip {
            let name = rel
                .file_name()
                .map(|n| format!("{}.zip", n.to_string_lossy()))
                .unwrap_or_default();
            rel.set_file_name(name);
        }
        jobs.push(Job { info, rel });
    }
    (jobs, unknown)
}

/// No two series at one path, and none replacing or nesting into what earlier runs (other
/// layouts, other shards) published.
fn check_paths(jobs: &[Job], a: &DownloadArgs) -> anyhow::Result<()> {
    layout::check_collisions(jobs.iter().map(|j| (j.info.uid.as_str(), &j.rel))).map_err(usage)?;
    let existing: Vec<(String, String)> = State::new(&a.output, None)
        .records()
        .into_values()
        .map(|r| (r.uid, r.path))
        .collect();
    layout::check_existing(
        jobs.iter().map(|j| (j.info.uid.as_str(), &j.rel)),
        &existing,
    )
    .map_err(usage)
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
                let problems = check_record(st, r);
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

/// Run a batch through the engine with the NBIA ZIP source: the directory taken and its space
/// checked first.
pub async fn fetch(
    plan: &Plan,
    a: &DownloadArgs,
    st: &State,
    records: &mut BTreeMap<String, Record>,
    batch: Batch,
) -> anyhow::Result<Report> {
    let ctx = &plan.ctx;
    let fetcher = NbiaZip {
        client: &ctx.client,
        api: ctx.api,
        md5: !a.no_md5,
        zip: a.zip,
        jobs: a.jobs as usize,
    };
    let settings = engine_settings(a, plan.retries, &ctx.env);
    let reporter = crate::progress::reporter(&ctx.printer);
    engine::run_jobs(&fetcher, &settings, st, records, batch, reporter).await
}

pub async fn run(
    global: &GlobalArgs,
    config: &Applied,
    env: &Env,
    a: &DownloadArgs,
) -> anyhow::Result<()> {
    let plan = plan(global, config, env, a).await?;
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
    if a.dry_run {
        dry_run(&plan, &todo, skip.len());
        return Ok(());
    }
    let _lock = engine::take_directory(&st)?;
    if !a.no_space_check {
        engine::check_space(&st.root, totals(&todo).1)?;
    }
    let batch = Batch {
        todo,
        unknown: plan.unknown.clone(),
        skipped: skip.len(),
    };
    let report = fetch(&plan, a, &st, &mut records, batch).await?;
    engine::conclude(&st, &report.failed)
}

/// `--dry-run`: what would be fetched, where, and the totals.
fn dry_run(plan: &Plan, todo: &[Job], skipped: usize) {
    let p = &plan.ctx.printer;
    let (images, bytes) = totals(todo);
    for j in todo {
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
        "dry run: would download {} series ({images} images, {}), skip {skipped} already complete{}",
        todo.len(),
        human_bytes(bytes),
        if plan.unknown.is_empty() {
            String::new()
        } else {
            format!(", {} not found", plan.unknown.len())
        }
    ));
}

/// UIDs from every input, de-duplicated in first-seen order, with any metadata that came along.
async fn gather(
    catalog: &impl Catalog,
    a: &DownloadArgs,
    manifests: &[Manifest],
) -> anyhow::Result<(Vec<String>, HashMap<String, SeriesInfo>)> {
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
    let mut uids = Vec::new();
    let mut infos: HashMap<String, SeriesInfo> = HashMap::new();
    for u in &a.uids {
        let u = u.trim();
        if !is_uid(u) {
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
    let mut selected = Vec::new();
    if let Some(c) = &a.cart {
        selected.extend(catalog.cart(&cart_name(c)?).await?);
    }
    if !a.filters.is_empty() {
        selected.extend(catalog.select(a.filters.params()).await?);
    }
    for info in selected {
        uids.push(info.uid.clone());
        infos.insert(info.uid.clone(), info);
    }
    let mut seen = HashSet::new();
    uids.retain(|u| seen.insert(u.clone()));
    Ok((uids, infos))
}
