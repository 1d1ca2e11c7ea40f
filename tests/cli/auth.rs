//! Authentication: login by stdin, environment and prompt; the token cache; refresh before
//! expiry, after a 401, shared by concurrent requests; expired refresh tokens; logout; secrets
//! never shown.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use fake_nbia::{Config, FakeServer, FaultAction};
use serde_json::Value;

use super::*;

const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

fn login(s: &FakeServer) {
    let out = tcia(s)
        .args(["login", "--user", USER, "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cache_file(s: &FakeServer) -> PathBuf {
    let dir = config_dir(s).join("tokens");
    let server_dir = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    server_dir.join(format!("{USER}.json"))
}

fn edit_cache(s: &FakeServer, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let p = cache_file(s);
    let mut v: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

fn refresh_grants(s: &FakeServer) -> usize {
    requests_to(s, "token")
        .iter()
        .filter(|r| {
            form_decode(&r.form).get("grant_type").map(String::as_str) == Some("refresh_token")
        })
        .count()
}

fn restricted_rows(s: &FakeServer) -> usize {
    json_rows(
        s,
        &["series", "--collection", "Restricted-Trial", "--api", "v2"],
    )
    .len()
}

#[test]
fn login_with_password_stdin_shows_restricted_data() {
    let s = FakeServer::start();
    assert_eq!(restricted_rows(&s), 0, "not visible before login");
    login(&s);
    let want = s.data().series_in("Restricted-Trial").len();
    assert!(want > 0);
    assert_eq!(restricted_rows(&s), want, "visible after login");
    let form = form_decode(&requests_to(&s, "token")[0].form);
    assert_eq!(form["grant_type"], "password");
    assert_eq!(form["username"], USER);
    assert_eq!(form["client_id"], "NBIA");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cache_file(&s))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "token cache readable by its owner only");
    }
    // The public v4 API works exactly as before, now with the token attached.
    assert!(!json_rows(&s, &["collections"]).is_empty());
}

