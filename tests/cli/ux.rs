//! What a new user meets first (issue 11): Ctrl-C at prompts, tables that fit, progress that
//! fits, heartbeats off a terminal, messages that say where a run stands, help that teaches.

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use fake_nbia::FakeServer;

#[cfg(target_os = "linux")]
use super::on_pty;
use super::run;

/// What a pty-run tcia has shown so far, collected on a thread (which signals the condvar on
/// every piece, so that waits wake on output instead of sleeping).
#[cfg(target_os = "linux")]
struct PtyRun {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    shown: Arc<(Mutex<Vec<u8>>, Condvar)>,
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
        let shown = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.0.lock().unwrap().extend_from_slice(&buf[..n]);
                sink.1.notify_all();
            }
        });
        PtyRun {
            child,
            stdin,
            shown,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.shown.0.lock().unwrap()).into_owned()
    }

    fn text_from(&self, at: usize) -> String {
        String::from_utf8_lossy(&self.shown.0.lock().unwrap()[at..]).into_owned()
    }

    /// Bytes shown so far.
    fn shown_len(&self) -> usize {
        self.shown.0.lock().unwrap().len()
    }

    /// Wait until what the terminal shows from byte `at` on satisfies `done`, waking on each new
    /// piece of output; false at the deadline.
    fn wait_until(&self, at: usize, secs: u64, done: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let (lock, cv) = &*self.shown;
        let mut shown = lock.lock().unwrap();
        loop {
            if done(&String::from_utf8_lossy(&shown[at..])) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            shown = cv.wait_timeout(shown, left).unwrap().0;
        }
    }

    /// Wait (with a deadline) until the terminal shows `what`.
    fn wait_for(&self, what: &str) {
        let shown = self.wait_until(0, 20, |t| t.contains(what));
        assert!(shown, "never shown {what:?}: {:?}", self.text());
    }

    /// Type `bytes` into the terminal.
    fn type_in(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// The exit code within `secs`, or None (the process is killed).
    fn exit_within(&mut self, secs: u64) -> Option<i32> {
        use wait_timeout::ChildExt;
        match self.child.wait_timeout(Duration::from_secs(secs)).unwrap() {
            Some(st) => st.code(),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                None
            }
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

/// `tcia args` on a pty `cols` wide (TERM=xterm, so bars can be drawn).
#[cfg(target_os = "linux")]
fn on_pty_sized(s: &FakeServer, cols: usize, args: &[&str]) -> std::process::Command {
    let line =
        shlex::try_join(std::iter::once(env!("CARGO_BIN_EXE_tcia")).chain(args.iter().copied()))
            .unwrap();
    let mut c = super::command_for("script", s);
    c.args([
        "-qec",
        &format!("stty cols {cols} rows 40; exec {line}"),
        "/dev/null",
    ]);
    c.env("TERM", "xterm");
    c
}

/// The terminal of the process that `script` started (its only child).
#[cfg(target_os = "linux")]
fn child_tty(script_pid: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{script_pid}/task/{script_pid}/children"))
                .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            if let Ok(t) = std::fs::read_link(format!("/proc/{pid}/fd/2")) {
                if t.to_string_lossy().starts_with("/dev/pts") {
                    return t.to_string_lossy().into_owned();
                }
            }
        }
        assert!(Instant::now() < deadline, "no child under script");
        // Called once the child has drawn its bar, so the first look normally finds it.
        std::thread::yield_now();
    }
}

/// The rows a terminal `cols` wide shows for `raw`: colours dropped, cursor movements and
/// \r \n start a new row, and text runs on to the next row at `cols` (indicatif pads each line
/// to the width and lets the terminal wrap).
fn screen_rows(raw: &str, cols: usize) -> Vec<String> {
    let mut segments = vec![String::new()];
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                let mut seq = String::new();
                if chars.next() == Some('[') {
                    for d in chars.by_ref() {
                        seq.push(d);
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
                if !seq.ends_with('m') {
                    segments.push(String::new());
                }
            }
            '\r' | '\n' => segments.push(String::new()),
            c => segments.last_mut().unwrap().push(c),
        }
    }
    let mut rows = Vec::new();
    for seg in segments {
        let chars: Vec<char> = seg.chars().collect();
        for row in chars.chunks(cols) {
            let row: String = row.iter().collect::<String>().trim_end().to_string();
            if !row.is_empty() {
                rows.push(row);
            }
        }
    }
    rows
}

