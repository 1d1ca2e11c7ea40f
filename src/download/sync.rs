//! `tcia sync`: a download that remembers what it fetched. Each run lists the selection, asks
//! getUpdatedSeries what changed since the last successful sync (minus a safety margin), and
//! fetches only new series and series whose ImageCount, FileSize or release date changed; a
//! changed series is re-downloaded into staging and swapped in only once it verifies. Series that
//! left the selection are reported, and removed only with `--delete`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::meta::SeriesInfo;
use super::report::human_bytes;
use super::state::{now_rfc3339, Record, State};
use super::{
    check_space, conclude, execute, fetch_rows, plan, rel_string, take_directory, totals, Job,
};
use crate::catalogue::{self as cat, Param};
use crate::cli::{GlobalArgs, SyncArgs};
use crate::dates::Date;
use crate::fsutil::write_atomically;

/// Days looked back before the last successful sync, for releases dated late.
const SAFETY_MARGIN_DAYS: i64 = 2;

/// What a series looked like when it was last synced.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeenSeries {
    pub image_count: Option<u64>,
    pub file_size: Option<u64>,
    /// Release date, ISO `YYYY-MM-DD`.
    pub released: Option<String>,
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

/// Release dates arrive as `2015-05-27 17:12:21.0`, `05-27-2015` or `2015-05-27`: to ISO.
pub fn iso_date(s: &str) -> Option<String> {
    let d = s.split_whitespace().next()?;
    let p: Vec<&str> = d.split(['-', '/']).collect();
    let (y, m, dd) = match p.as_slice() {
        [y, m, dd] if y.len() == 4 => (*y, *m, *dd),
        [m, dd, y] if y.len() == 4 => (*y, *m, *dd),
        _ => return None,
    };
    Some(format!("{y}-{m:0>2}-{dd:0>2}"))
}

fn seen(info: &SeriesInfo) -> SeenSeries {
    SeenSeries {
        image_count: info.image_count(),
        file_size: info.file_size(),
        released: iso_date(&info.get("DateReleased")),
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

/// The day `days` before an ISO date.
fn days_before(iso: &str, days: i64) -> Option<Date> {
    let d = Date::parse_iso(iso).ok()?;
    let z = days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day)) - days;
    let (y, m, dd) = civil_from_days(z);
    Some(Date {
        year: u16::try_from(y).ok()?,
        month: m as u8,
        day: dd as u8,
    })
}

/// Days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
    let on_disk = rec.filter(|r| r.path == rel_string(&job.rel));
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

