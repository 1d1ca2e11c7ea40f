//! `tcia sync`: a download that remembers what it fetched. Each run lists the selection, asks
//! getUpdatedSeries what changed since the last successful sync (minus a safety margin), and
//! fetches only new series and series whose ImageCount, FileSize or release date changed; a
//! changed series is re-downloaded into staging and swapped in only once it verifies. Series that
//! left the selection are reported, and removed only with `--delete`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::download::{fetch, plan, Plan};
use crate::cli::{DownloadArgs, GlobalArgs, SyncArgs};
use crate::config::Applied;
use crate::dates::{days_before, iso_date};
use crate::download::check::check_record;
use crate::download::engine::{self, totals, Batch, Job, Report};
use crate::download::layout::rel_string;
use crate::download::meta::SeriesInfo;
use crate::download::nbia_catalog::NbiaCatalog;
use crate::download::publish::{ensure_no_symlink, remove_any};
use crate::download::source::Catalog;
use crate::download::state::{now_rfc3339, Record, State};
use crate::env::Env;
use crate::error::{exit, Error};
use crate::fsutil::write_atomically;
use crate::printer::Printer;
use crate::text::human_bytes;

/// Days looked back before the last successful sync, for releases dated late.
const SAFETY_MARGIN_DAYS: i64 = 2;

/// What a series looked like when it was last synced.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeenSeries {
    pub image_count: Option<u64>,
    pub file_size: Option<u64>,
    /// Release date, ISO `YYYY-MM-DD`.
    pub released: Option<String>,
    /// IDC: the series' crdc_series_uuid and series_revised_idc_version (a revision gets a
    /// new uuid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crdc_series_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idc_version: Option<String>,
}

/// DIR/.tcia/sync.json (per shard: sync-shard-K-of-N.json).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncState {
    /// The command's selection, for reference.
    #[serde(default)]
    pub selection: BTreeMap<String, Vec<String>>,
    /// When the last sync that had no failures finished (RFC 3339).
    #[serde(default)]
    pub last_success: Option<String>,
    /// Its date (UTC, YYYY-MM-DD): getUpdatedSeries starts there, minus the margin.
    #[serde(default)]
    pub last_success_date: Option<String>,
    #[serde(default)]
    pub series: BTreeMap<String, SeenSeries>,
}

fn seen(info: &SeriesInfo) -> SeenSeries {
    let text = |k: &str| Some(info.get(k)).filter(|v| !v.is_empty());
    SeenSeries {
        image_count: info.image_count(),
        file_size: info.file_size(),
        released: iso_date(&info.get("DateReleased")),
        crdc_series_uuid: text("crdc_series_uuid"),
        idc_version: text("series_revised_idc_version"),
    }
}

/// IDC: a series is changed when its crdc_series_uuid or revision is (its sizes are
/// approximate, so they are not compared).
fn classify_idc(
    now: &SeenSeries,
    was: Option<&SeenSeries>,
    rec: Option<&Record>,
    complete: bool,
) -> Change {
    let uuid = now.crdc_series_uuid.as_deref();
    let (before, before_version) = match was {
        Some(w) => (w.crdc_series_uuid.clone(), w.idc_version.clone()),
        None => (
            rec.and_then(|r| r.fields.get("crdc_series_uuid").cloned()),
            rec.and_then(|r| r.fields.get("series_revised_idc_version").cloned()),
        ),
    };
    let revised = before.as_deref().is_some_and(|b| Some(b) != uuid)
        || (before_version.is_some()
            && now.idc_version.is_some()
            && before_version != now.idc_version);
    match (before, rec) {
        (Some(b), _) if revised => Change::Changed(format!(
            "IDC revision: crdc_series_uuid {b} -> {}, version {} -> {}",
            uuid.unwrap_or("?"),
            before_version.as_deref().unwrap_or("?"),
            now.idc_version.as_deref().unwrap_or("?")
        )),
        (None, None) => Change::New,
        (_, Some(_)) if complete => Change::Unchanged,
        (None, Some(_)) => Change::New,
        (Some(_), _) => Change::Missing,
    }
}

fn load(st: &State) -> SyncState {
    // Reading merges every shard's state; writing touches only our own file.
    let mut merged = SyncState::default();
    let own = st.sync_path();
    for p in st.sync_paths() {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let Ok(s) = serde_json::from_str::<SyncState>(&text) else {
            continue;
        };
        if p == own {
            merged.selection = s.selection;
            merged.last_success = s.last_success;
            merged.last_success_date = s.last_success_date;
        }
        merged.series.extend(s.series);
    }
    merged
}

/// Classify the selection against what was synced before.
enum Change {
    New,
    Changed(String),
    Missing,
    Unchanged,
}

