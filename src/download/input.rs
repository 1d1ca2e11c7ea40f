//! What to download: UIDs from arguments, `-i` files (plain lists, CSV/TSV, JSON, NDJSON with a
//! SeriesInstanceUID column or key), `.tcia` manifests, shared carts and getSeries filters.
//! Combined and de-duplicated in first-seen order.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use super::meta::SeriesInfo;
use crate::error::usage;
use crate::output::Row;

/// A parsed `.tcia` manifest.
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    /// Every `key=value` header line, in order.
    pub headers: Vec<(String, String)>,
    pub uids: Vec<String>,
    /// Lines after the marker that were not UIDs (skipped with a warning).
    pub skipped: Vec<String>,
}

impl Manifest {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The API host the manifest was made for, from `downloadServerUrl`.
    pub fn server(&self) -> Option<String> {
        let u = url::Url::parse(self.get("downloadServerUrl")?).ok()?;
        let host = u.host_str()?;
        if host.eq_ignore_ascii_case("public.cancerimagingarchive.net") {
            return Some(crate::api::catalogue::DEFAULT_SERVER.to_string());
        }
        let mut base = format!("{}://{}", u.scheme(), host);
        if let Some(p) = u.port() {
            base.push_str(&format!(":{p}"));
        }
        Some(base)
    }

    /// `noOfrRetry` (sic), the retry count the portal chose, at most [`MANIFEST_RETRY_CAP`].
    pub fn retries(&self) -> Option<u32> {
        self.raw_retries().map(|n| n.min(MANIFEST_RETRY_CAP))
    }

    /// `noOfrRetry` as written (for the warning when it is capped).
    pub fn raw_retries(&self) -> Option<u32> {
        let v = self.get("noOfrRetry")?.trim();
        v.parse().ok().or_else(|| {
            // Beyond u32: as many digits as that is certainly over the cap.
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())).then_some(u32::MAX)
        })
    }
}

/// The most retries a manifest may ask for (a hostile or careless `noOfrRetry=100000` would
/// keep a cron job hammering a server for days).
pub const MANIFEST_RETRY_CAP: u32 = 20;

impl Manifest {}

/// Parse a manifest leniently: headers before `ListOfSeriesToDownload=`, then UIDs; blank lines,
/// CR, `#` comments, trailing commas and non-UID lines (such as a `Series ID` header) tolerated.
pub fn parse_manifest(text: &str) -> Manifest {
    let mut m = Manifest::default();
    let mut in_list = false;
    let has_marker = text.lines().any(|l| {
        l.trim()
            .to_ascii_lowercase()
            .starts_with("listofseriestodownload")
    });
    for line in text.lines() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_list && has_marker {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim().eq_ignore_ascii_case("ListOfSeriesToDownload") {
                    in_list = true;
                    let v = v.trim().trim_matches(',');
                    if crate::uid::is_uid(v) {
                        m.uids.push(v.to_string());
                    }
                } else {
                    m.headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            continue;
        }
        let uid = line.trim_matches(',').trim();
        let uid = uid.split(',').next().unwrap_or("").trim();
        if crate::uid::is_uid(uid) {
            m.uids.push(uid.to_string());
        } else if let Some(uuid) = s5cmd_series(line) {
            // An s5cmd manifest given as --manifest: IDC's series by crdc_series_uuid.
            m.uids.push(format!("{CRDC_PREFIX}{uuid}"));
        } else if line.contains('=') && !in_list {
            if let Some((k, v)) = line.split_once('=') {
                m.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        } else {
            m.skipped.push(line.to_string());
        }
    }
    m
}

pub fn read_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading manifest {}", path.display()))?;
    let text = utf8(bytes, &format!("--manifest {}", path.display()))?;
    let m = parse_manifest(&text);
    if m.uids.is_empty() {
        return Err(usage(format!(
            "--manifest {}: no series UIDs found (is it a .tcia manifest?)",
            path.display()
        )));
    }
    Ok(m)
}

