//! Fitting the ecosystem: completions, man pages, README examples, the config file, proxies,
//! CA bundles, colour and `--version`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use clap::{CommandFactory, Parser};
use fake_nbia::FakeServer;
use tcia::cli::Cli;

use super::*;

/// Every subcommand path, e.g. `["series"]`, `["auth", "status"]` (without `help`).
fn subcommand_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &[], &mut out);
    out
}

fn out_of(c: &mut assert_cmd::Command, code: i32) -> (String, String) {
    let out = c.output().expect("run tcia");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    let s = FakeServer::start();
    let top: Vec<String> = subcommand_paths()
        .into_iter()
        .filter(|p| p.len() == 1)
        .map(|p| p[0].clone())
        .collect();
    assert!(top.len() > 30, "{top:?}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (script, err) = run(&s, &["completions", shell], 0);
        assert!(err.is_empty(), "{shell}: {err}");
        for name in &top {
            assert!(script.contains(name.as_str()), "{shell}: no '{name}'");
        }
        // Enum values and hints complete too (clap_complete's PowerShell and Elvish scripts
        // complete names only).
        if !matches!(shell, "powershell" | "elvish") {
            for word in ["ndjson", "legacy", "nlst", "descriptive"] {
                assert!(script.contains(word), "{shell}: no '{word}'");
            }
        }
    }
    assert_eq!(s.requests().len(), 0, "completions never touch the network");
}

#[test]
fn man_pages_for_tcia_and_every_subcommand() {
    let s = FakeServer::start();
    let (main_page, _) = run(&s, &["man"], 0);
    assert!(main_page.contains(".TH tcia 1"), "{}", &main_page[..200]);
    assert!(main_page.contains(".SH SUBCOMMANDS"));
    let paths = subcommand_paths();
    for path in &paths {
        if path.len() == 1 {
            assert!(
                main_page.contains(&format!("tcia\\-{}", path[0].replace('-', "\\-"))),
                "main page lists {path:?}"
            );
        }
        let mut args = vec!["man"];
        args.extend(path.iter().map(String::as_str));
        let (page, _) = run(&s, &args, 0);
        let title = format!("tcia-{}", path.join("-"));
        assert!(
            page.contains(&format!(".TH {title} 1")),
            "{path:?}: {page:.300}"
        );
        assert!(page.contains(".SH NAME"), "{path:?}");
        assert!(page.contains(".SH SYNOPSIS"), "{path:?}");
    }
    let (_, err) = run(&s, &["man", "no-such-command"], 2);
    assert!(
        err.contains("no subcommand 'no-such-command'; valid: collections"),
        "{err}"
    );
}

/// `tcia ...` command lines of the README's shell code blocks: at the start of a line, after a
/// cron schedule or `VAR=value`, after `|`, `&&`, `||` or `;`; cut at the next operator or
/// redirection. A `$(...)` stands for a value: the README only uses it for dates.
fn readme_commands(text: &str) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    let mut in_block = false;
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(lang) = t.strip_prefix("```") {
            in_block = !in_block;
            in_sh = in_block && matches!(lang.trim(), "sh" | "bash" | "shell" | "console" | "");
            continue;
        }
        if !in_sh {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + line;
        // Synopses (`tcia download [UID...] -o DIR`, `tcia download ... --shard K/N`) are not
        // examples.
        if full
            .split_whitespace()
            .any(|w| (w.starts_with('[') && !w.starts_with("'[")) || w.ends_with("..."))
        {
            continue;
        }
        let words = shlex::split(&substitute_commands(&full))
            .unwrap_or_else(|| panic!("README line does not split as shell words: {full}"));
        let mut cur: Option<Vec<String>> = None;
        // Whether the next word is in command position (a prompt `$`, a cron schedule and
        // `VAR=value` assignments keep it so).
        let mut at_start = true;
        let mut schedule = true;
        for w in words {
            let op = matches!(w.as_str(), "|" | "||" | "&&" | ";")
                || w.starts_with('>')
                || w.starts_with('<')
                || w.starts_with("2>")
                || w.starts_with("1>");
            if let Some(c) = &mut cur {
                if op {
                    cmds.push(std::mem::take(c));
                    cur = None;
                } else {
                    c.push(w);
                }
                at_start = op;
                continue;
            }
            if w == "tcia" && at_start {
                cur = Some(vec![w]);
                continue;
            }
            schedule &= w.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c));
            let assignment = w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            at_start = op || (at_start && (w == "$" || assignment || schedule));
        }
        if let Some(c) = cur {
            cmds.push(c);
        }
    }
    cmds
}

