//! Integration tests: the real `tcia` binary against the fake NBIA server on a real socket.
//! One test binary (autotests = false) so the 2-core CI links once.

mod auth;
mod download;
mod ecosystem;
mod errors;
mod formats;
mod queries;
mod sync;

use std::collections::HashMap;

use assert_cmd::Command;
use fake_nbia::{FakeServer, RequestRecord};
use serde_json::{Map, Value};

/// `tcia` pointed at `server`, with the environment cleared of anything that could leak in
/// from the developer's shell, and retry delays zeroed (no test sleeps).
pub fn tcia(server: &FakeServer) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tcia"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TCIA_") || k == "COLUMNS" {
            c.env_remove(k);
        }
    }
    // Proxies, CA bundles and colour settings of the developer's shell stay out too.
    for k in tcia::env::PROXY_VARS
        .iter()
        .chain(&["SSL_CERT_FILE", "NO_COLOR"])
    {
        c.env_remove(k);
    }
    c.env("TCIA_SERVER", server.url());
    // Tokens of this test's server only, never the developer's own.
    c.env("TCIA_CONFIG_DIR", config_dir(server));
    c.env("TCIA_TEST_NO_RETRY_DELAY", "1");
    c.timeout(std::time::Duration::from_secs(60));
    c
}

/// The token cache directory the tests use for one server.
pub fn config_dir(server: &FakeServer) -> std::path::PathBuf {
    let port = server.url().rsplit(':').next().unwrap_or("0").to_string();
    std::env::temp_dir().join(format!("tcia-test-config-{}-{port}", std::process::id()))
}

/// `tcia` started in the background with the environment of [`tcia`] (stdout discarded,
/// stderr piped), for tests that signal, race or kill it.
pub fn spawn(server: &FakeServer, args: &[&str]) -> std::process::Child {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tcia"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TCIA_") {
            c.env_remove(k);
        }
    }
    c.args(args)
        .env("TCIA_SERVER", server.url())
        .env("TCIA_CONFIG_DIR", config_dir(server))
        .env("TCIA_TEST_NO_RETRY_DELAY", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tcia")
}

/// A `tcia` run held inside its first getImage request (the server delays it), so a test can
/// race another run against it; killed when dropped.
pub struct Held(std::process::Child);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn hold_at_first_image(server: &FakeServer, args: &[&str]) -> Held {
    server.inject(fake_nbia::Fault {
        endpoint: "getImage".into(),
        times: None,
        action: fake_nbia::FaultAction::Delay { ms: 15_000 },
    });
    let child = spawn(server, args);
    wait_for_hits(server, "getImage", 1);
    Held(child)
}

/// Run and return (stdout, stderr), asserting the exit code.
pub fn run(server: &FakeServer, args: &[&str], code: i32) -> (String, String) {
    let out = tcia(server).args(args).output().expect("run tcia");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "tcia {args:?}\nstdout: {}\nstderr: {stderr}",
        &stdout[..stdout.len().min(2000)]
    );
    (stdout, stderr)
}

/// Run, expect success, parse stdout as a JSON array of objects.
pub fn json_rows(server: &FakeServer, args: &[&str]) -> Vec<Map<String, Value>> {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let (out, _) = run(server, &a, 0);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("invalid JSON ({e}): {out}"))
}

/// Wait (polling, no fixed sleep) until the server has seen `n` requests to `endpoint`.
pub fn wait_for_hits(server: &FakeServer, endpoint: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.hits(endpoint) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{endpoint} never got {n} requests"
        );
        std::thread::yield_now();
    }
}

/// The requests the server saw for one endpoint.
pub fn requests_to(server: &FakeServer, endpoint: &str) -> Vec<RequestRecord> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.rsplit('/').next() == Some(endpoint))
        .collect()
}

/// Decoded query parameters of a request.
pub fn query_of(r: &RequestRecord) -> HashMap<String, String> {
    form_decode(&r.query)
}

pub fn form_decode(s: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(s.as_bytes())
        .into_owned()
        .collect()
}