#[test]
fn login_from_the_environment_and_as_guest() {
    let s = FakeServer::start();
    let out = tcia(&s)
        .arg("login")
        .env("TCIA_USER", USER)
        .env("TCIA_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(restricted_rows(&s) > 0);

    let g = FakeServer::start();
    run(&g, &["login", "--guest"], 0);
    let form = form_decode(&requests_to(&g, "token")[0].form);
    assert_eq!(form["username"], "nbia_guest");
    assert_eq!(form["password"], "");
    assert_eq!(
        restricted_rows(&g),
        0,
        "the guest does not see restricted data"
    );
    assert!(!json_rows(&g, &["series", "--collection", "LIDC-IDRI", "--api", "v2"]).is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn login_by_prompt_on_a_terminal() {
    let s = FakeServer::start();
    // `script` gives tcia a pseudo-terminal; the password is typed into it.
    let mut child = on_pty(&s, &["login", "--user", USER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Type only once the prompt is shown (and echo is off), as a person would.
    let mut stdout = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&shown).contains("Password for") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&shown));
        shown.extend_from_slice(&buf[..n]);
    }
    // The prompt is printed just before echo is switched off: wait until the terminal says so.
    let tty = wait_for_child_tty(child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let st = std::process::Command::new("stty")
            .args(["-F", &tty, "-a"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&st.stdout)
            .split_whitespace()
            .any(|w| w == "-echo")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "echo never switched off"
        );
        std::thread::yield_now();
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    std::io::Read::read_to_end(&mut stdout, &mut shown).unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("Password for alice"), "{shown}");
    assert!(!shown.contains(PASSWORD), "no echo: {shown}");
    assert!(restricted_rows(&s) > 0);
}

/// The terminal of the process that `script` started (its only child).
#[cfg(target_os = "linux")]
fn wait_for_child_tty(script_pid: u32) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{script_pid}/task/{script_pid}/children"))
                .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            if let Ok(t) = std::fs::read_link(format!("/proc/{pid}/fd/0")) {
                return t.to_string_lossy().into_owned();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no child under script"
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_wrong_password_exits_4_and_caches_nothing() {
    let s = FakeServer::start();
    let out = tcia(&s)
        .args(["login", "--user", USER, "--password-stdin"])
        .write_stdin("nope\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("login failed for alice: Invalid user credentials"),
        "{err}"
    );
    assert!(!err.contains("nope"));
    assert!(!config_dir(&s).join("tokens").exists());
    let (_, err) = run(&s, &["login", "--user", USER], 2);
    assert!(
        err.contains("--password-stdin"),
        "no terminal, no password: {err}"
    );
}

#[test]
fn the_token_is_refreshed_before_it_expires() {
    let s = FakeServer::start();
    login(&s);
    let before = refresh_grants(&s);
    // Make the cached token look about to expire: the next command refreshes first, because the
    // v2 API would answer an expired token with an empty 200, not a 401.
    edit_cache(&s, |v| {
        // 30 s left of a 2 h token: inside the refresh margin, still valid on the server.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        v.insert("obtained_at".into(), Value::from(now - 7170.0));
        v.insert("expires_at".into(), Value::from(now + 30.0));
    });
    assert!(restricted_rows(&s) > 0);
    assert_eq!(refresh_grants(&s) - before, 1);
    // The new pair is cached: the next command needs no refresh.
    assert!(restricted_rows(&s) > 0);
    assert_eq!(refresh_grants(&s) - before, 1);
}

#[test]
fn a_401_triggers_one_refresh_and_a_retry() {
    let s = FakeServer::start();
    login(&s);
    edit_cache(&s, |v| {
        v.insert("access_token".into(), Value::from("revoked-by-the-server"));
    });
    let a = s.data().series_in("Restricted-Trial")[0].clone();
    let sop = s.data().sop_uids(&a.series_uid)[0].clone();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("x.dcm");
    run(
        &s,
        &[
            "single-image",
            "--api",
            "v2",
            "--series-uid",
            &a.series_uid,
            "--sop-uid",
            &sop,
            "-o",
            out.to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(refresh_grants(&s), 1);
    assert_eq!(
        s.hits("getSingleImage"),
        2,
        "the rejected request was sent again once"
    );
    assert!(out.exists());
}

#[test]
fn a_long_download_outlives_its_tokens_with_one_refresh_per_expiry() {
    let s = FakeServer::start_with(Config {
        token_lifetime_secs: 1,
        ..Config::default()
    });
    login(&s);
    let series: Vec<_> = s
        .data()
        .series_in("LIDC-IDRI")
        .into_iter()
        .filter(|x| x.image_count > 100)
        .take(6)
        .collect();
    assert_eq!(series.len(), 6);
    // Each series trickles in over about a second, two at a time: three rounds of requests.
    s.inject(fake_nbia::Fault {
        endpoint: "getImageWithMD5Hash".into(),
        times: None,
        action: FaultAction::Drip {
            chunk: 4096,
            interval_ms: 25,
        },
    });
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let mut args = vec![
        "download",
        "--api",
        "v2",
        "--jobs",
        "2",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(series.iter().map(|x| x.series_uid.as_str()));
    let started = std::time::Instant::now();
    let (_, err) = run(&s, &args, 0);
    let elapsed = started.elapsed().as_secs_f64();
    assert!(err.contains("downloaded 6, skipped 0, failed 0"), "{err}");
    assert!(
        elapsed > 2.0,
        "the download outlived two token lifetimes ({elapsed:.1}s)"
    );
    let refreshes = refresh_grants(&s);
    // A 1 s token is refreshed when 0.25 s are left: at most one refresh per 0.75 s, shared by
    // the concurrent requests (unshared, metadata lookups and downloads would each refresh).
    let most = (elapsed / 0.75).ceil() as usize + 1;
    assert!(
        refreshes >= 2 && refreshes <= most,
        "{refreshes} refreshes in {elapsed:.1}s (at most {most})"
    );
    let images = requests_to(&s, "getImageWithMD5Hash");
    assert_eq!(images.len(), 6, "no request was rejected and sent again");
    assert!(images.iter().all(|r| r.authorization.is_some()));
}

#[test]
fn an_expired_refresh_token_needs_a_login_or_environment_credentials() {
    let s = FakeServer::start();
    login(&s);
    edit_cache(&s, |v| {
        v.insert("expires_at".into(), Value::from(0.0));
        v.insert("refresh_expires_at".into(), Value::from(0.0));
    });
    let (_, err) = run(
        &s,
        &["series", "--collection", "Restricted-Trial", "--api", "v2"],
        4,
    );
    assert!(err.contains("run `tcia login`"), "{err}");
    let out = tcia(&s)
        .args([
            "series",
            "--collection",
            "Restricted-Trial",
            "--api",
            "v2",
            "--format",
            "json",
        ])
        .env("TCIA_USER", USER)
        .env("TCIA_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), s.data().series_in("Restricted-Trial").len());
}

#[test]
fn logout_ends_the_session_and_status_never_shows_tokens() {
    let s = FakeServer::start();
    let (out, _) = run(&s, &["auth", "status"], 0);
    assert!(out.contains("logged in: no"), "{out}");
    login(&s);
    let token = serde_json::from_str::<Value>(&std::fs::read_to_string(cache_file(&s)).unwrap())
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (out, _) = run(&s, &["auth", "status"], 0);
    assert!(
        out.contains("user: alice") && out.contains("expires in"),
        "{out}"
    );
    assert!(!out.contains(&token));
    run(&s, &["logout"], 0);
    assert_eq!(s.hits("logout"), 1);
    assert_eq!(
        requests_to(&s, "logout")[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    assert!(!cache_file(&s).exists());
    assert_eq!(restricted_rows(&s), 0);
}

#[test]
fn secrets_never_appear_in_output_logs_or_arguments() {
    let s = FakeServer::start_with(Config {
        token_lifetime_secs: 1,
        ..Config::default()
    });
    // The process arguments of a running login hold no password.
    let mut child = tcia_std(&s)
        .args(["login", "--user", USER, "--password-stdin", "-vvv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    #[cfg(target_os = "linux")]
    {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
        assert!(!String::from_utf8_lossy(&cmdline).contains(PASSWORD));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let login_out = child.wait_with_output().unwrap();
    assert_eq!(login_out.status.code(), Some(0));
    let cached: Value =
        serde_json::from_str(&std::fs::read_to_string(cache_file(&s)).unwrap()).unwrap();
    let secrets = [
        PASSWORD.to_string(),
        cached["access_token"].as_str().unwrap().to_string(),
        cached["refresh_token"].as_str().unwrap().to_string(),
    ];
    let mut logs = String::from_utf8_lossy(&login_out.stderr).into_owned();
    // Refreshes, downloads, errors and status at the highest verbosity.
    edit_cache(&s, |v| {
        v.insert("expires_at".into(), Value::from(0.0));
    });
    let a = s.data().series_in("Restricted-Trial")[0].series_uid.clone();
    let t = tempfile::tempdir().unwrap();
    for args in [
        vec![
            "series",
            "--collection",
            "Restricted-Trial",
            "--api",
            "v2",
            "-vvv",
        ],
        vec![
            "download",
            &a,
            "--api",
            "v2",
            "-o",
            t.path().to_str().unwrap(),
            "-vvv",
        ],
        vec!["auth", "status", "-vvv"],
        vec![
            "collections",
            "--api",
            "legacy",
            "--api-key",
            "wrong-key",
            "-vvv",
        ],
    ] {
        let out = tcia(&s).args(&args).output().unwrap();
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
        logs.push_str(&String::from_utf8_lossy(
            &out.stdout[..out.stdout.len().min(100_000)],
        ));
    }
    assert!(
        logs.contains("refreshed the access token"),
        "the scan covered a refresh: {logs}"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
    }
    assert!(!logs.contains("wrong-key"));
}

#[test]
fn a_password_never_goes_over_plain_http_to_another_host() {
    let s = FakeServer::start();
    let out = tcia(&s)
        .args([
            "login",
            "--user",
            USER,
            "--password-stdin",
            "--token-url",
            "http://auth.example.org/token",
        ])
        .write_stdin(format!("{PASSWORD}\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--token-url") && err.contains("--allow-http"),
        "{err}"
    );
    assert_eq!(s.requests().len(), 0);
}
