//! `--source idc`: the list commands, `query` and `index update` on IDC's index, and downloads
//! from the fake IDC bucket (S3 and GCS modes, faults), against the fake's generated parquet.

use std::path::{Path, PathBuf};

use fake_nbia::{BucketConfig, BucketFault, BucketFaultAction, FakeBucket, FakeServer, IdcSeries};
use md5::{Digest, Md5};

use super::tcia;

/// An NBIA fake (which must see no request), a bucket, and a cache of this test's own.
struct World {
    nbia: FakeServer,
    bucket: FakeBucket,
    cache: tempfile::TempDir,
}

impl World {
    fn new(cfg: BucketConfig) -> World {
        World {
            nbia: FakeServer::start(),
            bucket: FakeBucket::start_with(cfg),
            cache: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `tcia --source idc ARGS`, with this world's index base and endpoint; checks the exit code.
    fn run(&self, args: &[&str], code: i32) -> (String, String) {
        let out = tcia(&self.nbia)
            .env("TCIA_CACHE_DIR", self.cache.path())
            .env("TCIA_SOURCE", "idc")
            .env("TCIA_IDC_INDEX", self.bucket.index_url())
            .env("TCIA_IDC_ENDPOINT", self.bucket.url())
            .args(args)
            .output()
            .expect("run tcia");
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "tcia {args:?}\nstderr: {stderr}\nstdout: {}",
            &stdout[..stdout.len().min(600)]
        );
        assert!(
            self.nbia.requests().is_empty(),
            "--source idc sent requests to NBIA: {:?}",
            self.nbia.requests()
        );
        (stdout, stderr)
    }

    fn series_of(&self, collection_id: &str) -> Vec<IdcSeries> {
        self.bucket
            .data()
            .series
            .iter()
            .filter(|s| s.collection_id == collection_id)
            .cloned()
            .collect()
    }
}

fn csv_rows(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("csv"))
        .collect()
}

fn md5_file(p: &Path) -> String {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    format!("{:x}", Md5::digest(&bytes))
}

/// Every DICOM file under `dir` (outside `.tcia`), sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".tcia") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "dcm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Exactly these objects under `dir`, each under its object name, with its bytes.
fn assert_objects(dir: &Path, objects: &[&fake_nbia::IdcObject]) {
    let files = files_under(dir);
    assert_eq!(files.len(), objects.len(), "{files:?}");
    for o in objects {
        let name = o.key.rsplit('/').next().unwrap();
        let f = files
            .iter()
            .find(|p| p.file_name().unwrap().to_str() == Some(name))
            .unwrap_or_else(|| panic!("{name} not downloaded"));
        assert_eq!(md5_file(f), o.md5_hex, "{name}");
    }
}