/// Replace each `$(...)` (nested parentheses allowed) with a date.
fn substitute_commands(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let mut depth = 0;
        let mut end = rest.len();
        for (j, c) in rest[i + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1 + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str("2024-01-31");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_readme_example_parses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let cmds = readme_commands(&readme);
    assert!(
        cmds.len() >= 40,
        "found only {} commands: {cmds:?}",
        cmds.len()
    );
    for section in [
        "completions",
        "config",
        "man",
        "download",
        "login",
        "series",
    ] {
        assert!(
            cmds.iter()
                .any(|c| c.get(1).map(String::as_str) == Some(section)),
            "no README example of tcia {section}"
        );
    }
    let mut bad = Vec::new();
    for c in &cmds {
        let parsed = Cli::try_parse_from(c)
            .map(|_| ())
            .or_else(|e| match e.kind() {
                clap::error::ErrorKind::DisplayVersion | clap::error::ErrorKind::DisplayHelp => {
                    Ok(())
                }
                _ => Err(e),
            });
        if let Err(e) = parsed {
            bad.push(format!(
                "{}\n  {}",
                c.join(" "),
                e.to_string().lines().next().unwrap_or("")
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "README examples that do not parse:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_help_example_parses() {
    let mut cmd = Cli::command();
    cmd.build();
    let mut n = 0;
    for path in subcommand_paths() {
        let mut sub = &cmd;
        for name in &path {
            sub = sub.find_subcommand(name).unwrap();
        }
        let after = sub
            .get_after_help()
            .unwrap_or_else(|| panic!("tcia {}: no examples in --help", path.join(" ")))
            .to_string();
        let examples = readme_commands(&format!("```sh\n{after}\n```"));
        assert!(!examples.is_empty(), "tcia {}: no examples", path.join(" "));
        for c in examples {
            n += 1;
            if let Err(e) = Cli::try_parse_from(&c) {
                panic!("--help example '{}' does not parse: {e}", c.join(" "));
            }
        }
    }
    assert!(n > 40);
}

/// Commands that call no NBIA endpoint at all: no endpoint in their help, no endpoint alias.
const LOCAL_COMMANDS: [&str; 7] = [
    "verify",
    "auth",
    "completions",
    "man",
    "config",
    "help",
    "query",
];
/// Commands that call something other than one endpoint (several, or the OAuth endpoints):
/// they name it in their one-line help, but have no endpoint alias.
const NOT_ONE_ENDPOINT: [&str; 4] = ["sync", "login", "logout", "index"];

/// `(name, one-line help)` of every subcommand, as `tcia --help` lists them.
fn listed_commands(s: &FakeServer) -> Vec<(String, String)> {
    let (help, _) = run(s, &["--help"], 0);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = help
        .lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1);
    for line in lines.by_ref().take_while(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        match out.last_mut() {
            // A help text that did not fit on its line goes on, indented further.
            Some((_, about)) if indent > 2 => {
                about.push(' ');
                about.push_str(line.trim());
            }
            _ => {
                assert_eq!(indent, 2, "unexpected line in the command list: {line:?}");
                let (name, about) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
                out.push((name.to_string(), about.trim().to_string()));
            }
        }
    }
    out
}

/// Every command that calls one NBIA endpoint names it (`[getSeries]`) at the end of its
/// one-line help and answers to that name (`tcia getSeries` = `tcia series`); every other
/// command is in an explicit list. A new command with neither fails here.
#[test]
fn every_command_answers_to_the_endpoint_it_names() {
    let s = FakeServer::start();
    let commands = listed_commands(&s);
    let names: Vec<&str> = commands.iter().map(|(n, _)| n.as_str()).collect();
    for exempt in LOCAL_COMMANDS.iter().chain(&NOT_ONE_ENDPOINT) {
        assert!(names.contains(exempt), "no command {exempt}: {names:?}");
    }
    let mut aliased = 0;
    for (name, about) in &commands {
        if LOCAL_COMMANDS.contains(&name.as_str()) {
            continue;
        }
        let named = about
            .strip_suffix(']')
            .and_then(|a| a.rsplit_once('['))
            .map(|(_, inner)| inner)
            .unwrap_or_else(|| {
                panic!("tcia {name}: its help names no endpoint ([endpoint]): {about:?}")
            });
        if NOT_ONE_ENDPOINT.contains(&name.as_str()) {
            continue;
        }
        // `[v4: getSeriesMetadata; v1/v2: getSeriesMetaData]`, `[getContentsByName, v1]`.
        let endpoints: Vec<&str> = named
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .filter(|w| !(w.starts_with('v') && w[1..].chars().all(|c| c.is_ascii_digit())))
            .collect();
        assert!(
            !endpoints.is_empty(),
            "tcia {name}: no endpoint in [{named}]"
        );
        let (own, _) = run(&s, &[name, "--help"], 0);
        for endpoint in endpoints {
            let out = tcia(&s).args([endpoint, "--help"]).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "tcia {name} names [{named}] but `tcia {endpoint}` is not a command: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                own,
                "tcia {endpoint} is another command than tcia {name}"
            );
            aliased += 1;
        }
    }
    assert!(aliased >= 25, "only {aliased} endpoint aliases: {names:?}");
    assert!(s.requests().is_empty(), "--help sends nothing");
}

#[test]
fn version_names_the_default_server() {
    let s = FakeServer::start();
    let expected = format!(
        "tcia {} (default server {})\n",
        env!("CARGO_PKG_VERSION"),
        tcia::api::catalogue::DEFAULT_SERVER
    );
    for flag in ["--version", "-V"] {
        let (out, _) = run(&s, &[flag], 0);
        assert_eq!(out, expected);
    }
}

/// `tcia` with its config file in a fresh directory holding `text`.
fn with_config(s: &FakeServer, text: &str) -> (assert_cmd::Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    let mut c = tcia(s);
    c.env("TCIA_CONFIG_DIR", dir.path());
    (c, dir)
}

/// `tcia config show` as key → (value, source).
fn show(c: &mut assert_cmd::Command) -> HashMap<String, (String, String)> {
    let (out, _) = out_of(c.args(["config", "show"]), 0);
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let key = l.split_whitespace().next().unwrap().to_string();
            let source = ["flag", "config file", "default"]
                .into_iter()
                .find(|s| l.ends_with(s))
                .map(str::to_string)
                .or_else(|| l.rsplit_once("env ").map(|(_, v)| format!("env {v}")))
                .unwrap_or_else(|| panic!("no source: {l}"));
            let value = l[key.len()..l.len() - source.len()].trim().to_string();
            (key, (value, source))
        })
        .collect()
}

const CONFIG: &str = "# defaults for tcia\nformat = \"csv\"\napi = \"v1\"\ntimeout = 17\nretries = 6\njobs = 3\nlayout = \"classic\"\n";

#[test]
fn config_file_sits_below_flags_and_environment() {
    let s = FakeServer::start();
    // Config file only: csv, and the v1 API (observed at the server).
    let (mut c, _d) = with_config(&s, CONFIG);
    let (out, _) = out_of(c.arg("collections"), 0);
    assert!(out.starts_with("Collection\r\n"), "{out}");
    let paths: Vec<String> = s.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().all(|p| p.contains("/v1/")), "{paths:?}");

    // The environment beats the file; a flag beats both.
    let (mut c, _d) = with_config(&s, CONFIG);
    let (out, _) = out_of(c.arg("collections").env("TCIA_FORMAT", "ndjson"), 0);
    assert!(out.starts_with("{\"Collection\""), "{out}");
    let (mut c, _d) = with_config(&s, CONFIG);
    let (out, _) = out_of(
        c.args(["collections", "--format", "json", "--api", "v4"])
            .env("TCIA_FORMAT", "ndjson"),
        0,
    );
    assert!(out.starts_with('['), "{out}");
    assert!(s.requests().last().unwrap().path.contains("/v4/"));

    // Where each setting came from.
    let (mut c, _d) = with_config(&s, CONFIG);
    c.env("TCIA_TIMEOUT", "9")
        .env("TCIA_JOBS", "5")
        .args(["--retries", "2"]);
    let got = show(&mut c);
    let pair = |v: &str, src: &str| (v.to_string(), src.to_string());
    assert_eq!(got["format"], pair("csv", "config file"));
    assert_eq!(got["api"], pair("v1", "config file"));
    assert_eq!(got["timeout"], pair("9", "env TCIA_TIMEOUT"));
    assert_eq!(got["retries"], pair("2", "flag"));
    assert_eq!(got["jobs"], pair("5", "env TCIA_JOBS"));
    assert_eq!(got["layout"], pair("classic", "config file"));
    assert_eq!(got["color"], pair("auto", "default"));
    assert_eq!(got["server"], pair(&s.url(), "env TCIA_SERVER"));

    // No file: built-in defaults.
    let dir = tempfile::tempdir().unwrap();
    let mut c = tcia(&s);
    c.env("TCIA_CONFIG_DIR", dir.path());
    let got = show(&mut c);
    assert_eq!(got["api"], pair("v4", "default"));
    assert_eq!(got["timeout"], pair("60", "default"));
    assert_eq!(got["jobs"], pair("4", "default"));
    assert_eq!(got["format"].1, "default");
    let (out, _) = out_of(
        tcia(&s)
            .env("TCIA_CONFIG_DIR", dir.path())
            .args(["config", "path"]),
        0,
    );
    assert_eq!(
        out.trim_end(),
        dir.path().join("config.toml").display().to_string()
    );
}