/// Every row is a whole progress line: the overall one (`1/2 series ...`) or a series line
/// (`  name  40% ...`), never the wrapped end of one.
fn assert_whole_lines(rows: &[String]) {
    for r in rows {
        let overall = r
            .split_once('/')
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
            && r.contains(" series")
            && r.contains("iB");
        let series = r.starts_with("  ") && r.contains('%');
        assert!(overall || series, "a wrapped line: {r:?} in {rows:#?}");
    }
}

fn two_series(s: &FakeServer) -> (fake_nbia::Series, fake_nbia::Series) {
    let mut v: Vec<_> = s.data().series_in("LIDC-IDRI").into_iter().collect();
    v.sort_by_key(|x| x.file_size);
    (v[0].clone(), v[1].clone())
}

/// The first getImage answers at once, every later one is held for 15 s.
fn hold_from_second_image(s: &FakeServer) {
    s.inject(fake_nbia::Fault::new(
        "getImage",
        Some(1),
        fake_nbia::FaultAction::Delay { ms: 0 },
    ));
    s.inject(fake_nbia::Fault::new(
        "getImage",
        None,
        fake_nbia::FaultAction::Delay { ms: 15_000 },
    ));
}

/// At 60 columns no line wraps; a resize to 120 is followed; the active series is named; Ctrl-C
/// says where the run stands; the next run says what it skips.
#[cfg(target_os = "linux")]
#[test]
fn progress_fits_the_terminal_follows_resizes_and_interrupts_say_where_they_stand() {
    let s = FakeServer::start();
    let (a, b) = two_series(&s);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    hold_from_second_image(&s);
    let args = [
        "download",
        "-j",
        "1",
        "-o",
        out.to_str().unwrap(),
        &a.series_uid,
        &b.series_uid,
    ];
    let mut r = PtyRun::start(on_pty_sized(&s, 60, &args));
    super::wait_for_hits(&s, "getImage", 2);
    let label = format!("LIDC-IDRI/{}/{}", b.patient_id, b.modality);
    r.wait_for(&label);
    r.wait_for("1/2 series");
    let narrow = screen_rows(&r.text(), 60);
    assert_whole_lines(&narrow);
    assert!(
        narrow.iter().any(|l| l.contains(&label) && l.contains('%')),
        "{narrow:#?}"
    );
    // Resize: the bar grows with the terminal (the ticker redraws while nothing arrives).
    let tty = child_tty(r.child.id());
    let st = std::process::Command::new("stty")
        .args(["-F", &tty, "cols", "120"])
        .status()
        .unwrap();
    assert!(st.success());
    let seen = r.shown_len();
    let wider = |t: &str| {
        screen_rows(t, 120)
            .iter()
            .any(|l| l.starts_with("1/2 series [") && l.find(']').is_some_and(|i| i > 60))
    };
    let redrawn = r.wait_until(seen, 20, wider);
    let wide = screen_rows(&r.text_from(seen), 120);
    assert!(redrawn, "never redrawn wider: {wide:#?}");
    assert_whole_lines(&wide);
    r.type_in(b"\x03");
    assert_eq!(r.exit_within(15), Some(130), "{}", r.text());
    let shown = r.text();
    let want = format!(
        "interrupted: 1 of 2 series complete ({:.2} KiB); run the same command again to resume",
        a.file_size as f64 / 1024.0
    );
    assert!(shown.contains(&want), "{want}\n{shown:?}");
    // Again: the complete series is skipped and said so; only the other one is counted.
    s.clear_faults();
    let (_, err) = run(&s, &args, 0);
    assert!(err.contains("skipping 1 series already complete"), "{err}");
    assert!(err.contains("downloaded 1, skipped 1, failed 0"), "{err}");
    assert!(
        err.contains(&format!("-> {}", out.display())),
        "the summary names the directory: {err}"
    );
}

