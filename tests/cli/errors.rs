//! Errors, retries and exit codes: usage (2), HTTP 4xx (4), 5xx/network (5).

use fake_nbia::{FakeServer, Fault, FaultAction};

use super::*;

fn fault(endpoint: &str, times: Option<u32>, action: FaultAction) -> Fault {
    Fault {
        endpoint: endpoint.into(),
        times,
        action,
    }
}

fn status(code: u16, body: &str, ct: Option<&str>, retry_after: Option<&str>) -> FaultAction {
    FaultAction::Status {
        code,
        body: body.into(),
        content_type: ct.map(String::from),
        retry_after: retry_after.map(String::from),
    }
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    let s = FakeServer::start();
    let cases: &[(&[&str], &str)] = &[
        (&["updated-series", "--since", "2024/01/31"], "YYYY-MM-DD"),
        (
            &["updated-series", "--since", "2023-02-29"],
            "does not exist",
        ),
        (&["new-patients", "--since", "2024-01-01"], "--collection"),
        (&["series-size"], "<UID>"),
        (
            &[
                "series",
                "--body-part",
                "CHEST",
                "--api",
                "legacy",
                "--api-key",
                "k",
            ],
            "--body-part is not accepted by getSeries with --api legacy",
        ),
        (
            &[
                "updated-series",
                "--since",
                "2024-01-01",
                "--api",
                "legacy",
                "--api-key",
                "k",
            ],
            "--api v4",
        ),
        (&["series", "--format", "xlsx"], "possible values"),
        (
            &["series", "--server", "http://example.org"],
            "--allow-http",
        ),
        (&["series", "--server", "gopher://x"], "--server"),
        (
            &["series-metadata", "not-a-uid"],
            "not a series instance UID",
        ),
        (&["search", "--species", "cat"], "--species"),
        (&["cart", "--name", "https://x/?saved-cart="], "--name"),
    ];
    for (args, needle) in cases {
        let (out, err) = run(&s, args, 2);
        assert!(out.is_empty(), "{args:?}");
        // Our errors are one line; clap's add a usage line and a --help tip after the problem.
        let head: String = err.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(
            head.contains(needle),
            "{args:?}: the first lines name the problem: {err}"
        );
        assert!(
            err.starts_with("tcia: error: ") || err.starts_with("error: "),
            "{err}"
        );
    }
    assert!(
        s.requests().is_empty(),
        "no request was made: {:?}",
        s.requests()
    );
}

#[test]
fn a_400_is_shown_verbatim_and_exits_4_without_retry() {
    let s = FakeServer::start();
    s.inject(fault(
        "getSeries",
        None,
        status(
            400,
            "A parameter, Collection is required.\u{1b}[2J",
            Some("application/json"),
            None,
        ),
    ));
    let (_, err) = run(&s, &["series", "--collection", "X"], 4);
    assert!(
        err.contains("HTTP 400: A parameter, Collection is required."),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "control characters escaped: {err:?}"
    );
    assert_eq!(s.hits("getSeries"), 1);
}

#[test]
fn not_granted_hints_at_the_nlst_server() {
    let s = FakeServer::start();
    s.inject(fault(
        "getSeriesSize",
        None,
        status(400, "The user has not been granted the access to image with given SeriesInstanceUID,1.2.3. Please contact System Admin to resolve this issue.", Some("application/json"), None),
    ));
    let (_, err) = run(&s, &["series-size", "--series-uid", "1.2.3"], 4);
    assert!(err.contains("--server nlst"), "{err}");
}

#[test]
fn a_500_is_retried_then_exits_5() {
    let s = FakeServer::start();
    s.inject(fault(
        "getSeries",
        None,
        status(
            500,
            "Server was not able to process your request\nnull",
            Some("text/plain"),
            None,
        ),
    ));
    let (_, err) = run(&s, &["series", "--retries", "2"], 5);
    assert_eq!(s.hits("getSeries"), 3);
    // The server's text, without the "\nnull" its message-less exceptions end in, shown once
    // (later retries say "the same error").
    assert!(
        err.contains("HTTP 500: Server was not able to process your request; retry 1/2"),
        "{err}"
    );
    assert!(err.contains("the same error; retry 2/2"), "{err}");
    assert!(!err.contains("null"), "{err}");
}

#[test]
fn an_html_error_page_is_summarised() {
    let s = FakeServer::start();
    s.inject(fault(
        "getCollectionValues",
        None,
        FaultAction::HtmlPage {
            code: 502,
            title: "Bad Gateway".into(),
        },
    ));
    let (_, err) = run(&s, &["collections", "--retries", "0"], 5);
    assert!(
        err.contains("HTML error page: \"502 Bad Gateway\""),
        "{err}"
    );
    assert!(!err.contains("<html"), "{err}");
}

