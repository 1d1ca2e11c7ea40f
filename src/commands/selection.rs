//! A selection that names nothing: a `--collection`, `--modality` or `--body-part` value that
//! matches none of the server's values gets a warning with the closest ones ("no collection
//! 'LIDC'; did you mean LIDC-IDRI?"). Each value list is fetched once per run (one
//! getCollectionValues call for collections) and kept.

use std::collections::HashMap;

use tokio::sync::Mutex;

use crate::api::catalogue::{self as cat, Endpoint, Param};
use crate::api::rows::fetch_rows;
use crate::context::Ctx;
use crate::error::Error;
use crate::output::cell;

/// The server's value lists, fetched at most once each per run.
#[derive(Default)]
pub struct Values {
    lists: Mutex<HashMap<&'static str, Vec<String>>>,
}

/// The flags whose values the server can list: (what, flag, endpoint, column).
const LISTED: [(&str, Param, &Endpoint, &str); 3] = [
    (
        "collection",
        Param::Collection,
        &cat::COLLECTIONS,
        "Collection",
    ),
    ("modality", Param::Modality, &cat::MODALITIES, "Modality"),
    (
        "body part",
        Param::BodyPart,
        &cat::BODY_PARTS,
        "BodyPartExamined",
    ),
];

impl Values {
    async fn list(&self, ctx: &Ctx, endpoint: &'static Endpoint, column: &str) -> Vec<String> {
        let mut lists = self.lists.lock().await;
        if let Some(v) = lists.get(endpoint.name) {
            return v.clone();
        }
        // A failed lookup is no reason to fail the command: then nothing is reported.
        let rows = fetch_rows(&ctx.client, ctx.api, endpoint, vec![])
            .await
            .unwrap_or_default();
        let v: Vec<String> = rows
            .iter()
            .map(|r| cell(r.get(column)).into_owned())
            .filter(|s| !s.is_empty())
            .collect();
        lists.insert(endpoint.name, v.clone());
        v
    }

    /// One message per given value that matches none of the server's values (case-insensitively,
    /// as the server compares them).
    pub async fn unknown(&self, ctx: &Ctx, given: &[(Param, Vec<String>)]) -> Vec<String> {
        let mut out = Vec::new();
        for (what, param, endpoint, column) in LISTED {
            let values: Vec<&String> = given
                .iter()
                .filter(|(p, _)| *p == param)
                .flat_map(|(_, v)| v)
                .collect();
            if values.is_empty() {
                continue;
            }
            let known = self.list(ctx, endpoint, column).await;
            if known.is_empty() {
                continue;
            }
            for v in values {
                if param == Param::BodyPart && v.eq_ignore_ascii_case("NOT SPECIFIED") {
                    continue;
                }
                if !known.iter().any(|k| k.eq_ignore_ascii_case(v)) {
                    out.push(describe(what, v, &known));
                }
            }
        }
        out
    }
}

/// "no collection 'LIDC'; did you mean LIDC-IDRI?" (or the list's size when nothing is close).
fn describe(what: &str, value: &str, known: &[String]) -> String {
    let near = nearest(value, known);
    if near.is_empty() {
        format!(
            "no {what} '{value}' on this server ({} known; `tcia {}` lists them)",
            known.len(),
            list_command(what)
        )
    } else {
        format!("no {what} '{value}'; did you mean {}?", near.join(" or "))
    }
}

fn list_command(what: &str) -> &'static str {
    match what {
        "collection" => "collections",
        "modality" => "modalities",
        _ => "body-parts",
    }
}

/// Up to three values closest to `value`: those containing it or contained in it, else those at
/// the smallest edit distance (if it is small).
pub fn nearest(value: &str, known: &[String]) -> Vec<String> {
    let v = value.to_lowercase();
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .filter_map(|k| {
            let l = k.to_lowercase();
            if l.contains(&v) || (l.len() >= 3 && v.contains(&l)) {
                return Some((0, k));
            }
            let d = edit_distance(&v, &l);
            (d <= (v.chars().count() / 3).max(2)).then_some((d, k))
        })
        .collect();
    scored.sort();
    let best = scored.first().map(|(d, _)| *d);
    scored
        .into_iter()
        .take_while(|(d, _)| Some(*d) == best)
        .take(3)
        .map(|(_, k)| k.clone())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// For download and sync, once per run: each named value the server does not have is a warning,
/// and an empty selection because of one is a usage error (exit 2), so that a cron job with a typo
/// does not "succeed" for ever. An empty selection whose values all exist is fine.
pub async fn check_selection(
    ctx: &Ctx,
    given: &[(Param, Vec<String>)],
    empty: bool,
) -> anyhow::Result<()> {
    let named = given
        .iter()
        .any(|(p, v)| !v.is_empty() && LISTED.iter().any(|l| l.1 == *p));
    if !named {
        return Ok(());
    }
    let unknown = Values::default().unknown(ctx, given).await;
    if !empty || unknown.is_empty() {
        for m in &unknown {
            ctx.printer.warn(m);
        }
        return Ok(());
    }
    for m in &unknown[1..] {
        ctx.printer.warn(m);
    }
    Err(Error::Usage(format!("{}: the selection is empty", unknown[0])).into())
}

/// For queries: warn about each named value the server does not have (the rows stay as they are).
pub async fn warn_unknown(ctx: &Ctx, given: &[(Param, Vec<String>)]) {
    for m in Values::default().unknown(ctx, given).await {
        ctx.printer.warn(&m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_values() {
        let known: Vec<String> = [
            "LIDC-IDRI",
            "TCGA-BLCA",
            "CT COLONOGRAPHY",
            "Pediatric-CT-SEG",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(nearest("LIDC", &known), ["LIDC-IDRI"]);
        assert_eq!(nearest("TCGA-BLAC", &known), ["TCGA-BLCA"]);
        assert!(nearest("zzz", &known).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
