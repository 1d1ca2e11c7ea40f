//! `tcia sync` and `--shard`: a re-run fetches only what is new or changed; shards split one
//! selection over concurrent workers into one directory.

use std::path::{Path, PathBuf};

use fake_nbia::{FakeServer, Fault, FaultAction};

use super::*;

const COLL: &str = "TCGA-BLCA";

fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("mirror");
    (t, p)
}

fn sync(s: &FakeServer, dir: &Path, extra: &[&str], code: i32) -> String {
    let mut args = vec!["sync", "--collection", COLL, "-o", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(s, &args, code).1
}

fn image_hits(s: &FakeServer) -> usize {
    s.hits("getImage")
}

fn files_of(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn first_sync_fetches_everything_and_the_second_nothing() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    let n = s.data().series_in(COLL).len();
    let err = sync(&s, &dir, &[], 0);
    assert!(
        err.contains(&format!("sync: {n} new, 0 changed, 0 unchanged")),
        "{err}"
    );
    assert_eq!(image_hits(&s), n);
    for x in s.data().series_in(COLL) {
        assert!(dir.join(&x.series_uid).is_dir());
    }
    let listing_before = s.requests().len();
    let err = sync(&s, &dir, &[], 0);
    assert_eq!(image_hits(&s), n, "a second sync makes no image request");
    assert!(
        err.contains(&format!("nothing to do, {n} series up to date")),
        "{err}"
    );
    assert!(
        err.contains(&format!("downloaded 0, skipped {n}, failed 0")),
        "{err}"
    );
    // Only listing requests: the selection, its metadata, the update feed, and the check that
    // the named collection exists (issue 10).
    let made: Vec<String> = s.requests()[listing_before..]
        .iter()
        .map(|r| r.path.rsplit('/').next().unwrap().to_string())
        .collect();
    let listing = [
        "getSeries",
        "getSeriesMetadata",
        "getUpdatedSeries",
        "getCollectionValues",
    ];
    assert!(
        made.iter().all(|p| listing.contains(&p.as_str())),
        "{made:?}"
    );
    assert!(made.contains(&"getUpdatedSeries".to_string()));
}

#[test]
fn new_and_changed_series_are_fetched_and_swapped_atomically() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    sync(&s, &dir, &[], 0);
    let before = image_hits(&s);
    let added = s.release_series(COLL, 2);
    let victim = s.data().series_in(COLL)[0].clone();
    let old_files = files_of(&dir.join(&victim.series_uid));
    let new_count = s.change_series(&victim.series_uid);
    assert_eq!(new_count, victim.image_count + 1);

    // The re-download fails verification: the old copy stays intact, the failure is reported.
    s.inject(Fault {
        endpoint: "getImage".into(),
        times: None,
        action: FaultAction::BadMd5 { entry: 0 },
    });
    let err = sync(&s, &dir, &["--retries", "0"], 3);
    assert!(
        err.contains(&format!("changed on the server: {}", victim.series_uid)),
        "{err}"
    );
    assert_eq!(
        files_of(&dir.join(&victim.series_uid)),
        old_files,
        "old copy intact"
    );
    s.clear_faults();

    let err = sync(&s, &dir, &[], 0);
    assert!(err.contains("sync: 2 new, 1 changed"), "{err}");
    // Exactly the new and the changed series were fetched (3 in the failed run, 3 now).
    assert_eq!(image_hits(&s) - before, 6);
    assert_eq!(
        files_of(&dir.join(&victim.series_uid)).len() as u64,
        new_count
    );
    for u in &added {
        assert!(dir.join(u).is_dir());
    }
    run(&s, &["verify", dir.to_str().unwrap()], 0);
    let err = sync(&s, &dir, &[], 0);
    assert!(err.contains("nothing to do"), "{err}");
}

#[test]
fn series_that_leave_the_selection_are_kept_unless_delete() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    sync(&s, &dir, &[], 0);
    let gone = s.data().series_in(COLL)[1].series_uid.clone();
    s.withdraw_series(&gone);
    let err = sync(&s, &dir, &[], 0);
    assert!(
        err.contains(&format!("left the selection: {gone} (kept")),
        "{err}"
    );
    assert!(dir.join(&gone).is_dir());
    let err = sync(&s, &dir, &["--delete"], 0);
    assert!(
        err.contains(&format!("left the selection: {gone} (deleting)")),
        "{err}"
    );
    assert!(!dir.join(&gone).exists());
    run(&s, &["verify", dir.to_str().unwrap()], 0);
    let err = sync(&s, &dir, &[], 0);
    assert!(
        !err.contains("left the selection:"),
        "reported once deleted: {err}"
    );
}

