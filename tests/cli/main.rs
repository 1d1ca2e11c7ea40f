//! Integration tests: the real `tcia` binary against the fake NBIA server on a real socket.
//! One test binary (autotests = false) so the 2-core CI links once.
// The rule that only src/env.rs reads the environment is for the tool; the tests read it to
// keep the developer's shell out of every tcia they start.
#![allow(clippy::disallowed_methods)]

mod auth;
mod download;
mod ecosystem;
mod errors;
mod fidelity;
mod formats;
mod idc;
mod index;
mod queries;
mod reliability;
mod soak;
mod sync;
mod ux;

use std::collections::HashMap;

use assert_cmd::Command;
use fake_nbia::{FakeServer, RequestRecord};
use serde_json::{Map, Value};

/// Variables of the developer's shell that would change what tcia does: proxies, CA bundles,
/// colour and the terminal width. Every `TCIA_*` variable goes too (see [`command_for`]).
/// Hard-coded rather than taken from the tcia library (whose modules are moving): the proxy
/// names are those tcia reads, `PROXY_VARS` in src/env.rs; keep the two in step.
pub const SCRUBBED_VARS: [&str; 11] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "NO_COLOR",
    "COLUMNS",
];

/// The one place where a process that runs tcia is built: `program` (the tcia binary, or a
/// wrapper such as `script` that starts it) with the environment cleared of anything that could
/// leak in from the developer's shell, pointed at `server` with its own token cache, and retry
/// delays zeroed (no test sleeps). [`tcia`], [`tcia_std`], [`spawn`] and [`on_pty`] all use it.
pub fn command_for(
    program: impl AsRef<std::ffi::OsStr>,
    server: &FakeServer,
) -> std::process::Command {
    let mut c = std::process::Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TCIA_") {
            c.env_remove(k);
        }
    }
    for k in SCRUBBED_VARS {
        c.env_remove(k);
    }
    c.env("TCIA_SERVER", server.url());
    // Tokens of this test's server only, never the developer's own.
    c.env("TCIA_CONFIG_DIR", config_dir(server));
    c.env("TCIA_TEST_NO_RETRY_DELAY", "1");
    c
}

/// The tcia binary as a plain `std::process::Command` (for tests that pipe, race or signal it).
pub fn tcia_std(server: &FakeServer) -> std::process::Command {
    command_for(env!("CARGO_BIN_EXE_tcia"), server)
}

/// `tcia` pointed at `server` ([`command_for`]'s environment), as an assert_cmd `Command`.
pub fn tcia(server: &FakeServer) -> Command {
    let mut c = Command::from(tcia_std(server));
    c.timeout(std::time::Duration::from_secs(60));
    c
}

/// The token cache directory the tests use for one server: one per server, never per port (a
/// later server on a reused port must not find an earlier test's expired login).
pub fn config_dir(server: &FakeServer) -> std::path::PathBuf {
    let port = server.url().rsplit(':').next().unwrap_or("0").to_string();
    std::env::temp_dir().join(format!(
        "tcia-test-config-{}-{}-{port}",
        std::process::id(),
        server.id()
    ))
}

/// `tcia` started in the background with the environment of [`command_for`] (stdout discarded,
/// stderr piped), for tests that signal, race or kill it.
pub fn spawn(server: &FakeServer, args: &[&str]) -> std::process::Child {
    tcia_std(server)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tcia")
}

/// `tcia args` on a pseudo-terminal: util-linux `script` runs it with stdin, stdout and stderr
/// on a new pty, and copies what tcia writes there to its own stdout. The environment is that
/// of [`command_for`] (script passes it on).
#[cfg(target_os = "linux")]
pub fn on_pty(server: &FakeServer, args: &[&str]) -> std::process::Command {
    let line =
        shlex::try_join(std::iter::once(env!("CARGO_BIN_EXE_tcia")).chain(args.iter().copied()))
            .expect("quotable command line");
    let mut c = command_for("script", server);
    c.args(["-qec", &line, "/dev/null"]);
    c
}

#[test]
fn every_tcia_process_gets_a_scrubbed_environment() {
    let s = FakeServer::start();
    let c = tcia_std(&s);
    let envs: HashMap<&std::ffi::OsStr, Option<&std::ffi::OsStr>> = c.get_envs().collect();
    for k in SCRUBBED_VARS {
        assert_eq!(
            envs.get(std::ffi::OsStr::new(k)),
            Some(&None),
            "{k} is removed"
        );
    }
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TCIA_") {
            assert!(
                envs.contains_key(k.as_os_str()),
                "{k:?} is removed or replaced"
            );
        }
    }
    let url = s.url();
    assert_eq!(
        envs.get(std::ffi::OsStr::new("TCIA_SERVER")),
        Some(&Some(std::ffi::OsStr::new(&url)))
    );
    // What the child really sees: `env` started the same way has none of them.
    let out = command_for("env", &s).output().expect("run env");
    let seen = String::from_utf8_lossy(&out.stdout);
    for line in seen.lines() {
        let name = line.split('=').next().unwrap_or("");
        assert!(!SCRUBBED_VARS.contains(&name), "{line}");
        if name.starts_with("TCIA_") {
            assert!(
                ["TCIA_SERVER", "TCIA_CONFIG_DIR", "TCIA_TEST_NO_RETRY_DELAY"].contains(&name),
                "{line}"
            );
        }
    }
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
        // Long enough for a loaded machine; the run is killed when the test drops it.
        action: fake_nbia::FaultAction::Delay { ms: 60_000 },
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