#[test]
fn config_file_fills_download_options() {
    let s = FakeServer::start();
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        "output = '{}'\nlayout = \"classic\"\njobs = 2\n",
        data.path().display()
    );
    let uid = s.data().series_in("LIDC-IDRI")[0].series_uid.clone();
    let (mut c, _d) = with_config(&s, &text);
    out_of(c.args(["download", &uid, "--dry-run"]), 0);
    let (mut c, _d) = with_config(&s, &text);
    out_of(c.args(["download", &uid, "-q"]), 0);
    let meta = std::fs::read_to_string(data.path().join("metadata.csv")).unwrap();
    assert!(meta.contains(&uid), "{meta}");
    let classic = data.path().join("LIDC-IDRI");
    assert!(classic.is_dir(), "the classic layout from the config file");
}

#[test]
fn malformed_config_names_the_line() {
    let s = FakeServer::start();
    let (mut c, _d) = with_config(&s, "format = \"csv\"\napi = v1\n");
    let (out, err) = out_of(c.arg("collections"), 2);
    assert!(out.is_empty());
    assert!(err.starts_with("tcia: error: "), "{err}");
    assert!(err.contains("config.toml line 2: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let (mut c, _d) = with_config(&s, "format = \"csv\"\n\ncolour = \"never\"\n");
    let (_, err) = out_of(c.arg("collections"), 2);
    assert!(
        err.contains("config.toml line 3: unknown key 'colour'; valid keys: server, api, format"),
        "{err}"
    );

    let (mut c, _d) = with_config(&s, "retries = 2\nformat = \"xml\"\n");
    let (_, err) = out_of(c.arg("collections"), 2);
    assert!(
        err.contains("config.toml line 2: format: invalid value 'xml'"),
        "{err}"
    );
    assert!(err.contains("csv"), "lists the valid values: {err}");

    let (mut c, _d) = with_config(&s, "jobs = 0\n");
    let (_, err) = out_of(c.arg("collections"), 2);
    assert!(err.contains("config.toml line 1: jobs: "), "{err}");

    // `config path` still answers, so the file can be found and fixed.
    let (mut c, d) = with_config(&s, "api = v1\n");
    let (out, _) = out_of(c.args(["config", "path"]), 0);
    assert_eq!(
        out.trim_end(),
        d.path().join("config.toml").display().to_string()
    );
    assert_eq!(s.requests().len(), 0, "nothing was sent");
}

/// A plain-HTTP forward proxy on 127.0.0.1 that sends every absolute-URI request, whatever its
/// host, to `upstream`, and records what it saw.
struct TestProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    fn start(upstream: SocketAddr) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = proxy_connection(conn, upstream, &log);
                });
            }
        });
        TestProxy { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn proxy_connection(
    client: TcpStream,
    upstream: SocketAddr,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (method, target, version) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("HTTP/1.1").to_string(),
        );
        let mut headers = String::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if !lower.starts_with("connection:") && !lower.starts_with("proxy-connection:") {
                headers.push_str(&h);
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        log.lock().unwrap().push(format!("{method} {target}"));
        let Ok(url) = url::Url::parse(&target) else {
            client.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")?;
            continue;
        };
        let origin_form = &url[url::Position::BeforePath..];
        let mut up = TcpStream::connect(upstream)?;
        write!(
            up,
            "{method} {origin_form} {version}\r\n{headers}connection: close\r\n\r\n"
        )?;
        up.write_all(&body)?;
        let mut response = Vec::new();
        up.read_to_end(&mut response)?;
        client.write_all(&response)?;
    }
}