#[test]
fn list_commands_answer_from_the_index_with_nbia_columns() {
    let w = World::new(BucketConfig::default());
    let data = w.bucket.data();
    let lidc = data
        .collections
        .iter()
        .find(|c| c.collection_id == "lidc_idri")
        .expect("the fake has LIDC-IDRI");
    let expected = w.series_of("lidc_idri");
    assert!(!expected.is_empty());

    // The first command fetches the index itself, and says so.
    let (out, err) = w.run(
        &["series", "--collection", "LIDC-IDRI", "--format", "csv"],
        0,
    );
    assert!(err.contains("no IDC index yet"), "{err}");
    assert!(err.contains("sha256 verified"), "{err}");
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with(
            "SeriesInstanceUID,StudyInstanceUID,PatientID,Collection,Modality,BodyPartExamined,Manufacturer,ManufacturerModelName,SeriesDescription,SeriesNumber,SeriesDate,StudyDate,StudyDesc,PatientAge,PatientSex,ImageCount,FileSize,DataDescriptionURI,LicenseName,collection_id,crdc_series_uuid,aws_bucket,series_aws_url,source_DOI,license_short_name,series_revised_idc_version"
        ),
        "{header}"
    );
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), expected.len());
    for (row, s) in rows.iter().zip(&expected) {
        assert_eq!(&row[0], s.series_instance_uid);
        assert_eq!(&row[3], lidc.collection_name);
        assert_eq!(row[15].parse::<i64>().unwrap(), s.instance_count);
        assert_eq!(&row[20], s.crdc_series_uuid);
        assert_eq!(&row[21], s.aws_bucket);
    }
    let index_gets = w.bucket.hits("idc_index.parquet");

    // IDC ids, other spellings, the same answer; no second transfer.
    for spelling in ["lidc_idri", "lidc-idri", "Lidc-Idri"] {
        let (again, err) = w.run(&["series", "--collection", spelling, "--format", "csv"], 0);
        assert_eq!(again, out, "{spelling}");
        assert!(!err.contains("fetching"), "{err}");
    }
    assert_eq!(w.bucket.hits("idc_index.parquet"), index_gets);

    // A typo: exit 2 with the nearest names.
    let (_, err) = w.run(&["series", "--collection", "LIDC-IDR"], 2);
    assert!(err.contains("nearest: LIDC-IDRI"), "{err}");

    // The other lists, and SQL on IDC's own column names.
    let (colls, _) = w.run(&["collections", "--format", "csv"], 0);
    assert_eq!(csv_rows(&colls).len(), data.collections.len());
    assert!(colls
        .lines()
        .next()
        .unwrap()
        .starts_with("Collection,collection_id"));
    let (mods, _) = w.run(
        &["modalities", "--collection", "lidc_idri", "--format", "csv"],
        0,
    );
    let mut want: Vec<&str> = expected.iter().map(|s| s.modality.as_str()).collect();
    want.sort();
    want.dedup();
    let got: Vec<String> = csv_rows(&mods).iter().map(|r| r[0].to_string()).collect();
    assert_eq!(got, want);
    let (q, _) = w.run(
        &[
            "query",
            "SELECT count(*), sum(instanceCount) FROM idc_index WHERE collection_id = 'lidc_idri'",
            "--format",
            "csv",
        ],
        0,
    );
    let row = &csv_rows(&q)[0];
    assert_eq!(row[0].parse::<usize>().unwrap(), expected.len());
    let total: i64 = expected.iter().map(|s| s.instance_count).sum();
    assert_eq!(row[1].parse::<i64>().unwrap(), total);
    let (studies, _) = w.run(
        &["studies", "--collection", "LIDC-IDRI", "--format", "json"],
        0,
    );
    let studies: Vec<serde_json::Value> = serde_json::from_str(&studies).unwrap();
    let mut want_studies: Vec<&str> = expected
        .iter()
        .map(|s| s.study_instance_uid.as_str())
        .collect();
    want_studies.sort();
    want_studies.dedup();
    assert_eq!(studies.len(), want_studies.len());

    // NBIA-only commands say so.
    let (_, err) = w.run(&["dicom-tags", "1.2.3"], 2);
    assert!(err.contains("needs --source nbia"), "{err}");
    let (_, err) = w.run(&["search"], 2);
    assert!(err.contains("needs --source nbia"), "{err}");
}

