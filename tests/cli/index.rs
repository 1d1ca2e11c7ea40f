//! The local index: `index update|status`, `query`, `--offline`, against the fake server with
//! its live releases, changes and withdrawals.

use std::path::{Path, PathBuf};

use fake_nbia::{FakeServer, Fault, FaultAction};

use super::{requests_to, tcia, tcia_std, wait_for_hits};

/// A cache directory of this test's own (removed when dropped).
struct Cache(tempfile::TempDir);

impl Cache {
    fn new() -> Cache {
        Cache(tempfile::tempdir().expect("temp dir"))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn index_file(&self) -> PathBuf {
        let dir = self.path().join("index");
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("index dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }
}

/// Run tcia with this cache; returns (stdout, stderr) after checking the exit code.
fn run(s: &FakeServer, cache: &Cache, args: &[&str], code: i32) -> (String, String) {
    let out = tcia(s)
        .env("TCIA_CACHE_DIR", cache.path())
        .args(args)
        .output()
        .expect("run tcia");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "tcia {args:?}\nstderr: {stderr}\nstdout: {}",
        &stdout[..stdout.len().min(500)]
    );
    (stdout, stderr)
}

/// The same command live and `--offline`: byte for byte the same output.
fn same_offline(s: &FakeServer, cache: &Cache, args: &[&str]) {
    let (live, _) = run(s, cache, args, 0);
    let mut off = args.to_vec();
    off.push("--offline");
    let (offline, _) = run(s, cache, &off, 0);
    assert!(
        live == offline,
        "tcia {args:?}: offline differs from live\nlive:    {}\noffline: {}",
        &live[..live.len().min(400)],
        &offline[..offline.len().min(400)]
    );
}

fn count(s: &FakeServer, cache: &Cache, sql: &str) -> u64 {
    count_with(s, cache, &[], sql)
}

/// The count a query answers, with these global flags before it.
fn count_with(s: &FakeServer, cache: &Cache, flags: &[&str], sql: &str) -> u64 {
    let mut args = flags.to_vec();
    args.extend(["query", sql, "--format", "csv"]);
    let (out, _) = run(s, cache, &args, 0);
    out.lines()
        .nth(1)
        .expect("a row")
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn offline_answers_are_the_live_answers() {
    let s = FakeServer::start();
    let cache = Cache::new();
    let (_, err) = run(&s, &cache, &["index", "update"], 0);
    assert!(err.contains("index built"), "{err}");
    assert_eq!(
        requests_to(&s, "getSeries").len(),
        1,
        "one unfiltered getSeries"
    );
    let commands: &[&[&str]] = &[
        &["collections"],
        &["modalities"],
        &["modalities", "--collection", "LIDC-IDRI"],
        &[
            "modalities",
            "--collection",
            "lidc-idri",
            "--body-part",
            "chest",
        ],
        &["body-parts"],
        &["body-parts", "--modality", "CT"],
        &[
            "manufacturers",
            "--collection",
            "LIDC-IDRI",
            "--modality",
            "CT",
        ],
        &["patients"],
        &["patients", "--collection", "CT COLONOGRAPHY"],
        &["studies", "--collection", "LIDC-IDRI"],
        &["series"],
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--modality",
            "CT",
            "--modality",
            "MR",
        ],
        &[
            "series",
            "--collection",
            "Bulk-Synthetic",
            "--collection",
            "LIDC-IDRI",
        ],
        &["series", "--collection", "NO-SUCH-COLLECTION"],
        &["collection-counts"],
        &["modality-counts"],
        &["body-part-counts", "--collection", "LIDC-IDRI"],
        &["manufacturer-counts", "--modality", "CT"],
        &["updated-series", "--since", "2016-01-01"],
    ];
    for cmd in commands {
        for fmt in ["json", "ndjson", "csv", "tsv", "table"] {
            let mut args = cmd.to_vec();
            args.extend(["--format", fmt]);
            same_offline(&s, &cache, &args);
        }
    }
    // Patient, study and series UIDs, in any case where the server ignores it.
    let studies = super::json_rows(&s, &["studies", "--collection", "LIDC-IDRI"]);
    let (pid, study) = (
        studies[0]["PatientID"].as_str().unwrap().to_string(),
        studies[0]["StudyInstanceUID"].as_str().unwrap().to_string(),
    );
    let series = super::json_rows(&s, &["series", "--study-uid", &study]);
    let uid = series[0]["SeriesInstanceUID"].as_str().unwrap().to_string();
    let lower = pid.to_lowercase();
    let by_id: &[&[&str]] = &[
        &["patients", "--patient-id", &pid],
        &[
            "patients",
            "--collection",
            "LIDC-IDRI",
            "--patient-id",
            &lower,
        ],
        &["studies", "--patient-id", &pid],
        &["studies", "--study-uid", &study],
        &["series", "--patient-id", &lower, "--study-uid", &study],
        &["series", "--series-uid", &uid],
        &["series", "--series-uid", "1.2.3.4.5.6.7.8.9"],
    ];
    for cmd in by_id {
        for fmt in ["json", "csv"] {
            let mut args = cmd.to_vec();
            args.extend(["--format", fmt]);
            same_offline(&s, &cache, &args);
        }
    }
    // --fields works on offline rows as on live ones.
    same_offline(
        &s,
        &cache,
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--fields",
            "PatientID,ImageCount",
            "--format",
            "csv",
        ],
    );
    // Offline answers sent nothing more to the server.
    let before = s.requests().len();
    run(
        &s,
        &cache,
        &["series", "--offline", "--collection", "LIDC-IDRI"],
        0,
    );
    assert_eq!(s.requests().len(), before, "--offline sends no request");
}

#[test]
fn updates_follow_releases_changes_and_withdrawals() {
    let s = FakeServer::start();
    let cache = Cache::new();
    run(&s, &cache, &["index", "update"], 0);
    let series_hits = requests_to(&s, "getSeries").len();
    // 99 released and 1 changed: 100 series for getUpdatedSeries to report.
    let released = s.release_series("LIDC-IDRI", 99);
    let lidc = super::json_rows(&s, &["series", "--collection", "LIDC-IDRI"]);
    let changed = lidc[0]["SeriesInstanceUID"].as_str().unwrap().to_string();
    s.change_series(&changed);
    let (_, err) = run(&s, &cache, &["index", "update"], 0);
    assert!(err.contains("index updated"), "{err}");
    assert_eq!(
        requests_to(&s, "getUpdatedSeries").len(),
        1,
        "one getUpdatedSeries"
    );
    assert_eq!(
        requests_to(&s, "getSeries").len(),
        series_hits + 1,
        "no getSeries from the update (one from the json_rows above)"
    );
    for fmt in ["json", "csv"] {
        same_offline(
            &s,
            &cache,
            &["series", "--collection", "LIDC-IDRI", "--format", fmt],
        );
        same_offline(
            &s,
            &cache,
            &["patients", "--collection", "LIDC-IDRI", "--format", fmt],
        );
        same_offline(
            &s,
            &cache,
            &["studies", "--collection", "LIDC-IDRI", "--format", fmt],
        );
    }
    for uid in &released {
        let sql = format!("SELECT count(*) FROM series WHERE SeriesInstanceUID = '{uid}'");
        assert_eq!(count(&s, &cache, &sql), 1, "{uid}");
    }
    // A withdrawn series stays until a full refresh, which says how many went.
    s.withdraw_series(&released[0]);
    run(&s, &cache, &["index", "update"], 0);
    let all = "SELECT count(*) FROM series";
    let live = super::json_rows(&s, &["series"]).len() as u64;
    assert_eq!(count(&s, &cache, all), live + 1);
    s.release_series("CT COLONOGRAPHY", 2);
    let (_, err) = run(&s, &cache, &["index", "update", "--full"], 0);
    assert!(err.contains("(2 new, 1 no longer listed"), "{err}");
    assert_eq!(count(&s, &cache, all), live + 2);
    same_offline(&s, &cache, &["series", "--format", "csv"]);
    // The collections' DOI and licence, learnt while the series were written, are what SQL
    // finds in the series.
    let wrong = "SELECT count(*) FROM collections c WHERE \
        doi IS NOT (SELECT min(DataDescriptionURI) FROM series s WHERE s.Collection = c.name) \
        OR license IS NOT (SELECT min(LicenseName) FROM series s WHERE s.Collection = c.name)";
    assert_eq!(count(&s, &cache, wrong), 0);
    let known = "SELECT count(*) FROM collections WHERE doi IS NOT NULL AND license IS NOT NULL";
    assert!(count(&s, &cache, known) > 0);
}

#[test]
fn a_series_listed_twice_is_kept_once_with_its_first_facts() {
    let s = FakeServer::start();
    let cache = Cache::new();
    let body = r#"[
      {"SeriesInstanceUID":"1.2.3","Collection":"LIDC-IDRI","LicenseName":"B","DataDescriptionURI":"d2"},
      {"SeriesInstanceUID":"1.2.4","Collection":"LIDC-IDRI","LicenseName":"C","DataDescriptionURI":"d3"},
      {"SeriesInstanceUID":"1.2.3","Collection":"LIDC-IDRI","LicenseName":"A","DataDescriptionURI":"d1"}
    ]"#;
    s.inject(Fault {
        endpoint: "getSeries".into(),
        times: None,
        action: FaultAction::Status {
            code: 200,
            body: body.into(),
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    });
    let (_, err) = run(&s, &cache, &["index", "update", "--full"], 0);
    assert!(err.contains("2 series"), "{err}");
    let (out, _) = run(
        &s,
        &cache,
        &[
            "query",
            "SELECT name, doi, license FROM collections WHERE name = 'LIDC-IDRI'",
            "--format",
            "csv",
        ],
        0,
    );
    assert_eq!(out, "name,doi,license\r\nLIDC-IDRI,d2,B\r\n");
    let (out, _) = run(
        &s,
        &cache,
        &["query", "SELECT LicenseName FROM series", "--format", "csv"],
        0,
    );
    assert_eq!(out, "LicenseName\r\nB\r\nC\r\n");
}

#[test]
fn query_reads_and_never_writes() {
    let s = FakeServer::start();
    let cache = Cache::new();
    run(&s, &cache, &["index", "update"], 0);
    let file = cache.index_file();
    let before = std::fs::read(&file).unwrap();
    let (csv, _) = run(
        &s,
        &cache,
        &[
            "query",
            "SELECT Collection, Modality, count(*) AS n, sum(FileSize) AS bytes FROM series GROUP BY 1, 2",
            "--format",
            "csv",
        ],
        0,
    );
    assert!(csv.starts_with("Collection,Modality,n,bytes\r\n"), "{csv}");
    let live = super::json_rows(&s, &["series"]).len() as u64;
    let total: u64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, live);
    // Types survive: numbers are JSON numbers, absent values absent.
    let (json, _) = run(
        &s,
        &cache,
        &[
            "query",
            "SELECT ImageCount, SeriesInstanceUID FROM series LIMIT 1",
            "--format",
            "json",
        ],
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v[0]["ImageCount"].is_u64(), "{json}");
    for sql in [
        "DELETE FROM series",
        "INSERT INTO collections (name) VALUES ('x')",
        "DROP TABLE series",
        "PRAGMA user_version = 7",
        "CREATE TABLE t (a)",
        "SELECT 1; DELETE FROM series",
        "",
    ] {
        let (out, err) = run(&s, &cache, &["query", sql], 2);
        assert!(out.is_empty() && err.contains("tcia query"), "{sql}: {err}");
    }
    assert!(
        std::fs::read(&file).unwrap() == before,
        "the index file is unchanged"
    );
}