/// The fake server under a name only the test proxy knows.
fn hidden_url(s: &FakeServer) -> String {
    let port = s.url().rsplit(':').next().unwrap().to_string();
    format!("http://fake-nbia.invalid:{port}")
}

fn upstream(s: &FakeServer) -> SocketAddr {
    s.url().trim_start_matches("http://").parse().unwrap()
}

#[test]
fn http_proxy_from_the_environment_is_used() {
    let s = FakeServer::start();
    let proxy = TestProxy::start(upstream(&s));
    let server = hidden_url(&s);
    let (out, _) = out_of(
        tcia(&s)
            .args([
                "collections",
                "--format",
                "csv",
                "--allow-http",
                "--server",
                &server,
            ])
            .env("HTTP_PROXY", &proxy.url),
        0,
    );
    assert!(out.contains("LIDC-IDRI"), "{out}");
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|r| r.starts_with(&format!("GET {server}/")) && r.contains("getCollectionValues")),
        "{seen:?}"
    );
    assert_eq!(s.hits("getCollectionValues"), 1);
}

#[test]
fn proxy_flag_and_tcia_proxy_are_used() {
    let s = FakeServer::start();
    let proxy = TestProxy::start(upstream(&s));
    let server = hidden_url(&s);
    let uid = s.data().series_in("LIDC-IDRI")[0].series_uid.clone();
    // POST (series metadata) goes through as well.
    let (out, _) = out_of(
        tcia(&s).args([
            "series-metadata",
            &uid,
            "--format",
            "csv",
            "--allow-http",
            "--server",
            &server,
            "--proxy",
            &proxy.url,
        ]),
        0,
    );
    assert!(out.contains(&uid), "{out}");
    let (out, _) = out_of(
        tcia(&s)
            .args(["modalities", "--allow-http", "--server", &server])
            .env("TCIA_PROXY", &proxy.url),
        0,
    );
    assert!(out.contains("CT"), "{out}");
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|r| r.starts_with("POST ") && r.contains("getSeriesMetadata")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|r| r.contains("getModalityValues")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|r| r.contains("fake-nbia.invalid")),
        "{seen:?}"
    );
}

