//! Downloads against the fake server: every input kind, layouts, --zip, resume, faults, hostile
//! names, the lock, the space check, dry runs, verify, interruption, output and exit codes.

use std::path::{Path, PathBuf};

use fake_nbia::{Config, FakeServer, Fault, FaultAction};

use super::*;

fn small() -> FakeServer {
    FakeServer::start()
}

/// The series of a collection with the fewest images (fast, but more than one file).
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

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every file of the series in `dir` is byte-identical to what the server holds.
fn assert_series_intact(s: &FakeServer, uid: &str, dir: &Path, new_names: bool) {
    let names = s.data().image_names(uid, new_names);
    let mut want = names.clone();
    want.sort();
    assert_eq!(files_in(dir), want, "files of {uid} in {}", dir.display());
    for (i, name) in names.iter().enumerate() {
        let got = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(got, s.data().image(uid, i).unwrap(), "{name}");
    }
}

fn fault(endpoint: &str, times: Option<u32>, action: FaultAction) -> Fault {
    Fault {
        endpoint: endpoint.into(),
        times,
        action,
    }
}

/// Terminal output with its control sequences (`ESC [ ... letter`) taken out.
fn without_escapes(t: &str) -> String {
    let mut out = String::new();
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("out");
    (t, p)
}

fn dl(s: &FakeServer, dir: &Path, extra: &[&str], code: i32) -> (String, String) {
    let mut args = vec!["download", "-o", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(s, &args, code)
}

#[test]
fn uids_as_arguments_flat_layout_with_license_and_metadata_csv() {
    let s = small();
    let (a, b) = (pick(&s, "LIDC-IDRI"), pick(&s, "TCGA-BLCA"));
    let (_t, dir) = out_dir();
    let (out, err) = dl(&s, &dir, &[&a.series_uid, &b.series_uid, &a.series_uid], 0);
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
    assert_series_intact(&s, &b.series_uid, &dir.join(&b.series_uid), true);
    assert_eq!(s.hits("getImage"), 2, "duplicates downloaded once");
    let q = query_of(&requests_to(&s, "getImage")[0]);
    assert_eq!(q["NewFileNames"], "Yes");
    assert_eq!(q["IncludeMD5"], "yes");
    assert_eq!(
        std::fs::read_to_string(dir.join("LICENSES/LIDC-IDRI")).unwrap(),
        s.data().license_text("LIDC-IDRI")
    );
    let csv = std::fs::read_to_string(dir.join("metadata.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        &header[..3],
        ["Series UID", "Collection", "3rd Party Analysis"]
    );
    assert!(header.contains(&"MD5 Verified".to_string()));
    // One timestamp column, as the Data Retriever writes it.
    let stamps: Vec<&String> = header
        .iter()
        .filter(|h| h.contains("Timestamp") || h.contains("Downloaded"))
        .collect();
    assert_eq!(stamps, ["Download Timestamp"], "{header:?}");
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let row = rows
        .iter()
        .find(|r| &r[0] == a.series_uid.as_str())
        .unwrap();
    assert_eq!(&row[1], "LIDC-IDRI");
    assert_eq!(row[13].parse::<u64>().unwrap(), a.image_count);
    assert_eq!(row[14].parse::<u64>().unwrap(), a.file_size);
    // Not a terminal: one line per series and the summary.
    assert!(err.contains(&format!("done {}", a.series_uid)), "{err}");
    assert!(err.contains("downloaded 2, skipped 0, failed 0: "), "{err}");
    assert!(!err.contains('\u{1b}'), "no escape codes in logs");
    assert!(!err.contains(" series ["), "no progress bar in logs: {err}");
    assert!(!dir.join("failed-series.txt").exists());
}

/// With stderr on a terminal the progress bars are drawn (an overall bar counting series, redrawn
/// in place), instead of the one-line-per-series log of a pipe; the download itself is the same.
#[cfg(target_os = "linux")]
#[test]
fn a_terminal_shows_progress_bars() {
    let s = small();
    let (a, b) = (pick(&s, "LIDC-IDRI"), pick(&s, "TCGA-BLCA"));
    let (_t, dir) = out_dir();
    // Each series' ZIP comes in small pieces, so the bars have progress to draw.
    s.inject(fault(
        "getImage",
        None,
        FaultAction::Drip {
            chunk: 2048,
            interval_ms: 5,
        },
    ));
    let mut child = on_pty(
        &s,
        &[
            "download",
            "-o",
            dir.to_str().unwrap(),
            &a.series_uid,
            &b.series_uid,
        ],
    )
    // A terminal that can draw (TERM unset or dumb gets lines, as in cron).
    .env("TERM", "xterm")
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Keep script's stdin open until tcia is done (its end would be typed into the terminal).
    let stdin = child.stdin.take();
    let mut shown = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut shown).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
    assert_series_intact(&s, &b.series_uid, &dir.join(&b.series_uid), true);
    // Redrawn in place (cursor up, erase line), styled.
    assert!(shown.contains("\u{1b}[2K"), "drawn in place: {shown:?}");
    assert!(shown.contains("\u{1b}[1A"), "drawn in place: {shown:?}");
    // The overall bar, `1/2 series [=====>    ] 60.0/112.0 KiB ...`, seen filling up.
    let text = without_escapes(&shown);
    assert!(text.contains("0/2 series [ "), "{text:?}");
    assert!(text.contains(" series [="), "{text:?}");
    let total = a.file_size + b.file_size;
    assert!(total < 1 << 20, "small enough to be shown in KiB");
    let total = format!("/{:.1} KiB", total as f64 / 1024.0);
    assert!(
        text.contains(&total),
        "the bar knows the total {total}: {text:?}"
    );
    assert!(
        text.contains("downloaded 2, skipped 0, failed 0: "),
        "{text:?}"
    );
    assert!(
        !shown.contains(&format!("done {}", a.series_uid)),
        "no log lines on a terminal: {shown:?}"
    );
}

#[test]
fn a_rerun_skips_complete_series_without_image_requests() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid], 0);
    let before = s.hits("getImage");
    let (_, err) = dl(&s, &dir, &[&a.series_uid], 0);
    assert_eq!(s.hits("getImage"), before, "no image request on a re-run");
    assert!(err.contains("downloaded 0, skipped 1, failed 0"), "{err}");
    // A file that went missing is noticed cheaply (sizes and presence) and fetched again.
    let name = &s.data().image_names(&a.series_uid, true)[0];
    std::fs::remove_file(dir.join(&a.series_uid).join(name)).unwrap();
    let (_, err) = dl(&s, &dir, &[&a.series_uid], 0);
    assert!(err.contains("downloaded 1, skipped 0"), "{err}");
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
}

