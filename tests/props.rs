//! Property tests (proptest) for every parser of outside input: the .tcia manifest,
//! md5hashes.csv, ZIP entry names and the path sanitiser, the JSON array splitter, `-i` input
//! detection, Retry-After and dates. Each runs the library's own code on generated input.

use std::time::Duration;

use proptest::prelude::*;
use tcia::api::client::parse_retry_after;
use tcia::dates::{days_before, iso_date, Date};
use tcia::download::input::{parse_input, parse_manifest};
use tcia::download::names::{is_plain_file_name, is_reserved_top_level, sanitize_component};
use tcia::download::nbia_zip::parse_md5_csv;
use tcia::download::zipstream::{check_name, ZipStream};
use tcia::stream::{ArraySplitter, SplitError};
use tcia::uid::is_uid;

/// Series-UID-like strings: 2-8 dot-separated numbers.
fn uid() -> impl Strategy<Value = String> {
    prop::collection::vec(0u64..10_000_000_000, 2..8).prop_map(|parts| {
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A manifest's UIDs come back in order, whatever the headers, line endings, blank lines,
    /// comments and trailing commas; arbitrary text never panics and yields only UIDs.
    #[test]
    fn manifests(uids in prop::collection::vec(uid(), 0..20),
                 crlf in any::<bool>(), commas in any::<bool>(), junk in ".{0,200}") {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("downloadServerUrl=https://x.org/s{nl}noOfrRetry=4{nl}ListOfSeriesToDownload={nl}");
        for (i, u) in uids.iter().enumerate() {
            text.push_str(u);
            if commas { text.push(','); }
            text.push_str(nl);
            if i % 3 == 0 { text.push_str(&format!("# note{nl}{nl}")); }
        }
        let m = parse_manifest(&text);
        prop_assert_eq!(&m.uids, &uids);
        prop_assert_eq!(m.retries(), Some(4));
        for u in parse_manifest(&junk).uids {
            prop_assert!(is_uid(&u));
        }
    }

    /// md5hashes.csv: every row comes back, header skipped, quoted or not.
    #[test]
    fn md5_csv(rows in prop::collection::btree_map("[A-Za-z0-9_-]{1,20}\\.dcm", "[0-9a-f]{32}", 0..30),
               quoted in any::<bool>(), junk in ".{0,300}") {
        let mut text = String::from("Filename,MD5Hash\r\n");
        for (n, h) in &rows {
            if quoted { text.push_str(&format!("\"{n}\",\"{h}\"\r\n")); } else { text.push_str(&format!("{n},{h}\n")); }
        }
        let got = parse_md5_csv(&text);
        prop_assert_eq!(got.len(), rows.len());
        for (n, h) in &rows {
            prop_assert_eq!(got.get(n), Some(h));
        }
        let _ = parse_md5_csv(&junk);
    }

    /// A sanitised path component is never empty, `.`, `..`, hidden, reserved, a separator or a
    /// control character, and never longer than 120 bytes.
    #[test]
    fn path_components(s in any::<String>()) {
        let c = sanitize_component(&s);
        prop_assert!(!c.is_empty() && c != "." && c != "..");
        prop_assert!(!c.starts_with('.'), "{c:?}");
        prop_assert!(!c.chars().any(|ch| ch.is_control() || matches!(ch, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')), "{c:?}");
        prop_assert!(c.len() <= 121, "{}", c.len());
        prop_assert!(!c.ends_with(['.', ' ']), "{c:?}");
        prop_assert!(c != ".tcia");
        // Sanitising is idempotent.
        prop_assert_eq!(sanitize_component(&c), c.clone());
        let _ = is_reserved_top_level(&c);
    }

    /// A ZIP entry name tcia accepts is one plain file name: no path, no dot-names, no control
    /// characters; check_name agrees with is_plain_file_name.
    #[test]
    fn zip_entry_names(s in any::<String>(), prefix in prop::sample::select(vec!["", "/", "../", "..\\", "C:", ".", "a/"])) {
        for name in [s.clone(), format!("{prefix}{s}")] {
            let ok = is_plain_file_name(&name);
            prop_assert_eq!(ok, check_name(&name).is_ok());
            if ok {
                prop_assert!(!name.contains(['/', '\\', ':']) && !name.starts_with('.'));
                prop_assert!(!name.chars().any(char::is_control));
                prop_assert!(std::path::Path::new(&name).components().count() == 1);
            }
        }
    }

    /// Arbitrary bytes through the streaming ZIP reader: errors, never panics.
    #[test]
    fn zip_reader_never_panics(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut z = ZipStream::new(std::io::BufReader::new(data.as_slice()));
        while let Ok(Some(e)) = z.next_entry() {
            if z.read_entry(&e, &mut |_| Ok(())).is_err() { break; }
        }
    }

    /// A JSON array, chunked anyhow, splits into exactly its elements.
    #[test]
    fn json_splitter(values in prop::collection::vec(json_value(), 0..12), cut in prop::collection::vec(1usize..40, 1..8), pretty in any::<bool>()) {
        let doc = if pretty { serde_json::to_string_pretty(&values) } else { serde_json::to_string(&values) }.unwrap();
        let mut s = ArraySplitter::new();
        let mut got: Vec<serde_json::Value> = Vec::new();
        let mut rest = doc.as_bytes();
        let mut k = 0;
        while !rest.is_empty() {
            let n = cut[k % cut.len()].min(rest.len());
            k += 1;
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            s.feed(chunk, |e| -> Result<(), SplitError> { got.push(serde_json::from_slice(e).unwrap()); Ok(()) }).unwrap();
        }
        s.finish(|e| -> Result<(), SplitError> { got.push(serde_json::from_slice(e).unwrap()); Ok(()) }).unwrap();
        prop_assert_eq!(got, values);
    }

    /// `-i` documents: the same UIDs come back from a plain list, CSV, TSV, JSON and NDJSON,
    /// with the UID column spelt any accepted way.
    #[test]
    fn input_detection(uids in prop::collection::vec(uid(), 1..15),
                       header in prop::sample::select(vec!["SeriesInstanceUID", "seriesInstanceUID", "Series Instance UID", "Series UID", "series_uid"])) {
        let plain = uids.join("\n");
        let csv = format!("Modality,{header}\r\n{}", uids.iter().map(|u| format!("CT,{u}\r\n")).collect::<String>());
        let tsv = format!("{header}\tModality\n{}", uids.iter().map(|u| format!("{u}\tCT\n")).collect::<String>());
        let json = serde_json::to_string(&uids.iter().map(|u| serde_json::json!({ header: u, "Modality": "CT" })).collect::<Vec<_>>()).unwrap();
        let ndjson: String = uids.iter().map(|u| format!("{}\n", serde_json::json!({ header: u }))).collect();
        for doc in [plain, csv, tsv, json, ndjson] {
            let (got, _) = parse_input(&doc, "t").map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?;
            prop_assert_eq!(&got, &uids);
        }
    }

    /// Arbitrary `-i` text: a list of UIDs or a usage error, never a panic.
    #[test]
    fn input_never_panics(s in ".{0,400}") {
        if let Ok((uids, _)) = parse_input(&s, "t") {
            for u in uids { prop_assert!(is_uid(&u)); }
        }
    }

    /// Retry-After in seconds is honoured up to the cap; anything else never panics.
    #[test]
    fn retry_after(secs in 0u64..1_000_000, junk in ".{0,40}") {
        let v = reqwest::header::HeaderValue::from_str(&secs.to_string()).unwrap();
        prop_assert_eq!(parse_retry_after(Some(&v)), Some(Duration::from_secs(secs.min(120))));
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&junk) {
            if let Some(d) = parse_retry_after(Some(&v)) { prop_assert!(d <= Duration::from_secs(120)); }
        }
    }

    /// Dates: every real day round-trips through ISO, server spellings are read back, and day
    /// arithmetic agrees with stepping one day at a time.
    #[test]
    fn dates(y in 1900u16..2100, m in 1u8..=12, d in 1u8..=31, back in 0i64..400, junk in ".{0,20}") {
        let iso = format!("{y:04}-{m:02}-{d:02}");
        match Date::parse_iso(&iso) {
            Ok(date) => {
                prop_assert_eq!(date.to_string(), iso.clone());
                prop_assert_eq!(iso_date(&format!("{iso} 17:12:21.0")), Some(iso.clone()));
                prop_assert_eq!(iso_date(&format!("{m:02}-{d:02}-{y:04}")), Some(iso.clone()));
                let mut step = date;
                for _ in 0..back.min(40) {
                    step = days_before(&step.to_string(), 1).unwrap();
                }
                prop_assert_eq!(days_before(&iso, back.min(40)), Some(step));
                prop_assert!(back == 0 || days_before(&iso, back).unwrap() < date);
            }
            Err(e) => prop_assert!(d > 28, "{iso}: {e}"),
        }
        let _ = Date::parse_iso(&junk);
        let _ = iso_date(&junk);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        ".{0,20}".prop_map(serde_json::Value::String),
        "[\\\\\"\\[\\]{},:]{0,10}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z\\\\\"{}]{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