pub async fn run(
    global: &GlobalArgs,
    config: &crate::config::Applied,
    a: &SyncArgs,
) -> anyhow::Result<()> {
    let d = &a.download;
    let mut plan = plan(global, config, d).await?;
    let st = State::new(&plan.root, plan.shard);
    let prev = load(&st);
    let mut records = st.records();
    let printer = plan.ctx.printer.clone();

    // What changed on the server since the last successful sync (minus a margin).
    let since = a.since.or_else(|| {
        prev.last_success_date
            .as_deref()
            .and_then(|d| days_before(d, SAFETY_MARGIN_DAYS))
    });
    let mut updated: HashMap<String, SeriesInfo> = HashMap::new();
    if let Some(since) = since {
        let rows = fetch_rows(
            &plan.ctx,
            &cat::UPDATED_SERIES,
            vec![(Param::Since, vec![since.to_string()])],
        )
        .await?;
        for row in rows {
            if let Some(info) = SeriesInfo::from_row(&row) {
                updated.insert(info.uid.clone(), info);
            }
        }
        printer.debug(
            1,
            &format!(
                "{} series updated on the server since {since}",
                updated.len()
            ),
        );
    }
    for job in &mut plan.jobs {
        if let Some(u) = updated.get(&job.info.uid) {
            // The update feed is the fresher source for counts and dates.
            for k in ["ImageCount", "DateReleased", "FileSize"] {
                if let Some(v) = u.fields.get(k) {
                    job.info.fields.insert(k.to_string(), v.clone());
                }
            }
        }
    }

    let mut new = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    for job in plan.jobs.clone() {
        let rec = records.get(&job.info.uid);
        let complete = rec.is_some_and(|r| st.looks_complete(r));
        // --verify: a copy whose files no longer hash as recorded is fetched again.
        let damaged = match rec {
            Some(r) if d.verify && complete => super::verify::check_record(&st, r)
                .first()
                .map(|p| p.describe()),
            _ => None,
        };
        if let Some(why) = damaged {
            printer.warn(&format!(
                "{} failed re-verification ({why}); fetching it again",
                job.info.uid
            ));
            changed.push(job);
            continue;
        }
        match classify(&job, prev.series.get(&job.info.uid), rec, complete) {
            Change::New | Change::Missing => new.push(job),
            Change::Changed(why) => {
                printer.info(&format!("changed on the server: {} ({why})", job.info.uid));
                changed.push(job);
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
    let gone: Vec<String> = prev
        .series
        .keys()
        .filter(|u| plan.shard.is_none_or(|s| s.contains(u)))
        .filter(|u| !selected.contains(u.as_str()))
        .cloned()
        .collect();
    for u in &gone {
        let what = if a.delete {
            "deleting"
        } else {
            "kept; --delete removes it"
        };
        printer.info(&format!("left the selection: {u} ({what})"));
    }

    let todo: Vec<Job> = new.iter().chain(changed.iter()).cloned().collect();
    let (images, bytes) = totals(&todo);
    let summary = format!(
        "{} new, {} changed, {} unchanged, {} left the selection{}",
        new.len(),
        changed.len(),
        unchanged.len(),
        gone.len(),
        if todo.is_empty() {
            String::new()
        } else {
            format!(" ({images} images, {} to fetch)", human_bytes(bytes))
        }
    );
    if d.dry_run {
        for j in &todo {
            printer.info(&format!(
                "would download {} -> {}",
                j.info.uid,
                rel_string(&j.rel)
            ));
        }
        printer.info(&format!("dry run: sync would find {summary}"));
        return Ok(());
    }
    if todo.is_empty() && gone.is_empty() && plan.unknown.is_empty() {
        printer.info(&format!(
            "sync: nothing to do, {} series up to date",
            unchanged.len()
        ));
    } else {
        printer.info(&format!("sync: {summary}"));
    }

    if a.delete && !gone.is_empty() && plan.jobs.is_empty() {
        // An empty answer is more often a problem (a typo, an expired login: v2 answers those
        // with empty results) than a withdrawn collection.
        return Err(crate::error::Error::Failed {
            message: format!(
                "the selection is empty now: refusing to --delete all {} synced series; check the selection and the login",
                gone.len()
            ),
            code: crate::error::exit::ERROR,
        }
        .into());
    }
    let _lock = take_directory(&st)?;
    if !d.no_space_check {
        check_space(&st.root, bytes)?;
    }
    let mut next = prev.clone();
    next.series
        .retain(|u, _| plan.shard.is_none_or(|s| s.contains(u)));
    let report = execute(&plan, d, &st, &mut records, todo, unchanged.len()).await?;
    // Delete only after everything else succeeded.
    if a.delete && report.failed.is_empty() {
        for u in &gone {
            if let Some(r) = records.remove(u) {
                delete_series(&st, &r)?;
            }
            next.series.remove(u);
        }
    }
    // Remember what each series looked like when it was last fetched or confirmed; failed ones
    // keep their old entry so the next sync tries again.
    let done: std::collections::HashSet<&str> = report.done.iter().map(String::as_str).collect();
    for job in &plan.jobs {
        let uid = job.info.uid.as_str();
        if done.contains(uid) || unchanged.iter().any(|u| u == uid) {
            next.series.insert(uid.to_string(), seen(&job.info));
        }
    }
    next.selection = selection(d);
    if report.failed.is_empty() {
        next.last_success = Some(now_rfc3339());
        next.last_success_date = next.last_success.as_deref().map(|t| t[..10].to_string());
    }
    let text = serde_json::to_vec_pretty(&next)?;
    write_atomically(&st.sync_path(), &text)?;
    conclude(&st, &report.failed)
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
    super::ensure_no_symlink(&st.root, rel)?;
    let path = st.data_path(r);
    super::engine::remove_any(&path)
        .map_err(|e| anyhow::anyhow!("deleting {}: {e}", path.display()))?;
    st.remove_record(&r.uid);
    Ok(())
}

fn selection(d: &crate::cli::DownloadArgs) -> BTreeMap<String, Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_dates_to_iso() {
        assert_eq!(
            iso_date("2015-05-27 17:12:21.0").as_deref(),
            Some("2015-05-27")
        );
        assert_eq!(iso_date("05-27-2015").as_deref(), Some("2015-05-27"));
        assert_eq!(iso_date("2015-05-27").as_deref(), Some("2015-05-27"));
        assert_eq!(iso_date("Mon Nov 04 11:45:52 UTC 2013"), None);
    }

    #[test]
    fn margins_cross_months_and_years() {
        assert_eq!(
            days_before("2026-03-01", 2).unwrap().to_string(),
            "2026-02-27"
        );
        assert_eq!(
            days_before("2024-03-01", 2).unwrap().to_string(),
            "2024-02-28"
        );
        assert_eq!(
            days_before("2026-01-01", 2).unwrap().to_string(),
            "2025-12-30"
        );
        assert_eq!(
            days_before("2026-11-22", 0).unwrap().to_string(),
            "2026-11-22"
        );
    }
}