#[test]
fn input_from_a_pipe_in_every_format() {
    let s = small();
    for fmt in ["csv", "tsv", "json", "ndjson"] {
        let (list, _) = run(
            &s,
            &[
                "series",
                "--collection",
                "LIDC-IDRI",
                "--modality",
                "DX",
                "--format",
                fmt,
            ],
            0,
        );
        let (_t, dir) = out_dir();
        let out = tcia(&s)
            .args(["download", "-i", "-", "-o", dir.to_str().unwrap()])
            .write_stdin(list)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{fmt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = s
            .data()
            .series_in("LIDC-IDRI")
            .into_iter()
            .filter(|x| x.modality == "DX")
            .count();
        let got = files_in(&dir)
            .into_iter()
            .filter(|n| n.starts_with("1."))
            .count();
        assert_eq!(got, want, "{fmt}");
    }
}

#[test]
fn filters_cart_and_plain_uid_file() {
    let s = small();
    let (_t, dir) = out_dir();
    dl(
        &s,
        &dir,
        &["--collection", "Soft-tissue-Sarcoma", "--modality", "PT"],
        0,
    );
    let want: Vec<_> = s
        .data()
        .series_in("Soft-tissue-Sarcoma")
        .into_iter()
        .filter(|x| x.modality == "PT")
        .collect();
    assert!(!want.is_empty());
    for x in &want {
        assert_series_intact(&s, &x.series_uid, &dir.join(&x.series_uid), true);
    }

    let (_t2, dir2) = out_dir();
    let (_, err) = dl(
        &s,
        &dir2,
        &[
            "--cart",
            "https://portal/nbia-search/?saved-cart=nbia-20230808151512345",
        ],
        0,
    );
    let cart = s
        .data()
        .carts()
        .iter()
        .find(|(n, _)| n == "nbia-20230808151512345")
        .unwrap()
        .1
        .clone();
    assert!(err.contains(&format!("downloaded {}", cart.len())), "{err}");
    for uid in &cart {
        assert!(dir2.join(uid).is_dir());
    }

    let (_t3, dir3) = out_dir();
    let list = dir3.with_extension("txt");
    std::fs::write(&list, format!("# my cohort\n{}\n\n{}\n", cart[0], cart[1])).unwrap();
    dl(&s, &dir3, &["-i", list.to_str().unwrap()], 0);
    assert_eq!(
        files_in(&dir3)
            .iter()
            .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        2
    );
}

#[test]
fn a_manifest_names_its_server() {
    let s = small();
    let dir0 = tempfile::tempdir().unwrap();
    let manifest = dir0.path().join("cart.tcia");
    let uids: Vec<String> = s
        .data()
        .series_in("TCGA-BLCA")
        .into_iter()
        .take(2)
        .map(|x| x.series_uid)
        .collect();
    run(
        &s,
        &[
            "manifest",
            "--series-uid",
            &uids[0],
            "--series-uid",
            &uids[1],
            "-o",
            manifest.to_str().unwrap(),
        ],
        0,
    );
    let (_t, dir) = out_dir();
    // No --server and no TCIA_SERVER: the manifest's downloadServerUrl decides.
    let out = tcia(&s)
        .env_remove("TCIA_SERVER")
        .args([
            "download",
            "--manifest",
            manifest.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for u in &uids {
        assert_series_intact(&s, u, &dir.join(u), true);
    }
}

#[test]
fn layouts_classic_descriptive_and_template() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    let study = s
        .data()
        .studies_in("LIDC-IDRI")
        .into_iter()
        .find(|st| st.study_uid == a.study_uid)
        .unwrap();
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--layout", "classic"], 0);
    assert_series_intact(
        &s,
        &a.series_uid,
        &dir.join("LIDC-IDRI")
            .join(&a.patient_id)
            .join(&a.study_uid)
            .join(&a.series_uid),
        true,
    );

    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--layout", "descriptive"], 0);
    let patient_dir = dir.join("LIDC-IDRI").join(&a.patient_id);
    let studies = files_in(&patient_dir);
    assert_eq!(studies.len(), 1);
    let last5 = &a.study_uid[a.study_uid.len() - 5..];
    assert!(studies[0].ends_with(&format!("-{last5}")), "{studies:?}");
    let date = study
        .study_date
        .as_ref()
        .map(|d| d.v4())
        .unwrap_or_default();
    assert!(
        studies[0].starts_with(&date),
        "{studies:?} starts with the study date {date}"
    );
    let series_dirs = files_in(&patient_dir.join(&studies[0]));
    assert!(
        series_dirs[0].ends_with(&a.series_uid[a.series_uid.len() - 5..]),
        "{series_dirs:?}"
    );
    assert!(series_dirs[0].contains(".000000-"), "{series_dirs:?}");

    let (_t, dir) = out_dir();
    dl(
        &s,
        &dir,
        &[
            &a.series_uid,
            "--layout",
            "%Collection/%PatientID/%Modality-%SeriesInstanceUID",
        ],
        0,
    );
    assert!(dir
        .join("LIDC-IDRI")
        .join(&a.patient_id)
        .join(format!("{}-{}", a.modality, a.series_uid))
        .is_dir());

    // Two series in one folder is refused before anything is fetched.
    let b = s
        .data()
        .series_in("LIDC-IDRI")
        .into_iter()
        .find(|x| x.patient_id == a.patient_id && x.series_uid != a.series_uid)
        .unwrap();
    let (_t, dir) = out_dir();
    let before = s.hits("getImage");
    let (_, err) = dl(
        &s,
        &dir,
        &[
            &a.series_uid,
            &b.series_uid,
            "--layout",
            "%Collection/%PatientID",
        ],
        2,
    );
    assert!(err.contains("same directory"), "{err}");
    assert_eq!(s.hits("getImage"), before);
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--layout", "%Nope"], 2);
    assert!(err.contains("unknown field %Nope"), "{err}");
}

#[test]
fn zip_mode_keeps_verified_archives() {
    let s = small();
    let a = pick(&s, "CT COLONOGRAPHY");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--zip"], 0);
    let zip_path = dir.join(format!("{}.zip", a.series_uid));
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let names = s.data().image_names(&a.series_uid, true);
    for (i, n) in names.iter().enumerate() {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut z.by_name(n).unwrap(), &mut buf).unwrap();
        assert_eq!(buf, s.data().image(&a.series_uid, i).unwrap());
    }
    run(&s, &["verify", dir.to_str().unwrap()], 0);
    let before = s.hits("getImage");
    dl(&s, &dir, &[&a.series_uid, "--zip"], 0);
    assert_eq!(s.hits("getImage"), before, "resumes in zip mode too");
}

#[test]
fn v1_uses_get_image_with_md5_hash() {
    let s = small();
    let a = pick(&s, "TCGA-BLCA");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--api", "v1"], 0);
    assert_eq!(s.hits("getImageWithMD5Hash"), 1);
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), false);
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--no-md5"], 0);
    assert!(!query_of(requests_to(&s, "getImage").last().unwrap()).contains_key("IncludeMD5"));
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
}

