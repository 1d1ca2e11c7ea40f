//! `external_check`: the downloads checked from outside the crate with real tools. The ZIPs are
//! fetched with the shared client (and must parse, or fail to parse, in `common::zip`); then `curl`
//! fetches each again and must get the same bytes (and report the cut one as an error), and
//! `python3 -m zipfile -t` and `unzip -t` must accept the valid ZIPs and reject the cut one.
//! A tool that is not installed prints `skipped: <tool> not found` on stderr and its checks are
//! skipped; the in-process checks always run.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use fake_nbia::{FakeServer, Fault, FaultAction, RESTRICTED_COLLECTION};

use crate::common::zip::parse_zip;
use crate::common::{get, small_server, V1, V4};

/// One download to check: the fault it is served with, and whether the result is a valid ZIP.
struct Case {
    label: &'static str,
    target: String,
    fault: Option<Fault>,
    valid: bool,
}

/// A downloaded ZIP on disk (removed on drop).
struct Fetched {
    label: &'static str,
    path: PathBuf,
    bytes: Vec<u8>,
    valid: bool,
}

impl Drop for Fetched {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn tmp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fake-nbia-ext-{}-{tag}.zip", std::process::id()))
}

fn cases(s: &FakeServer) -> Vec<Case> {
    let ds = s.data();
    let public = || {
        ds.series()
            .filter(|x| x.collection != RESTRICTED_COLLECTION)
    };
    let small = public().find(|x| (5..100).contains(&x.image_count));
    let big = public().find(|x| x.image_count > 100);
    let small = small.expect("a series of 5-99 images").series_uid;
    let big = big.expect("a series of over 100 images").series_uid;
    let md5 = format!("{V4}/getImageWithMD5Hash?SeriesInstanceUID={small}");
    let fault = |ep: &str, action| Some(Fault::new(ep, Some(1), action));
    vec![
        Case {
            label: "getImage-new-names-md5",
            target: format!(
                "{V4}/getImage?SeriesInstanceUID={big}&NewFileNames=Yes&IncludeMD5=yes"
            ),
            fault: None,
            valid: true,
        },
        Case {
            label: "getImageWithMD5Hash",
            target: md5.clone(),
            fault: None,
            valid: true,
        },
        Case {
            label: "bad-md5",
            target: md5.clone(),
            fault: fault("getImageWithMD5Hash", FaultAction::BadMd5 { entry: 1 }),
            valid: true,
        },
        Case {
            label: "corrupt-entry",
            target: md5,
            fault: fault(
                "getImageWithMD5Hash",
                FaultAction::CorruptEntry { entry: 2 },
            ),
            valid: true, // the CRC matches the corrupted bytes
        },
        Case {
            label: "short-zip",
            target: format!("{V4}/getImage?SeriesInstanceUID={small}&IncludeMD5=yes"),
            fault: fault("getImage", FaultAction::ShortZip { entries: 3 }),
            valid: true,
        },
        Case {
            label: "truncated",
            target: format!("{V1}/getImage?SeriesInstanceUID={small}"),
            fault: fault(
                "getImage",
                FaultAction::TruncateBody {
                    after_bytes: 10_000,
                },
            ),
            valid: false,
        },
    ]
}

/// Download a case with the shared client, check it in-process and store it on disk.
fn fetch(s: &FakeServer, c: &Case) -> Fetched {
    if let Some(f) = &c.fault {
        s.inject(f.clone());
    }
    let r = get(s, &c.target);
    assert_eq!(r.status, 200, "{}", c.label);
    assert_eq!(r.incomplete, !c.valid, "{}: cut transfer", c.label);
    assert_eq!(
        parse_zip(&r.body).complete,
        c.valid,
        "{}: complete ZIP",
        c.label
    );
    let path = tmp(c.label);
    std::fs::write(&path, &r.body).unwrap();
    Fetched {
        label: c.label,
        path,
        bytes: r.body,
        valid: c.valid,
    }
}

/// Whether `tool` can be run; if it is not installed, say so on stderr.
fn found(tool: &str, probe: &str) -> bool {
    let run = Command::new(tool)
        .arg(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match run {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: {tool} not found");
            false
        }
        Err(e) => panic!("cannot run {tool}: {e}"),
    }
}

/// curl fetches every case again: same bytes, HTTP 200, and a non-zero exit for the cut one.
fn curl_check(s: &FakeServer, cases: &[Case], got: &[Fetched]) {
    if !found("curl", "--version") {
        return;
    }
    for (c, f) in cases.iter().zip(got) {
        if let Some(fault) = &c.fault {
            s.inject(fault.clone());
        }
        let path = tmp(&format!("{}-curl", c.label));
        let out = Command::new("curl")
            .args(["-s", "--max-time", "20", "-w", "%{http_code}", "-o"])
            .arg(&path)
            .arg(format!("{}{}", s.url(), c.target))
            .output()
            .expect("curl");
        let bytes = std::fs::read(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", c.label);
        assert_eq!(out.status.success(), c.valid, "{}: curl {out:?}", c.label);
        assert!(
            bytes == f.bytes,
            "{}: curl got {} bytes, the client {}",
            c.label,
            bytes.len(),
            f.bytes.len()
        );
    }
}

/// A ZIP tester accepts exactly the valid ZIPs.
fn zip_tool_check(tool: &str, probe: &str, args: &[&str], got: &[Fetched]) {
    if !found(tool, probe) {
        return;
    }
    for f in got {
        let o: Output = Command::new(tool)
            .args(args)
            .arg(&f.path)
            .output()
            .expect(tool);
        let ok = o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("corrupted");
        assert_eq!(ok, f.valid, "{tool} on {}: {o:?}", f.label);
    }
}

#[test]
fn external_check() {
    let s = small_server();
    let cases = cases(&s);
    let got: Vec<Fetched> = cases.iter().map(|c| fetch(&s, c)).collect();
    curl_check(&s, &cases, &got);
    zip_tool_check("python3", "--version", &["-m", "zipfile", "-t"], &got);
    zip_tool_check("unzip", "-v", &["-tqq"], &got);
}
