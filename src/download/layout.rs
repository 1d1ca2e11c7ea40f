//! Where each series goes under the output directory: `flat`, the official downloader's
//! `classic` and `descriptive` layouts, or a `%Field` template; every path component sanitised.

use std::path::{Path, PathBuf};

use super::intern::{self, Sym};
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
    planned: impl Iterator<Item = (&'a str, PathBuf)>,
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
/// A final path kept small (a plan may hold 300,000): its directory as a stored text, and its
/// last part the series UID (with or without `.zip`) or a stored text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelPath {
    dir: Sym,
    leaf: Sym,
}

/// `leaf` markers: the UID, the UID with `.zip`, nothing (`dir` is the whole path).
const LEAF_UID: Sym = Sym::MAX;
const LEAF_UID_ZIP: Sym = Sym::MAX - 1;
const LEAF_NONE: Sym = 0;

impl RelPath {
    /// `path`, the final path of series `uid`.
    pub fn new(path: &Path, uid: &str) -> RelPath {
        let whole = path.to_string_lossy();
        let split = match (path.parent(), path.file_name()) {
            (Some(d), Some(f)) => Some((d.to_string_lossy(), f.to_string_lossy())),
            _ => None,
        };
        if let Some((dir, leaf)) = split {
            let leaf = match leaf.as_ref() {
                l if l == uid => LEAF_UID,
                l if l.strip_suffix(".zip") == Some(uid) => LEAF_UID_ZIP,
                l => intern::intern(l),
            };
            let r = RelPath {
                dir: intern::intern(&dir),
                leaf,
            };
            // Only a split that gives back the very same path is kept.
            if r.path(uid).as_os_str() == path.as_os_str() {
                return r;
            }
        }
        RelPath {
            dir: intern::intern(&whole),
            leaf: LEAF_NONE,
        }
    }

    /// The path again, for series `uid`.
    pub fn path(&self, uid: &str) -> PathBuf {
        let dir = PathBuf::from(intern::text(self.dir));
        match self.leaf {
            LEAF_NONE => dir,
            LEAF_UID => dir.join(uid),
            LEAF_UID_ZIP => dir.join(format!("{uid}.zip")),
            x => dir.join(intern::text(x)),
        }
    }
}

/// A relative path as records store it: components joined with `/`.
pub fn rel_string(p: &std::path::Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn check_collisions<T>(
    items: &[T],
    uid: impl Fn(&T) -> &str,
    path: impl Fn(&T) -> PathBuf,
) -> Result<(), String> {
    let key = |t: &T| path(t).to_string_lossy().to_lowercase();
    // Positions, not the paths: a plan of 300,000 series holds no second copy of them.
    let mut seen = intern::Positions::with_capacity(items.len());
    for (i, t) in items.iter().enumerate() {
        let k = key(t);
        if let Some(other) = seen.find(&k, |j| key(&items[j as usize])) {
            return Err(format!(
                "--layout puts series {} and {} in the same directory {}; add %SeriesInstanceUID to the layout",
                uid(&items[other as usize]),
                uid(t),
                path(t).display()
            ));
        }
        seen.insert(&k, u32::try_from(i).expect("fewer than 2^32 series"));
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
            s.set(k, v);
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
        s.set("Collection", ".tcia");
        s.set("PatientID", "staging");
        let p = Layout::Classic.path_for(&s);
        assert!(p.starts_with("_tcia/staging"), "{}", p.display());
        s.set("Collection", "LICENSES");
        assert!(Layout::Classic.path_for(&s).starts_with("_LICENSES"));
        s.set("Collection", "metadata.csv");
        assert!(Layout::Classic.path_for(&s).starts_with("_metadata.csv"));
        s.set("Collection", "C");
        s.set("PatientID", ".hidden\u{1b}[2J");
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
        assert!(check_existing([("1.2", a.clone())].into_iter(), &existing)
            .unwrap_err()
            .contains("1.1"));
        let b = PathBuf::from("C/P1/S1/1.1/x");
        assert!(check_existing([("1.3", b.clone())].into_iter(), &existing).is_err());
        let same = PathBuf::from("C/P1/S1/1.1");
        assert!(
            check_existing([("1.1", same.clone())].into_iter(), &existing).is_ok(),
            "its own path"
        );
        let other = PathBuf::from("C/P1/S1/1.10");
        assert!(check_existing([("1.10", other.clone())].into_iter(), &existing).is_ok());
    }

    #[test]
    fn collisions() {
        let a = PathBuf::from("X/P1");
        let b = PathBuf::from("x/p1");
        let items = [("1.1", a.clone()), ("1.2", b), ("1.3", a)];
        let err = check_collisions(&items, |i| i.0, |i| i.1.clone()).unwrap_err();
        assert!(err.contains("1.1 and 1.2"), "{err}");
        assert!(check_collisions(&items[..1], |i| i.0, |i| i.1.clone()).is_ok());
    }

    #[test]
    fn rel_paths_come_back_the_same() {
        let uid = "1.2.840.113619.2.55.3.12345";
        for p in [
            format!("LIDC-IDRI/LIDC-IDRI-0001/1.3.6/{uid}"),
            format!("LIDC-IDRI/P/{uid}.zip"),
            uid.to_string(),
            format!("{uid}.zip"),
            "C/P/CT-1.2.3".to_string(),
            "C/P/x/".to_string(),
            String::new(),
            "..".to_string(),
        ] {
            let p = PathBuf::from(p);
            let r = RelPath::new(&p, uid);
            assert_eq!(r.path(uid).as_os_str(), p.as_os_str(), "{}", p.display());
        }
        // The UID is not stored again: the same directory for two series is one text.
        let a = RelPath::new(Path::new("C/P/1.2.3"), "1.2.3");
        let b = RelPath::new(Path::new("C/P/1.2.4"), "1.2.4");
        assert_eq!(a.dir, b.dir);
        assert_eq!((a.leaf, b.leaf), (LEAF_UID, LEAF_UID));
    }
}
