//! The fault soak (issue 9): hundreds of small series, every fault kind mixed at random with a
//! fixed seed, the run SIGKILLed and resumed several times, then: every series ever present at
//! its final path is byte-identical to the server's, failures are reported with an exit code
//! that says so, nothing lands outside the target, and a final run completes everything.
//!
//! CI runs the default size (500 series, 5 kills). `bench/soak.sh` runs the long mode through
//! the variables TCIA_SOAK_SERIES, TCIA_SOAK_KILLS, TCIA_SOAK_SEED.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use fake_nbia::{Config, FakeServer, Fault, FaultAction, BULK_COLLECTION};

use super::*;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One random fault for a getImage request (or none: a zero delay passes it through).
fn random_fault(rng: &mut fastrand::Rng) -> Option<FaultAction> {
    let status = |code: u16, body: &str| FaultAction::Status {
        code,
        body: body.into(),
        content_type: None,
        retry_after: Some("0".into()),
    };
    Some(match rng.u8(0..24) {
        0 => status(500, "Internal Server Error"),
        1 => status(503, "busy"),
        2 => status(429, "slow down"),
        3 => FaultAction::HtmlPage {
            code: 502,
            title: "Bad Gateway".into(),
        },
        4 => FaultAction::Drop,
        5 => FaultAction::TruncateBody {
            after_bytes: rng.usize(0..3000),
        },
        6 => FaultAction::BadMd5 { entry: 0 },
        7 => FaultAction::ShortZip {
            entries: rng.usize(0..3),
        },
        8 => FaultAction::CorruptEntry { entry: 0 },
        9 => FaultAction::ExtraEntry {
            name: ["../escape.dcm", ".hidden", "extra.dcm", "a/b.dcm"][rng.usize(0..4)].into(),
            bytes: 64,
        },
        10 => status(400, "not been granted the access"),
        _ => return None,
    })
}

/// Files of every series folder present under `dir` (by the flat layout: `dir/<uid>/`).
fn published(dir: &Path) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() && tcia::uid::is_uid(&name) {
            let files = std::fs::read_dir(e.path())
                .unwrap()
                .flatten()
                .map(|f| {
                    let n = f.file_name().to_string_lossy().into_owned();
                    (n, std::fs::read(f.path()).unwrap())
                })
                .collect();
            out.insert(name, files);
        }
    }
    out
}

/// Every series present at its final path equals the server's copy, byte for byte.
fn assert_all_intact(s: &FakeServer, dir: &Path, when: &str) -> usize {
    let data = s.data();
    let got = published(dir);
    for (uid, files) in &got {
        let names = data.image_names(uid, true);
        assert_eq!(
            files.len(),
            names.len(),
            "{when}: {uid} has {} of {} files",
            files.len(),
            names.len()
        );
        for (i, n) in names.iter().enumerate() {
            let ok = files
                .get(n)
                .is_some_and(|b| *b == data.image(uid, i).unwrap());
            assert!(ok, "{when}: {uid}/{n} differs from the server's");
        }
    }
    got.len()
}

/// Start a download of the whole collection; SIGKILL it once the server has seen `after` more
/// image requests (or let it end). Returns the exit code (None when killed).
fn run_until(s: &FakeServer, dir: &Path, after: Option<usize>) -> (Option<i32>, String) {
    let d = dir.to_str().unwrap();
    let args = [
        "download",
        "--collection",
        BULK_COLLECTION,
        "-o",
        d,
        "--jobs",
        "4",
        "--retries",
        "2",
        "-q",
    ];
    let mut child = spawn(s, &args);
    let start = s.hits("getImage");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (st.code(), err);
        }
        if after.is_some_and(|n| s.hits("getImage") >= start + n) {
            child.kill().unwrap();
            child.wait().unwrap();
            return (None, String::new());
        }
        assert!(Instant::now() < deadline, "the run never ended");
        // Wake as soon as it exits; else look at the hit count again in a moment.
        use wait_timeout::ChildExt;
        let _ = child.wait_timeout(Duration::from_millis(2)).unwrap();
    }
}

#[test]
fn fault_soak() {
    let series = env_num("TCIA_SOAK_SERIES", 500) as usize;
    let kills = env_num("TCIA_SOAK_KILLS", 5);
    let mut rng = fastrand::Rng::with_seed(env_num("TCIA_SOAK_SEED", 9));
    let s = FakeServer::start_with(Config {
        bulk_series: series,
        image_bytes: Some(300),
        bulk_max_images: Some(4),
        ..Config::default()
    });
    // One-shot rules, consumed in order by successive image requests.
    let mut is_fault = Vec::new();
    for _ in 0..series * 2 {
        let action = random_fault(&mut rng).unwrap_or(FaultAction::Delay { ms: 0 });
        is_fault.push(!matches!(action, FaultAction::Delay { .. }));
        s.inject(Fault::new("getImage", Some(1), action));
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("out");
    for k in 0..kills {
        let after = rng.usize(series / 8..series / 3);
        let (code, err) = run_until(&s, &dir, Some(after));
        assert!(
            code.is_none_or(|c| [0, 3, 4, 5].contains(&c)),
            "kill round {k}: exit {code:?}: {err}"
        );
        assert_all_intact(&s, &dir, &format!("after kill {k}"));
    }
    // A run to the end with faults still pending: every failure listed, the code says which kind.
    let (code, err) = run_until(&s, &dir, None);
    let code = code.expect("not killed");
    let failed = std::fs::read_to_string(dir.join("failed-series.txt")).unwrap_or_default();
    let listed = failed.lines().count();
    match code {
        0 => assert_eq!(listed, 0, "{err}"),
        3..=5 => assert!(
            err.contains(&format!("{listed} series failed")) && listed > 0,
            "exit {code}: {err}"
        ),
        other => panic!("exit {other}: {err}"),
    }
    if err.contains("MD5 mismatch")
        || err.contains("unsafe entry name")
        || err.contains("short series")
    {
        assert_eq!(code, 3, "integrity failures exit 3: {err}");
    }
    assert_all_intact(&s, &dir, "after the faulted run");
    // The last run: no faults left, everything arrives.
    let consumed = s.hits("getImage").min(is_fault.len());
    let faults = is_fault[..consumed].iter().filter(|f| **f).count();
    s.clear_faults();
    let (code, err) = run_until(&s, &dir, None);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(assert_all_intact(&s, &dir, "at the end"), series);
    run(&s, &["verify", dir.to_str().unwrap()], 0);
    let outside: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        outside,
        vec![std::ffi::OsString::from("out")],
        "nothing outside the target"
    );
    for sub in ["staging", "trash"] {
        let left: Vec<_> = std::fs::read_dir(dir.join(".tcia").join(sub))
            .unwrap()
            .flatten()
            .collect();
        assert!(left.is_empty(), ".tcia/{sub} is empty: {left:?}");
    }
    eprintln!(
        "fault soak: {series} series, {faults} faults injected into {consumed} image requests ({} in all), {kills} kills, 0 corrupt series published",
        s.hits("getImage")
    );
}
