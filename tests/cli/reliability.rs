//! Never lose or misreport data (issue 9): only tcia's own recorded copies are ever replaced,
//! publishing survives a crash after every step, tcia's own files stay out of series folders,
//! `verify` reports what it cannot vouch for, and its verdict survives a closed pipe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fake_nbia::FakeServer;

use super::*;

fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("out");
    (t, p)
}

/// The series of a collection with the fewest images, at least two.
fn pick(s: &FakeServer, collection: &str) -> fake_nbia::Series {
    let mut v: Vec<_> = s
        .data()
        .series_in(collection)
        .into_iter()
        .filter(|x| x.image_count >= 2)
        .collect();
    v.sort_by_key(|x| x.image_count);
    v.into_iter().next().expect("a multi-image series")
}

/// Every file under `dir` (relative name → bytes).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// What the server holds for a series now (file name → bytes).
fn truth(s: &FakeServer, uid: &str) -> BTreeMap<String, Vec<u8>> {
    let data = s.data();
    data.image_names(uid, true)
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, data.image(uid, i).unwrap()))
        .collect()
}

/// `dir` holds exactly the series as the server has it (names listed on failure, not bytes).
fn assert_holds(dir: &Path, s: &FakeServer, uid: &str) {
    let (got, want) = (tree(dir), truth(s, uid));
    assert!(
        got == want,
        "{} holds {:?}, the server {:?} (or different bytes)",
        dir.display(),
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
}

fn dl(s: &FakeServer, dir: &Path, extra: &[&str], code: i32) -> (String, String) {
    let mut args = vec!["download", "-o", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(s, &args, code)
}

#[test]
fn a_path_tcia_did_not_write_is_never_replaced() {
    let s = FakeServer::start();
    let (a, b) = (pick(&s, "LIDC-IDRI"), pick(&s, "TCGA-BLCA"));
    let (_t, dir) = out_dir();
    std::fs::create_dir_all(dir.join(&a.series_uid)).unwrap();
    std::fs::write(dir.join(&a.series_uid).join("notes.txt"), "mine").unwrap();
    let (_, err) = dl(&s, &dir, &[&a.series_uid, &b.series_uid], 1);
    assert!(
        err.contains(&format!(
            "{} exists and was not written by tcia: move it away or choose another --layout",
            dir.join(&a.series_uid).display()
        )),
        "{err}"
    );
    assert!(err.contains("1 series failed"), "{err}");
    assert_eq!(
        tree(&dir.join(&a.series_uid)),
        BTreeMap::from([("notes.txt".to_string(), b"mine".to_vec())]),
        "the user's folder untouched"
    );
    assert_holds(&dir.join(&b.series_uid), &s, &b.series_uid);

    // A template that names a user's existing tree: refused, the tree untouched.
    let (_t, dir) = out_dir();
    std::fs::create_dir_all(dir.join("LIDC-IDRI/old")).unwrap();
    std::fs::write(dir.join("LIDC-IDRI/old/scan.dcm"), "precious").unwrap();
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--layout", "%Collection"], 1);
    assert!(err.contains("was not written by tcia"), "{err}");
    assert_eq!(
        tree(&dir.join("LIDC-IDRI")),
        BTreeMap::from([("old/scan.dcm".to_string(), b"precious".to_vec())])
    );
    // A --zip archive path too.
    let (_t, dir) = out_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let zip = dir.join(format!("{}.zip", a.series_uid));
    std::fs::write(&zip, "not ours").unwrap();
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--zip"], 1);
    assert!(err.contains("was not written by tcia"), "{err}");
    assert_eq!(std::fs::read(&zip).unwrap(), b"not ours");
}

/// Sync a collection, change one series on the server, and re-sync with the process ended
/// after publish step `step`; return (dir guard, dir, victim UID, its files before).
fn crash_while_replacing(
    s: &FakeServer,
    step: u32,
) -> (
    tempfile::TempDir,
    PathBuf,
    String,
    BTreeMap<String, Vec<u8>>,
) {
    let (t, dir) = out_dir();
    let d = dir.to_str().unwrap();
    run(s, &["sync", "--collection", "TCGA-BLCA", "-o", d], 0);
    let victim = pick(s, "TCGA-BLCA").series_uid;
    let before = tree(&dir.join(&victim));
    assert!(before == truth(s, &victim), "the first sync is intact");
    s.change_series(&victim);
    let out = tcia_std(s)
        .args(["sync", "--collection", "TCGA-BLCA", "-o", d])
        .env("TCIA_TEST_ABORT_PUBLISH_AFTER", step.to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(86), "step {step}: {err}");
    assert!(err.contains(&format!("after step {step}")), "{err}");
    (t, dir, victim, before)
}

#[test]
fn publish_is_crash_safe_after_every_step() {
    for step in 1..=4 {
        let s = FakeServer::start();
        let (_t, dir, victim, old) = crash_while_replacing(&s, step);
        let new = truth(&s, &victim);
        // The next run cannot download anything (the series is gone from the server): what is
        // at the final path is only what recovery kept.
        s.withdraw_series(&victim);
        let other = s.data().series_in("TCGA-BLCA")[0].series_uid.clone();
        dl(&s, &dir, &[&other], 0);
        let now = tree(&dir.join(&victim));
        let want = if step <= 2 { &old } else { &new };
        assert!(
            now == *want,
            "step {step}: the {} verified copy is at the final path (got {} files)",
            if step <= 2 { "old" } else { "new" },
            now.len()
        );
        run(&s, &["verify", dir.to_str().unwrap()], 0);
        let trash = tree(&dir.join(".tcia/trash"));
        assert!(trash.is_empty(), "step {step}: trash emptied: {trash:?}");
    }
}

#[test]
fn a_moved_series_replaces_its_old_copy_only_once_verified() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid], 0);
    let classic = Path::new("LIDC-IDRI")
        .join(&a.patient_id)
        .join(&a.study_uid)
        .join(&a.series_uid);
    // A failing re-download to the new path leaves the old copy.
    s.inject(fake_nbia::Fault::new(
        "getImage",
        None,
        fake_nbia::FaultAction::BadMd5 { entry: 0 },
    ));
    dl(
        &s,
        &dir,
        &[&a.series_uid, "--layout", "classic", "--retries", "0"],
        3,
    );
    assert_holds(&dir.join(&a.series_uid), &s, &a.series_uid);
    s.clear_faults();
    // Killed after the new record is durable: the next run removes the old copy.
    let out = tcia_std(&s)
        .args(["download", "-o", dir.to_str().unwrap(), &a.series_uid])
        .args(["--layout", "classic"])
        .env("TCIA_TEST_ABORT_PUBLISH_AFTER", "4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(86));
    assert!(dir.join(&a.series_uid).exists(), "old copy still there");
    dl(&s, &dir, &[&a.series_uid, "--layout", "classic"], 0);
    assert!(!dir.join(&a.series_uid).exists(), "old copy removed");
    assert_holds(&dir.join(&classic), &s, &a.series_uid);
    run(&s, &["verify", dir.to_str().unwrap()], 0);
    // And a plain move with no crash.
    dl(&s, &dir, &[&a.series_uid], 0);
    assert!(!dir.join("LIDC-IDRI").join(&a.patient_id).exists());
    assert_holds(&dir.join(&a.series_uid), &s, &a.series_uid);
    run(&s, &["verify", dir.to_str().unwrap()], 0);
}

