//! The output contract: json, ndjson, csv, tsv, table, --fields, --raw, empty results, closed pipes.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use fake_nbia::{Config, FakeServer};

use super::*;

#[test]
fn csv_header_is_the_known_columns_in_server_order() {
    let s = FakeServer::start();
    let (csv, _) = run(
        &s,
        &["series", "--collection", "LIDC-IDRI", "--format", "csv"],
        0,
    );
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let known: Vec<String> = tcia::api::catalogue::SERIES_V4
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(&header[..known.len()], &known[..]);
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), s.data().series_in("LIDC-IDRI").len());
    assert!(csv.contains("\r\n"), "RFC 4180 line ends");
    // Absent values are empty cells, present ones are the JSON values.
    let json = json_rows(&s, &["series", "--collection", "LIDC-IDRI"]);
    for (row, obj) in rows.iter().zip(&json) {
        for (i, col) in header.iter().enumerate() {
            let want = match obj.get(col) {
                None => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            assert_eq!(row[i], want, "column {col}");
        }
    }
}

#[test]
fn csv_quotes_commas_and_quotes_in_values() {
    let s = FakeServer::start();
    let (csv, _) = run(&s, &["manufacturers", "--format", "csv"], 0);
    let values: Vec<String> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let json = json_rows(&s, &["manufacturers"]);
    let want: Vec<String> = json
        .iter()
        .map(|r| {
            r.get("Manufacturer")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(values, want);
    assert!(
        values.iter().any(|v| v.contains(',')),
        "the data set has a comma: {values:?}"
    );
}

#[test]
fn empty_results_are_still_valid_output() {
    let s = FakeServer::start();
    let (out, _) = run(
        &s,
        &[
            "series",
            "--collection",
            "NO-SUCH-COLLECTION",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(out, "[]\n");
    let (out, _) = run(
        &s,
        &[
            "series",
            "--collection",
            "NO-SUCH-COLLECTION",
            "--format",
            "ndjson",
        ],
        0,
    );
    assert_eq!(out, "");
    let (out, _) = run(
        &s,
        &[
            "series",
            "--collection",
            "NO-SUCH-COLLECTION",
            "--format",
            "csv",
        ],
        0,
    );
    assert_eq!(
        out,
        format!("{}\r\n", tcia::api::catalogue::SERIES_V4.join(","))
    );
    let (out, _) = run(
        &s,
        &[
            "series",
            "--collection",
            "NO-SUCH-COLLECTION",
            "--format",
            "tsv",
            "--fields",
            "Modality,ImageCount",
        ],
        0,
    );
    assert_eq!(out, "Modality\tImageCount\n");
}

#[test]
fn ndjson_is_one_object_per_line() {
    let s = FakeServer::start();
    let (out, _) = run(
        &s,
        &["studies", "--collection", "LIDC-IDRI", "--format", "ndjson"],
        0,
    );
    let json = json_rows(&s, &["studies", "--collection", "LIDC-IDRI"]);
    let lines: Vec<serde_json::Map<String, serde_json::Value>> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, json);
}

#[test]
fn json_keeps_key_order_and_absent_keys() {
    let s = FakeServer::start();
    let out = tcia(&s)
        .args([
            "series",
            "--collection",
            "Soft-tissue-Sarcoma",
            "--raw",
            "json",
        ])
        .output()
        .unwrap();
    let raw: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&out.stdout).unwrap();
    let ours = json_rows(&s, &["series", "--collection", "Soft-tissue-Sarcoma"]);
    assert_eq!(raw.len(), ours.len());
    for (a, b) in raw.iter().zip(&ours) {
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    }
    let keysets: std::collections::HashSet<Vec<&String>> =
        ours.iter().map(|r| r.keys().collect()).collect();
    assert!(keysets.len() > 1, "rows keep their own key sets");
}

#[test]
fn fields_select_and_order_columns() {
    let s = FakeServer::start();
    let (csv, _) = run(
        &s,
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--fields",
            "Modality,SeriesInstanceUID",
            "--format",
            "csv",
        ],
        0,
    );
    assert!(csv.starts_with("Modality,SeriesInstanceUID\r\n"), "{csv}");
    let rows = json_rows(
        &s,
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--fields",
            "ImageCount,Modality",
        ],
    );
    assert!(rows
        .iter()
        .all(|r| r.keys().map(String::as_str).collect::<Vec<_>>() == ["ImageCount", "Modality"]));
    let (_, err) = run(&s, &["series", "--fields", "Modality,modalty"], 2);
    assert!(err.contains("--fields: unknown column 'modalty'"), "{err}");
    assert!(
        err.contains("SeriesInstanceUID"),
        "lists the valid columns: {err}"
    );
    assert_eq!(s.hits("getSeries"), 2, "no request for a usage error");
}

