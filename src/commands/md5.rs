//! `tcia md5` (v4 getMD5Hierarchy) and the remote audit behind `verify DIR --remote` and
//! `sync --verify-remote`.
//!
//! The server's hashes (GeneralSeriesDAOImpl): a series is the MD5 of its images' MD5s
//! concatenated in ascending order; a study the MD5 of its sorted series hashes; a patient of its
//! sorted study hashes; a collection of its sorted patient hashes; all lower-case hex. So the
//! per-file MD5s a download recorded give every level locally, and a mirror is audited from the
//! top: the collection first, descending only where the hashes differ.

use anyhow::Context as _;
use md5::{Digest, Md5};
use std::collections::BTreeMap;

use crate::api::catalogue as cat;
use crate::api::client::Request;
use crate::api::rows::reject_html;
use crate::cli::Md5Args;
use crate::context::Ctx;
use crate::download::state::Record;
use crate::error::{usage, Error};
use crate::output::{self, Columns, Row};

/// The MD5 (lower-case hex) of sorted, concatenated hashes; empty for none, as the server does.
pub fn combine<'a>(hashes: impl IntoIterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = hashes.into_iter().filter(|h| !h.is_empty()).collect();
    if v.is_empty() {
        return String::new();
    }
    v.sort_unstable();
    let digest = Md5::digest(v.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One hierarchy level as getMD5Hierarchy's form takes it.
#[derive(Clone, Debug)]
pub enum Level {
    Series(String),
    Study(String),
    Patient { id: String, collection: String },
    Collection(String),
}

impl Level {
    fn form(&self) -> Vec<(String, String)> {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        match self {
            Level::Series(u) => vec![p("SeriesInstanceUID", u)],
            Level::Study(u) => vec![p("StudyInstanceUID", u)],
            Level::Patient { id, collection } => {
                vec![p("PatientID", id), p("Collection", collection)]
            }
            Level::Collection(c) => vec![p("Collection", c)],
        }
    }
    fn name(&self) -> (&'static str, &str) {
        match self {
            Level::Series(u) => ("series", u),
            Level::Study(u) => ("study", u),
            Level::Patient { id, .. } => ("patient", id),
            Level::Collection(c) => ("collection", c),
        }
    }
}

/// The server's hash of one level (empty when it has nothing there).
pub async fn server_md5(ctx: &Ctx, level: &Level) -> anyhow::Result<String> {
    let route = cat::MD5_HIERARCHY.route(ctx.api).map_err(usage)?;
    let req = Request::post_form(route.path.url_path(ctx.api), level.form());
    let url = ctx.client.url_for(&req);
    let resp = ctx.client.send(&req).await?;
    reject_html(&resp, &url)?;
    let text = resp
        .text()
        .await
        .map_err(|e| ctx.client.transport_error("POST", &url, e))?;
    let h = text.trim().to_ascii_lowercase();
    if !h.is_empty() && (h.len() != 32 || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(Error::BadResponse {
            url: url.to_string(),
            message: format!(
                "expected an MD5 (32 hex digits), got {:?}",
                crate::text::escape_control(&text[..text.len().min(80)])
            ),
        }
        .into());
    }
    Ok(h)
}

/// `tcia md5`: one row `{Level, ID, MD5}` (ID: the UID, patient ID or collection name).
pub async fn run(ctx: &Ctx, a: &Md5Args) -> anyhow::Result<()> {
    let level = match (&a.series_uid, &a.study_uid, &a.patient_id, &a.collection) {
        (Some(s), ..) => Level::Series(s.clone()),
        (_, Some(s), ..) => Level::Study(s.clone()),
        (_, _, Some(p), Some(c)) => Level::Patient {
            id: p.clone(),
            collection: c.clone(),
        },
        (_, _, None, Some(c)) => Level::Collection(c.clone()),
        _ => return Err(usage(
            "md5: give --series-uid, --study-uid, --patient-id with --collection, or --collection",
        )),
    };
    let h = server_md5(ctx, &level).await?;
    let (what, id) = level.name();
    if h.is_empty() {
        ctx.printer.warn(&format!(
            "the server has no {what} '{id}' (an empty answer)"
        ));
    }
    let cols = Columns {
        known: ["Level", "ID", "MD5"].map(String::from).to_vec(),
        fields: None,
    };
    let mut sink = output::sink(ctx.format, cols, ctx.stdout(), ctx.width);
    let mut row = Row::new();
    row.insert("Level".into(), what.into());
    row.insert("ID".into(), id.into());
    row.insert("MD5".into(), h.into());
    sink.row(row).context("writing output")?;
    sink.finish().context("writing output")?;
    Ok(())
}

/// A series' hash from its recorded (lower-case) file MD5s, and from the same in upper case: the
/// server hashes the digests as stored, and some are stored in upper case.
#[derive(Clone, Debug)]
pub struct SeriesHash {
    pub lower: String,
    pub upper: String,
}

impl SeriesHash {
    fn get(&self, upper: bool) -> &str {
        if upper {
            &self.upper
        } else {
            &self.lower
        }
    }
    fn matches(&self, theirs: &str) -> bool {
        theirs == self.lower || theirs == self.upper
    }
}

/// Local hashes of a mirror: collection → patient → study → series → hash.
type Studies = BTreeMap<String, BTreeMap<String, SeriesHash>>;
type Tree = BTreeMap<String, BTreeMap<String, Studies>>;

/// The series hash of a record: None when it was downloaded without MD5s.
pub fn record_md5(r: &Record) -> Option<SeriesHash> {
    let texts: Vec<std::borrow::Cow<'_, str>> = r.files.iter().map(|f| f.md5.text()).collect();
    if texts.is_empty() || texts.iter().any(|t| t.len() != 32) {
        return None;
    }
    let upper: Vec<String> = texts.iter().map(|t| t.to_ascii_uppercase()).collect();
    Some(SeriesHash {
        lower: combine(texts.iter().map(|t| t.as_ref())),
        upper: combine(upper.iter().map(String::as_str)),
    })
}

/// The outcome of an audit.
#[derive(Default, Debug)]
pub struct Audit {
    /// Series whose server hash differs from the recorded files' (replaced on the server).
    pub changed: Vec<String>,
    /// Series the server answers nothing for (withdrawn, or not visible).
    pub gone: Vec<String>,
    /// Series recorded without MD5s (`--no-md5`), or without their study/patient/collection.
    pub unchecked: Vec<String>,
    pub requests: usize,
}

/// Audit records against the server, top down: a level whose hash matches (all digests in lower
/// or all in upper case) is not opened.
pub async fn audit<'a>(
    ctx: &Ctx,
    records: impl Iterator<Item = &'a Record>,
) -> anyhow::Result<Audit> {
    let mut a = Audit::default();
    let mut tree = Tree::new();
    for r in records {
        let f = |k: &str| r.fields.get(k).filter(|v| !v.is_empty()).cloned();
        let place = (f("Collection"), f("PatientID"), f("StudyInstanceUID"));
        match (record_md5(r), place) {
            (Some(h), (Some(c), Some(p), Some(s))) => {
                let studies = tree.entry(c).or_default().entry(p).or_default();
                studies.entry(s).or_default().insert(r.uid.clone(), h);
            }
            _ => a.unchecked.push(r.uid.clone()),
        }
    }
    for (coll, patients) in &tree {
        let theirs = ask(ctx, &mut a, Level::Collection(coll.clone())).await?;
        let n = patients
            .values()
            .flat_map(|p| p.values())
            .map(|s| s.len())
            .sum();
        if matches_some_case(&theirs, n, &|pick| collection_hash(patients, pick)) {
            continue;
        }
        for (pid, studies) in patients {
            let level = Level::Patient {
                id: pid.clone(),
                collection: coll.clone(),
            };
            let theirs = ask(ctx, &mut a, level).await?;
            let n = studies.values().map(|s| s.len()).sum();
            if matches_some_case(&theirs, n, &|pick| patient_hash(studies, pick, &mut 0)) {
                continue;
            }
            audit_studies(ctx, studies, &mut a).await?;
        }
    }
    Ok(a)
}