#[test]
fn transient_faults_are_retried_to_success() {
    let actions = [
        FaultAction::TruncateBody { after_bytes: 700 },
        FaultAction::ShortZip { entries: 2 },
        FaultAction::BadMd5 { entry: 0 },
        FaultAction::CorruptEntry { entry: 1 },
        FaultAction::Status {
            code: 500,
            body: "Server was not able to process your request\nnull".into(),
            content_type: Some("text/plain".into()),
            retry_after: None,
        },
        FaultAction::Status {
            code: 429,
            body: "slow down".into(),
            content_type: None,
            retry_after: Some("3".into()),
        },
        FaultAction::HtmlPage {
            code: 502,
            title: "Bad Gateway".into(),
        },
        FaultAction::HtmlPage {
            code: 200,
            title: "Maintenance".into(),
        },
        FaultAction::Drop,
        FaultAction::Drip {
            chunk: 4096,
            interval_ms: 1,
        },
    ];
    for action in actions {
        let s = small();
        let a = pick(&s, "LIDC-IDRI");
        s.inject(fault("getImage", Some(1), action.clone()));
        let (_t, dir) = out_dir();
        let (_, err) = dl(&s, &dir, &[&a.series_uid], 0);
        assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
        let expected_hits = if matches!(action, FaultAction::Drip { .. }) {
            1
        } else {
            2
        };
        assert_eq!(s.hits("getImage"), expected_hits, "{action:?}: {err}");
        if expected_hits == 2 {
            assert!(
                err.contains(&format!("retry 1 of {}", a.series_uid)),
                "{action:?}: {err}"
            );
        }
    }
}