/// UIDs (and any metadata rows) from an `-i` document: one UID per line, CSV/TSV with a
/// SeriesInstanceUID column, a JSON array of objects or strings, or NDJSON.
pub fn parse_input(
    text: &str,
    what: &str,
) -> anyhow::Result<(Vec<String>, HashMap<String, SeriesInfo>)> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let mut c = Collected {
        what,
        uids: Vec::new(),
        infos: HashMap::new(),
    };
    let found = if trimmed.starts_with('[') {
        c.json_array(trimmed)?
    } else if trimmed.starts_with('{') {
        c.ndjson(trimmed)?
    } else {
        let first = trimmed.lines().next().unwrap_or("");
        let looks_tabular = (first.contains(',') || first.contains('\t'))
            && !crate::uid::is_uid(first.split([',', '\t']).next().unwrap_or("").trim());
        let header_names_uid = first
            .split([',', '\t'])
            .any(|h| is_uid_column(h.trim().trim_matches('"')));
        if header_names_uid || looks_tabular {
            c.table(trimmed, if first.contains('\t') { b'\t' } else { b',' })?
        } else {
            c.lines(trimmed)?;
            String::new()
        }
    };
    if c.uids.is_empty() && !found.is_empty() {
        return Err(usage(format!(
            "{what}: no series UIDs found: {found}; accepted: a SeriesInstanceUID column or key (also Series UID, Series Instance UID, in any case) in CSV, TSV, JSON or NDJSON, or one UID per line"
        )));
    }
    Ok((c.uids, c.infos))
}

/// A column or key that holds series UIDs: `SeriesInstanceUID`, `Series Instance UID`,
/// `Series UID`, `series_uid`, `Series ID`..., in any case.
pub fn is_uid_column(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    matches!(n.as_str(), "seriesinstanceuid" | "seriesuid" | "seriesid")
}

/// What a document held, for the error when it named no UID: up to 8 names, cut to one line.
fn describe_names<'a>(kind: &str, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(crate::text::escape_control).collect();
    let mut shown: Vec<String> = names.iter().take(8).map(|n| format!("'{n}'")).collect();
    if names.len() > 8 {
        shown.push(format!("and {} more", names.len() - 8));
    }
    if shown.is_empty() {
        return format!("{kind} with no names");
    }
    crate::text::one_line(&format!("{kind} {}", shown.join(", ")), 300)
}

/// UIDs and rows gathered from one `-i` document (`what` names it in errors).
struct Collected<'a> {
    what: &'a str,
    uids: Vec<String>,
    infos: HashMap<String, SeriesInfo>,
}

