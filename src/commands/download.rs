//! `tcia download`: gather the series, look up their metadata once, plan paths, skip what is
//! already complete, then hand the rest to the engine (`download::engine`) with the NBIA
//! source, and turn its report into the exit status.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::api::catalogue::Api;
use crate::cli::{DataSource, DownloadArgs, GlobalArgs};
use crate::config::Applied;
use crate::context::{engine_settings, with_manifests, Ctx};
use crate::download::bucket::{BucketObjects, Location, AWS_ENDPOINT};
use crate::download::check::check_record;
use crate::download::engine::{self, totals, Batch, Job, Report};
use crate::download::idc_catalog::IdcCatalog;
use crate::download::input::{self, Manifest};
use crate::download::intern::Positions;
use crate::download::layout::{self, rel_string, Layout};
use crate::download::meta::SeriesInfo;
use crate::download::nbia_catalog::NbiaCatalog;
use crate::download::nbia_zip::NbiaZip;
use crate::download::shard::{count_conflict, Shard};
use crate::download::source::{Catalog, SeriesFetcher};
use crate::download::state::{Record, State};
use crate::env::Env;
use crate::error::usage;
use crate::output::{self, Format, Row};
use crate::progress::{Recorder, View, RESULT_COLUMNS};
use crate::text::human_bytes;
use crate::uid::{cart_name, is_uid};

/// Everything decided before touching the download directory.
pub struct Plan {
    pub ctx: Ctx,
    pub retries: u32,
    pub jobs: Vec<Job>,
    /// Requested UIDs the server does not know (or whose lookup failed).
    pub unknown: Vec<String>,
    /// UIDs whose own metadata lookup failed (v1/v2), with the reason.
    pub lookup_errors: HashMap<String, String>,
    /// An authenticated (v2) selection came back empty: perhaps the server ignored the token.
    pub suspect_empty: bool,
    pub shard: Option<Shard>,
    pub root: PathBuf,
    /// `--format` given: the plan (`--dry-run`) or one result per series on stdout.
    pub report: Option<Format>,
    /// `--source idc`: where each series' objects are.
    pub locations: Option<HashMap<String, Location>>,
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
    if let Some(w) = shard.and(count_conflict(a.shards, &|k| env.var(k))) {
        ctx.printer.warn(&w);
    }
    can_download(&ctx)?;
    warn_about_manifests(&ctx.printer, &manifests);
    if ctx.source == DataSource::Idc {
        let ix = super::idc::open_index(&ctx).await?;
        let catalog = IdcCatalog { ix: &ix };
        let parts = Parts {
            layout,
            shard,
            retries,
        };
        return plan_with(ctx, &catalog, global, a, &manifests, env, parts).await;
    }
    let client = ctx.client.clone();
    let catalog = NbiaCatalog {
        client: &client,
        api: ctx.api,
    };
    let parts = Parts {
        layout,
        shard,
        retries,
    };
    plan_with(ctx, &catalog, global, a, &manifests, env, parts).await
}

/// What `plan` decided before asking the catalogue.
struct Parts {
    layout: Layout,
    shard: Option<Shard>,
    retries: u32,
}

/// The catalogue's part of a plan (NBIA's server, or IDC's index).
async fn plan_with<C: Catalog + Locate>(
    ctx: Ctx,
    catalog: &C,
    global: &GlobalArgs,
    a: &DownloadArgs,
    manifests: &[Manifest],
    env: &Env,
    parts: Parts,
) -> anyhow::Result<Plan> {
    let Parts {
        layout,
        shard,
        retries,
    } = parts;
    // What to download, in first-seen order; only this shard's part.
    let selection = gather(catalog, a, manifests, env.stdin_tty).await?;
    let mut selection = catalog.resolve_aliases(selection)?;
    if let Some(doi) = &a.doi {
        let more = match catalog.of_doi(doi)? {
            Some(uids) => uids,
            None => super::doi::series_of(&ctx, doi).await?,
        };
        for u in more {
            selection.add(u);
        }
    }
    let mut jobs = selection.jobs;
    let suspect_empty = jobs.is_empty() && ignored_login(&ctx, a);
    // IDC: none of the whole selection in the index is exit 4, decided before sharding so that
    // every shard of one manifest agrees.
    if shard.is_some() && !jobs.is_empty() && catalog.count_known(&jobs)? == Some(0) {
        return Err(none_in_idc(
            &jobs.iter().map(|j| j.info.uid.clone()).collect::<Vec<_>>(),
        ));
    }
    if let Some(sh) = shard {
        let all = jobs.len();
        jobs.retain(|j| sh.contains(&j.info.uid));
        ctx.printer
            .info(&format!("shard {sh}: {} of {all} series", jobs.len()));
    }
    if let Some(n) = ctx.limit {
        // `--limit N`: try the first N series.
        jobs.truncate(n as usize);
    }
    // Metadata for all of them, a chunk at a time.
    let (lookup_errors, known) = look_up(catalog, &mut jobs).await?;
    let unknown = place(&layout, a.zip, &mut jobs, &known);
    drop(known);
    fill_counts(catalog, &mut jobs, &ctx.printer).await;
    let locations = catalog.locate(&jobs)?;
    if locations.is_some() {
        if jobs.is_empty() && !unknown.is_empty() && shard.is_none() {
            return Err(none_in_idc(&unknown));
        }
    } else {
        // a named collection, modality or body part that does not exist: a warning, or exit 2
        let empty = jobs.is_empty() && unknown.is_empty();
        super::selection::check_selection(&ctx, &a.filters.params(), empty).await?;
    }
    check_paths(&jobs, a)?;
    Ok(Plan {
        ctx,
        retries,
        jobs,
        unknown,
        lookup_errors,
        suspect_empty,
        shard,
        root: a.output.clone(),
        report: global.format,
        locations,
    })
}