#[test]
fn raw_passes_the_server_bytes_through() {
    let s = FakeServer::start();
    for fmt in ["csv", "xml", "html"] {
        let (out, _) = run(&s, &["collections", "--raw", fmt], 0);
        assert!(!out.is_empty(), "{fmt}");
        let q = query_of(requests_to(&s, "getCollectionValues").last().unwrap());
        assert_eq!(q["format"], fmt);
    }
    let (csv, _) = run(
        &s,
        &["series", "--collection", "LIDC-IDRI", "--raw", "csv"],
        0,
    );
    assert!(
        csv.starts_with("\"SeriesInstanceUID\""),
        "the server's fully quoted CSV: {csv}"
    );
}

#[test]
fn tsv_escapes_and_table_fits_the_terminal() {
    let s = FakeServer::start();
    let (tsv, _) = run(
        &s,
        &[
            "series",
            "--collection",
            "Soft-tissue-Sarcoma",
            "--format",
            "tsv",
        ],
        0,
    );
    let cols = tsv.lines().next().unwrap().split('\t').count();
    assert!(
        tsv.lines().all(|l| l.split('\t').count() == cols),
        "every line has every column"
    );
    let out = tcia(&s)
        .args(["series", "--collection", "LIDC-IDRI", "--format", "table"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().count() > 1);
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    assert!(table.starts_with("PatientID"), "{table}");
}

#[test]
fn format_defaults_follow_the_terminal_and_environment() {
    let s = FakeServer::start();
    let (out, _) = run(&s, &["collections"], 0);
    assert!(out.starts_with('['), "json when stdout is not a terminal");
    let out = tcia(&s)
        .arg("collections")
        .env("TCIA_TEST_STDOUT_TTY", "1")
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("Collection\n"),
        "table on a terminal"
    );
    let out = tcia(&s)
        .arg("collections")
        .env("TCIA_FORMAT", "csv")
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("Collection\r\n"));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let s = FakeServer::start_with(Config {
        bulk_series: 20_000,
        ..Config::default()
    });
    let mut child = tcia_std(&s)
        .args(["series", "--format", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("SeriesInstanceUID,"));
    // The reader is dropped here: the pipe closes while tcia is still writing.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Rows are read in place, not through a map, yet JSON and NDJSON stay what serde_json writes
/// back for each of the server's elements (key order, absent keys, `{}` rows, numbers, non-ASCII),
/// and CSV cells are those values: checked against the server's own bytes (`--raw json`).
#[test]
fn rows_are_the_servers_elements_in_every_format() {
    let s = FakeServer::start_with(Config {
        bulk_series: 300,
        ..Config::default()
    });
    let queries: [&[&str]; 6] = [
        &["series"],
        &["series", "--collection", "Bulk-Synthetic"],
        &["patients"],
        &["studies", "--collection", "LIDC-IDRI"],
        &["series-size", "--series-uid", "1.2.3.4.5.6.7.8.9"],
        &["collections"],
    ];
    for q in queries {
        let (raw, _) = run(&s, &[q, &["--raw", "json"]].concat(), 0);
        let elements: Vec<Map<String, Value>> = serde_json::from_str(&raw).unwrap();
        assert!(!elements.is_empty(), "{q:?}");
        let want: Vec<String> = elements
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let (nd, _) = run(&s, &[q, &["--format", "ndjson"]].concat(), 0);
        assert_eq!(nd.lines().collect::<Vec<_>>(), want, "{q:?}");
        let (json, _) = run(&s, &[q, &["--format", "json"]].concat(), 0);
        assert_eq!(json, format!("[\n{}\n]\n", want.join(",\n")), "{q:?}");
        let (csv, _) = run(&s, &[q, &["--format", "csv"]].concat(), 0);
        let mut rdr = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        for (rec, e) in rdr.records().zip(&elements) {
            let rec = rec.unwrap();
            for (col, got) in header.iter().zip(rec.iter()) {
                assert_eq!(got, tcia::output::cell(e.get(col)), "{q:?} {col}");
            }
        }
    }
}

/// `--fields` naming a column twice: CSV repeats the column, JSON has the key once.
#[test]
fn a_field_named_twice() {
    let s = FakeServer::start();
    let q = ["series", "--collection", "LIDC-IDRI", "--fields"];
    let (csv, _) = run(
        &s,
        &[
            &q[..],
            &["Modality,Modality,SeriesInstanceUID", "--format", "csv"],
        ]
        .concat(),
        0,
    );
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("Modality,Modality,SeriesInstanceUID"));
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        assert!(!cells[0].is_empty() && cells[0] == cells[1], "{l}");
    }
    let (nd, _) = run(
        &s,
        &[&q[..], &["Modality,Modality", "--format", "ndjson"]].concat(),
        0,
    );
    assert!(nd.lines().count() > 1);
    for l in nd.lines() {
        assert!(
            l.starts_with("{\"Modality\":\"") && l.matches("Modality").count() == 1,
            "{l}"
        );
    }
}