impl Collected<'_> {
    /// A row with a valid UID is kept; one that claims an invalid UID is an error. UID columns
    /// are recognised in any spelling ([`is_uid_column`]).
    fn row(&mut self, row: &Row) -> anyhow::Result<()> {
        let renamed;
        let row = match row
            .keys()
            .find(|k| is_uid_column(k) && *k != "SeriesInstanceUID")
        {
            Some(k) if !row.contains_key("SeriesInstanceUID") => {
                let mut r = row.clone();
                if let Some(v) = r.remove(&k.clone()) {
                    r.insert("SeriesInstanceUID".into(), v);
                }
                renamed = r;
                &renamed
            }
            _ => row,
        };
        match SeriesInfo::from_row(row) {
            Some(info) => {
                self.uids.push(info.uid.clone());
                self.infos.insert(info.uid.clone(), info);
            }
            None => {
                if let Some(bad) = SeriesInfo::claimed_uid(row).filter(|u| !u.trim().is_empty()) {
                    return Err(usage(format!(
                        "{}: '{}' is not a series instance UID (digits and dots)",
                        self.what,
                        crate::text::one_line(&bad, 200)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Returns what the array held, for the error when no UID is found.
    fn json_array(&mut self, text: &str) -> anyhow::Result<String> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| usage(format!("{}: invalid JSON: {e}", self.what)))?;
        let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
        for item in items {
            match item {
                Value::Object(row) => self.row(row)?,
                Value::String(s) if crate::uid::is_uid(s.trim()) => {
                    self.uids.push(s.trim().to_string())
                }
                _ => {}
            }
        }
        Ok(match items.first() {
            None => String::new(),
            Some(Value::Object(first)) => {
                describe_names("JSON objects with keys", first.keys().map(String::as_str))
            }
            Some(other) => crate::text::one_line(&format!("JSON values such as {other}"), 200),
        })
    }

    /// Returns what the lines held, for the error when no UID is found.
    fn ndjson(&mut self, text: &str) -> anyhow::Result<String> {
        let mut keys: Option<Vec<String>> = None;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row: Row = serde_json::from_str(line).map_err(|e| {
                usage(format!(
                    "{}: line {}: invalid NDJSON: {e}",
                    self.what,
                    i + 1
                ))
            })?;
            keys.get_or_insert_with(|| row.keys().cloned().collect());
            self.row(&row)?;
        }
        let keys = keys.unwrap_or_default();
        Ok(describe_names(
            "NDJSON objects with keys",
            keys.iter().map(String::as_str),
        ))
    }

    /// Returns the header it found, for the error when no UID is found.
    fn table(&mut self, text: &str, delim: u8) -> anyhow::Result<String> {
        let what = self.what;
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delim)
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = rdr
            .headers()
            .map_err(|e| usage(format!("{what}: {e}")))?
            .clone();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| usage(format!("{what}: {e}")))?;
            let mut row = Row::new();
            for (k, v) in header.iter().zip(rec.iter()) {
                row.insert(k.to_string(), Value::String(v.to_string()));
            }
            self.row(&row)?;
        }
        let kind = if delim == b'\t' {
            "a TSV header with columns"
        } else {
            "a CSV header with columns"
        };
        Ok(describe_names(kind, header.iter()))
    }

    fn lines(&mut self, text: &str) -> anyhow::Result<()> {
        for (i, line) in text.lines().enumerate() {
            let l = line.trim().trim_matches('"');
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if let Some(uuid) = s5cmd_series(l) {
                self.uids.push(format!("{CRDC_PREFIX}{uuid}"));
                continue;
            }
            if !crate::uid::is_uid(l) {
                return Err(usage(format!(
                    "{}: line {}: '{}' is not a series UID (expected one UID per line, or CSV/TSV/JSON with a SeriesInstanceUID column)",
                    self.what,
                    i + 1,
                    crate::text::one_line(l, 200)
                )));
            }
            self.uids.push(l.to_string());
        }
        Ok(())
    }
}

/// How a series named by IDC's crdc_series_uuid (an s5cmd manifest line) travels with the
/// UIDs until the IDC index turns it into its SeriesInstanceUID.
pub const CRDC_PREFIX: &str = "crdc:";

/// The crdc_series_uuid of an s5cmd manifest line (`cp s3://<bucket>/<uuid>/* <dir>`, also
/// `sync`, quoted or not), as idc-index writes them.
pub fn s5cmd_series(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let verb = words.next()?;
    if !matches!(verb, "cp" | "sync") {
        return None;
    }
    let src = words
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .find(|w| w.starts_with("s3://"))?;
    let mut parts = src.trim_start_matches("s3://").split('/');
    let _bucket = parts.next().filter(|b| !b.is_empty())?;
    let uuid = parts.next()?;
    let ok = uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then(|| uuid.to_ascii_lowercase())
}

/// Read `-i PATH` (`-` is stdin, read off the runtime so that Ctrl-C still works; on a
/// terminal with a hint how to end it). Text that is not UTF-8 is a usage error.
pub async fn read_input(
    path: &str,
    stdin_tty: bool,
) -> anyhow::Result<(Vec<String>, HashMap<String, SeriesInfo>)> {
    let bytes = if path == "-" {
        crate::uid::read_stdin_bytes(stdin_tty).await?
    } else {
        std::fs::read(path).with_context(|| format!("reading {path}"))?
    };
    let what = format!("-i {path}");
    parse_input(&utf8(bytes, &what)?, &what)
}