/// Exit 4: not one of the series asked for is in IDC's index.
fn none_in_idc(unknown: &[String]) -> anyhow::Error {
    crate::error::Error::Failed {
        message: format!(
            "none of the {} series asked for is in IDC's index ({}{}); they may not have moved to IDC yet: try --source nbia",
            unknown.len(),
            unknown.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if unknown.len() > 3 { ", ..." } else { "" }
        ),
        code: crate::error::exit::HTTP_CLIENT,
    }
    .into()
}

/// What only some catalogues have: bucket locations, series of a DOI.
trait Locate {
    /// How many of these series the catalogue holds, when it can tell cheaply (IDC's local
    /// index); None otherwise.
    fn count_known(&self, _jobs: &[Job]) -> anyhow::Result<Option<usize>> {
        Ok(None)
    }
    /// Where each job's files are (IDC); None for a source that needs none.
    fn locate(&self, jobs: &[Job]) -> anyhow::Result<Option<HashMap<String, Location>>>;
    /// The series of a DOI, when the catalogue knows (None: ask NBIA).
    fn of_doi(&self, doi: &str) -> anyhow::Result<Option<Vec<String>>>;
    /// Series named by IDC's crdc_series_uuid (s5cmd manifests) as their UIDs, in place.
    fn resolve_aliases(&self, selection: Selection) -> anyhow::Result<Selection>;
}

impl Locate for NbiaCatalog<'_> {
    fn locate(&self, _jobs: &[Job]) -> anyhow::Result<Option<HashMap<String, Location>>> {
        Ok(None)
    }
    fn of_doi(&self, _doi: &str) -> anyhow::Result<Option<Vec<String>>> {
        Ok(None)
    }
    fn resolve_aliases(&self, selection: Selection) -> anyhow::Result<Selection> {
        if selection
            .jobs
            .iter()
            .any(|j| j.info.uid.starts_with(input::CRDC_PREFIX))
        {
            return Err(usage(
                "an s5cmd manifest names IDC's objects: download it with --source idc",
            ));
        }
        Ok(selection)
    }
}

impl Locate for IdcCatalog<'_> {
    fn count_known(&self, jobs: &[Job]) -> anyhow::Result<Option<usize>> {
        let uids: Vec<&str> = jobs.iter().map(|j| j.info.uid.as_str()).collect();
        self.locations(&uids).map(|l| Some(l.len()))
    }
    fn locate(&self, jobs: &[Job]) -> anyhow::Result<Option<HashMap<String, Location>>> {
        let uids: Vec<&str> = jobs.iter().map(|j| j.info.uid.as_str()).collect();
        self.locations(&uids).map(Some)
    }
    fn of_doi(&self, doi: &str) -> anyhow::Result<Option<Vec<String>>> {
        self.series_of_doi(doi).map(Some)
    }
    fn resolve_aliases(&self, selection: Selection) -> anyhow::Result<Selection> {
        let uuids: Vec<&str> = selection
            .jobs
            .iter()
            .filter_map(|j| j.info.uid.strip_prefix(input::CRDC_PREFIX))
            .collect();
        if uuids.is_empty() {
            return Ok(selection);
        }
        let found = self.uids_of_uuids(&uuids)?;
        let mut out = Selection::default();
        for job in selection.jobs {
            let real = job
                .info
                .uid
                .strip_prefix(input::CRDC_PREFIX)
                .and_then(|uuid| found.get(uuid));
            match real {
                Some(uid) => out.add(uid.clone()),
                None => out.add_info(job.info),
            }
        }
        Ok(out)
    }
}