#[test]
fn licences_never_land_in_a_series_folder() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--layout", "%Collection"], 0);
    assert_eq!(
        std::fs::read_to_string(dir.join("LICENSES/LIDC-IDRI")).unwrap(),
        s.data().license_text("LIDC-IDRI")
    );
    assert_holds(&dir.join("LIDC-IDRI"), &s, &a.series_uid);
    run(&s, &["verify", dir.to_str().unwrap()], 0);
}

#[test]
fn verify_fails_on_unreadable_records_and_untracked_folders() {
    let s = FakeServer::start();
    let (a, b) = (pick(&s, "LIDC-IDRI"), pick(&s, "TCGA-BLCA"));
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, &b.series_uid], 0);
    let rec = dir
        .join(".tcia/complete")
        .join(format!("{}.json", a.series_uid));
    std::fs::write(&rec, "{ truncated").unwrap();
    let (out, err) = run(&s, &["verify", dir.to_str().unwrap()], 3);
    assert!(err.contains(&rec.display().to_string()), "{err}");
    assert!(
        out.contains(&format!("bad-record\t-\t{}", rec.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("untracked\t-\t{}", a.series_uid)),
        "{out}"
    );
    assert!(err.contains("1 untracked, 1 unreadable records"), "{err}");
    std::fs::remove_file(&rec).unwrap();
    // Where tcia 0.1 put licences (`<Collection>/LICENSE`) is not reported.
    std::fs::create_dir_all(dir.join("TCGA-BLCA")).unwrap();
    std::fs::write(dir.join("TCGA-BLCA/LICENSE"), "old").unwrap();
    let (out, _) = run(&s, &["verify", dir.to_str().unwrap()], 3);
    assert_eq!(out, format!("untracked\t-\t{}\n", a.series_uid));
}