#[test]
fn persistent_integrity_failures_exit_3_and_leave_nothing() {
    let s = small();
    let (a, b) = (pick(&s, "LIDC-IDRI"), pick(&s, "TCGA-BLCA"));
    s.inject(fault("getImage", None, FaultAction::BadMd5 { entry: 0 }));
    let (_t, dir) = out_dir();
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--retries", "2"], 3);
    assert_eq!(s.hits("getImage"), 3);
    assert!(err.contains("MD5 mismatch"), "{err}");
    assert!(
        err.contains("expected") && err.contains("computed"),
        "{err}"
    );
    assert!(
        !dir.join(&a.series_uid).exists(),
        "nothing under the final path"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("failed-series.txt")).unwrap(),
        format!("{}\n", a.series_uid)
    );
    assert!(err.contains("downloaded 0, skipped 0, failed 1"), "{err}");
    assert!(
        files_in(&dir.join(".tcia/staging")).is_empty(),
        "staging cleaned"
    );
    // Once the server is fixed, the failed list is the input for the retry.
    s.clear_faults();
    let failed = dir.join("failed-series.txt");
    dl(
        &s,
        &dir,
        &["-i", failed.to_str().unwrap(), &b.series_uid],
        0,
    );
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
    assert!(!failed.exists());
}