/// A large answer is written row by row while it arrives: the first row reaches tcia's stdout
/// while the server is provably still sending the body.
#[test]
fn large_responses_stream() {
    let s = FakeServer::start_with(Config {
        bulk_series: 5_000,
        ..Config::default()
    });
    let select = ["series", "--collection", "Bulk-Synthetic"];
    let (all, _) = run(&s, &[&select[..], &["--format", "ndjson"]].concat(), 0);
    assert_eq!(all.lines().count(), 5_000);
    // The size of the server's body for that request (the same query, passed through).
    let (raw, _) = run(&s, &[&select[..], &["--raw", "json"]].concat(), 0);
    let body = raw.len();
    let (mut plain, mut passed) = match &requests_to(&s, "getSeries")[..] {
        [a, b] => (query_of(a), query_of(b)),
        other => panic!("two getSeries requests: {other:?}"),
    };
    // JSON is getSeries' default format: asking for it explicitly gives the same body.
    assert_eq!(plain.remove("format").as_deref().unwrap_or("json"), "json");
    assert_eq!(passed.remove("format").as_deref(), Some("json"));
    assert_eq!(plain, passed, "the same request");

    // Now the server drips that body: CHUNK bytes, each after a pause of INTERVAL_MS, so by
    // `t` after tcia started it has sent at most t / INTERVAL_MS chunks, and the whole body
    // takes at least body / CHUNK * INTERVAL_MS (several seconds, which the test never waits).
    const CHUNK: usize = 4096;
    const INTERVAL_MS: u64 = 10;
    let min_send = std::time::Duration::from_millis((body / CHUNK) as u64 * INTERVAL_MS);
    assert!(
        min_send >= std::time::Duration::from_secs(4),
        "a {body}-byte body leaves too little margin ({min_send:?})"
    );
    s.inject(fake_nbia::Fault::new(
        "getSeries",
        Some(1),
        fake_nbia::FaultAction::Drip {
            chunk: CHUNK,
            interval_ms: INTERVAL_MS,
        },
    ));
    let started = std::time::Instant::now();
    let mut child = tcia_std(&s)
        .args(select)
        .args(["--format", "ndjson"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let elapsed = started.elapsed();
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        first.trim_end(),
        all.lines().next().unwrap(),
        "the first row, whole"
    );
    let sent_at_most = elapsed.as_millis() as usize / INTERVAL_MS as usize * CHUNK;
    assert!(
        sent_at_most < body,
        "the first row came {elapsed:?} after the start, when the server could have sent \
         {sent_at_most} of {body} bytes: not before the end of the body"
    );
    assert!(still_running, "tcia was still reading the answer");
}