#[test]
fn dry_run_says_what_it_would_do() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    sync(&s, &dir, &[], 0);
    let added = s.release_series(COLL, 1);
    let before = image_hits(&s);
    let err = sync(&s, &dir, &["--dry-run"], 0);
    assert!(
        err.contains("dry run: sync would find 1 new, 0 changed"),
        "{err}"
    );
    assert!(
        err.contains(&format!("would download {}", added[0])),
        "{err}"
    );
    assert_eq!(image_hits(&s), before);
    assert!(!dir.join(&added[0]).exists());
}

#[test]
fn four_shards_in_parallel_fill_one_directory() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    let coll = "LIDC-IDRI";
    let children: Vec<_> = (1..=4)
        .map(|k| {
            spawn(
                &s,
                &[
                    "download",
                    "--collection",
                    coll,
                    "-o",
                    dir.to_str().unwrap(),
                    "--shard",
                    &format!("{k}/4"),
                ],
            )
        })
        .collect();
    let mut total_done = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        let done: usize = err
            .split("downloaded ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        total_done += done;
    }
    let all = s.data().series_in(coll);
    assert_eq!(
        total_done,
        all.len(),
        "shards are disjoint and cover the selection"
    );
    assert_eq!(s.hits("getImage"), all.len());
    for x in &all {
        assert!(dir.join(&x.series_uid).is_dir());
    }
    for k in 1..=4 {
        assert!(dir.join(format!("metadata-shard-{k}-of-4.csv")).exists());
    }
    let (_, err) = run(&s, &["verify", dir.to_str().unwrap()], 0);
    assert!(
        err.contains(&format!("verified {} series", all.len())),
        "{err}"
    );
    // A non-sharded sync adopts what the shards fetched.
    let err = run(
        &s,
        &["sync", "--collection", coll, "-o", dir.to_str().unwrap()],
        0,
    )
    .1;
    assert!(err.contains("nothing to do"), "{err}");
}

#[test]
fn shard_auto_reads_the_job_array() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    let out = tcia(&s)
        .args([
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "auto",
            "--dry-run",
        ])
        .env("SLURM_ARRAY_TASK_ID", "3")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 3/4:"));
    let out = tcia(&s)
        .args([
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "auto",
            "--shards",
            "2",
            "--dry-run",
        ])
        .env("JOB_COMPLETION_INDEX", "0")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 1/2:"));
    let (_, err) = run(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "auto",
        ],
        2,
    );
    assert!(err.contains("SLURM_ARRAY_TASK_ID"), "{err}");
    let (_, err) = run(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "5/4",
        ],
        2,
    );
    assert!(err.contains("--shard"), "{err}");
}

#[test]
fn the_same_shard_twice_is_locked_out() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    let _first = hold_at_first_image(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "1/2",
        ],
    );
    let (_, err) = run(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "1/2",
        ],
        1,
    );
    assert!(err.contains("of shard 1/2 is already running"), "{err}");
}

#[test]
fn an_empty_answer_never_deletes_the_mirror() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    sync(&s, &dir, &[], 0);
    let n = s.data().series_in(COLL).len();
    // v2 without a login answers every query with an empty result: refused before asking.
    let err = sync(&s, &dir, &["--api", "v2", "--delete"], 2);
    assert!(err.contains("v2 needs a login"), "{err}");
    // An empty answer (a typo, an expired login) does not delete the mirror either.
    s.inject(Fault {
        endpoint: "getSeries".into(),
        times: None,
        action: FaultAction::Status {
            code: 200,
            body: String::new(),
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    });
    let err = sync(&s, &dir, &["--delete"], 1);
    assert!(
        err.contains(&format!("refusing to --delete all {n} synced series")),
        "{err}"
    );
    for x in s.data().series_in(COLL) {
        assert!(dir.join(&x.series_uid).is_dir());
    }
    run(&s, &["verify", dir.to_str().unwrap()], 0);
}

#[test]
fn a_whole_run_and_a_shard_never_overlap() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    let _shard = hold_at_first_image(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "2/2",
        ],
    );
    // The other shard may run beside it (it only waits on the delayed server)...
    s.clear_faults();
    let (_, err) = run(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--shard",
            "1/2",
        ],
        0,
    );
    assert!(err.contains("failed 0"), "{err}");
    // ...but a whole, unsharded run may not.
    let (_, err) = run(
        &s,
        &[
            "sync",
            "--collection",
            "LIDC-IDRI",
            "-o",
            dir.to_str().unwrap(),
            "--delete",
        ],
        1,
    );
    assert!(err.contains("already running"), "{err}");
}