#[test]
fn verify_keeps_its_verdict_when_stdout_closes_early() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid], 0);
    for name in s.data().image_names(&a.series_uid, true) {
        std::fs::write(dir.join(&a.series_uid).join(name), "x").unwrap();
    }
    for i in 0..2000 {
        std::fs::write(dir.join(&a.series_uid).join(format!("extra{i}")), "").unwrap();
    }
    let mut child = tcia_std(&s)
        .args(["verify", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe (as `| head -1` does).
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_truncated_zip_is_fetched_again() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--zip"], 0);
    let zip = dir.join(format!("{}.zip", a.series_uid));
    let whole = std::fs::read(&zip).unwrap();
    std::fs::write(&zip, &whole[..whole.len() - 10]).unwrap();
    let before = s.hits("getImage");
    dl(&s, &dir, &[&a.series_uid, "--zip"], 0);
    assert_eq!(
        s.hits("getImage"),
        before + 1,
        "truncated archive fetched again"
    );
    assert_eq!(std::fs::read(&zip).unwrap().len(), whole.len());
    // Same size, one byte changed: the recorded MD5 catches it.
    let mut bytes = std::fs::read(&zip).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&zip, &bytes).unwrap();
    dl(&s, &dir, &[&a.series_uid, "--zip"], 0);
    assert_eq!(s.hits("getImage"), before + 2);
    run(&s, &["verify", dir.to_str().unwrap()], 0);
}

#[cfg(unix)]
#[test]
fn files_tcia_writes_honour_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid], 0);
    // The tests run with the usual umask 022 (or stricter: then group/other bits are off).
    for f in [dir.join("metadata.csv"), dir.join("LICENSES/LIDC-IDRI")] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        let image = dir
            .join(&a.series_uid)
            .join(&s.data().image_names(&a.series_uid, true)[0]);
        let image_mode = std::fs::metadata(&image).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, image_mode, "{} as the images", f.display());
    }
}

#[test]
fn a_symlink_inside_the_state_directory_is_refused() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid], 0);
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let complete = dir.join(".tcia/complete");
    std::fs::rename(&complete, elsewhere.join("complete")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(elsewhere.join("complete"), &complete).unwrap();
    let b = pick(&s, "TCGA-BLCA");
    let (_, err) = dl(&s, &dir, &[&b.series_uid], 1);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert!(!dir.join(&b.series_uid).exists());
}

#[test]
fn redirects_to_another_origin_are_refused_and_carry_no_credentials() {
    let s = FakeServer::start();
    let other = FakeServer::start();
    let target = format!("{}/nbia-api/oauth/token", other.url());
    s.inject(fake_nbia::Fault::new(
        "token",
        None,
        fake_nbia::FaultAction::Redirect {
            code: 307,
            location: target.clone(),
        },
    ));
    let out = tcia(&s)
        .args(["login", "--user", "alice", "--password-stdin"])
        .write_stdin("wonderland\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!("refusing redirect to {target}: another origin")),
        "{err}"
    );
    assert!(
        other.requests().is_empty(),
        "the password never left: {:?}",
        other.requests()
    );

    // The legacy api_key header neither, and a refusal is not retried.
    s.inject(fake_nbia::Fault::new(
        "getCollectionValues",
        None,
        fake_nbia::FaultAction::Redirect {
            code: 302,
            location: format!("{}/services/v3/TCIA/query/getCollectionValues", other.url()),
        },
    ));
    let before = s.hits("getCollectionValues");
    let (_, err) = run(
        &s,
        &["collections", "--api", "legacy", "--api-key", "k3y"],
        4,
    );
    assert!(err.contains("another origin"), "{err}");
    assert_eq!(s.hits("getCollectionValues") - before, 1, "not retried");
    assert!(other.requests().is_empty());
}