/// Whether an empty v2 selection (filters or a cart) was asked with a login: v2 answers a token
/// it does not accept with empty results rather than 401, so say so.
fn ignored_login(ctx: &Ctx, a: &DownloadArgs) -> bool {
    let asked = a.cart.is_some() || !a.filters.is_empty();
    let suspect = asked && ctx.api == Api::V2 && ctx.client.session.is_some();
    if suspect {
        ctx.printer.warn(
            "an authenticated request returned nothing: the server may have ignored the login token (expired or revoked?); check the selection, or run `tcia login` again",
        );
    }
    suspect
}

/// What the manifests held that tcia does not follow: a retry count over the cap, lines that
/// are not UIDs.
fn warn_about_manifests(printer: &crate::printer::Printer, manifests: &[Manifest]) {
    for n in manifests.iter().filter_map(|m| m.raw_retries()) {
        if n > input::MANIFEST_RETRY_CAP {
            printer.warn(&format!(
                "manifest: noOfrRetry={n} capped at {} retries",
                input::MANIFEST_RETRY_CAP
            ));
        }
    }
    for line in manifests.iter().flat_map(|m| &m.skipped) {
        printer.warn(&format!(
            "manifest: skipped a line that is not a series UID: {}",
            crate::text::one_line(line, 200)
        ));
    }
}

/// Series whose metadata lacks a usable ImageCount or FileSize: asked again with
/// getSeriesSize; still unknown, they are downloaded with a warning (MD5s are checked, but
/// nothing proves the series complete), and counted in the summary.
async fn fill_counts(catalog: &impl Catalog, jobs: &mut [Job], printer: &crate::printer::Printer) {
    for job in jobs.iter_mut() {
        let info = &mut job.info;
        if info.image_count().is_some() && info.file_size().is_some() {
            continue;
        }
        match catalog.series_size(&info.uid).await {
            Some((count, bytes)) => {
                info.set("ImageCount", &count.to_string());
                info.set("FileSize", &bytes.to_string());
            }
            None => printer.warn(&format!(
                "{}: the server gives no image count or size (getSeriesSize neither): MD5s are checked, completeness cannot be proven",
                info.uid
            )),
        }
    }
}

/// The API must have a metadata lookup and, for v2, a login.
fn can_download(ctx: &Ctx) -> anyhow::Result<()> {
    if ctx.api == Api::Legacy {
        return Err(usage(
            "downloads need --api v4, v1 or v2 (the legacy API has no series metadata lookup)",
        ));
    }
    if ctx.v2_without_login() {
        // Every v2 download answer would be an error: say why before asking.
        return Err(usage(format!(
            "download: {}",
            crate::api::client::V2_LOGIN_HINT
        )));
    }
    Ok(())
}

/// UIDs per metadata lookup: one of the source's batches at a time, so that a plan of
/// 300,000 series never holds a second copy of them all (the requests are the same).
const LOOKUP_CHUNK: usize = crate::api::metadata::BATCH;

/// Look up the jobs' metadata; what the lookup found replaces what came along (which fills
/// its gaps). Returns the failed lookups (UID → reason) and which jobs were found.
async fn look_up(
    catalog: &impl Catalog,
    jobs: &mut [Job],
) -> anyhow::Result<(HashMap<String, String>, Vec<bool>)> {
    let mut errors = HashMap::new();
    let mut known = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks_mut(LOOKUP_CHUNK) {
        let uids: Vec<String> = chunk.iter().map(|j| j.info.uid.clone()).collect();
        let (mut found, failed) = catalog.lookup(&uids).await?;
        errors.extend(failed);
        for job in chunk {
            let info = found.remove(&job.info.uid);
            known.push(info.is_some());
            if let Some(mut info) = info {
                info.merge(&job.info);
                job.info = info;
            }
        }
    }
    Ok((errors, known))
}

