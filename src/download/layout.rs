//! Where each series goes under the output directory: `flat`, the official downloader's
//! `classic` and `descriptive` layouts, or a `%Field` template; every path component sanitised.

use std::collections::HashMap;
use std::path::PathBuf;

use super::meta::SeriesInfo;
use super::names::{is_reserved_top_level, sanitize_component};

/// A parsed `--layout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `DIR/<SeriesInstanceUID>/`
    Flat,
    /// `<Collection>/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/`
    Classic,
    /// `<Collection>/<PatientID>/<StudyDate>-<StudyID>-<StudyDescription>-<last 5 of StudyUID>/<SeriesNumber>-<SeriesDescription>-<last 5 of SeriesUID>/`
    Descriptive,
    /// `%Collection/%PatientID/%Modality-%SeriesInstanceUID`
    Template(Vec<Vec<Piece>>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Field(String),
}

impl Layout {
    pub fn parse(s: &str) -> Result<Layout, String> {
        match s {
            "flat" => return Ok(Layout::Flat),
            "classic" => return Ok(Layout::Classic),
            "descriptive" => return Ok(Layout::Descriptive),
            _ => {}
        }
        if !s.contains('%') {
            return Err(format!(
                "invalid --layout '{s}': use flat, classic, descriptive, or a template such as '%Collection/%PatientID/%SeriesInstanceUID'"
            ));
        }
        let mut comps = Vec::new();
        for comp in s.split(['/', '\\']) {
            if comp.is_empty() || comp == "." || comp == ".." {
                return Err(format!(
                    "invalid --layout '{s}': empty, '.' or '..' path component"
                ));
            }
            let mut pieces = Vec::new();
            let mut rest = comp;
            while let Some(i) = rest.find('%') {
                if i > 0 {
                    pieces.push(Piece::Text(rest[..i].to_string()));
                }
                let after = &rest[i + 1..];
                let end = after
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(after.len());
                if end == 0 {
                    return Err(format!(
                        "invalid --layout '{s}': '%' must be followed by a field name"
                    ));
                }
                let field = &after[..end];
                if !super::meta::TEMPLATE_FIELDS.contains(&field) {
                    return Err(format!(
                        "invalid --layout '{s}': unknown field %{field}; fields: {}",
                        super::meta::TEMPLATE_FIELDS.join(", ")
                    ));
                }
                pieces.push(Piece::Field(field.to_string()));
                rest = &after[end..];
            }
            if !rest.is_empty() {
                pieces.push(Piece::Text(rest.to_string()));
            }
            comps.push(pieces);
        }
        if !comps
            .iter()
            .flatten()
            .any(|p| matches!(p, Piece::Field(f) if f == "SeriesInstanceUID"))
        {
            // Without the UID two series may collide; that is checked before downloading.
        }
        Ok(Layout::Template(comps))
    }

    /// The series' directory relative to the output directory.
    pub fn path_for(&self, s: &SeriesInfo) -> PathBuf {
        let comps: Vec<String> = match self {
            Layout::Flat => vec![s.uid.clone()],
            Layout::Classic => vec![
                s.get("Collection"),
                s.get("PatientID"),
                s.get("StudyInstanceUID"),
                s.uid.clone(),
            ],
            Layout::Descriptive => vec![
                s.get("Collection"),
                s.get("PatientID"),
                format!(
                    "{}-{}-{}-{}",
                    or_na(&s.study_date_mdy()),
                    or_na(&s.get("StudyID")),
                    or_na(&truncate_chars(&describe(&s.get("StudyDescription")), 53)),
                    last5(&s.get("StudyInstanceUID"))
                ),
                format!(
                    "{}-{}-{}",
                    or_na(&s.series_number_text()),
                    or_na(&truncate_chars(&describe(&s.get("SeriesDescription")), 53)),
                    last5(&s.uid)
                ),
            ],
            Layout::Template(comps) => comps
                .iter()
                .map(|pieces| {
                    pieces
                        .iter()
                        .map(|p| match p {
                            Piece::Text(t) => t.clone(),
                            Piece::Field(f) => s.get(f),
                        })
                        .collect::<String>()
                })
                .collect(),
        };
        comps
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let name = sanitize_component(c);
                if i == 0 && is_reserved_top_level(&name) {
                    format!("_{name}")
                } else {
                    name
                }
            })
            .collect()
    }
}