/// Which series (by index below a level) are hashed from their upper-case digests.
type Pick = dyn Fn(usize) -> bool;

/// Series below a level up to which every choice of case per series is tried.
const MIXED_CASE_MAX: usize = 12;

/// Whether `theirs` is the level's hash for some choice of lower or upper case per series: every
/// choice for up to [`MIXED_CASE_MAX`] series, else all lower or all upper.
fn matches_some_case(theirs: &str, series: usize, hash: &dyn Fn(&Pick) -> String) -> bool {
    if series <= MIXED_CASE_MAX {
        (0..1u32 << series).any(|m| hash(&move |i| (m >> i) & 1 == 1) == theirs)
    } else {
        hash(&|_| false) == theirs || hash(&|_| true) == theirs
    }
}

async fn ask(ctx: &Ctx, a: &mut Audit, level: Level) -> anyhow::Result<String> {
    a.requests += 1;
    server_md5(ctx, &level).await
}

fn combine_owned(hashes: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = hashes.collect();
    combine(v.iter().map(String::as_str))
}

/// A study's hash, series `*next`, `*next + 1`, ... in upper case where `pick` says.
fn study_hash(series: &BTreeMap<String, SeriesHash>, pick: &Pick, next: &mut usize) -> String {
    let mut hs = Vec::new();
    for h in series.values() {
        hs.push(h.get(pick(*next)).to_string());
        *next += 1;
    }
    combine_owned(hs.into_iter())
}