/// Every known job at its layout path; the others removed and returned (the UIDs the server
/// does not know), in order.
fn place(layout: &Layout, zip: bool, jobs: &mut Vec<Job>, known: &[bool]) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut i = 0;
    jobs.retain_mut(|job| {
        i += 1;
        if !known[i - 1] {
            unknown.push(job.info.uid.clone());
            return false;
        }
        let mut rel = layout.path_for(&job.info);
        if zip {
            let name = rel
                .file_name()
                .map(|n| format!("{}.zip", n.to_string_lossy()))
                .unwrap_or_default();
            rel.set_file_name(name);
        }
        job.set_rel(&rel);
        true
    });
    unknown
}

/// No two series at one path, and none replacing or nesting into what earlier runs (other
/// layouts, other shards) published.
fn check_paths(jobs: &[Job], a: &DownloadArgs) -> anyhow::Result<()> {
    layout::check_collisions(jobs, |j| j.info.uid.as_str(), Job::rel).map_err(usage)?;
    let existing = State::new(&a.output, None).record_paths();
    layout::check_existing(
        jobs.iter().map(|j| (j.info.uid.as_str(), j.rel())),
        &existing,
    )
    .map_err(usage)
}

/// Which jobs are already complete on disk (cheap check, or re-hashed with `verify`).
pub fn complete(
    st: &State,
    records: &BTreeMap<String, Record>,
    jobs: &[Job],
    verify: bool,
    printer: &crate::printer::Printer,
) -> Vec<bool> {
    jobs.iter()
        .map(|job| {
            let done = records
                .get(&job.info.uid)
                .filter(|r| r.path == rel_string(&job.rel()))
                .filter(|r| st.looks_complete(r));
            match done {
                Some(r) if verify => {
                    let problems = check_record(st, r);
                    if !problems.is_empty() {
                        printer.warn(&format!(
                            "{} failed re-verification ({}); downloading it again",
                            job.info.uid,
                            problems[0].describe()
                        ));
                    }
                    problems.is_empty()
                }
                Some(_) => true,
                None => false,
            }
        })
        .collect()
}

/// Run a batch through the engine with the NBIA ZIP source: the directory taken and its space
/// checked first.
pub async fn fetch(
    plan: &Plan,
    a: &DownloadArgs,
    st: &State,
    records: &mut BTreeMap<String, Record>,
    batch: Batch,
    skipped: &[&Job],
) -> anyhow::Result<Report> {
    let ctx = &plan.ctx;
    if let Some(locations) = &plan.locations {
        let endpoint = ctx.idc_endpoint.as_deref().unwrap_or(AWS_ENDPOINT);
        let endpoint = reqwest::Url::parse(endpoint)
            .map_err(|e| usage(format!("invalid --idc-endpoint '{endpoint}': {e}")))?;
        crate::index::idc_update::check_scheme(&endpoint, ctx.allow_http, "--idc-endpoint")?;
        let fetcher = BucketObjects::new(
            ctx.client.http().clone(),
            &endpoint,
            locations.clone(),
            !a.no_md5,
            a.zip,
            (a.jobs as usize * 4).clamp(8, 64),
            ctx.env.no_retry_delay,
        );
        return fetch_with(&fetcher, plan, a, st, records, batch, skipped).await;
    }
    let fetcher = NbiaZip {
        client: &ctx.client,
        api: ctx.api,
        md5: !a.no_md5,
        zip: a.zip,
        jobs: a.jobs as usize,
    };
    fetch_with(&fetcher, plan, a, st, records, batch, skipped).await
}

/// As `fetch`, with the source's fetcher.
async fn fetch_with<F: SeriesFetcher>(
    fetcher: &F,
    plan: &Plan,
    a: &DownloadArgs,
    st: &State,
    records: &mut BTreeMap<String, Record>,
    batch: Batch,
    skipped: &[&Job],
) -> anyhow::Result<Report> {
    let ctx = &plan.ctx;
    let settings = engine_settings(a, plan.retries, &ctx.env);
    if batch.skipped > 0 {
        ctx.printer.info(&format!(
            "skipping {} series already complete",
            batch.skipped
        ));
    }
    let view = View {
        dir: st.root.display().to_string(),
        skipped: batch.skipped,
        skipped_bytes: skipped.iter().filter_map(|j| j.info.file_size()).sum(),
        heartbeat: Some(a.heartbeat).filter(|d| !d.is_zero()),
    };
    let reporter = crate::progress::reporter(&ctx.printer, &ctx.env, view);
    let Some(format) = plan.report else {
        return engine::run_jobs(fetcher, &settings, st, records, batch, reporter).await;
    };
    let recorder = Arc::new(Recorder::new(reporter, &st.root));
    let report = engine::run_jobs(fetcher, &settings, st, records, batch, recorder.clone()).await?;
    let mut rows = recorder.rows();
    for j in skipped {
        let rec = records.get(&j.info.uid);
        rows.push(row(serde_json::json!({
            "uid": j.info.uid, "status": "skipped",
            "path": st.root.join(j.rel()).display().to_string(),
            "files": rec.map(|r| r.files.len()), "bytes": rec.map(|r| r.bytes),
            "seconds": null, "error": null,
        })));
    }
    output::write_report(format, &RESULT_COLUMNS, rows, ctx.width)
        .context("writing the results")?;
    Ok(report)
}