#[test]
fn no_proxy_exempts_its_hosts() {
    let s = FakeServer::start();
    // A proxy that refuses connections: only NO_PROXY lets these through.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    out_of(
        tcia(&s)
            .args(["collections", "--retries", "0"])
            .env("HTTP_PROXY", &dead)
            .env("NO_PROXY", "127.0.0.1,localhost"),
        0,
    );
    out_of(
        tcia(&s)
            .args(["collections", "--retries", "0", "--proxy", &dead])
            .env("NO_PROXY", "127.0.0.1"),
        0,
    );
    // Without the exemption the dead proxy is tried: a network error.
    let (_, err) = out_of(
        tcia(&s).args(["collections", "--retries", "0", "--proxy", &dead]),
        5,
    );
    assert!(err.starts_with("tcia: error: GET "), "{err}");
    let (_, err) = out_of(tcia(&s).args(["collections", "--proxy", "ftp://x"]), 2);
    assert!(err.contains("invalid --proxy 'ftp://x'"), "{err}");
}

const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBhjCCASugAwIBAgIUPaz6ovOkxlj2a0l88F1+75w4oTAwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMdGNpYSB0ZXN0IENBMCAXDTI2MTEyMjE1NTgxM1oYDzIxMjYx
MDI5MTU1ODEzWjAXMRUwEwYDVQQDDAx0Y2lhIHRlc3QgQ0EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAR+z0/P8FUVXwhmbaNg3s9SO0IUphuUfGLmfEaJYu61vh+w
Kb5Nid0H/tK+tOre93KNeYIf36ZE9ZNl6JRlfvAwo1MwUTAdBgNVHQ4EFgQUGjAj
sSKyQU4+lZhWn6T2J2u4O6swHwYDVR0jBBgwFoAUGjAjsSKyQU4+lZhWn6T2J2u4
O6swDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAyXthZD4iKYf7
Xdpevh8WlM9rB8K9R4wPV0zrW4tYrOsCIQCCtKOyRxnza+qheh9BO5VTuHh8ppPb
NJJwRfW+PtGgDQ==
-----END CERTIFICATE-----
";

