//! `tcia download`: gather the series, look up their metadata once, plan paths, skip what is
//! already complete, then hand the rest to the engine (`download::engine`) with the NBIA
//! source, and turn its report into the exit status.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
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
    let (uids, infos) = gather(catalog, a, manifests, env.stdin_tty).await?;
    let mut uids = catalog.resolve_aliases(uids)?;
    if let Some(doi) = &a.doi {
        let mut seen: HashSet<String> = uids.iter().cloned().collect();
        let more = match catalog.of_doi(doi)? {
            Some(uids) => uids,
            None => super::doi::series_of(&ctx, doi).await?,
        };
        uids.extend(more.into_iter().filter(|u| seen.insert(u.clone())));
    }
    let suspect_empty = uids.is_empty() && ignored_login(&ctx, a);
    if let Some(sh) = shard {
        let all = uids.len();
        uids.retain(|u| sh.contains(u));
        ctx.printer
            .info(&format!("shard {sh}: {} of {all} series", uids.len()));
    }
    if let Some(n) = ctx.limit {
        // `--limit N`: try the first N series.
        uids.truncate(n as usize);
    }
    // Metadata for all of them at once.
    let (looked_up, lookup_errors) = catalog.lookup(&uids).await?;
    let (mut jobs, unknown) = jobs_for(&layout, a.zip, &uids, looked_up, infos);
    fill_counts(catalog, &mut jobs, &ctx.printer).await;
    let locations = catalog.locate(&jobs)?;
    if locations.is_some() {
        if jobs.is_empty() && !unknown.is_empty() {
            return Err(crate::error::Error::Failed {
                message: format!(
                    "none of the {} series asked for is in IDC's index ({}{}); they may not have moved to IDC yet: try --source nbia",
                    unknown.len(),
                    unknown.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                    if unknown.len() > 3 { ", ..." } else { "" }
                ),
                code: crate::error::exit::HTTP_CLIENT,
            }
            .into());
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

/// What only some catalogues have: bucket locations, series of a DOI.
trait Locate {
    /// Where each job's files are (IDC); None for a source that needs none.
    fn locate(&self, jobs: &[Job]) -> anyhow::Result<Option<HashMap<String, Location>>>;
    /// The series of a DOI, when the catalogue knows (None: ask NBIA).
    fn of_doi(&self, doi: &str) -> anyhow::Result<Option<Vec<String>>>;
    /// Series named by IDC's crdc_series_uuid (s5cmd manifests) as their UIDs, in place.
    fn resolve_aliases(&self, uids: Vec<String>) -> anyhow::Result<Vec<String>>;
}

impl Locate for NbiaCatalog<'_> {
    fn locate(&self, _jobs: &[Job]) -> anyhow::Result<Option<HashMap<String, Location>>> {
        Ok(None)
    }
    fn of_doi(&self, _doi: &str) -> anyhow::Result<Option<Vec<String>>> {
        Ok(None)
    }
    fn resolve_aliases(&self, uids: Vec<String>) -> anyhow::Result<Vec<String>> {
        if uids.iter().any(|u| u.starts_with(input::CRDC_PREFIX)) {
            return Err(usage(
                "an s5cmd manifest names IDC's objects: download it with --source idc",
            ));
        }
        Ok(uids)
    }
}

impl Locate for IdcCatalog<'_> {
    fn locate(&self, jobs: &[Job]) -> anyhow::Result<Option<HashMap<String, Location>>> {
        let uids: Vec<&str> = jobs.iter().map(|j| j.info.uid.as_str()).collect();
        self.locations(&uids).map(Some)
    }
    fn of_doi(&self, doi: &str) -> anyhow::Result<Option<Vec<String>>> {
        self.series_of_doi(doi).map(Some)
    }
    fn resolve_aliases(&self, uids: Vec<String>) -> anyhow::Result<Vec<String>> {
        let uuids: Vec<&str> = uids
            .iter()
            .filter_map(|u| u.strip_prefix(input::CRDC_PREFIX))
            .collect();
        if uuids.is_empty() {
            return Ok(uids);
        }
        let found = self.uids_of_uuids(&uuids)?;
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(uids.len());
        for u in uids {
            let real = match u.strip_prefix(input::CRDC_PREFIX) {
                Some(uuid) => found.get(uuid).cloned().unwrap_or(u),
                None => u,
            };
            if seen.insert(real.clone()) {
                out.push(real);
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
                info.fields.insert("ImageCount".into(), count.to_string());
                info.fields.insert("FileSize".into(), bytes.to_string());
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

/// One job per known UID, at its layout path; the UIDs the server does not know.
fn jobs_for(
    layout: &Layout,
    zip: bool,
    uids: &[String],
    mut looked_up: HashMap<String, SeriesInfo>,
    mut infos: HashMap<String, SeriesInfo>,
) -> (Vec<Job>, Vec<String>) {
    let mut unknown = Vec::new();
    let mut jobs = Vec::new();
    for uid in uids {
        // Moved, not copied: a plan of 300,000 series is held once.
        let Some(mut info) = looked_up.remove(uid) else {
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
        return fetch_with(&fetcher, plan, a, st, records, batch).await;
    }
    let fetcher = NbiaZip {
        client: &ctx.client,
        api: ctx.api,
        md5: !a.no_md5,
        zip: a.zip,
        jobs: a.jobs as usize,
    };
    fetch_with(&fetcher, plan, a, st, records, batch).await
}

/// As `fetch`, with the source's fetcher.
async fn fetch_with<F: SeriesFetcher>(
    fetcher: &F,
    plan: &Plan,
    a: &DownloadArgs,
    st: &State,
    records: &mut BTreeMap<String, Record>,
    batch: Batch,
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
        labels: batch
            .todo
            .iter()
            .map(|j| (j.info.uid.clone(), label(&j.info)))
            .collect(),
        skipped: batch.skipped,
        skipped_bytes: totals(&plan.jobs).1.saturating_sub(totals(&batch.todo).1),
        heartbeat: Some(a.heartbeat).filter(|d| !d.is_zero()),
    };
    let reporter = crate::progress::reporter(&ctx.printer, &ctx.env, view);
    let Some(format) = plan.report else {
        return engine::run_jobs(fetcher, &settings, st, records, batch, reporter).await;
    };
    let todo: HashSet<String> = batch.todo.iter().map(|j| j.info.uid.clone()).collect();
    let recorder = Arc::new(Recorder::new(reporter, &st.root));
    let report = engine::run_jobs(fetcher, &settings, st, records, batch, recorder.clone()).await?;
    let mut rows = recorder.rows();
    for j in plan.jobs.iter().filter(|j| !todo.contains(&j.info.uid)) {
        let rec = records.get(&j.info.uid);
        rows.push(row(serde_json::json!({
            "uid": j.info.uid, "status": "skipped",
            "path": st.root.join(&j.rel).display().to_string(),
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

/// The plan as rows: every series with what a run would do (fetch, skip, or unknown).
fn plan_rows(plan: &Plan, todo: &[Job]) -> Vec<Row> {
    let fetch: HashSet<&str> = todo.iter().map(|j| j.info.uid.as_str()).collect();
    let mut rows: Vec<Row> = plan
        .jobs
        .iter()
        .map(|j| {
            let action = if fetch.contains(j.info.uid.as_str()) {
                "fetch"
            } else {
                "skip"
            };
            row(serde_json::json!({
                "uid": j.info.uid, "collection": j.info.get("Collection"),
                "images": j.info.image_count(), "bytes": j.info.file_size(),
                "path": plan.root.join(&j.rel).display().to_string(), "action": action,
            }))
        })
        .collect();
    for u in &plan.unknown {
        rows.push(row(serde_json::json!({
            "uid": u, "collection": null, "images": null, "bytes": null, "path": null,
            "action": "unknown",
        })));
    }
    rows
}

/// `would download UID (N images, SIZE) -> PATH`: one line of a dry run.
pub fn would_line(j: &Job) -> String {
    format!(
        "would download {} ({} images, {}) -> {}",
        j.info.uid,
        j.info.image_count().map_or("?".into(), |n| n.to_string()),
        j.info.file_size().map_or("?".into(), human_bytes),
        rel_string(&j.rel)
    )
}

/// `Collection/PatientID/Modality`, as far as the catalogue knows them.
fn label(info: &SeriesInfo) -> String {
    ["Collection", "PatientID", "Modality"]
        .iter()
        .map(|f| info.get(f))
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join("/")
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
    // The plan keeps its jobs: reports name the skipped series too.
    let (todo, skip) = split_complete(
        &st,
        &records,
        plan.jobs.clone(),
        a.verify,
        &plan.ctx.printer,
    );
    if a.dry_run {
        return dry_run(&plan, &todo, skip.len());
    }
    let _lock = engine::take_directory(&st)?;
    if !a.no_space_check {
        engine::check_space(&st.root, totals(&todo).1)?;
    }
    let batch = Batch {
        todo,
        unknown: failed_unknown(&plan),
        lookup_errors: plan.lookup_errors.clone(),
        skipped: skip.len(),
    };
    let report = fetch(&plan, a, &st, &mut records, batch).await?;
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
fn dry_run(plan: &Plan, todo: &[Job], skipped: usize) -> anyhow::Result<()> {
    let p = &plan.ctx.printer;
    let (images, bytes) = totals(todo);
    if let Some(format) = plan.report {
        output::write_report(format, &PLAN_COLUMNS, plan_rows(plan, todo), plan.ctx.width)
            .context("writing the plan")?;
    } else {
        for j in todo {
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
        todo.len(),
        human_bytes(bytes),
        if plan.unknown.is_empty() {
            String::new()
        } else {
            format!(", {} not found", plan.unknown.len())
        }
    ));
    Ok(())
}

/// UIDs from every input, de-duplicated in first-seen order, with any metadata that came along.
async fn gather(
    catalog: &impl Catalog,
    a: &DownloadArgs,
    manifests: &[Manifest],
    stdin_tty: bool,
) -> anyhow::Result<(Vec<String>, HashMap<String, SeriesInfo>)> {
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
    let mut uids = Vec::new();
    let mut infos: HashMap<String, SeriesInfo> = HashMap::new();
    for u in a.uids.iter().chain(&a.series_uid) {
        let u = u.trim();
        if !is_uid(u) {
            return Err(usage(format!(
                "'{u}' is not a series instance UID (digits and dots); to read UIDs from a file use -i FILE"
            )));
        }
        uids.push(u.to_string());
    }
    for path in &a.input {
        let (u, i) = input::read_input(path, stdin_tty).await?;
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