#[test]
fn server_errors_exit_5_and_refusals_exit_4_without_retry() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    s.inject(fault(
        "getImage",
        None,
        FaultAction::Status {
            code: 503,
            body: "down".into(),
            content_type: None,
            retry_after: None,
        },
    ));
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--retries", "1"], 5);
    assert_eq!(s.hits("getImage"), 2);

    let s = small();
    s.inject(fault(
        "getImage",
        None,
        FaultAction::Status {
            code: 400,
            body: format!("The user has not been granted the access to image with given SeriesInstanceUID,{}. Please contact System Admin to resolve this issue.", a.series_uid),
            content_type: Some("application/json".into()),
            retry_after: None,
        },
    ));
    let (_t, dir) = out_dir();
    let (_, err) = dl(&s, &dir, &[&a.series_uid], 4);
    assert_eq!(s.hits("getImage"), 1, "a refusal is not retried");
    assert!(err.contains("--server nlst"), "{err}");

    // A UID the server does not know: reported, not fetched.
    let (_t, dir) = out_dir();
    let (_, err) = dl(&s, &dir, &["1.2.3.4.5.6.7"], 4);
    assert!(
        err.contains("1.2.3.4.5.6.7") && err.contains("unknown series"),
        "{err}"
    );
}

#[test]
fn hostile_entry_names_never_escape() {
    for name in [
        "../../evil.dcm",
        "/tmp/tcia-evil-abs.dcm",
        "a/../../b.dcm",
        "C:\\x.dcm",
        "a\\b.dcm",
        "x\u{0}y.dcm",
        "sub/dir.dcm",
    ] {
        let s = small();
        let a = pick(&s, "LIDC-IDRI");
        s.inject(fault(
            "getImage",
            None,
            FaultAction::ExtraEntry {
                name: name.into(),
                bytes: 10,
            },
        ));
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a").join("out");
        let (_, err) = dl(&s, &dir, &[&a.series_uid], 3);
        assert!(err.contains("unsafe entry name"), "{name:?}: {err}");
        assert_eq!(s.hits("getImage"), 1, "not retried");
        assert!(!dir.join(&a.series_uid).exists());
        // Nothing anywhere outside the output directory, nor stray files inside it.
        let mut all = Vec::new();
        let mut stack = vec![t.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    all.push(e.path());
                }
            }
        }
        assert!(all.iter().all(|p| p.starts_with(&dir)), "{all:?}");
        assert!(
            all.iter().all(|p| !p.to_string_lossy().contains("evil")
                && !p.to_string_lossy().ends_with("b.dcm")),
            "{all:?}"
        );
        assert!(!Path::new("/tmp/tcia-evil-abs.dcm").exists());
    }
}

#[cfg(unix)]
#[test]
fn symlinks_in_the_output_are_not_followed() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    let (t, dir) = out_dir();
    let elsewhere = t.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("LIDC-IDRI")).unwrap();
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--layout", "classic"], 1);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(files_in(&elsewhere).is_empty());
}