#[test]
fn html_with_200_is_not_data() {
    let s = FakeServer::start();
    s.inject(fault(
        "getCollectionValues",
        None,
        FaultAction::HtmlPage {
            code: 200,
            title: "Please log in".into(),
        },
    ));
    let (out, err) = run(&s, &["collections", "--retries", "0"], 5);
    assert!(out.is_empty());
    assert!(err.contains("HTML page instead of data"), "{err}");
}

#[test]
fn retry_after_is_honoured_and_then_succeeds() {
    let s = FakeServer::start();
    s.inject(fault(
        "getCollectionValues",
        Some(1),
        status(429, "slow down", None, Some("7")),
    ));
    s.inject(fault(
        "getCollectionValues",
        Some(1),
        status(
            503,
            "maintenance",
            None,
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
        ),
    ));
    let (out, err) = run(&s, &["collections"], 0);
    assert_eq!(s.hits("getCollectionValues"), 3);
    assert!(out.starts_with('['));
    assert!(
        err.contains("HTTP 429: slow down; retry 1/3 in 7.0s (Retry-After)"),
        "{err}"
    );
    assert!(
        err.contains("HTTP 503: maintenance; retry 2/3 in 0.0s (Retry-After)"),
        "{err}"
    );
}

#[test]
fn dropped_connections_are_retried() {
    let s = FakeServer::start();
    s.inject(fault("getPatient", Some(2), FaultAction::Drop));
    let rows = json_rows(&s, &["patients", "--collection", "LIDC-IDRI"]);
    assert_eq!(rows.len(), s.data().patients_in("LIDC-IDRI").len());
    assert_eq!(s.hits("getPatient"), 3);
}

#[test]
fn a_truncated_body_is_an_error_not_short_output() {
    let s = FakeServer::start();
    s.inject(fault(
        "getSeries",
        None,
        FaultAction::TruncateBody { after_bytes: 300 },
    ));
    let (_, err) = run(
        &s,
        &["series", "--collection", "LIDC-IDRI", "--format", "json"],
        5,
    );
    assert!(err.contains("getSeries"), "names the URL: {err}");
}

#[test]
fn timeouts_exit_5() {
    let s = FakeServer::start();
    s.inject(fault(
        "getCollectionValues",
        None,
        FaultAction::Delay { ms: 2500 },
    ));
    let (_, err) = run(&s, &["collections", "--timeout", "1", "--retries", "0"], 5);
    assert!(
        err.contains("no data within 1s (--timeout 1; raise --timeout to wait longer)"),
        "{err}"
    );
}

#[test]
fn connection_refused_names_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = FakeServer::start();
    let url = format!("http://127.0.0.1:{port}");
    let (_, err) = run(&s, &["collections", "--server", &url, "--retries", "1"], 5);
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        err.contains("/nbia-api/services/v4/getCollectionValues"),
        "{err}"
    );
}

#[test]
fn verbose_logs_requests_on_stderr_only() {
    let s = FakeServer::start();
    let (out, err) = run(
        &s,
        &[
            "collections",
            "-v",
            "--format",
            "json",
            "--api",
            "legacy",
            "--api-key",
            "test-api-key",
        ],
        0,
    );
    serde_json::from_str::<serde_json::Value>(&out).unwrap();
    assert!(err.contains("GET http://127.0.0.1:"), "{err}");
    assert!(err.contains("-> 200 ("), "{err}");
    assert!(!err.contains("test-api-key"), "secrets never logged: {err}");
    let (_, err) = run(&s, &["collections", "-q"], 0);
    assert_eq!(err, "");
}

#[test]
fn a_file_that_cannot_be_written_exits_1() {
    let s = FakeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no-such-dir").join("x.tcia");
    let (_, err) = run(
        &s,
        &[
            "manifest",
            "--collection",
            "LIDC-IDRI",
            "-o",
            target.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("no-such-dir"), "{err}");
    assert!(!target.exists());
}

#[cfg(unix)]
#[test]
fn sigint_and_sigterm_exit_130() {
    for sig in ["-INT", "-TERM"] {
        let s = FakeServer::start();
        s.inject(fault(
            "getCollectionValues",
            None,
            FaultAction::Delay { ms: 20_000 },
        ));
        let child = tcia_std(&s)
            .arg("collections")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signal once the request has reached the server (polling the hit counter, no fixed sleep).
        wait_for_hits(&s, "getCollectionValues", 1);
        let ok = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    }
}