fn row(v: serde_json::Value) -> Row {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Row::new(),
    }
}

/// The columns of the `--dry-run --format` plan.
const PLAN_COLUMNS: [&str; 6] = ["uid", "collection", "images", "bytes", "path", "action"];

/// The plan as rows, made as they are written: every series with what a run would do
/// (fetch, skip, or unknown).
fn plan_rows<'a>(plan: &'a Plan, done: &'a [bool]) -> impl Iterator<Item = Row> + 'a {
    let jobs = plan.jobs.iter().zip(done).map(|(j, done)| {
        let action = if *done { "skip" } else { "fetch" };
        row(serde_json::json!({
            "uid": j.info.uid, "collection": j.info.get("Collection"),
            "images": j.info.image_count(), "bytes": j.info.file_size(),
            "path": plan.root.join(j.rel()).display().to_string(), "action": action,
        }))
    });
    let unknown = plan.unknown.iter().map(|u| {
        row(serde_json::json!({
            "uid": u, "collection": null, "images": null, "bytes": null, "path": null,
            "action": "unknown",
        }))
    });
    jobs.chain(unknown)
}

/// `would download UID (N images, SIZE) -> PATH`: one line of a dry run.
pub fn would_line(j: &Job) -> String {
    format!(
        "would download {} ({} images, {}) -> {}",
        j.info.uid,
        j.info.image_count().map_or("?".into(), |n| n.to_string()),
        j.info.file_size().map_or("?".into(), human_bytes),
        rel_string(&j.rel())
    )
}

pub async fn run(
    global: &GlobalArgs,
    config: &Applied,
    env: &Env,
    a: &DownloadArgs,
) -> anyhow::Result<()> {
    let mut plan = plan(global, config, env, a).await?;
    if plan.jobs.is_empty() && plan.unknown.is_empty() {
        plan.ctx
            .printer
            .info("nothing to download: the selection is empty");
        return Ok(());
    }
    let st = State::new(&plan.root, plan.shard);
    let mut records = st.records();
    let done = complete(&st, &records, &plan.jobs, a.verify, &plan.ctx.printer);
    if a.dry_run {
        return dry_run(&plan, &done);
    }
    // The jobs to fetch go to the engine; the plan keeps the skipped ones for the report.
    let mut todo = Vec::new();
    let mut skip = Vec::new();
    for (job, done) in std::mem::take(&mut plan.jobs).into_iter().zip(done) {
        if done {
            skip.push(job);
        } else {
            todo.push(job);
        }
    }
    plan.jobs = skip;
    let _lock = engine::take_directory(&st)?;
    if !a.no_space_check {
        engine::check_space(&st.root, totals(&todo).1)?;
    }
    let batch = Batch {
        todo,
        unknown: failed_unknown(&plan),
        lookup_errors: plan.lookup_errors.clone(),
        skipped: plan.jobs.len(),
    };
    let skipped: Vec<&Job> = plan.jobs.iter().collect();
    let report = fetch(&plan, a, &st, &mut records, batch, &skipped).await?;
    engine::conclude(&st, &report.failed)
}

/// The requested series no source has, as failures of the batch (NBIA: exit 4). Under
/// `--source idc` they are reported, not failed: series that have not moved to IDC yet are
/// expected in a manifest made for NBIA (the plan already failed when none was found).
pub fn failed_unknown(plan: &Plan) -> Vec<String> {
    if plan.locations.is_none() {
        return plan.unknown.clone();
    }
    for u in &plan.unknown {
        plan.ctx.printer.warn(&not_in_idc(u));
    }
    if !plan.unknown.is_empty() {
        plan.ctx.printer.warn(&format!(
            "{} series asked for are not in IDC's index (not moved to IDC yet?): fetch them with --source nbia",
            plan.unknown.len()
        ));
    }
    Vec::new()
}