fn classify(job: &Job, was: Option<&SeenSeries>, rec: Option<&Record>, complete: bool) -> Change {
    let now = seen(&job.info);
    let on_disk = rec.filter(|r| r.path == rel_string(&job.rel()));
    if now.crdc_series_uuid.is_some() {
        return classify_idc(&now, was, on_disk, complete);
    }
    match (was, on_disk) {
        (None, Some(r)) if complete => {
            // Downloaded before this directory was synced (e.g. by `tcia download`): adopt it if
            // it matches the server.
            let same = now.image_count.is_none_or(|n| r.files.len() as u64 == n)
                && now.file_size.is_none_or(|b| r.bytes == b);
            if same {
                Change::Unchanged
            } else {
                Change::Changed("differs from the server".into())
            }
        }
        (None, _) => Change::New,
        (Some(w), _) => {
            let mut why = Vec::new();
            if w.image_count != now.image_count && now.image_count.is_some() {
                why.push(format!(
                    "images {} -> {}",
                    opt(w.image_count),
                    opt(now.image_count)
                ));
            }
            if w.file_size != now.file_size && now.file_size.is_some() {
                why.push(format!(
                    "bytes {} -> {}",
                    opt(w.file_size),
                    opt(now.file_size)
                ));
            }
            if w.released != now.released && now.released.is_some() {
                why.push(format!(
                    "released {} -> {}",
                    w.released.as_deref().unwrap_or("?"),
                    now.released.as_deref().unwrap_or("?")
                ));
            }
            if !why.is_empty() {
                Change::Changed(why.join(", "))
            } else if on_disk.is_none() || !complete {
                Change::Missing
            } else {
                Change::Unchanged
            }
        }
    }
}

fn opt(n: Option<u64>) -> String {
    n.map_or("?".into(), |n| n.to_string())
}

/// The selection sorted against the last sync.
struct Sorted {
    /// Positions in the plan's jobs (the jobs are not copied).
    new: Vec<usize>,
    changed: Vec<usize>,
    unchanged: Vec<String>,
    /// Synced before, not selected now (this shard's only).
    gone: Vec<String>,
}

impl Sorted {
    fn todo<'a>(&'a self, plan: &'a Plan) -> impl Iterator<Item = &'a Job> + 'a {
        self.new
            .iter()
            .chain(self.changed.iter())
            .map(|i| &plan.jobs[*i])
    }
}

pub async fn run(
    global: &GlobalArgs,
    config: &Applied,
    env: &Env,
    a: &SyncArgs,
) -> anyhow::Result<()> {
    let d = &a.download;
    if global.limit.is_some() {
        // A partial selection would look like series leaving it (and --delete would act on it).
        return Err(crate::error::usage(
            "sync mirrors the whole selection: --limit is for trying out with download",
        ));
    }
    if global.source == crate::cli::DataSource::Idc {
        if a.verify_remote {
            return Err(crate::error::usage(
                "--verify-remote asks NBIA for MD5s: with --source idc every object is checked against the bucket's digests as it arrives",
            ));
        }
        // A nightly sync sees IDC's newest release: the index first (skipped when unchanged).
        let ctx = crate::context::Ctx::new(global, env)?;
        super::idc::index_update(&ctx, false).await?;
    }
    let mut plan = plan(global, config, env, d).await?;
    if plan.suspect_empty {
        // Advancing the state on an answer that may be a refusal would forget what to fetch.
        plan.ctx
            .printer
            .warn("sync: the state is not advanced (nothing was fetched or deleted)");
        return Ok(());
    }
    let st = State::new(&plan.root, plan.shard);
    let prev = load(&st);
    let mut records = st.records();
    let printer = plan.ctx.printer.clone();
    apply_updates(&mut plan, a, &prev).await?;
    let mut sorted = classify_selection(&plan, &st, &prev, &records, d.verify, &printer);
    if a.verify_remote {
        remote_check(&plan, &records, &mut sorted).await?;
    }
    if !report_plan(&plan, &sorted, a, &printer) {
        return Ok(());
    }
    if a.delete && !sorted.gone.is_empty() && plan.jobs.is_empty() {
        // An empty answer is more often a problem (a typo, an expired login: v2 answers those
        // with empty results) than a withdrawn collection.
        return Err(Error::Failed {
            message: format!(
                "the selection is empty now: refusing to --delete all {} synced series; check the selection and the login",
                sorted.gone.len()
            ),
            code: exit::ERROR,
        }
        .into());
    }
    let _lock = engine::take_directory(&st)?;
    let todo: Vec<Job> = sorted.todo(&plan).cloned().collect();
    if !d.no_space_check {
        engine::check_space(&st.root, totals(&todo).1)?;
    }
    let batch = Batch {
        todo,
        unknown: super::download::failed_unknown(&plan),
        lookup_errors: plan.lookup_errors.clone(),
        skipped: sorted.unchanged.len(),
    };
    let unchanged: HashSet<&str> = sorted.unchanged.iter().map(String::as_str).collect();
    let skipped: Vec<&Job> = plan
        .jobs
        .iter()
        .filter(|j| unchanged.contains(j.info.uid.as_str()))
        .collect();
    let report = fetch(&plan, d, &st, &mut records, batch, &skipped).await?;
    save_sync_state(&plan, &st, prev, &mut records, &sorted, &report, a)?;
    engine::conclude(&st, &report.failed)
}