#[test]
fn dry_run_and_space_check() {
    let s = FakeServer::start_with(Config {
        image_bytes: Some(u32::MAX),
        ..Config::default()
    });
    let (_t, dir) = out_dir();
    let (out, err) = dl(&s, &dir, &["--collection", "LIDC-IDRI", "--dry-run"], 0);
    assert!(out.is_empty());
    let n = s.data().series_in("LIDC-IDRI").len();
    assert!(
        err.contains(&format!("dry run: would download {n} series")),
        "{err}"
    );
    assert!(!dir.exists(), "a dry run creates nothing");
    assert_eq!(s.hits("getImage"), 0);
    let (_, err) = dl(&s, &dir, &["--collection", "LIDC-IDRI"], 1);
    assert!(
        err.contains("not enough space") && err.contains("--no-space-check"),
        "{err}"
    );
    assert_eq!(s.hits("getImage"), 0);
}

#[test]
fn a_second_run_on_the_same_directory_is_refused() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    let _first = hold_at_first_image(
        &s,
        &["download", &a.series_uid, "-o", dir.to_str().unwrap()],
    );
    let (_, err) = dl(&s, &dir, &[&a.series_uid], 1);
    assert!(err.contains("already running"), "{err}");
}

#[cfg(unix)]
#[test]
fn interrupted_then_resumed() {
    let s = small();
    let series: Vec<_> = s
        .data()
        .series_in("LIDC-IDRI")
        .into_iter()
        .filter(|x| x.image_count > 20)
        .take(3)
        .collect();
    s.inject(fault(
        "getImage",
        None,
        FaultAction::Drip {
            chunk: 1024,
            interval_ms: 20,
        },
    ));
    let (_t, dir) = out_dir();
    let mut args = vec![
        "download".to_string(),
        "-o".into(),
        dir.to_str().unwrap().into(),
        "--server".into(),
        s.url(),
    ];
    args.extend(series.iter().map(|x| x.series_uid.clone()));
    let child = spawn(&s, &args.iter().map(String::as_str).collect::<Vec<_>>());
    wait_for_hits(&s, "getImage", 3);
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for x in &series {
        assert!(
            !dir.join(&x.series_uid).exists(),
            "no half series under its final path"
        );
    }
    s.clear_faults();
    let uids: Vec<&str> = series.iter().map(|x| x.series_uid.as_str()).collect();
    let mut extra = uids.clone();
    extra.push("-q");
    let (_, err) = dl(&s, &dir, &extra, 0);
    assert_eq!(
        err.trim(),
        format!("tcia: {}", err.trim().trim_start_matches("tcia: ")),
        "only the summary with -q"
    );
    assert!(err.contains("downloaded 3, skipped 0, failed 0"), "{err}");
    for x in &series {
        assert_series_intact(&s, &x.series_uid, &dir.join(&x.series_uid), true);
    }
}

#[test]
fn verify_finds_corrupt_missing_and_extra_files_and_download_verify_repairs() {
    let s = small();
    let (a, b) = (pick(&s, "LIDC-IDRI"), pick(&s, "TCGA-BLCA"));
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, &b.series_uid], 0);
    run(&s, &["verify", dir.to_str().unwrap()], 0);
    let names = s.data().image_names(&a.series_uid, true);
    let victim = dir.join(&a.series_uid).join(&names[0]);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    std::fs::remove_file(
        dir.join(&b.series_uid)
            .join(&s.data().image_names(&b.series_uid, true)[1]),
    )
    .unwrap();
    std::fs::write(dir.join(&b.series_uid).join("notes.txt"), "x").unwrap();
    let (out, err) = run(&s, &["verify", dir.to_str().unwrap()], 3);
    assert!(
        out.contains(&format!(
            "corrupt\t{}\t{}/{}",
            a.series_uid, a.series_uid, names[0]
        )),
        "{out}"
    );
    assert!(out.contains(&format!("missing\t{}", b.series_uid)), "{out}");
    assert!(
        out.contains(&format!(
            "extra\t{}\t{}/notes.txt",
            b.series_uid, b.series_uid
        )),
        "{out}"
    );
    assert!(err.contains("1 corrupt, 1 missing, 1 extra"), "{err}");
    // A same-size corruption passes the cheap resume check; --verify re-hashes and repairs it.
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--verify"], 0);
    assert!(err.contains("downloaded 1"), "{err}");
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
}