#[test]
fn index_update_skips_unchanged_files_checks_sidecars_and_keeps_the_old_index() {
    let w = World::new(BucketConfig::default());
    // Download directories of ended runs are cleaned up; a running one's, and another
    // machine's (a shared cache), are left alone, unless nothing in them changed for a day.
    let index_dir = w.cache.path().join("index");
    let d = |name: &str| index_dir.join(format!(".idc-download-{name}"));
    let dead = d("999999999-aBcDeF");
    let running = d(&format!("{}-aBcDeF", std::process::id()));
    let elsewhere = d("999999999@elsewhere-aBcDeF");
    let abandoned = d("1@elsewhere-aBcDeF");
    for dir in [&dead, &running, &elsewhere, &abandoned] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("idc_index.parquet"), b"PAR1 half").unwrap();
    }
    // (A directory's time can be set through a handle on Unix.)
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    if cfg!(unix) {
        for p in [abandoned.join("idc_index.parquet"), abandoned.clone()] {
            std::fs::File::open(&p)
                .unwrap()
                .set_modified(two_days_ago)
                .unwrap();
        }
    }
    let (_, err) = w.run(&["index", "update"], 0);
    assert!(err.contains("IDC index built"), "{err}");
    assert_eq!(
        abandoned.exists(),
        !cfg!(unix),
        "a directory left two days ago"
    );
    // Whether a process runs can be told on Linux only; elsewhere only the age counts.
    assert_eq!(dead.exists(), !cfg!(target_os = "linux"));
    assert!(running.join("idc_index.parquet").exists());
    assert!(elsewhere.join("idc_index.parquet").exists());
    for dir in [&dead, &running, &elsewhere, &abandoned] {
        let _ = std::fs::remove_dir_all(dir);
    }
    let left: Vec<_> = std::fs::read_dir(&index_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".idc-download-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Unchanged: a conditional GET, answered 304.
    let (_, err) = w.run(&["index", "update"], 0);
    assert!(err.contains("IDC index is current"), "{err}");
    let conditional = w
        .bucket
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/idc_index.parquet") && r.if_none_match.is_some())
        .count();
    assert!(conditional >= 1);

    // A corrupted transfer: exit 3, the previous index still answers.
    let uid = w.bucket.data().series[0].series_instance_uid.clone();
    w.bucket.inject(BucketFault {
        prefix: "idc-index-data-artifacts/".into(),
        list: false,
        times: None,
        action: BucketFaultAction::WrongBytes,
    });
    let (_, err) = w.run(&["index", "update", "--full"], 3);
    assert!(err.contains("sha256"), "{err}");
    assert!(err.contains("the index was not changed"), "{err}");
    w.bucket.clear_faults();
    let (out, _) = w.run(&["series", "--series-uid", &uid, "--format", "csv"], 0);
    assert_eq!(csv_rows(&out).len(), 1);

    // A revision publishes a new index: the update sees it.
    let new_uuid = w.bucket.revise_series(&uid);
    let (_, err) = w.run(&["index", "update"], 0);
    assert!(err.contains("IDC index built"), "{err}");
    let (out, _) = w.run(&["series", "--series-uid", &uid, "--format", "csv"], 0);
    assert_eq!(&csv_rows(&out)[0][20], new_uuid);
}