/// What changed on the server since the last successful sync (minus a margin): the update
/// feed is the fresher source for counts and dates.
async fn apply_updates(plan: &mut Plan, a: &SyncArgs, prev: &SyncState) -> anyhow::Result<()> {
    let since = a.since.or_else(|| {
        prev.last_success_date
            .as_deref()
            .and_then(|d| days_before(d, SAFETY_MARGIN_DAYS))
    });
    let Some(since) = since else {
        return Ok(());
    };
    if plan.locations.is_some() {
        // IDC: the index just refreshed is the current state.
        return Ok(());
    }
    let catalog = NbiaCatalog {
        client: &plan.ctx.client,
        api: plan.ctx.api,
    };
    let updated: HashMap<String, SeriesInfo> = catalog
        .updated_since(since)
        .await?
        .into_iter()
        .map(|i| (i.uid.clone(), i))
        .collect();
    plan.ctx.printer.debug(
        1,
        &format!(
            "{} series updated on the server since {since}",
            updated.len()
        ),
    );
    for job in &mut plan.jobs {
        if let Some(u) = updated.get(&job.info.uid) {
            for k in ["ImageCount", "DateReleased", "FileSize"] {
                if let Some(v) = u.field(k) {
                    job.info.set(k, &v);
                }
            }
        }
    }
    Ok(())
}

/// Sort every selected series into new, changed and unchanged, and find those that left.
fn classify_selection(
    plan: &Plan,
    st: &State,
    prev: &SyncState,
    records: &BTreeMap<String, Record>,
    verify: bool,
    printer: &Printer,
) -> Sorted {
    let (mut new, mut changed, mut unchanged) = (Vec::new(), Vec::new(), Vec::new());
    for (i, job) in plan.jobs.iter().enumerate() {
        let rec = records.get(&job.info.uid);
        let complete = rec.is_some_and(|r| st.looks_complete(r));
        // --verify: a copy whose files no longer hash as recorded is fetched again.
        let damaged = match rec {
            Some(r) if verify && complete => check_record(st, r).first().map(|p| p.describe()),
            _ => None,
        };
        if let Some(why) = damaged {
            printer.warn(&format!(
                "{} failed re-verification ({why}); fetching it again",
                job.info.uid
            ));
            changed.push(i);
            continue;
        }
        match classify(job, prev.series.get(&job.info.uid), rec, complete) {
            Change::New | Change::Missing => new.push(i),
            Change::Changed(why) => {
                printer.info(&format!("changed on the server: {} ({why})", job.info.uid));
                changed.push(i);
            }
            Change::Unchanged => unchanged.push(job.info.uid.clone()),
        }
    }
    let selected: std::collections::HashSet<&str> = plan
        .jobs
        .iter()
        .map(|j| j.info.uid.as_str())
        .chain(plan.unknown.iter().map(String::as_str))
        .collect();
    let gone = prev
        .series
        .keys()
        .filter(|u| plan.shard.is_none_or(|s| s.contains(u)))
        .filter(|u| !selected.contains(u.as_str()))
        .cloned()
        .collect();
    Sorted {
        new,
        changed,
        unchanged,
        gone,
    }
}

/// `--verify-remote`: unchanged series whose server MD5 (getMD5Hierarchy) no longer matches the
/// recorded files were replaced on the server; fetch them again.
async fn remote_check(
    plan: &Plan,
    records: &BTreeMap<String, Record>,
    sorted: &mut Sorted,
) -> anyhow::Result<()> {
    let unchanged: std::collections::HashSet<&str> =
        sorted.unchanged.iter().map(String::as_str).collect();
    let audit = super::md5::audit(
        &plan.ctx,
        records
            .values()
            .filter(|r| unchanged.contains(r.uid.as_str())),
    )
    .await?;
    plan.ctx.printer.debug(
        1,
        &format!(
            "--verify-remote: {} getMD5Hierarchy requests",
            audit.requests
        ),
    );
    for uid in &audit.changed {
        plan.ctx
            .printer
            .info(&format!("changed on the server: {uid} (its MD5 differs)"));
        if let Some(i) = plan.jobs.iter().position(|j| &j.info.uid == uid) {
            sorted.changed.push(i);
        }
    }
    sorted.unchanged.retain(|u| !audit.changed.contains(u));
    Ok(())
}