#[test]
fn single_image_is_written_atomically() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    let sop = s.data().sop_uids(&a.series_uid)[0].clone();
    let t = tempfile::tempdir().unwrap();
    run(
        &s,
        &[
            "getSingleImage",
            "--series-uid",
            &a.series_uid,
            "--sop-uid",
            &sop,
            "-o",
            t.path().to_str().unwrap(),
        ],
        0,
    );
    let got = std::fs::read(t.path().join(format!("{sop}.dcm"))).unwrap();
    assert_eq!(&got[128..132], b"DICM");
    let (_, err) = run(
        &s,
        &[
            "single-image",
            "--series-uid",
            &a.series_uid,
            "--sop-uid",
            "1.2.3",
            "-o",
            t.path().join("x.dcm").to_str().unwrap(),
            "--retries",
            "0",
        ],
        5,
    );
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(!t.path().join("x.dcm").exists());
}

#[test]
fn nothing_to_download_is_a_usage_error() {
    let s = small();
    let (_t, dir) = out_dir();
    let (_, err) = dl(&s, &dir, &[], 2);
    assert!(err.contains("say what to download"), "{err}");
    let (_, err) = dl(&s, &dir, &["not-a-uid"], 2);
    assert!(err.contains("-i FILE"), "{err}");
    let (_, err) = dl(&s, &dir, &["1.2.3", "--api", "legacy", "--api-key", "k"], 2);
    assert!(err.contains("--api v4"), "{err}");
}

#[test]
fn a_stalled_connection_hits_the_idle_timeout() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    s.inject(fault(
        "getImage",
        Some(1),
        FaultAction::Drip {
            chunk: 64,
            interval_ms: 5_000,
        },
    ));
    let (_t, dir) = out_dir();
    let (_, err) = dl(&s, &dir, &[&a.series_uid, "--idle-timeout", "1"], 0);
    assert!(err.contains("retry 1 of"), "{err}");
    assert_eq!(s.hits("getImage"), 2);
    assert_series_intact(&s, &a.series_uid, &dir.join(&a.series_uid), true);
}

