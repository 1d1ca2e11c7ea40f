//! What a new user meets first (issue 11): Ctrl-C at prompts, tables that fit, progress that
//! fits, heartbeats off a terminal, messages that say where a run stands, help that teaches.

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_nbia::FakeServer;

#[cfg(target_os = "linux")]
use super::on_pty;
use super::run;

/// What a pty-run tcia has shown so far, collected on a thread.
#[cfg(target_os = "linux")]
struct PtyRun {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    shown: Arc<Mutex<Vec<u8>>>,
}

#[cfg(target_os = "linux")]
impl PtyRun {
    fn start(mut cmd: std::process::Command) -> PtyRun {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start script");
        let stdin = child.stdin.take();
        let mut out = child.stdout.take().unwrap();
        let shown = Arc::new(Mutex::new(Vec::new()));
        let sink = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtyRun {
            child,
            stdin,
            shown,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().unwrap()).into_owned()
    }

    /// Wait (polling, with a deadline) until the terminal shows `what`.
    fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "never shown {what:?}: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Type `bytes` into the terminal.
    fn type_in(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// The exit code within `secs`, or None (the process is killed).
    fn exit_within(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Ctrl-C (typed as ^C into the terminal) at `tcia args` once `prompt` is shown: exit 130, and
/// nothing typed afterwards is taken as input.
#[cfg(target_os = "linux")]
fn ctrl_c_at(s: &FakeServer, args: &[&str], prompt: &str) -> String {
    let mut r = PtyRun::start(on_pty(s, args));
    r.wait_for(prompt);
    // Several times a person would: each one must end it, the first one already.
    r.type_in(b"\x03");
    let code = r.exit_within(15);
    let shown = r.text();
    assert_eq!(code, Some(130), "Ctrl-C ends it with 130: {shown:?}");
    assert!(shown.contains("interrupted"), "{shown:?}");
    shown
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_at_the_login_user_prompt_exits_130() {
    let s = FakeServer::start();
    for _ in 0..3 {
        ctrl_c_at(&s, &["login"], "User for ");
    }
    assert!(s.requests().is_empty(), "no login was tried");
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_at_the_password_prompt_exits_130() {
    let s = FakeServer::start();
    let shown = ctrl_c_at(&s, &["login", "--user", "alice"], "Password for alice");
    assert!(s.requests().is_empty(), "{shown:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn download_from_a_terminal_says_how_to_end_and_ctrl_c_works() {
    let s = FakeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let shown = ctrl_c_at(
        &s,
        &["download", "-i", "-", "-o", dir.path().to_str().unwrap()],
        "end with Ctrl-D",
    );
    assert!(
        shown.contains("reading UIDs from the terminal; end with Ctrl-D"),
        "{shown:?}"
    );
    for args in [
        &["series-metadata", "-"][..],
        &["manifest", "--series-uid", "-", "-o", "x.tcia"],
    ] {
        ctrl_c_at(&s, args, "end with Ctrl-D");
    }
}

#[test]
fn piped_stdin_gets_no_terminal_hint() {
    let s = FakeServer::start();
    let out = super::tcia(&s)
        .args(["series-metadata", "-", "--format", "csv"])
        .write_stdin("")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Ctrl-D"), "{err}");
}

/// `tcia series --format table` at `columns` wide: (stdout, stderr).
fn table_at(s: &FakeServer, args: &[&str], columns: usize) -> (String, String) {
    let out = super::tcia(s)
        .args(args)
        .args(["--format", "table"])
        .env("COLUMNS", columns.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_series_table_shows_a_short_readable_set_at_every_width() {
    let s = FakeServer::start();
    let args = ["series", "--collection", "LIDC-IDRI"];
    let uids: Vec<String> = super::json_rows(&s, &args)
        .iter()
        .map(|r| r["SeriesInstanceUID"].as_str().unwrap().to_string())
        .collect();
    for width in [60, 80, 120, 200] {
        let (table, err) = table_at(&s, &args, width);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), uids.len() + 1, "{table}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= width),
            "fits {width}: {table}"
        );
        let head: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(&head[..2], ["PatientID", "Modality"], "{width}: {table}");
        let last = head.last().unwrap().trim_start_matches('…');
        assert!("SeriesInstanceUID".ends_with(last), "{table}");
        // The UID last, cut from the left: its distinctive end stays.
        for (l, uid) in lines[1..].iter().zip(&uids) {
            let cell = l.split_whitespace().last().unwrap();
            let tail = cell.trim_start_matches('…');
            assert!(tail.len() >= 11 && uid.ends_with(tail), "{uid} as {cell}");
        }
        assert!(
            err.contains("more columns: --fields, or --format csv"),
            "{err}"
        );
    }
    // Wide enough for the whole set: counts right-aligned, sizes in human units.
    let (table, _) = table_at(&s, &args, 200);
    let head = table.lines().next().unwrap();
    for c in ["SeriesDescription", "ImageCount", "FileSize"] {
        assert!(head.contains(c), "{head}");
    }
    assert!(!head.contains("StudyInstanceUID") && !head.contains("Manufacturer"));
    let end = head.find("ImageCount").unwrap() + "ImageCount".len();
    for l in table.lines().skip(1) {
        assert!(
            l[..end].ends_with(|c: char| c.is_ascii_digit()),
            "right-aligned: {l}"
        );
        assert!(l.contains("iB "), "human size: {l}");
    }
    // Other formats keep every column: the output contract.
    let (csv, err) = run(
        &s,
        &["series", "--collection", "LIDC-IDRI", "--format", "csv"],
        0,
    );
    assert!(
        csv.lines().next().unwrap().split(',').count() >= 25,
        "{csv}"
    );
    assert!(!err.contains("more columns"), "{err}");
}

#[test]
fn studies_and_patients_tables_are_short_too() {
    let s = FakeServer::start();
    let (t, _) = table_at(&s, &["studies", "--collection", "LIDC-IDRI"], 80);
    let head = t.lines().next().unwrap();
    assert!(
        head.starts_with("PatientID") && head.ends_with("StudyInstanceUID"),
        "{t}"
    );
    let (t, err) = table_at(&s, &["patients", "--collection", "LIDC-IDRI"], 80);
    assert!(t.starts_with("PatientId"), "{t}");
    assert!(err.contains("more column"), "{err}");
    // --fields shows exactly those, with no footer.
    let (t, err) = table_at(
        &s,
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--fields",
            "Collection,SeriesInstanceUID",
        ],
        120,
    );
    assert!(t.starts_with("Collection  SeriesInstanceUID"), "{t}");
    assert!(!err.contains("more column"), "{err}");
}
