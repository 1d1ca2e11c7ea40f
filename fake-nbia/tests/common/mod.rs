//! What every fake-nbia test module shares: the one HTTP client (a minimal HTTP/1.1 client over
//! `std::net::TcpStream`: one request per connection with `Connection: close`, chunked bodies
//! decoded, a cut body reported as `incomplete`), the API base paths and a small server.
//! [`zip`] reads the downloaded ZIPs.

pub mod zip;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use fake_nbia::{Config, FakeServer};

pub const V1: &str = "/nbia-api/services/v1";
pub const V2: &str = "/nbia-api/services/v2";
pub const V4: &str = "/nbia-api/services/v4";

/// A server with a 20-series bulk collection and 4096-byte images.
pub fn small_server() -> FakeServer {
    FakeServer::start_with(Config {
        bulk_series: 20,
        ..Config::default()
    })
}

/// One HTTP response as received.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked when it was chunked).
    pub body: Vec<u8>,
    /// true if a chunked body ended without its terminating chunk (connection cut)
    pub incomplete: bool,
}

impl Resp {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Send one request and read the whole answer; None when the server closed the connection
/// without sending anything. A POST without a Content-Type header is sent as a form post.
pub fn send(
    s: &FakeServer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Resp> {
    send_to(&s.url(), method, target, headers, body)
}

/// [`send`] to any base URL (`http://127.0.0.1:PORT`), e.g. a [`fake_nbia::FakeBucket`]'s.
pub fn send_to(
    url: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Resp> {
    let addr = url.trim_start_matches("http://").to_string();
    let mut c = TcpStream::connect(&addr).expect("connect to the fake");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if method == "POST" && !has_type {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    if method == "POST" || !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf); // a reset counts as the end of the data
    (!buf.is_empty()).then(|| parse_response(&buf))
}

fn parse_response(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the response head");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let rest = &buf[split + 4..];
    let (body, incomplete) = if chunked {
        dechunk(rest)
    } else {
        (rest.to_vec(), false)
    };
    Resp {
        status,
        headers,
        body,
        incomplete,
    }
}

/// Decode a chunked body; the flag is true when it ends before the terminating 0-size chunk.
fn dechunk(rest: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = rest[pos..].windows(2).position(|w| w == b"\r\n") else {
            return (out, true);
        };
        let size_text = std::str::from_utf8(&rest[pos..pos + eol]).expect("chunk size");
        let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
        pos += eol + 2;
        if size == 0 {
            return (out, false);
        }
        if pos + size > rest.len() {
            out.extend_from_slice(&rest[pos..]);
            return (out, true);
        }
        out.extend_from_slice(&rest[pos..pos + size]);
        pos += size + 2;
    }
}

/// GET that must get a response.
pub fn get(s: &FakeServer, target: &str) -> Resp {
    get_with(s, target, &[])
}

/// GET with extra headers, e.g. `[("Authorization", "Bearer ...")]`.
pub fn get_with(s: &FakeServer, target: &str, headers: &[(&str, &str)]) -> Resp {
    send(s, "GET", target, headers, b"").expect("a response")
}

/// GET and parse the body as JSON.
pub fn get_json(s: &FakeServer, target: &str) -> serde_json::Value {
    get(s, target).json()
}

/// POST an `application/x-www-form-urlencoded` body.
pub fn post_form(s: &FakeServer, target: &str, body: &str) -> Resp {
    send(s, "POST", target, &[], body.as_bytes()).expect("a response")
}

/// POST a JSON body (the control API).
pub fn post_json(s: &FakeServer, target: &str, body: &str) -> Resp {
    let ct = [("Content-Type", "application/json")];
    send(s, "POST", target, &ct, body.as_bytes()).expect("a response")
}