#[test]
fn a_redirect_within_the_origin_is_followed() {
    let s = FakeServer::start();
    s.inject(fake_nbia::Fault::new(
        "getCollectionValues",
        Some(1),
        fake_nbia::FaultAction::Redirect {
            code: 307,
            location: format!("{}/nbia-api/services/v4/getCollectionValues", s.url()),
        },
    ));
    let rows = json_rows(&s, &["collections"]);
    assert!(!rows.is_empty());
}

#[test]
fn credentials_in_the_server_url_are_never_shown() {
    let s = FakeServer::start();
    let with_creds = s.url().replace("http://", "http://bob:hunter2@");
    let (_, err) = run(&s, &["collections", "-vv", "--server", &with_creds], 0);
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.contains("getCollectionValues"),
        "-v lines were written: {err}"
    );
    // They are still sent, as basic authentication to the server itself.
    let sent = requests_to(&s, "getCollectionValues");
    assert!(
        sent.last()
            .unwrap()
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "{sent:?}"
    );
    s.inject(fake_nbia::Fault::new(
        "getCollectionValues",
        None,
        fake_nbia::FaultAction::Status {
            code: 500,
            body: "boom".into(),
            content_type: None,
            retry_after: None,
        },
    ));
    let (_, err) = run(
        &s,
        &["collections", "--retries", "0", "--server", &with_creds],
        5,
    );
    assert!(
        !err.contains("hunter2") && err.contains("HTTP 500"),
        "{err}"
    );
    let out = tcia(&s)
        .args(["config", "show"])
        .env("TCIA_SERVER", &with_creds)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("bob:****@"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let (_, err) = run(&s, &["collections", "--server", "ftp://bob:hunter2@x"], 2);
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn timeouts_and_dead_proxies_are_named_for_what_fired() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    s.inject(fake_nbia::Fault::new(
        "getImage",
        None,
        fake_nbia::FaultAction::Drip {
            chunk: 64,
            interval_ms: 3_000,
        },
    ));
    let (_t, dir) = out_dir();
    let (_, err) = dl(
        &s,
        &dir,
        &[&a.series_uid, "--idle-timeout", "1", "--retries", "0"],
        5,
    );
    assert!(
        err.contains("no data within 1s (--idle-timeout 1; raise --idle-timeout"),
        "{err}"
    );
    s.clear_faults();
    // A proxy that accepts nothing: the message names the proxy, not the server.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let proxy = format!("http://127.0.0.1:{port}");
    let (_, err) = run(&s, &["collections", "--retries", "0", "--proxy", &proxy], 5);
    assert!(
        err.contains(&format!(
            "cannot connect to the proxy 127.0.0.1:{port} (--proxy)"
        )),
        "{err}"
    );
}

#[test]
fn shards_of_another_count_are_refused_and_an_explicit_count_wins() {
    let s = FakeServer::start();
    let (_t, dir) = out_dir();
    let d = dir.to_str().unwrap();
    let _held = hold_at_first_image(
        &s,
        &[
            "download",
            "--collection",
            "TCGA-BLCA",
            "-o",
            d,
            "--shard",
            "1/2",
        ],
    );
    s.clear_faults();
    let (_, err) = run(
        &s,
        &[
            "download",
            "--collection",
            "TCGA-BLCA",
            "-o",
            d,
            "--shard",
            "1/3",
        ],
        1,
    );
    assert!(
        err.contains("a shard of 2 is running") && err.contains("the same N"),
        "{err}"
    );
    let out = tcia(&s)
        .args(["download", "--collection", "TCGA-BLCA", "-o", d])
        .args(["--shard", "auto", "--shards", "2", "--dry-run"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "4")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("shard 1/2:"), "{err}");
    assert!(
        err.contains("--shards 2 differs from SLURM_ARRAY_TASK_COUNT=4"),
        "{err}"
    );
}

#[test]
fn a_zip_bomb_is_stopped_at_the_series_size_and_exits_3() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    s.inject(fake_nbia::Fault::new(
        "getImage",
        None,
        fake_nbia::FaultAction::ExtraEntry {
            name: "bomb.dcm".into(),
            bytes: 16 << 20,
        },
    ));
    let (_t, dir) = out_dir();
    let (_, err) = dl(&s, &dir, &[&a.series_uid], 3);
    assert!(err.contains("the ZIP inflates to more than"), "{err}");
    assert_eq!(s.hits("getImage"), 1, "not retried");
    assert!(!dir.join(&a.series_uid).exists());
    assert!(tree(&dir.join(".tcia")).keys().all(|k| !k.contains("bomb")));
}