/// Off a terminal (and with TERM=dumb on one) a progress line every --heartbeat.
#[test]
fn off_a_terminal_a_heartbeat_line_is_written() {
    let s = FakeServer::start();
    let (a, _) = two_series(&s);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    s.inject(fake_nbia::Fault::new(
        "getImage",
        Some(1),
        fake_nbia::FaultAction::Delay { ms: 600 },
    ));
    let args = ["download", "-o", out.to_str().unwrap(), &a.series_uid];
    let o = super::tcia(&s)
        .args(args)
        .env("TCIA_HEARTBEAT", "20ms")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let beat = err
        .lines()
        .find(|l| l.starts_with("tcia: 0/1 series, 0.0/"))
        .unwrap_or_else(|| panic!("a heartbeat: {err}"));
    assert!(beat.contains(" KiB, ") && beat.ends_with("/s"), "{beat}");
    // The default (30 s) writes none in a short run; `off` none at all.
    let o = super::tcia(&s)
        .args([
            "download",
            "-o",
            dir.path().join("b").to_str().unwrap(),
            &a.series_uid,
        ])
        .args(["--heartbeat", "off"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains(" series, "));
    let (_, err) = run(
        &s,
        &["download", "-o", "x", "1.2.3", "--heartbeat", "soon"],
        2,
    );
    assert!(err.contains("--heartbeat") && err.contains("30s"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_dumb_terminal_gets_lines_and_heartbeats_not_bars() {
    let s = FakeServer::start();
    let (a, _) = two_series(&s);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    s.inject(fake_nbia::Fault::new(
        "getImage",
        Some(1),
        fake_nbia::FaultAction::Delay { ms: 600 },
    ));
    let mut c = on_pty(
        &s,
        &[
            "download",
            "-o",
            out.to_str().unwrap(),
            &a.series_uid,
            "--heartbeat",
            "20ms",
        ],
    );
    c.env("TERM", "dumb");
    let mut r = PtyRun::start(c);
    assert_eq!(r.exit_within(30), Some(0), "{}", r.text());
    let shown = r.text();
    assert!(shown.contains("tcia: 0/1 series, "), "{shown:?}");
    assert!(
        !shown.contains("\u{1b}[1A"),
        "no cursor movement: {shown:?}"
    );
    assert!(
        shown.contains("downloaded 1, skipped 0, failed 0"),
        "{shown:?}"
    );
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn what_cannot_change_is_not_retried() {
    let s = FakeServer::start();
    // A closed port: one line, at once.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (_, err) = run(&s, &["collections", "--server", &url], 5);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("connection refused") && !err.contains("retry"),
        "{err}"
    );
    // TLS to a plain-http port.
    let tls = s.url().replace("http://", "https://");
    let (_, err) = run(&s, &["collections", "--server", &tls], 5);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "does not speak TLS: did you mean {}?",
            s.url().trim_end_matches('/')
        )),
        "{err}"
    );
    // 400 and 404: the server's answer, once.
    let (_, err) = run(
        &s,
        &["collections", "--server", &format!("{}/nope", s.url())],
        4,
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    s.inject(fake_nbia::Fault::new(
        "getSeries",
        None,
        fake_nbia::FaultAction::Status {
            code: 400,
            body: "bad parameter".into(),
            content_type: Some("text/plain".into()),
            retry_after: None,
        },
    ));
    let (_, err) = run(&s, &["series"], 4);
    assert_eq!(s.hits("getSeries"), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("HTTP 400: bad parameter"), "{err}");
    // A reset connection is still retried.
    s.clear_faults();
    s.inject(fake_nbia::Fault::new(
        "getCollectionValues",
        Some(1),
        fake_nbia::FaultAction::Drop,
    ));
    let (_, err) = run(&s, &["collections"], 0);
    assert!(err.contains("retry 1/3"), "{err}");
}

#[test]
fn v2_without_a_login_says_so_before_and_after() {
    let s = FakeServer::start();
    const HINT: &str =
        "v2 needs a login: run `tcia login` (public data needs no login: use --api v4)";
    // getCollectionValues answers a missing token with a 500: not retried, the hint instead.
    let (_, err) = run(&s, &["collections", "--api", "v2"], 5);
    assert!(
        err.starts_with(&format!("tcia: warning: {HINT}\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "HTTP 500: Server was not able to process your request: {HINT}"
        )),
        "{err}"
    );
    assert!(!err.contains("retry"), "{err}");
    assert_eq!(s.hits("getCollectionValues"), 1);
    // The other queries answer nothing.
    let (out, err) = run(
        &s,
        &["series", "--collection", "LIDC-IDRI", "--api", "v2"],
        0,
    );
    assert_eq!(out.trim(), "[]");
    assert!(err.contains(&format!("no rows: {HINT}")), "{err}");
    // A download would only collect errors: refused before any request.
    let before = s.requests().len();
    let (_, err) = run(&s, &["download", "--api", "v2", "-o", "unused", "1.2.3"], 2);
    assert!(err.contains(HINT), "{err}");
    assert_eq!(s.requests().len(), before);
    // Logged in, none of it.
    run(&s, &["login", "--guest", "--api", "v2"], 0);
    let (_, err) = run(&s, &["collections", "--api", "v2"], 0);
    assert!(!err.contains("needs a login"), "{err}");
}

/// v4 getSeriesMetadata answers CSV with its own header (which changed between server
/// versions): the output has exactly the server's columns, not the catalogue's followed by them.
#[test]
fn series_metadata_columns_are_the_servers() {
    let s = FakeServer::start();
    let (a, _) = two_series(&s);
    // Today's server: the catalogue's 40 columns, every one of them filled or sent.
    let (csv, _) = run(
        &s,
        &["series-metadata", &a.series_uid, "--format", "csv"],
        0,
    );
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("PatientID,PatientName,"), "{header}");
    assert_eq!(header.split(',').count(), 40, "{header}");
    // An older server, with spaced names: those, in its order, and nothing else.
    let old = "\"Patient ID\",\"Series Instance UID\",\"Modality\",\"Image Count\"\n\
               \"P-1\",\"1.2.3\",\"CT\",\"12\"\n";
    s.inject(fake_nbia::Fault::new(
        "getSeriesMetadata",
        None,
        fake_nbia::FaultAction::Status {
            code: 200,
            body: old.into(),
            content_type: Some("text/csv".into()),
            retry_after: None,
        },
    ));
    let (csv, _) = run(&s, &["series-metadata", "1.2.3", "--format", "csv"], 0);
    assert_eq!(
        csv,
        "Patient ID,Series Instance UID,Modality,Image Count\r\nP-1,1.2.3,CT,12\r\n"
    );
    // Nothing known: still a header, the catalogue's.
    s.clear_faults();
    let (csv, err) = run(&s, &["series-metadata", "1.2.3.4.5", "--format", "csv"], 0);
    assert!(csv.starts_with("PatientID,PatientName,"), "{csv}{err}");
}

/// Every per-UID command takes UIDs as arguments and as --series-uid, and says the same about
/// a series the server does not know.
#[test]
fn one_uid_convention_and_one_unknown_series_warning() {
    let s = FakeServer::start();
    let (a, _) = two_series(&s);
    let uid = a.series_uid.as_str();
    for cmd in ["series-size", "sop-uids", "dicom-tags", "series-metadata"] {
        let (by_arg, _) = run(&s, &[cmd, uid, "--format", "csv"], 0);
        let (by_flag, _) = run(&s, &[cmd, "--series-uid", uid, "--format", "csv"], 0);
        assert_eq!(by_arg, by_flag, "{cmd}");
        assert!(by_arg.lines().count() > 1, "{cmd}: {by_arg}");
    }
    let unknown = "1.2.3.4.5.6";
    let want = format!("tcia: warning: unknown series {unknown}: not on this server");
    for cmd in ["series-size", "sop-uids", "series-metadata"] {
        let (_, err) = run(&s, &[cmd, unknown, "--format", "csv"], 0);
        assert!(err.contains(&want), "{cmd}: {err}");
    }
    let (_, err) = run(
        &s,
        &[
            "series-metadata",
            "--api",
            "v1",
            unknown,
            uid,
            "--format",
            "csv",
        ],
        0,
    );
    assert!(err.contains(&want), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    let (_, err) = run(
        &s,
        &["download", "-o", o, "--dry-run", "--series-uid", unknown],
        0,
    );
    assert!(err.contains(&want), "{err}");
    let (_, err) = run(&s, &["download", "-o", o, "--series-uid", uid], 0);
    assert!(err.contains("downloaded 1"), "{err}");
    // single-image: the two UIDs as arguments, into a directory that is created.
    let sop = s.data().sop_uids(uid)[0].clone();
    let target = format!("{}/imgs/", dir.path().display());
    run(&s, &["single-image", uid, &sop, "-o", &target], 0);
    assert!(dir.path().join("imgs").join(format!("{sop}.dcm")).is_file());
    // Neither form: a clear usage error.
    let (_, err) = run(&s, &["series-size"], 2);
    assert!(err.contains("UID"), "{err}");
}

#[test]
fn limit_takes_the_first_n() {
    let s = FakeServer::start();
    let all = super::json_rows(&s, &["series", "--collection", "LIDC-IDRI"]);
    let two = super::json_rows(&s, &["series", "--collection", "LIDC-IDRI", "--limit", "2"]);
    assert_eq!(two.len(), 2);
    assert_eq!(two[..], all[..2]);
    // Across the requests of repeated filters too.
    let rows = super::json_rows(
        &s,
        &[
            "series",
            "--modality",
            "CT",
            "--modality",
            "MR",
            "--limit",
            "3",
        ],
    );
    assert_eq!(rows.len(), 3);
    let (csv, _) = run(&s, &["search", "--limit", "1", "--format", "csv"], 0);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // download: "try the first 2 series".
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let (_, err) = run(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "--limit",
            "2",
            "-o",
            out.to_str().unwrap(),
        ],
        0,
    );
    assert!(err.contains("downloaded 2, skipped 0, failed 0"), "{err}");
    let (_, err) = run(&s, &["series", "--limit", "0"], 2);
    assert!(err.contains("--limit"), "{err}");
    let (_, err) = run(
        &s,
        &[
            "sync",
            "--collection",
            "LIDC-IDRI",
            "--limit",
            "2",
            "-o",
            out.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("--limit"), "{err}");
}

/// A bare `tcia` prints the short help (also with TCIA_SERVER set, as in every test here);
/// subcommand help folds the globals into one line; typos get two suggestions, best first;
/// usage lines do not show globals that only came from the environment.
#[test]
fn help_that_teaches() {
    let s = FakeServer::start();
    let (out, err) = run(&s, &[], 2);
    assert!(out.is_empty());
    assert!(
        err.contains("Commands:") && err.contains("  series "),
        "{err}"
    );
    assert!(!err.contains("[subcommands:"), "{err}");
    let (top, _) = run(&s, &["--help"], 0);
    assert!(
        top.contains("tcia download --collection"),
        "a download example: {top}"
    );
    let (sub, _) = run(&s, &["series", "--help"], 0);
    assert!(
        sub.contains("Global options (--server, --api, --format"),
        "{sub}"
    );
    assert!(!sub.contains("--proxy"), "globals folded away: {sub}");
    assert!(sub.contains("Example"), "{sub}");
    let (_, err) = run(&s, &["seris"], 2);
    assert!(err.contains("did you mean 'series' or "), "{err}");
    let tip = err.lines().find(|l| l.contains("tip:")).unwrap();
    assert_eq!(
        tip.matches('\'').count(),
        4,
        "at most two suggestions: {tip}"
    );
    let (_, err) = run(&s, &["series-size"], 2);
    let usage = err.lines().find(|l| l.starts_with("Usage:")).unwrap();
    assert!(!usage.contains("--server"), "{usage}");
    let (_, err) = run(&s, &["collections", "--server", "127.0.0.1:8080"], 2);
    assert!(err.contains("did you mean http://127.0.0.1:8080?"), "{err}");
    let (_, err) = run(&s, &["collections", "--server", "nbia.example.org"], 2);
    assert!(
        err.contains("did you mean https://nbia.example.org?"),
        "{err}"
    );
}

/// `--format` makes plans and reports machine-readable: the dry-run plan, one result per
/// series of a download, and verify's findings, on stdout.
#[test]
fn plans_and_reports_follow_format() {
    let s = FakeServer::start();
    let (a, b) = two_series(&s);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    let unknown = "1.2.3.4.5.6";
    // First a; then the plan for a, b and an unknown one.
    run(&s, &["download", "-o", o, &a.series_uid], 0);
    let (csv, _) = run(
        &s,
        &[
            "download",
            "-o",
            o,
            "--dry-run",
            "--format",
            "csv",
            &a.series_uid,
            &b.series_uid,
            unknown,
        ],
        0,
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "uid,collection,images,bytes,path,action", "{csv}");
    assert!(
        lines[1].starts_with(&format!(
            "{},LIDC-IDRI,{},{},",
            a.series_uid, a.image_count, a.file_size
        )),
        "{csv}"
    );
    assert!(lines[1].ends_with(",skip"), "{csv}");
    assert!(
        lines[2].ends_with(&format!("{},fetch", out.join(&b.series_uid).display())),
        "{csv}"
    );
    assert!(
        lines[3].starts_with(unknown) && lines[3].ends_with(",unknown"),
        "{csv}"
    );
    let (json, _) = run(
        &s,
        &[
            "download",
            "-o",
            o,
            "--dry-run",
            "--format",
            "json",
            &b.series_uid,
        ],
        0,
    );
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(plan[0]["action"], "fetch");
    // The run itself: one result per series, with the path to find it.
    let (nd, _) = run(
        &s,
        &[
            "download",
            "-o",
            o,
            "--format",
            "ndjson",
            &a.series_uid,
            &b.series_uid,
        ],
        0,
    );
    let rows: Vec<serde_json::Value> = nd
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{nd}");
    let got_b = rows
        .iter()
        .find(|r| r["uid"] == b.series_uid.as_str())
        .unwrap();
    assert_eq!(got_b["status"], "downloaded");
    assert_eq!(got_b["files"], b.image_count);
    assert!(
        std::path::Path::new(got_b["path"].as_str().unwrap()).is_dir(),
        "{got_b}"
    );
    assert!(got_b["seconds"].is_number());
    let got_a = rows
        .iter()
        .find(|r| r["uid"] == a.series_uid.as_str())
        .unwrap();
    assert_eq!(got_a["status"], "skipped");
    let (nd, _) = run(&s, &["download", "-o", o, "--format", "ndjson", unknown], 4);
    let row: serde_json::Value = serde_json::from_str(nd.trim()).unwrap();
    assert_eq!(row["status"], "failed");
    assert!(
        row["error"].as_str().unwrap().contains("unknown series"),
        "{row}"
    );
    // Without --format nothing goes to stdout.
    let (plain, _) = run(&s, &["download", "-o", o, &b.series_uid], 0);
    assert_eq!(plain, "");
    // verify: findings as JSON.
    let name = std::fs::read_dir(out.join(&b.series_uid))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&name).unwrap();
    let (json, _) = run(&s, &["verify", o, "--format", "json"], 3);
    let found: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(found[0]["kind"], "missing", "{json}");
    assert_eq!(found[0]["uid"], b.series_uid.as_str());
}

#[test]
fn tcia_utils_function_names_work() {
    let s = FakeServer::start();
    for (alias, name) in [
        ("getCollections", "collections"),
        ("getStudy", "studies"),
        ("getModalityCounts", "modality-counts"),
    ] {
        let (a, _) = run(&s, &[alias, "--format", "csv"], 0);
        let (b, _) = run(&s, &[name, "--format", "csv"], 0);
        assert_eq!(a, b, "{alias}");
    }
    let (_, err) = run(&s, &["getSharedCart", "--name", "nbia-0"], 0);
    assert!(!err.contains("unrecognized"), "{err}");
}

/// Completions offer the server's values (cached for a day) for --collection, and no file names
/// for values that are not paths; paths still complete as files.
#[test]
fn completions_complete_values() {
    let s = FakeServer::start();
    let (script, _) = run(&s, &["completions", "bash"], 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tcia.bash");
    std::fs::write(&file, &script).unwrap();
    std::fs::write(dir.path().join("xfile"), "").unwrap();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_tcia"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let complete = |words: &str, cur: &str, prev: &str| -> String {
        let line = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=3; _tcia tcia '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = super::command_for("bash", &s)
            .args(["-c", &line])
            .current_dir(dir.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let got = complete("tcia series --collection CT", "CT", "--collection");
    assert_eq!(got, "CT COLONOGRAPHY\n");
    let hits = s.hits("getCollectionValues");
    assert_eq!(hits, 1);
    let got = complete("tcia series --collection LI", "LI", "--collection");
    assert_eq!(got, "LIDC-IDRI\n");
    assert_eq!(
        s.hits("getCollectionValues"),
        hits,
        "the second completion reads the cache"
    );
    assert_eq!(
        complete("tcia series --patient-id x", "x", "--patient-id"),
        "x\n",
        "no file names"
    );
    assert_eq!(
        complete("tcia download -o x", "x", "-o"),
        "xfile\n",
        "paths are files"
    );
    let (zsh, _) = run(&s, &["completions", "zsh"], 0);
    assert!(
        zsh.contains("completions --values modality"),
        "zsh asks too"
    );
    let (fish, _) = run(&s, &["completions", "fish"], 0);
    assert!(
        fish.contains("completions --values body-part"),
        "fish asks too"
    );
}