fn patient_hash(studies: &Studies, pick: &Pick, next: &mut usize) -> String {
    let hs: Vec<String> = studies
        .values()
        .map(|s| study_hash(s, pick, next))
        .collect();
    combine_owned(hs.into_iter())
}

fn collection_hash(patients: &BTreeMap<String, Studies>, pick: &Pick) -> String {
    let mut next = 0;
    let hs: Vec<String> = patients
        .values()
        .map(|p| patient_hash(p, pick, &mut next))
        .collect();
    combine_owned(hs.into_iter())
}

async fn audit_studies(ctx: &Ctx, studies: &Studies, a: &mut Audit) -> anyhow::Result<()> {
    for (study, series) in studies {
        let theirs = ask(ctx, a, Level::Study(study.clone())).await?;
        if matches_some_case(&theirs, series.len(), &|pick| {
            study_hash(series, pick, &mut 0)
        }) {
            continue;
        }
        for (uid, mine) in series {
            let theirs = ask(ctx, a, Level::Series(uid.clone())).await?;
            if theirs.is_empty() {
                a.gone.push(uid.clone());
            } else if !mine.matches(&theirs) {
                a.changed.push(uid.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_sorts_and_skips_empty() {
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        assert_eq!(combine([b, a, ""]), combine([a, b]));
        let digest = Md5::digest(format!("{a}{b}").as_bytes());
        let want: String = digest.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(combine([b, a]), want);
        assert_eq!(combine([""]), "");
    }

    #[test]
    fn mixed_case_digests_match_at_the_study_level() {
        let files = |m: &[&str]| SeriesHash {
            lower: combine(m.iter().copied()),
            upper: combine(
                m.iter()
                    .map(|x| x.to_uppercase())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            ),
        };
        let a = files(&["0cc175b9c0f1b6a831c399e269772661"]);
        let b = files(&[
            "92eb5ffee6ae2fec3ad71c777531578f",
            "4a8a08f09d37b73795649038408b5f33",
        ]);
        let series: BTreeMap<String, SeriesHash> = [
            ("1.1".to_string(), a.clone()),
            ("1.2".to_string(), b.clone()),
        ]
        .into();
        // the server stored a's digests in lower case and b's in upper case
        let theirs = combine([a.lower.as_str(), b.upper.as_str()]);
        assert!(matches_some_case(&theirs, 2, &|pick| study_hash(
            &series, pick, &mut 0
        )));
        assert_ne!(theirs, study_hash(&series, &|_| false, &mut 0));
        assert!(!matches_some_case("0123", 2, &|pick| study_hash(
            &series, pick, &mut 0
        )));
    }
}