/// Say what the sync will do; false when it is a dry run (nothing more to do).
fn report_plan(plan: &Plan, s: &Sorted, a: &SyncArgs, printer: &Printer) -> bool {
    for u in &s.gone {
        let what = if a.delete {
            "deleting"
        } else {
            "kept; --delete removes it"
        };
        printer.info(&format!("left the selection: {u} ({what})"));
    }
    let (images, bytes) = totals(s.todo(plan));
    let todo = s.new.len() + s.changed.len();
    let summary = format!(
        "{} new, {} changed, {} unchanged, {} left the selection{}",
        s.new.len(),
        s.changed.len(),
        s.unchanged.len(),
        s.gone.len(),
        if todo == 0 {
            String::new()
        } else {
            format!(" ({images} images, {} to fetch)", human_bytes(bytes))
        }
    );
    if a.download.dry_run {
        for j in s.todo(plan) {
            printer.info(&super::download::would_line(j));
        }
        printer.info(&format!("dry run: sync would find {summary}"));
        return false;
    }
    if todo == 0 && s.gone.is_empty() && plan.unknown.is_empty() {
        printer.info(&format!(
            "sync: nothing to do, {} series up to date",
            s.unchanged.len()
        ));
    } else {
        printer.info(&format!("sync: {summary}"));
    }
    true
}

/// Delete what left the selection (only after a clean run), then remember what each series
/// looked like when it was last fetched or confirmed; failed ones keep their old entry so the
/// next sync tries again.
fn save_sync_state(
    plan: &Plan,
    st: &State,
    prev: SyncState,
    records: &mut BTreeMap<String, Record>,
    sorted: &Sorted,
    report: &Report,
    a: &SyncArgs,
) -> anyhow::Result<()> {
    let mut next = prev;
    next.series
        .retain(|u, _| plan.shard.is_none_or(|s| s.contains(u)));
    if a.delete && report.failed.is_empty() {
        for u in &sorted.gone {
            if let Some(r) = records.remove(u) {
                delete_series(st, &r)?;
            }
            next.series.remove(u);
        }
    }
    let done: HashSet<&str> = report
        .done
        .iter()
        .chain(&sorted.unchanged)
        .map(String::as_str)
        .collect();
    for job in &plan.jobs {
        let uid = job.info.uid.as_str();
        if done.contains(uid) {
            next.series.insert(uid.to_string(), seen(&job.info));
        }
    }
    next.selection = selection(&a.download);
    if report.failed.is_empty() {
        next.last_success = Some(now_rfc3339());
        next.last_success_date = next.last_success.as_deref().map(|t| t[..10].to_string());
    }
    let text = serde_json::to_vec_pretty(&next)?;
    write_atomically(&st.sync_path(), &text)
}

/// Remove a published series that left the selection: its data, then its record. The record's
/// path must stay inside the directory and not pass through a link.
fn delete_series(st: &State, r: &Record) -> anyhow::Result<()> {
    let rel = std::path::Path::new(&r.path);
    let inside = !r.path.is_empty()
        && rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        anyhow::bail!(
            "refusing to delete {}: its recorded path {:?} is not inside the directory",
            r.uid,
            r.path
        );
    }
    ensure_no_symlink(&st.root, rel)?;
    let path = st.data_path(r);
    remove_any(&path).map_err(|e| anyhow::anyhow!("deleting {}: {e}", path.display()))?;
    st.remove_record(&r.uid);
    Ok(())
}

fn selection(d: &DownloadArgs) -> BTreeMap<String, Vec<String>> {
    let f = &d.filters;
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("uids", d.uids.clone()),
        ("input", d.input.clone()),
        (
            "manifest",
            d.manifest.iter().map(|p| p.display().to_string()).collect(),
        ),
        ("cart", d.cart.clone().into_iter().collect()),
        ("doi", d.doi.clone().into_iter().collect()),
        ("collection", f.collection.clone()),
        ("patient_id", f.patient_id.clone()),
        ("study_uid", f.study_uid.clone()),
        ("modality", f.modality.clone()),
        ("body_part", f.body_part.clone()),
        ("manufacturer", f.manufacturer.clone()),
        ("model", f.model.clone()),
        ("layout", vec![d.layout.clone()]),
    ] {
        if !v.is_empty() {
            m.insert(k.to_string(), v);
        }
    }
    m
}