/// getSeriesMetadata (v4: CSV) answers for `uid` with a garbled ImageCount and no FileSize.
fn garbled_counts(s: &FakeServer, uid: &str) {
    s.inject(fake_nbia::Fault::new(
        "getSeriesMetadata",
        None,
        fake_nbia::FaultAction::Status {
            code: 200,
            body: format!(
                "\"Series UID\",\"Collection\",\"Number of Images\",\"File Size\"\r\n\"{uid}\",\"LIDC-IDRI\",\"n/a\",\"\"\r\n"
            ),
            content_type: Some("text/csv".into()),
            retry_after: None,
        },
    ));
}

#[test]
fn missing_counts_are_asked_again_and_never_silently_skipped() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    garbled_counts(&s, &a.series_uid);
    // A short but self-consistent archive (no md5hashes.csv to betray it, --no-md5).
    s.inject(fake_nbia::Fault::new(
        "getImage",
        None,
        fake_nbia::FaultAction::ShortZip { entries: 2 },
    ));
    let (_t, dir) = out_dir();
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--no-md5", "--retries", "0"], 3);
    assert!(
        err.contains(&format!("short series: 1 of {} images", a.image_count)),
        "{err}"
    );
    assert_eq!(s.hits("getSeriesSize"), 1);
    assert!(!dir.join(&a.series_uid).exists());

    // getSeriesSize cannot tell either: published, with a warning and a count in the summary.
    s.clear_faults();
    garbled_counts(&s, &a.series_uid);
    s.inject(fake_nbia::Fault::new(
        "getSeriesSize",
        None,
        fake_nbia::FaultAction::Status {
            code: 200,
            body: "[]".into(),
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    ));
    let (_, err) = dl(&s, &dir, &[&a.series_uid], 0);
    assert!(
        err.contains(&format!(
            "{}: the server gives no image count or size",
            a.series_uid
        )),
        "{err}"
    );
    assert!(
        err.contains("1 series without server counts: MD5s checked, completeness not provable"),
        "{err}"
    );
    assert_holds(&dir.join(&a.series_uid), &s, &a.series_uid);
}