#[test]
fn status_lists_the_index() {
    let s = FakeServer::start();
    let cache = Cache::new();
    let (out, err) = run(&s, &cache, &["index", "status", "--format", "json"], 0);
    assert_eq!(out.trim(), "[]");
    assert!(err.contains("no index yet"), "{err}");
    run(&s, &cache, &["index", "update"], 0);
    let (out, _) = run(&s, &cache, &["index", "status", "--format", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &v[0];
    assert_eq!(row["api"], "v4");
    assert!(
        row["server"].as_str().unwrap().starts_with(&s.url()),
        "{row}"
    );
    assert_eq!(
        row["rows"].as_u64().unwrap(),
        super::json_rows(&s, &["series"]).len() as u64
    );
    assert_eq!(row["collections"].as_u64().unwrap(), 6);
    assert!(row["size"].as_u64().unwrap() > 0);
    assert!(Path::new(row["path"].as_str().unwrap()).exists());
    // `-v` names each step of a full build and how long it took, on stderr only.
    let (out, err) = run(&s, &cache, &["-v", "index", "update", "--full"], 0);
    assert_eq!(out, "");
    let steps = err
        .lines()
        .find_map(|l| l.strip_prefix("tcia: index build: "))
        .unwrap_or_else(|| panic!("no steps line: {err}"));
    let names: Vec<&str> = steps
        .split("; ")
        .map(|step| {
            let (name, secs) = step.rsplit_once(' ').and_then(|(n, u)| {
                assert_eq!(u, "s", "{step}");
                n.rsplit_once(' ')
            })?;
            secs.parse::<f64>().ok().map(|_| name)
        })
        .map(|n| n.unwrap_or_else(|| panic!("{steps}")))
        .collect();
    assert_eq!(
        names,
        [
            "series rows streamed and written",
            "series indexed (patients and studies beside)",
            "collections, metadata and counts",
            "synced to disk and renamed into place"
        ]
    );
    // Not without -v.
    let (_, err) = run(&s, &cache, &["index", "update", "--full"], 0);
    assert!(!err.contains("index build:"), "{err}");
}

#[test]
fn missing_stale_corrupt_and_foreign_indexes_say_what_to_do() {
    let s = FakeServer::start();
    let cache = Cache::new();
    let (_, err) = run(&s, &cache, &["series", "--offline"], 2);
    assert!(err.contains("tcia index update"), "{err}");
    let (_, err) = run(&s, &cache, &["series", "--offline", "--api", "v1"], 2);
    assert!(err.contains("`tcia --api v1 index update`"), "{err}");
    let (_, err) = run(&s, &cache, &["search", "--offline", "--collection", "X"], 2);
    assert!(
        err.contains("cannot be answered from the local index"),
        "{err}"
    );
    let (_, err) = run(
        &s,
        &cache,
        &["dicom-tags", "--series-uid", "1.2", "--offline"],
        2,
    );
    assert!(err.contains("cannot be answered"), "{err}");
    run(&s, &cache, &["index", "update"], 0);
    let file = cache.index_file();
    // Older than a week: a warning, and still the answer.
    {
        let c = rusqlite::Connection::open(&file).unwrap();
        c.execute(
            "UPDATE index_info SET updated_at = '2020-01-01T00:00:00Z'",
            [],
        )
        .unwrap();
    }
    let (out, err) = run(&s, &cache, &["collections", "--offline"], 0);
    assert!(err.contains("days ago") && !out.is_empty(), "{err}");
    // A damaged file and a foreign database get the fix, not a panic.
    std::fs::write(
        &file,
        b"this is not a database, just some text that is long enough",
    )
    .unwrap();
    let (_, err) = run(&s, &cache, &["collections", "--offline"], 1);
    assert!(
        err.contains("index update --full") && !err.contains("panicked"),
        "{err}"
    );
    std::fs::remove_file(&file).unwrap();
    {
        let c = rusqlite::Connection::open(&file).unwrap();
        c.execute_batch("CREATE TABLE other (a); INSERT INTO other VALUES (1);")
            .unwrap();
    }
    let (_, err) = run(&s, &cache, &["series", "--offline"], 1);
    assert!(err.contains("not written by tcia"), "{err}");
    let (_, err) = run(&s, &cache, &["index", "update"], 1);
    assert!(err.contains("index update --full"), "{err}");
    run(&s, &cache, &["index", "update", "--full"], 0);
    same_offline(&s, &cache, &["collections", "--format", "csv"]);
}

#[test]
fn a_killed_update_leaves_the_old_index() {
    let s = FakeServer::start();
    let cache = Cache::new();
    run(&s, &cache, &["index", "update"], 0);
    let file = cache.index_file();
    let before = std::fs::read(&file).unwrap();
    // The next full build's getSeries trickles; kill it mid-stream.
    s.inject(Fault {
        endpoint: "getSeries".into(),
        times: None,
        action: FaultAction::Drip {
            chunk: 2048,
            interval_ms: 20,
        },
    });
    let hits = requests_to(&s, "getSeries").len();
    let mut child = tcia_std(&s)
        .env("TCIA_CACHE_DIR", cache.path())
        .args(["index", "update", "--full"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_hits(&s, "getSeries", hits + 1);
    // Wait until the working file exists: the build is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let working = loop {
        let w = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains(".tmp-"));
        if let Some(w) = w {
            break w;
        }
        assert!(std::time::Instant::now() < deadline, "no working file");
        std::thread::yield_now();
    };
    child.kill().unwrap();
    child.wait().unwrap();
    s.clear_faults();
    assert!(
        std::fs::read(&file).unwrap() == before,
        "the index is untouched"
    );
    same_offline(
        &s,
        &cache,
        &["series", "--collection", "LIDC-IDRI", "--format", "csv"],
    );
    // The next update cleans up after the killed one: at once where processes can be looked
    // up (Linux), elsewhere once the file is a day old.
    run(&s, &cache, &["index", "update"], 0);
    assert_eq!(
        working.exists(),
        !cfg!(target_os = "linux"),
        "{}",
        working.display()
    );
    if working.exists() {
        let two_days_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&working)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
        run(&s, &cache, &["index", "update"], 0);
        assert!(!working.exists(), "{} left behind", working.display());
    }
}

#[test]
fn metadata_extras_come_along() {
    let s = FakeServer::start();
    let cache = Cache::new();
    run(&s, &cache, &["index", "update", "--metadata"], 0);
    let series = count(&s, &cache, "SELECT count(*) FROM series");
    let with_meta = count(
        &s,
        &cache,
        "SELECT count(*) FROM series s JOIN series_metadata m USING (SeriesInstanceUID)",
    );
    assert_eq!(with_meta, series, "every series has its metadata row");
    // The columns are getSeriesMetadata's own, beside getSeries'.
    let (csv, _) = run(
        &s,
        &cache,
        &[
            "query",
            "SELECT * FROM series_metadata LIMIT 1",
            "--format",
            "csv",
        ],
        0,
    );
    let header = csv.lines().next().unwrap();
    assert!(header.contains("SeriesInstanceUID"), "{header}");
    assert!(header.split(',').count() > 10, "{header}");
    // Later updates keep it current for the series they touch.
    let uid = s.release_series("LIDC-IDRI", 1).remove(0);
    run(&s, &cache, &["index", "update"], 0);
    let sql = format!("SELECT count(*) FROM series_metadata WHERE SeriesInstanceUID = '{uid}'");
    assert_eq!(count(&s, &cache, &sql), 1);
    // `--metadata` on an update of an index built without it: every series gets its row, not
    // only the changed ones.
    let plain = Cache::new();
    run(&s, &plain, &["index", "update"], 0);
    run(&s, &plain, &["index", "update", "--metadata"], 0);
    let all = count(&s, &plain, "SELECT count(*) FROM series");
    let joined = "SELECT count(*) FROM series s JOIN series_metadata m USING (SeriesInstanceUID)";
    assert_eq!(count(&s, &plain, joined), all);
}

#[test]
fn offline_rows_with_escapes_odd_keys_and_numbers_equal_live() {
    let s = FakeServer::start();
    let cache = Cache::new();
    // getSeries answers these rows, to the build and to the live commands alike: text that
    // JSON escapes, non-ASCII text, a key no catalogue knows (so the CSV header needs its
    // look-ahead), a key that JSON escapes, fractions, booleans, big integers. Keys come in the
    // server's order (the index keeps its columns in that order).
    let body = r#"[
      {"SeriesInstanceUID":"1.2.3","Modality":"CT",
       "SeriesDescription":"back\\slash \"q\" tab\t nl\n cr\r é 日本 \u0001","AnnotationsFlag":true,
       "Collection":"Q\"uote","ImageCount":3,"FileSize":12.5,"Brand New":"x, y","Odd\"Key":"v"},
      {"SeriesInstanceUID":"1.2.4","Modality":"MR","SeriesDescription":"a,b;\"c\"",
       "AnnotationsFlag":false,"Collection":"Plain","ImageCount":-9007199254740993,"FileSize":7.25},
      {"SeriesInstanceUID":"1.2.5","Collection":"Plain","Brand New":"later"}
    ]"#;
    s.inject(Fault {
        endpoint: "getSeries".into(),
        times: None,
        action: FaultAction::Status {
            code: 200,
            body: body.into(),
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    });
    run(&s, &cache, &["index", "update", "--full"], 0);
    assert_eq!(count(&s, &cache, "SELECT count(*) FROM series"), 3);
    for fmt in ["json", "ndjson", "csv", "tsv", "table"] {
        same_offline(&s, &cache, &["series", "--format", fmt]);
        same_offline(
            &s,
            &cache,
            &[
                "series",
                "--format",
                fmt,
                "--fields",
                "SeriesDescription,Collection",
            ],
        );
    }
}

/// The index of `--api v1` or `v2`: that API's answers, as its live endpoints give them.
fn same_offline_all(s: &FakeServer, cache: &Cache, api: &str, commands: &[&[&str]]) {
    for cmd in commands {
        for fmt in ["json", "csv"] {
            let mut args = vec!["--api", api];
            args.extend_from_slice(cmd);
            args.extend(["--format", fmt]);
            same_offline(s, cache, &args);
        }
    }
}

#[test]
fn v1_and_v2_indexes_hold_their_apis_answers() {
    let s = FakeServer::start();
    let cache = Cache::new();
    let (_, err) = run(&s, &cache, &["--api", "v1", "index", "update"], 0);
    assert!(err.contains("index built"), "{err}");
    let v1_series = requests_to(&s, "getSeries");
    assert_eq!(v1_series.len(), 1);
    assert!(v1_series[0].path.contains("/v1/"), "{}", v1_series[0].path);
    let commands: &[&[&str]] = &[
        &["collections"],
        &["modalities", "--collection", "LIDC-IDRI"],
        &["body-parts"],
        &["manufacturers", "--collection", "LIDC-IDRI"],
        &["patients", "--collection", "LIDC-IDRI"],
        &["studies", "--collection", "LIDC-IDRI"],
        &["series"],
        &["series", "--collection", "lidc-idri", "--modality", "CT"],
        &["updated-series", "--since", "2016-01-01"],
    ];
    same_offline_all(&s, &cache, "v1", commands);
    // One file per API: v4 has none yet, and says how to build it.
    let (_, err) = run(&s, &cache, &["series", "--offline"], 2);
    assert!(err.contains("tcia index update"), "{err}");
    let (out, _) = run(&s, &cache, &["index", "status", "--format", "json"], 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status[0]["api"], "v1");
    // v1 names a collection's DOI CollectionURI: the collections table has it.
    let dois = "SELECT count(*) FROM collections c WHERE doi IS NOT NULL AND \
        doi IS (SELECT min(CollectionURI) FROM series s WHERE s.Collection = c.name)";
    assert!(count_api(&s, &cache, "v1", dois) > 0);

    // v1's getUpdatedSeries lacks FileSize and more: the collections it names are read again
    // with getSeries, so released series have every column live getSeries gives.
    let released = s.release_series("LIDC-IDRI", 3);
    let before = requests_to(&s, "getSeries").len();
    let updated_before = requests_to(&s, "getUpdatedSeries").len();
    let (_, err) = run(&s, &cache, &["--api", "v1", "index", "update"], 0);
    assert!(err.contains("index updated: 3 series changed"), "{err}");
    assert!(err.contains("(3 new)"), "{err}");
    let again = requests_to(&s, "getSeries");
    assert_eq!(
        again.len(),
        before + 1,
        "one getSeries for the one collection"
    );
    let last = &again[before];
    assert!(last.path.contains("/v1/getSeries"), "{}", last.path);
    assert_eq!(
        super::query_of(last).get("Collection").map(String::as_str),
        Some("LIDC-IDRI")
    );
    assert_eq!(
        requests_to(&s, "getUpdatedSeries").len(),
        updated_before + 1
    );
    let missing = format!(
        "SELECT count(*) FROM series WHERE SeriesInstanceUID IN ('{}') AND FileSize IS NULL",
        released.join("','")
    );
    assert_eq!(count_api(&s, &cache, "v1", &missing), 0);
    same_offline_all(
        &s,
        &cache,
        "v1",
        // (New series follow the old ones in the index, as the schema says: across
        // collections the server's order returns with the next full build.)
        &[&["series", "--collection", "LIDC-IDRI"]],
    );

    // v2 answers an empty list without a login: refused, nothing built.
    let (_, err) = run(&s, &cache, &["--api", "v2", "index", "update"], 2);
    assert!(err.contains("needs a login"), "{err}");
    let login = tcia(&s)
        .env("TCIA_CACHE_DIR", cache.path())
        .args(["login", "--user", "alice", "--password-stdin"])
        .write_stdin("wonderland\n")
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0));
    run(&s, &cache, &["--api", "v2", "index", "update"], 0);
    let restricted = "SELECT count(*) FROM series WHERE Collection = 'Restricted-Trial'";
    assert!(count_api(&s, &cache, "v2", restricted) > 0);
    // What a login shows stays its owner's: the v2 index is mode 0600, after updates too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let v2 = |c: &Cache| {
            std::fs::read_dir(c.path().join("index"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with("-v2.sqlite"))
                .expect("the v2 index")
        };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&v2(&cache)), 0o600);
        // An update makes it so again, whatever the file was given meanwhile.
        std::fs::set_permissions(v2(&cache), std::fs::Permissions::from_mode(0o644)).unwrap();
        run(&s, &cache, &["--api", "v2", "index", "update"], 0);
        assert_eq!(mode(&v2(&cache)), 0o600);
    }
    same_offline_all(
        &s,
        &cache,
        "v2",
        &[
            &["series", "--collection", "Restricted-Trial"],
            &["patients"],
        ],
    );
    // The legacy API has no index.
    let (_, err) = run(
        &s,
        &cache,
        &["--api", "legacy", "--api-key", "k", "index", "update"],
        2,
    );
    assert!(err.contains("--api v4"), "{err}");
}

fn count_api(s: &FakeServer, cache: &Cache, api: &str, sql: &str) -> u64 {
    count_with(s, cache, &["--api", api], sql)
}