#[test]
fn ca_cert_bundle_is_loaded_or_a_usage_error() {
    let s = FakeServer::start();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ca.pem");
    std::fs::write(&good, format!("{TEST_CA}{TEST_CA}")).unwrap();
    let good = good.to_str().unwrap();
    out_of(tcia(&s).args(["collections", "--ca-cert", good]), 0);
    out_of(tcia(&s).arg("collections").env("SSL_CERT_FILE", good), 0);

    let bad = dir.path().join("not-a-cert.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let (_, err) = out_of(
        tcia(&s).args(["collections", "--ca-cert", bad.to_str().unwrap()]),
        2,
    );
    assert!(
        err.contains("--ca-cert ") && err.contains("no PEM certificate"),
        "{err}"
    );
    let missing = dir.path().join("missing.pem");
    let (_, err) = out_of(
        tcia(&s).arg("collections").env("SSL_CERT_FILE", &missing),
        2,
    );
    assert!(
        err.contains("--ca-cert ") && err.contains("cannot read"),
        "{err}"
    );
    assert_eq!(s.requests().len(), 2, "only the good runs sent anything");
}

/// A command that fails with a usage error before any request.
const FAILING: [&str; 3] = ["collections", "--api", "legacy"];

#[test]
fn colour_only_when_asked_or_allowed() {
    let s = FakeServer::start();
    let esc = |t: &str| t.contains('\x1b');
    let (_, err) = out_of(tcia(&s).args(FAILING).args(["--color", "always"]), 2);
    assert!(err.contains("\x1b["), "{err:?}");
    assert!(err.contains("tcia: error:"), "{err:?}");
    let (_, err) = out_of(tcia(&s).args(FAILING).env("TCIA_COLOR", "always"), 2);
    assert!(esc(&err), "{err:?}");

    // auto: a terminal (test hook), NO_COLOR unset, TERM not dumb.
    let auto = || {
        let mut c = tcia(&s);
        c.args(FAILING)
            .env("TCIA_TEST_STDERR_TTY", "1")
            .env("TERM", "xterm");
        c
    };
    let (_, err) = out_of(&mut auto(), 2);
    assert!(esc(&err), "auto on a terminal: {err:?}");
    let (_, err) = out_of(auto().env("NO_COLOR", "1"), 2);
    assert!(!esc(&err), "NO_COLOR: {err:?}");
    let (_, err) = out_of(auto().env("TERM", "dumb"), 2);
    assert!(!esc(&err), "TERM=dumb: {err:?}");
    let (_, err) = out_of(auto().args(["--color", "never"]), 2);
    assert!(!esc(&err), "--color never: {err:?}");
    assert_eq!(
        err,
        "tcia: error: --api legacy needs an API key: pass --api-key KEY or set TCIA_API_KEY\n"
    );
    // Not a terminal: no colour.
    let (_, err) = out_of(tcia(&s).args(FAILING), 2);
    assert!(!esc(&err), "{err:?}");

    // Data on stdout never carries colour, whatever --color says.
    let (out, _) = out_of(
        tcia(&s).args(["collections", "--format", "table", "--color", "always"]),
        0,
    );
    assert!(!esc(&out), "{out:?}");
}

#[test]
fn readme_config_example_is_valid_and_verbose_names_the_file() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let s = FakeServer::start();
    let (mut c, d) = with_config(&s, example);
    let got = show(&mut c);
    assert_eq!(
        got["layout"],
        ("classic".to_string(), "config file".to_string())
    );
    assert_eq!(
        got["server"].1, "env TCIA_SERVER",
        "the environment beats the file"
    );
    let (mut c, _d2) = with_config(&s, "format = \"csv\"\n");
    let (_, err) = out_of(c.args(["collections", "-v"]), 0);
    assert!(err.contains("config file: read "), "{err}");
    drop(d);
}