#[test]
fn a_manifest_beats_the_config_file_but_not_the_environment() {
    let s = small();
    let dir0 = tempfile::tempdir().unwrap();
    let manifest = dir0.path().join("cart.tcia");
    let uid = s.data().series_in("TCGA-BLCA")[0].series_uid.clone();
    run(
        &s,
        &[
            "manifest",
            "--series-uid",
            &uid,
            "-o",
            manifest.to_str().unwrap(),
        ],
        0,
    );
    // A config file naming another (dead) server: the manifest's server wins over it.
    std::fs::create_dir_all(config_dir(&s)).unwrap();
    std::fs::write(
        config_dir(&s).join("config.toml"),
        "server = \"http://127.0.0.1:9\"\nretries = 0\n",
    )
    .unwrap();
    let (_t, dir) = out_dir();
    let out = tcia(&s)
        .env_remove("TCIA_SERVER")
        .args([
            "download",
            "--manifest",
            manifest.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join(&uid).is_dir());
    // The environment beats the manifest.
    let (_t, dir) = out_dir();
    let out = tcia(&s)
        .env("TCIA_SERVER", "http://127.0.0.1:9")
        .args([
            "download",
            "--manifest",
            manifest.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
            "--retries",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(config_dir(&s).join("config.toml")).unwrap();
}

#[test]
fn a_new_layout_never_replaces_an_earlier_download() {
    let s = small();
    let a = pick(&s, "LIDC-IDRI");
    let (_t, dir) = out_dir();
    dl(&s, &dir, &[&a.series_uid, "--layout", "classic"], 0);
    let b = s
        .data()
        .series_in("LIDC-IDRI")
        .into_iter()
        .find(|x| x.patient_id == a.patient_id && x.series_uid != a.series_uid)
        .unwrap();
    // `%Collection/%PatientID` is the parent of the classic copy of `a`: refused, nothing touched.
    let (_, err) = dl(
        &s,
        &dir,
        &[&b.series_uid, "--layout", "%Collection/%PatientID"],
        2,
    );
    assert!(
        err.contains("clashes with") && err.contains(&a.series_uid),
        "{err}"
    );
    assert_series_intact(
        &s,
        &a.series_uid,
        &dir.join("LIDC-IDRI")
            .join(&a.patient_id)
            .join(&a.study_uid)
            .join(&a.series_uid),
        true,
    );
    run(&s, &["verify", dir.to_str().unwrap()], 0);
}

#[test]
fn uids_from_documents_must_be_uids() {
    let s = small();
    let (_t, dir) = out_dir();
    let out = tcia(&s)
        .args(["download", "-i", "-", "-o", dir.to_str().unwrap()])
        .write_stdin("SeriesInstanceUID,Modality\n../../../tmp/x,CT\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a series instance UID"));
    assert!(!dir.exists());
}

/// A plan of more series than one metadata lookup chunk (20,000) is held compactly (issue 9):
/// every series is still printed once, first-seen order kept, with its own counts and its
/// classic path, and the `--format` plan carries the same.
#[test]
fn a_large_dry_run_plan_prints_every_series_once() {
    let s = FakeServer::start_with(Config {
        bulk_series: 25_000,
        ..Config::default()
    });
    let series = s.data().series_in("Bulk-Synthetic");
    let want: HashMap<&str, (u64, String)> = series
        .iter()
        .map(|x| {
            let path = format!(
                "Bulk-Synthetic/{}/{}/{}",
                x.patient_id, x.study_uid, x.series_uid
            );
            (x.series_uid.as_str(), (x.image_count, path))
        })
        .collect();
    let last = series.last().unwrap().series_uid.clone();
    let (_t, dir) = out_dir();
    let args = [
        last.as_str(),
        "--collection",
        "Bulk-Synthetic",
        "--dry-run",
        "--layout",
        "classic",
    ];
    let (_, err) = dl(&s, &dir, &args, 0);
    let lines: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("tcia: would download "))
        .collect();
    assert_eq!(lines.len(), series.len());
    let mut seen = std::collections::HashSet::new();
    for (i, l) in lines.iter().enumerate() {
        let (uid, rest) = l.split_once(' ').unwrap();
        let (n, path) = &want[uid];
        assert!(rest.starts_with(&format!("({n} images, ")), "{l}");
        assert!(rest.ends_with(&format!(" -> {path}")), "{l}");
        assert!(seen.insert(uid), "{uid} twice");
        // The UID given first comes first; then the selection's order.
        let expected = if i == 0 {
            &last
        } else {
            &series[i - 1].series_uid
        };
        assert_eq!(uid, expected);
    }
    let images: u64 = series.iter().map(|x| x.image_count).sum();
    assert!(
        err.contains(&format!(
            "dry run: would download {} series ({images} images, ",
            series.len()
        )),
        "{}",
        err.lines().last().unwrap_or_default()
    );
    let (out, _) = dl(&s, &dir, &[&args[..], &["--format", "ndjson"]].concat(), 0);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_uid: HashMap<&str, &fake_nbia::Series> =
        series.iter().map(|x| (x.series_uid.as_str(), x)).collect();
    assert_eq!(rows.len(), series.len());
    for r in &rows {
        let uid = r["uid"].as_str().unwrap();
        let x = by_uid[uid];
        assert_eq!(r["images"], x.image_count);
        assert_eq!(r["bytes"], x.file_size);
        assert_eq!(r["collection"], "Bulk-Synthetic");
        assert_eq!(r["action"], "fetch");
        let path = dir.join(&want[uid].1);
        assert_eq!(r["path"].as_str().unwrap(), path.to_str().unwrap());
    }
}