#[test]
fn v1_one_failed_metadata_lookup_fails_only_its_series() {
    let s = FakeServer::start();
    let (a, b) = (pick(&s, "LIDC-IDRI"), pick(&s, "TCGA-BLCA"));
    s.inject(fake_nbia::Fault::new(
        "getSeriesMetaData",
        Some(1),
        fake_nbia::FaultAction::Status {
            code: 500,
            body: "lookup exploded".into(),
            content_type: None,
            retry_after: None,
        },
    ));
    let (_t, dir) = out_dir();
    let (_, err) = dl(
        &s,
        &dir,
        &[
            &a.series_uid,
            &b.series_uid,
            "--api",
            "v1",
            "--retries",
            "0",
        ],
        5,
    );
    assert!(
        err.contains("metadata lookup failed:") && err.contains("lookup exploded"),
        "{err}"
    );
    assert!(err.contains("downloaded 1, skipped 0, failed 1"), "{err}");
    let failed = std::fs::read_to_string(dir.join("failed-series.txt")).unwrap();
    let (bad, good) = if failed.trim() == a.series_uid {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(failed.trim(), bad.series_uid);
    // v1 names files differently: compare the contents.
    let got: Vec<Vec<u8>> = tree(&dir.join(&good.series_uid)).into_values().collect();
    let mut want: Vec<Vec<u8>> = truth(&s, &good.series_uid).into_values().collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert!(
        got_sorted == want,
        "{} files, {} on the server",
        got.len(),
        want.len()
    );
}

#[test]
fn input_without_uids_is_a_usage_error_naming_what_was_found() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (t, dir) = out_dir();
    let d = dir.to_str().unwrap();
    let cases = [
        (
            "x.csv",
            "Modality,PatientID\nCT,P1\n".to_string(),
            "a CSV header with columns 'Modality', 'PatientID'",
        ),
        (
            "x.tsv",
            "Modality\tPatientID\nCT\tP1\n".to_string(),
            "a TSV header with columns 'Modality', 'PatientID'",
        ),
        (
            "x.json",
            "[{\"Modality\":\"CT\",\"uid\":\"1.2\"}]".to_string(),
            "JSON objects with keys 'Modality', 'uid'",
        ),
        (
            "x.ndjson",
            "{\"Modality\":\"CT\"}\n".to_string(),
            "NDJSON objects with keys 'Modality'",
        ),
    ];
    for (name, text, found) in cases {
        let p = t.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (_, err) = run(&s, &["download", "-o", d, "-i", p.to_str().unwrap()], 2);
        assert!(
            err.contains("no series UIDs found") && err.contains(found),
            "{name}: {err}"
        );
        assert!(
            err.contains("accepted: a SeriesInstanceUID column"),
            "{err}"
        );
    }
    // Any spelling of the UID column, in any case.
    for header in [
        "seriesInstanceUID",
        "Series Instance UID",
        "Series UID",
        "SERIES_UID",
    ] {
        let p = t.path().join("ok.csv");
        std::fs::write(&p, format!("Modality,{header}\nCT,{}\n", a.series_uid)).unwrap();
        let (_, err) = run(
            &s,
            &["download", "-o", d, "-i", p.to_str().unwrap(), "--dry-run"],
            0,
        );
        assert!(err.contains("would download 1 series"), "{header}: {err}");
        let p = t.path().join("ok.json");
        std::fs::write(&p, format!("[{{\"{header}\":\"{}\"}}]", a.series_uid)).unwrap();
        let (_, err) = run(
            &s,
            &["download", "-o", d, "-i", p.to_str().unwrap(), "--dry-run"],
            0,
        );
        assert!(err.contains("would download 1 series"), "{header}: {err}");
    }
    // Not UTF-8: a usage error, for -i and --manifest alike.
    let p = t.path().join("latin1.txt");
    std::fs::write(&p, b"1.2.3\n\xe9t\xe9\n").unwrap();
    let (_, err) = run(&s, &["download", "-o", d, "-i", p.to_str().unwrap()], 2);
    assert!(err.contains("not UTF-8 text"), "{err}");
    let (_, err) = run(
        &s,
        &["download", "-o", d, "--manifest", p.to_str().unwrap()],
        2,
    );
    assert!(err.contains("not UTF-8 text"), "{err}");
    // A huge bad line is shown once, cut, with its length.
    let p = t.path().join("long.txt");
    std::fs::write(&p, format!("{}\n", "y".repeat(64 * 1024))).unwrap();
    let (_, err) = run(&s, &["download", "-o", d, "-i", p.to_str().unwrap()], 2);
    assert!(
        err.contains("… (64.00 KiB)") && err.len() < 1000,
        "{}",
        err.len()
    );
}

#[test]
fn a_manifest_retry_count_is_capped() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (t, dir) = out_dir();
    let m = t.path().join("m.tcia");
    std::fs::write(
        &m,
        format!(
            "noOfrRetry=100000\nListOfSeriesToDownload=\n{}\n",
            a.series_uid
        ),
    )
    .unwrap();
    s.inject(fake_nbia::Fault::new(
        "getImage",
        None,
        fake_nbia::FaultAction::Status {
            code: 503,
            body: "busy".into(),
            content_type: None,
            retry_after: None,
        },
    ));
    let (_, err) = dl(&s, &dir, &["--manifest", m.to_str().unwrap()], 5);
    assert!(
        err.contains("noOfrRetry=100000 capped at 20 retries"),
        "{err}"
    );
    assert_eq!(s.hits("getImage"), 21);
    assert_eq!(
        err.matches("busy").count(),
        2,
        "shown on the first retry and at the end: {err}"
    );
}

#[test]
fn an_empty_password_on_stdin_is_an_error() {
    let s = FakeServer::start();
    let out = tcia(&s)
        .args(["login", "--user", "alice", "--password-stdin"])
        .write_stdin("\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--password-stdin read an empty password"),
        "{err}"
    );
    assert_eq!(s.hits("token"), 0);
}