fn or_na(s: &str) -> String {
    if s.trim().is_empty() {
        "NA".to_string()
    } else {
        s.to_string()
    }
}

fn last5(uid: &str) -> String {
    let n = uid.chars().count();
    uid.chars().skip(n.saturating_sub(5)).collect()
}

fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect::<String>().trim_end().to_string()
}

/// Descriptions as the official downloader keeps them: letters, digits, space, dot and dash.
fn describe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-'))
        .collect::<String>()
        .trim()
        .to_string()
}

impl Layout {
    /// Whether every series is sure to get its own directory (the layout names the series UID).
    pub fn names_the_series(&self) -> bool {
        match self {
            Layout::Flat | Layout::Classic => true,
            Layout::Descriptive => true,
            Layout::Template(comps) => comps
                .iter()
                .flatten()
                .any(|p| matches!(p, Piece::Field(f) if f == "SeriesInstanceUID")),
        }
    }
}

/// Paths already published for other series: none of them may be a planned path, inside one, or
/// contain one (a new layout must not replace or nest into an earlier download).
pub fn check_existing<'a>(
    planned: impl Iterator<Item = (&'a str, &'a PathBuf)>,
    existing: &[(String, String)],
) -> Result<(), String> {
    let norm = |p: &str| p.replace('\\', "/").to_lowercase();
    let existing: Vec<(String, &str)> = existing
        .iter()
        .map(|(uid, p)| (norm(p), uid.as_str()))
        .collect();
    for (uid, rel) in planned {
        let mine = norm(&rel.to_string_lossy());
        for (other_path, other_uid) in &existing {
            if *other_uid == uid {
                continue;
            }
            let clash = *other_path == mine
                || other_path.starts_with(&format!("{mine}/"))
                || mine.starts_with(&format!("{other_path}/"));
            if clash {
                return Err(format!(
                    "series {uid} would go to {}, which clashes with {other_uid} already downloaded at {other_path}; \
                     use a --layout that names %SeriesInstanceUID, or another directory",
                    rel.display()
                ));
            }
        }
    }
    Ok(())
}