#[test]
fn downloads_verify_every_object_and_resume() {
    let w = World::new(BucketConfig {
        max_keys_cap: 2,
        ..BucketConfig::default()
    });
    let expected = w.series_of("lidc_idri");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let args = [
        "download",
        "--collection",
        "lidc_idri",
        "-o",
        out,
        "--layout",
        "flat",
    ];
    let (_, err) = w.run(&args, 0);
    assert!(
        err.contains(&format!("downloaded {}", expected.len())),
        "{err}"
    );
    // Listings followed their continuation tokens.
    assert!(w
        .bucket
        .requests()
        .iter()
        .any(|r| r.query.contains("continuation-token")));
    let objects: Vec<_> = expected.iter().flat_map(|s| s.objects.iter()).collect();
    assert_objects(dir.path(), &objects);
    assert!(dir.path().join("metadata.csv").exists());
    // A re-run fetches nothing.
    let gets = w.bucket.hits("GetObject");
    let (_, err) = w.run(&args, 0);
    assert!(
        err.contains(&format!("skipped {}", expected.len())),
        "{err}"
    );
    assert_eq!(w.bucket.hits("GetObject"), gets);
    // verify re-hashes what was published.
    let (_, err) = w.run(&["verify", out], 0);
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn bad_bytes_and_dropped_bodies_are_retried_and_never_published() {
    let w = World::new(BucketConfig::default());
    let s = w.series_of("lidc_idri")[0].clone();
    let prefix = format!("idc-open-data/{}/", s.crdc_series_uuid);
    let uid = s.series_instance_uid.as_str();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();

    // Wrong bytes once, a dropped body once, a SlowDown once: retried, then complete.
    for action in [
        BucketFaultAction::WrongBytes,
        BucketFaultAction::DropBody { after_bytes: 100 },
        BucketFaultAction::SlowDown { retry_after: None },
    ] {
        w.bucket
            .inject(BucketFault::object(&prefix, Some(1), action));
    }
    let (_, err) = w.run(&["download", uid, "-o", out], 0);
    assert!(err.contains("downloaded 1"), "{err}");
    assert_eq!(files_under(dir.path()).len(), s.objects.len());

    // Wrong bytes every time: exit 3, nothing published, the UID listed as failed.
    let dir2 = tempfile::tempdir().unwrap();
    let out2 = dir2.path().to_str().unwrap();
    w.bucket.inject(BucketFault::object(
        &prefix,
        None,
        BucketFaultAction::WrongBytes,
    ));
    let (_, err) = w.run(&["download", uid, "-o", out2], 3);
    assert!(err.contains("MD5 mismatch"), "{err}");
    assert!(files_under(dir2.path()).is_empty());
    let failed = std::fs::read_to_string(dir2.path().join("failed-series.txt")).unwrap();
    assert!(failed.contains(uid));
    w.bucket.clear_faults();

    // A listed object that is gone: exit 4.
    let first = s.objects[0].key.clone();
    w.bucket.inject(BucketFault::object(
        &format!("idc-open-data/{first}"),
        None,
        BucketFaultAction::Missing,
    ));
    let dir3 = tempfile::tempdir().unwrap();
    let (_, err) = w.run(&["download", uid, "-o", dir3.path().to_str().unwrap()], 4);
    assert!(err.contains("NoSuchKey"), "{err}");
}

#[test]
fn gcs_names_hashes_and_size_only_objects() {
    let w = World::new(BucketConfig {
        gcs: true,
        composite_every: 2,
        ..BucketConfig::default()
    });
    let data = w.bucket.data();
    let two = data
        .series
        .iter()
        .find(|s| s.aws_bucket == "idc-open-data-two")
        .expect("a series in idc-open-data-two")
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (_, err) = w.run(&["download", &two.series_instance_uid, "-o", out], 0);
    assert!(err.contains("downloaded 1"), "{err}");
    assert!(w
        .bucket
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/idc-open-idc1/")));
    assert_objects(dir.path(), &two.objects.iter().collect::<Vec<_>>());
    // A composite object with wrong bytes: its CRC32C catches it.
    let composite = two
        .objects
        .iter()
        .find(|o| o.composite)
        .expect("a composite");
    w.bucket.inject(BucketFault::object(
        &format!("idc-open-idc1/{}", composite.key),
        None,
        BucketFaultAction::WrongBytes,
    ));
    let dir2 = tempfile::tempdir().unwrap();
    let (_, err) = w.run(
        &[
            "download",
            &two.series_instance_uid,
            "-o",
            dir2.path().to_str().unwrap(),
        ],
        3,
    );
    assert!(err.contains("CRC32C mismatch"), "{err}");

    // S3 multipart ETags are no MD5: size only, and the summary says so.
    let w = World::new(BucketConfig {
        multipart_every: 2,
        ..BucketConfig::default()
    });
    let s = w.series_of("lidc_idri")[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let (_, err) = w.run(
        &[
            "download",
            &s.series_instance_uid,
            "-o",
            dir.path().to_str().unwrap(),
        ],
        0,
    );
    let n = s.objects.iter().filter(|o| o.multipart).count();
    assert!(n > 0);
    assert!(
        err.contains(&format!("{n} files had no digest from the store")),
        "{err}"
    );
}

#[test]
fn manifests_made_for_nbia_and_s5cmd_work_and_missing_series_are_reported() {
    let w = World::new(BucketConfig::default());
    let data = w.bucket.data();
    let a = &data.series[0];
    let b = &data.series[1];
    let nbia_only = data.nbia_only.first().expect("a series IDC lacks").clone();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("uids.txt");
    std::fs::write(&list, format!("{}\n{}\n", a.series_instance_uid, nbia_only)).unwrap();
    let out = dir.path().join("out");
    let (_, err) = w.run(
        &[
            "download",
            "-i",
            list.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        0,
    );
    assert!(
        err.contains(&format!("{nbia_only}: not in IDC's index")),
        "{err}"
    );
    assert!(err.contains("downloaded 1"), "{err}");

    // None of them in IDC: exit 4.
    std::fs::write(&list, format!("{nbia_only}\n")).unwrap();
    let (_, err) = w.run(
        &[
            "download",
            "-i",
            list.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        4,
    );
    assert!(err.contains("none of the 1 series"), "{err}");

    // An s5cmd manifest, as idc-index writes them.
    let manifest = dir.path().join("s5cmd.txt");
    std::fs::write(
        &manifest,
        format!(
            "cp s3://{}/{}/* .\ncp 's3://{}/{}/*' \"x\"\n",
            a.aws_bucket, a.crdc_series_uuid, b.aws_bucket, b.crdc_series_uuid
        ),
    )
    .unwrap();
    let out2 = dir.path().join("out2");
    let (plan, _) = w.run(
        &[
            "download",
            "-i",
            manifest.to_str().unwrap(),
            "-o",
            out2.to_str().unwrap(),
            "--dry-run",
            "--format",
            "csv",
        ],
        0,
    );
    assert!(plan.contains(&a.series_instance_uid), "{plan}");
    assert!(plan.contains(&b.series_instance_uid), "{plan}");
}

#[test]
fn sync_fetches_a_revised_series_again() {
    let w = World::new(BucketConfig::default());
    let series = w.series_of("lidc_idri");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (_, err) = w.run(&["sync", "--collection", "lidc_idri", "-o", out], 0);
    assert!(
        err.contains(&format!("downloaded {}", series.len())),
        "{err}"
    );
    let (_, err) = w.run(&["sync", "--collection", "lidc_idri", "-o", out], 0);
    assert!(err.contains("downloaded 0"), "{err}");
    let revised = &series[0];
    let new_uuid = w.bucket.revise_series(&revised.series_instance_uid);
    let (_, err) = w.run(&["sync", "--collection", "lidc_idri", "-o", out], 0);
    assert!(err.contains("IDC revision"), "{err}");
    assert!(err.contains(&new_uuid), "{err}");
    assert!(err.contains("downloaded 1"), "{err}");
    let now = w
        .bucket
        .data()
        .series
        .iter()
        .find(|s| s.series_instance_uid == revised.series_instance_uid)
        .unwrap()
        .clone();
    let names: Vec<String> = files_under(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for o in &now.objects {
        assert!(names.contains(&o.key.rsplit('/').next().unwrap().to_string()));
    }
}

#[test]
fn zip_archives_and_shards_work_as_for_nbia() {
    let w = World::new(BucketConfig::default());
    let series = w.series_of("lidc_idri");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // Two shards cover the selection once between them.
    let mut fetched = 0;
    for k in ["1/2", "2/2"] {
        let (_, err) = w.run(
            &[
                "download",
                "--collection",
                "lidc_idri",
                "-o",
                out,
                "--shard",
                k,
            ],
            0,
        );
        let n: usize = err
            .split("downloaded ")
            .nth(1)
            .and_then(|t| t.split(',').next())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no summary: {err}"));
        fetched += n;
    }
    assert_eq!(fetched, series.len());
    assert_eq!(
        files_under(dir.path()).len(),
        series.iter().map(|s| s.objects.len()).sum::<usize>()
    );

    // --zip: one archive per series, the objects stored under their names; verify re-reads it.
    let zdir = tempfile::tempdir().unwrap();
    let zout = zdir.path().to_str().unwrap();
    let s = &series[0];
    let (_, err) = w.run(
        &["download", &s.series_instance_uid, "-o", zout, "--zip"],
        0,
    );
    assert!(err.contains("downloaded 1"), "{err}");
    let mut zips = Vec::new();
    let mut stack = vec![zdir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.ends_with(".tcia") {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "zip") {
                zips.push(p);
            }
        }
    }
    assert_eq!(zips.len(), 1, "{zips:?}");
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zips[0]).unwrap()).unwrap();
    assert_eq!(z.len(), s.objects.len());
    for o in &s.objects {
        let name = o.key.rsplit('/').next().unwrap();
        let mut entry = z.by_name(name).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        assert_eq!(format!("{:x}", Md5::digest(&bytes)), o.md5_hex);
    }
    w.run(&["verify", zout], 0);
}

#[test]
fn offline_never_fetches_and_status_lists_the_idc_index() {
    let w = World::new(BucketConfig::default());
    // No index yet and --offline: exit 2, nothing asked of the bucket.
    let (_, err) = w.run(&["series", "--collection", "lidc_idri", "--offline"], 2);
    assert!(err.contains("tcia index update --source idc"), "{err}");
    assert_eq!(w.bucket.requests().len(), 0);
    let (_, err) = w.run(&["index", "update", "--offline"], 2);
    assert!(err.contains("leave out --offline"), "{err}");
    w.run(&["index", "update"], 0);
    let before = w.bucket.requests().len();
    let (out, _) = w.run(
        &[
            "series",
            "--collection",
            "lidc_idri",
            "--offline",
            "--format",
            "csv",
        ],
        0,
    );
    assert_eq!(csv_rows(&out).len(), w.series_of("lidc_idri").len());
    assert_eq!(w.bucket.requests().len(), before);
    let (status, _) = w.run(&["index", "status", "--format", "csv"], 0);
    let rows = csv_rows(&status);
    assert_eq!(rows.len(), 1, "{status}");
    assert_eq!(&rows[0][1], "idc");
    assert_eq!(
        rows[0][2].parse::<usize>().unwrap(),
        w.bucket.data().series.len()
    );
    // Downloads need the network.
    let dir = tempfile::tempdir().unwrap();
    let (_, err) = w.run(
        &[
            "download",
            "--collection",
            "lidc_idri",
            "--offline",
            "-o",
            dir.path().to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("need the network"), "{err}");
}

#[test]
fn a_directory_of_foreign_files_is_refused_and_a_good_one_is_imported() {
    let w = World::new(BucketConfig::default());
    let dir = tempfile::tempdir().unwrap();
    w.bucket.write_index(dir.path());
    let d = dir.path().to_str().unwrap();
    let (_, err) = w.run(&["--idc-index", d, "index", "update"], 0);
    assert!(err.contains("IDC index built"), "{err}");
    assert!(err.contains("sha256 verified"), "{err}");
    // Unchanged files: nothing to do.
    let (_, err) = w.run(&["--idc-index", d, "index", "update"], 0);
    assert!(err.contains("IDC index is current"), "{err}");
    // Not parquet: an error naming the file; the old index still answers.
    std::fs::write(dir.path().join("idc_index.parquet"), b"PAR1 not really").unwrap();
    std::fs::remove_file(dir.path().join("idc_index.parquet.sha256")).unwrap();
    let (_, err) = w.run(&["--idc-index", d, "index", "update", "--full"], 1);
    assert!(err.contains("is not an IDC index file"), "{err}");
    let (out, _) = w.run(
        &[
            "--idc-index",
            d,
            "series",
            "--collection",
            "lidc_idri",
            "--format",
            "csv",
        ],
        0,
    );
    assert_eq!(csv_rows(&out).len(), w.series_of("lidc_idri").len());
    // A sidecar that does not match: exit 3.
    std::fs::write(
        dir.path().join("idc_index.parquet.sha256"),
        format!("{}  idc_index.parquet\n", "0".repeat(64)),
    )
    .unwrap();
    let (_, err) = w.run(&["--idc-index", d, "index", "update", "--full"], 3);
    assert!(err.contains("sha256 mismatch"), "{err}");
}

#[test]
fn shards_of_a_partly_moved_manifest_agree_and_failed_zips_leave_nothing() {
    let w = World::new(BucketConfig::default());
    let data = w.bucket.data();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("uids.txt");
    let mut text = format!("{}\n", data.series[0].series_instance_uid);
    for u in &data.nbia_only {
        text.push_str(&format!("{u}\n"));
    }
    std::fs::write(&list, text).unwrap();
    let out = dir.path().join("out");
    for k in ["1/2", "2/2"] {
        w.run(
            &[
                "download",
                "-i",
                list.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--shard",
                k,
            ],
            0,
        );
    }
    assert_eq!(files_under(&out).len(), data.series[0].objects.len());

    // --zip, every attempt corrupt: exit 3, no archive, no parts left in staging.
    let s = &data.series[1];
    w.bucket.inject(BucketFault::object(
        &format!("{}/{}/", s.aws_bucket, s.crdc_series_uuid),
        None,
        BucketFaultAction::WrongBytes,
    ));
    let zout = dir.path().join("zips");
    w.run(
        &[
            "download",
            &s.series_instance_uid,
            "-o",
            zout.to_str().unwrap(),
            "--zip",
        ],
        3,
    );
    let mut left = Vec::new();
    let mut stack = vec![zout.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            let name = p.to_string_lossy().into_owned();
            if name.ends_with(".parts") || name.ends_with(".zip") || name.ends_with(".dcm") {
                left.push(name);
            }
        }
    }
    assert!(left.is_empty(), "{left:?}");
}