#[test]
fn one_huge_json_element_is_an_error_not_a_memory_hog() {
    let s = FakeServer::start();
    let body = format!("[{{\"Collection\":\"{}\"}}]", "x".repeat(20 << 20));
    s.inject(fake_nbia::Fault::new(
        "getCollectionValues",
        None,
        fake_nbia::FaultAction::Status {
            code: 200,
            body,
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    ));
    let (out, err) = run(&s, &["collections", "--retries", "0"], 5);
    assert!(
        err.contains("one element of the JSON response is over 16 MiB"),
        "{err}"
    );
    assert!(out.len() < 100, "nothing of it printed");
}

#[test]
fn csv_and_tsv_on_a_terminal_escape_control_characters() {
    let s = FakeServer::start();
    s.inject(fake_nbia::Fault::new(
        "getCollectionValues",
        None,
        fake_nbia::FaultAction::Status {
            code: 200,
            body: "[{\"Collection\":\"A\\u001b[2JB\\u009bC\"}]".into(),
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    ));
    for format in ["csv", "tsv"] {
        let out = tcia(&s)
            .args(["collections", "--format", format])
            .env("TCIA_TEST_STDOUT_TTY", "1")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("A\\u{1b}[2JB\\u{9b}C"), "{format}: {text:?}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{9b}'),
            "{format}: {text:?}"
        );
    }
    // Piped, the data stays as it is.
    let (text, _) = run(&s, &["collections", "--format", "csv"], 0);
    assert!(text.contains("A\u{1b}[2JB\u{9b}C"), "{text:?}");
}

#[test]
fn an_empty_authenticated_answer_is_warned_and_sync_keeps_its_state() {
    let s = FakeServer::start();
    let out = tcia(&s)
        .args(["login", "--user", "alice", "--password-stdin"])
        .write_stdin("wonderland\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (_t, dir) = out_dir();
    let d = dir.to_str().unwrap();
    let args = ["sync", "--api", "v2", "--collection", "TCGA-BLCA", "-o", d];
    run(&s, &args, 0);
    let state = std::fs::read(dir.join(".tcia/sync.json")).unwrap();
    // The server now ignores the token: v2 answers with nothing rather than 401.
    s.inject(fake_nbia::Fault::new(
        "getSeries",
        None,
        fake_nbia::FaultAction::Status {
            code: 200,
            body: "[]".into(),
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    ));
    let (_, err) = run(&s, &args, 0);
    assert!(
        err.contains("an authenticated request returned nothing"),
        "{err}"
    );
    assert!(err.contains("the state is not advanced"), "{err}");
    assert_eq!(std::fs::read(dir.join(".tcia/sync.json")).unwrap(), state);
    let (_, err) = run(
        &s,
        &[
            "download",
            "--api",
            "v2",
            "--collection",
            "TCGA-BLCA",
            "-o",
            d,
        ],
        0,
    );
    assert!(
        err.contains("an authenticated request returned nothing"),
        "{err}"
    );
}

#[test]
fn a_whole_run_finishes_what_a_crashed_shard_left() {
    let s = FakeServer::start();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    // The only shard of one holds every series; killed after the rename, before the record.
    let out = tcia_std(&s)
        .args(["download", "-o", dir.to_str().unwrap(), &a.series_uid])
        .args(["--shard", "1/1"])
        .env("TCIA_TEST_ABORT_PUBLISH_AFTER", "3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(86));
    assert!(!dir
        .join(".tcia/complete")
        .join(format!("{}.json", a.series_uid))
        .exists());
    // A whole run recovers it: the copy is recorded, not refused as someone else's.
    dl(&s, &dir, &[&a.series_uid], 0);
    assert_holds(&dir.join(&a.series_uid), &s, &a.series_uid);
    run(&s, &["verify", dir.to_str().unwrap()], 0);
}

#[test]
fn sync_never_replaces_what_tcia_did_not_write_either() {
    let s = FakeServer::start();
    let a = pick(&s, "TCGA-BLCA");
    let (_t, dir) = out_dir();
    std::fs::create_dir_all(dir.join(&a.series_uid)).unwrap();
    std::fs::write(dir.join(&a.series_uid).join("notes.txt"), "mine").unwrap();
    let d = dir.to_str().unwrap();
    let (_, err) = run(&s, &["sync", "--collection", "TCGA-BLCA", "-o", d], 1);
    assert!(err.contains("exists and was not written by tcia"), "{err}");
    assert!(err.contains("1 series failed"), "the others go on: {err}");
    assert_eq!(
        std::fs::read_to_string(dir.join(&a.series_uid).join("notes.txt")).unwrap(),
        "mine"
    );
    let n = s.data().series_in("TCGA-BLCA").len();
    assert_eq!(
        std::fs::read_dir(dir.join(".tcia/complete"))
            .unwrap()
            .count(),
        n - 1
    );
}