/// Two series must never share a directory: report the first collision, case-insensitively
/// (so the layout also works on macOS and Windows).
/// A relative path as records store it: components joined with `/`.
pub fn rel_string(p: &std::path::Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn check_collisions<'a>(
    paths: impl Iterator<Item = (&'a str, &'a PathBuf)>,
) -> Result<(), String> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (uid, p) in paths {
        let key = p.to_string_lossy().to_lowercase();
        if let Some(other) = seen.insert(key, uid) {
            return Err(format!(
                "--layout puts series {other} and {uid} in the same directory {}; add %SeriesInstanceUID to the layout",
                p.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> SeriesInfo {
        let mut s = SeriesInfo::new("1.2.840.113619.2.55.3.12345");
        for (k, v) in [
            ("Collection", "LIDC-IDRI"),
            ("PatientID", "LIDC-IDRI-0001"),
            (
                "StudyInstanceUID",
                "1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178",
            ),
            ("StudyDate", "2000-01-01"),
            ("StudyDescription", ""),
            ("SeriesNumber", "3000566"),
            ("SeriesDescription", "AX  STIR / T1^x"),
            ("Modality", "CT"),
        ] {
            s.fields.insert(k.into(), v.into());
        }
        s
    }

    #[test]
    fn layouts() {
        let s = info();
        assert_eq!(
            Layout::Flat.path_for(&s),
            PathBuf::from("1.2.840.113619.2.55.3.12345")
        );
        assert_eq!(
            Layout::Classic.path_for(&s),
            PathBuf::from("LIDC-IDRI/LIDC-IDRI-0001/1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178/1.2.840.113619.2.55.3.12345")
        );
        assert_eq!(
            Layout::Descriptive.path_for(&s),
            PathBuf::from("LIDC-IDRI/LIDC-IDRI-0001/01-01-2000-NA-NA-30178/3000566.000000-AX  STIR  T1x-12345")
        );
        let t = Layout::parse("%Collection/%PatientID/%Modality-%SeriesInstanceUID").unwrap();
        assert_eq!(
            t.path_for(&s),
            PathBuf::from("LIDC-IDRI/LIDC-IDRI-0001/CT-1.2.840.113619.2.55.3.12345")
        );
    }

    #[test]
    fn bad_templates() {
        assert!(Layout::parse("%Nope/%SeriesInstanceUID")
            .unwrap_err()
            .contains("unknown field %Nope"));
        assert!(Layout::parse("../%SeriesInstanceUID").is_err());
        assert!(Layout::parse("tree").is_err());
    }

    #[test]
    fn sanitising() {
        assert_eq!(sanitize_component("a/b\\c:d"), "a_b_c_d");
        assert_eq!(sanitize_component("CON"), "_CON");
        assert_eq!(sanitize_component("com1.txt"), "_com1.txt");
        assert_eq!(sanitize_component("name. . "), "name");
        assert_eq!(sanitize_component(".."), "NA");
        assert_eq!(sanitize_component(""), "NA");
        assert_eq!(sanitize_component("x\u{7}y"), "xy");
        assert!(sanitize_component(&"é".repeat(200)).len() <= 120);
    }

    #[test]
    fn server_names_never_reach_tcias_own_files() {
        let mut s = info();
        s.fields.insert("Collection".into(), ".tcia".into());
        s.fields.insert("PatientID".into(), "staging".into());
        let p = Layout::Classic.path_for(&s);
        assert!(p.starts_with("_tcia/staging"), "{}", p.display());
        s.fields.insert("Collection".into(), "LICENSES".into());
        assert!(Layout::Classic.path_for(&s).starts_with("_LICENSES"));
        s.fields.insert("Collection".into(), "metadata.csv".into());
        assert!(Layout::Classic.path_for(&s).starts_with("_metadata.csv"));
        s.fields.insert("Collection".into(), "C".into());
        s.fields
            .insert("PatientID".into(), ".hidden\u{1b}[2J".into());
        let p = Layout::Classic.path_for(&s);
        let second = p
            .components()
            .nth(1)
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        assert_eq!(second, "_hidden[2J");
        assert_eq!(sanitize_component(".tcia"), "_tcia");
        assert_eq!(sanitize_component(" .x"), "_x");
    }

    #[test]
    fn clashes_with_earlier_downloads() {
        let existing = vec![("1.1".to_string(), "C/P1/S1/1.1".to_string())];
        let a = PathBuf::from("C/P1");
        assert!(check_existing([("1.2", &a)].into_iter(), &existing)
            .unwrap_err()
            .contains("1.1"));
        let b = PathBuf::from("C/P1/S1/1.1/x");
        assert!(check_existing([("1.3", &b)].into_iter(), &existing).is_err());
        let same = PathBuf::from("C/P1/S1/1.1");
        assert!(
            check_existing([("1.1", &same)].into_iter(), &existing).is_ok(),
            "its own path"
        );
        let other = PathBuf::from("C/P1/S1/1.10");
        assert!(check_existing([("1.10", &other)].into_iter(), &existing).is_ok());
    }

    #[test]
    fn collisions() {
        let a = PathBuf::from("X/P1");
        let b = PathBuf::from("x/p1");
        let err = check_collisions([("1.1", &a), ("1.2", &b)].into_iter()).unwrap_err();
        assert!(err.contains("1.1 and 1.2"), "{err}");
    }
}