fn not_in_idc(u: &str) -> String {
    match u.strip_prefix(input::CRDC_PREFIX) {
        Some(uuid) => format!("crdc_series_uuid {uuid}: not in IDC's index (an older revision?)"),
        None => format!("{u}: not in IDC's index"),
    }
}

/// `--dry-run`: what would be fetched, where, and the totals.
fn dry_run(plan: &Plan, done: &[bool]) -> anyhow::Result<()> {
    let p = &plan.ctx.printer;
    let todo = || {
        plan.jobs
            .iter()
            .zip(done)
            .filter(|(_, d)| !**d)
            .map(|(j, _)| j)
    };
    let skipped = done.iter().filter(|d| **d).count();
    let (images, bytes) = totals(todo());
    if let Some(format) = plan.report {
        output::write_report(format, &PLAN_COLUMNS, plan_rows(plan, done), plan.ctx.width)
            .context("writing the plan")?;
    } else {
        for j in todo() {
            p.info(&would_line(j));
        }
    }
    for u in &plan.unknown {
        match plan.lookup_errors.get(u) {
            Some(why) => p.warn(&format!("{u}: metadata lookup failed: {why}")),
            None if plan.locations.is_some() => p.warn(&not_in_idc(u)),
            None => p.warn(&crate::uid::unknown_series(u)),
        }
    }
    p.info(&format!(
        "dry run: would download {} series ({images} images, {}), skip {skipped} already complete{}",
        done.len() - skipped,
        human_bytes(bytes),
        if plan.unknown.is_empty() {
            String::new()
        } else {
            format!(", {} not found", plan.unknown.len())
        }
    ));
    Ok(())
}

/// The series asked for, each once, in first-seen order, with the metadata that came along
/// (the last that came wins). Found by UID without a second copy of the UIDs.
#[derive(Default)]
pub struct Selection {
    pub jobs: Vec<Job>,
    at: Positions,
}

impl Selection {
    fn find(&self, uid: &str) -> Option<usize> {
        let jobs = &self.jobs;
        self.at
            .find(uid, |i| jobs[i as usize].info.uid.as_str())
            .map(|i| i as usize)
    }

    /// A series by UID (nothing when it is there already).
    pub fn add(&mut self, uid: String) {
        if self.find(&uid).is_none() {
            self.push(SeriesInfo::new(uid));
        }
    }

    /// A series with its metadata (replacing what an earlier input brought).
    pub fn add_info(&mut self, info: SeriesInfo) {
        match self.find(&info.uid) {
            Some(i) => self.jobs[i].info = info,
            None => self.push(info),
        }
    }

    fn push(&mut self, info: SeriesInfo) {
        let pos = u32::try_from(self.jobs.len()).expect("fewer than 2^32 series");
        self.at.insert(&info.uid, pos);
        self.jobs.push(Job::new(info, Path::new("")));
    }
}

/// UIDs from every input, de-duplicated in first-seen order, with any metadata that came along.
async fn gather(
    catalog: &impl Catalog,
    a: &DownloadArgs,
    manifests: &[Manifest],
    stdin_tty: bool,
) -> anyhow::Result<Selection> {
    let nothing_given = a.uids.is_empty()
        && a.series_uid.is_empty()
        && a.input.is_empty()
        && a.manifest.is_empty()
        && a.cart.is_none()
        && a.doi.is_none()
        && a.filters.is_empty();
    if nothing_given {
        return Err(usage(
            "download: say what to download: UIDs, -i FILE, --manifest FILE, --cart NAME, --doi DOI, or filters such as --collection",
        ));
    }
    let mut sel = Selection::default();
    for u in a.uids.iter().chain(&a.series_uid) {
        let u = u.trim();
        if !is_uid(u) {
            return Err(usage(format!(
                "'{u}' is not a series instance UID (digits and dots); to read UIDs from a file use -i FILE"
            )));
        }
        sel.add(u.to_string());
    }
    // Metadata that came along: a later input's replaces an earlier one's.
    for path in &a.input {
        let (u, i) = input::read_input(path, stdin_tty).await?;
        for uid in u {
            sel.add(uid);
        }
        for (_, info) in i {
            sel.add_info(info);
        }
    }
    for m in manifests {
        for uid in &m.uids {
            sel.add(uid.clone());
        }
    }
    if let Some(c) = &a.cart {
        for info in catalog.cart(&cart_name(c)?).await? {
            sel.add_info(info);
        }
    }
    if !a.filters.is_empty() {
        catalog
            .select_each(a.filters.params(), &mut |info| sel.add_info(info))
            .await?;
    }
    Ok(sel)
}