/// Text input must be UTF-8: anything else is a usage error naming the first bad byte.
pub fn utf8(bytes: Vec<u8>, what: &str) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        usage(format!(
            "{what}: not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5cmd_manifests() {
        let u = "085e85b3-3780-47f6-8538-585bcca95336";
        assert_eq!(
            s5cmd_series(&format!("cp s3://idc-open-data/{u}/* .")).as_deref(),
            Some(u)
        );
        assert_eq!(
            s5cmd_series(&format!("cp 's3://idc-open-data/{u}/*' \"dir/x\"")).as_deref(),
            Some(u)
        );
        assert_eq!(
            s5cmd_series(&format!("sync s3://idc-open-data-two/{u}/* out/")).as_deref(),
            Some(u)
        );
        assert!(s5cmd_series("cp s3://b/not-a-uuid/* .").is_none());
        assert!(s5cmd_series("1.2.3").is_none());
        let (uids, _) =
            parse_input(&format!("# manifest\ncp s3://idc-open-data/{u}/* .\n"), "x").unwrap();
        assert_eq!(uids, vec![format!("crdc:{u}")]);
    }

    #[test]
    fn manifests_real_and_messy() {
        let m = parse_manifest(
            "downloadServerUrl=https://nlst.cancerimagingarchive.net/nbia-download/servlet/DownloadServlet\r\n\
             includeAnnotation=true\r\nnoOfrRetry=4\r\ndatabasketId=manifest-1.tcia\r\nmanifestVersion=3.0\r\n\
             ListOfSeriesToDownload=\r\nSeries ID\r\n1.2.3,\r\n\r\n# note\r\n2.25.123\r\n",
        );
        assert_eq!(m.uids, vec!["1.2.3", "2.25.123"]);
        assert_eq!(m.skipped, vec!["Series ID"]);
        assert_eq!(
            m.server().as_deref(),
            Some("https://nlst.cancerimagingarchive.net")
        );
        assert_eq!(m.retries(), Some(4));
        assert_eq!(m.get("databasketId"), Some("manifest-1.tcia"));
        let bare = parse_manifest("1.2.3\n1.2.4\n");
        assert_eq!(bare.uids.len(), 2);
    }

    #[test]
    fn input_documents() {
        let (u, _) = parse_input("1.2.3\n\n1.2.4\n", "t").unwrap();
        assert_eq!(u, ["1.2.3", "1.2.4"]);
        let (u, i) = parse_input(
            "Modality,SeriesInstanceUID,ImageCount\r\nCT,1.2.3,5\r\n",
            "t",
        )
        .unwrap();
        assert_eq!(u, ["1.2.3"]);
        assert_eq!(i["1.2.3"].image_count(), Some(5));
        let (u, _) = parse_input("SeriesInstanceUID\tModality\n1.2.3\tCT\n", "t").unwrap();
        assert_eq!(u, ["1.2.3"]);
        let (u, _) =
            parse_input("[\n{\"SeriesInstanceUID\":\"1.2.3\"},\n{\"x\":1}\n]", "t").unwrap();
        assert_eq!(u, ["1.2.3"]);
        let (u, _) = parse_input(
            "{\"SeriesInstanceUID\":\"1.2.3\"}\n{\"SeriesInstanceUID\":\"1.2.4\"}\n",
            "t",
        )
        .unwrap();
        assert_eq!(u, ["1.2.3", "1.2.4"]);
        assert!(parse_input("hello\n", "t").is_err());
        let err = parse_input("SeriesInstanceUID\n../../home/x\n", "t").unwrap_err();
        assert!(
            err.to_string().contains("not a series instance UID"),
            "{err}"
        );
        assert!(parse_input("[{\"SeriesInstanceUID\":\"/etc\"}]", "t").is_err());
    }
}
