//! End-to-end checks of the fake server with a raw HTTP/1.1 client over std::net::TcpStream.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use fake_nbia::{Config, FakeServer, Fault, FaultAction};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// true if a chunked body ended without its terminating chunk
    incomplete: bool,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn addr(s: &FakeServer) -> String {
    s.url().trim_start_matches("http://").to_string()
}

/// Send a raw request; returns None when the server closed without sending anything.
fn raw(
    s: &FakeServer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Resp> {
    let mut c = TcpStream::connect(addr(s)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        addr(s)
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    c.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf); // a reset counts as end of data
    if buf.is_empty() {
        return None;
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut rest = buf[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut incomplete = false;
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let Some(eol) = rest[pos..].windows(2).position(|w| w == b"\r\n") else {
                incomplete = true;
                break;
            };
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[pos..pos + eol]).unwrap().trim(),
                16,
            )
            .unwrap();
            pos += eol + 2;
            if size == 0 {
                break;
            }
            if pos + size > rest.len() {
                out.extend_from_slice(&rest[pos..]);
                incomplete = true;
                break;
            }
            out.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        rest = out;
    }
    Some(Resp {
        status,
        headers,
        body: rest,
        incomplete,
    })
}

fn get(s: &FakeServer, target: &str) -> Resp {
    raw(s, "GET", target, &[], "").expect("response")
}

const V1: &str = "/nbia-api/services/v1";
const V2: &str = "/nbia-api/services/v2";
const V4: &str = "/nbia-api/services/v4";

fn small() -> FakeServer {
    FakeServer::start_with(Config {
        bulk_series: 20,
        ..Config::default()
    })
}

#[test]
fn no_rows_is_empty_200_without_content_type() {
    let s = small();
    let r = get(&s, &format!("{V1}/getSeries?Collection=No-Such-Collection"));
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(r.header("content-type").is_none());
    // getSeriesSize of an unknown UID is the one-element [{}]
    assert_eq!(
        get(&s, &format!("{V1}/getSeriesSize?SeriesInstanceUID=1.2.3")).text(),
        "[{}]"
    );
    assert_eq!(
        get(
            &s,
            &format!("{V1}/getSeriesMetaData?SeriesInstanceUID=1.2.3")
        )
        .status,
        204
    );
}

#[test]
fn body_parts_start_with_empty_object_and_are_upper_cased() {
    let s = small();
    let r = get(&s, &format!("{V1}/getBodyPartValues"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let t = r.text();
    assert!(t.starts_with("[{},{\"BodyPartExamined\":"), "{t}");
    assert!(!t.contains("\"Colon\""));
    let csv = get(&s, &format!("{V1}/getBodyPartValues?format=CSV")).text();
    assert!(csv.starts_with("BodyPartExamined\n\n"), "{csv}");
}

#[test]
fn v4_rejects_unknown_parameters_v1_ignores_them() {
    let s = small();
    let r = get(&s, &format!("{V4}/getSeries?collection=LIDC-IDRI"));
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .starts_with("Invalid query parameter: 'collection'. Allowed parameters are: ["),
        "{}",
        r.text()
    );
    let all = get(&s, &format!("{V1}/getSeries?collection=LIDC-IDRI")).json();
    let visible = s
        .data()
        .series()
        .filter(|x| x.collection != fake_nbia::RESTRICTED_COLLECTION)
        .count();
    assert_eq!(all.as_array().unwrap().len(), visible);
    // case-insensitive value match, URL-decoded name with a space
    let ctc = get(&s, &format!("{V1}/getSeries?Collection=ct%20colonography")).json();
    assert_eq!(
        ctc.as_array().unwrap().len(),
        s.data().series_in("CT COLONOGRAPHY").len()
    );
    // missing required parameter: sentence labelled application/json
    let m = get(&s, &format!("{V1}/getSOPInstanceUIDs"));
    assert_eq!(
        (m.status, m.header("content-type")),
        (400, Some("application/json"))
    );
    assert_eq!(
        m.text(),
        "A parameter, SeriesInstanceUID is required for this API call."
    );
}

#[test]
fn v4_series_have_30_columns_and_omit_nulls() {
    let s = small();
    let rows = get(&s, &format!("{V4}/getSeries?Collection=Pediatric-CT-SEG")).json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), s.data().series_in("Pediatric-CT-SEG").len());
    assert!(rows
        .iter()
        .all(|r| r.as_object().unwrap().values().all(|v| !v.is_null())));
    assert!(rows.iter().any(|r| r.get("Manufacturer").is_none()));
    let first = rows[0].as_object().unwrap();
    assert_eq!(first.keys().next().unwrap(), "SeriesInstanceUID");
    assert_eq!(first.keys().next_back().unwrap(), "Authorized");
}

#[test]
fn bulk_get_series_streams_every_row() {
    let s = FakeServer::start_with(Config {
        bulk_series: 3_000,
        ..Config::default()
    });
    let r = get(&s, &format!("{V4}/getSeries?Collection=Bulk-Synthetic"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(!r.incomplete);
    let rows = r.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3_000);
    let expected: Vec<String> = s
        .data()
        .series_in("Bulk-Synthetic")
        .into_iter()
        .map(|x| x.series_uid)
        .collect();
    let got: Vec<&str> = rows
        .iter()
        .map(|r| r["SeriesInstanceUID"].as_str().unwrap())
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn faults_drop_truncate_status_and_counting() {
    let s = small();
    s.inject(Fault::new(
        "getCollectionValues",
        Some(1),
        FaultAction::Drop,
    ));
    assert!(raw(&s, "GET", &format!("{V1}/getCollectionValues"), &[], "").is_none());
    assert_eq!(get(&s, &format!("{V1}/getCollectionValues")).status, 200);

    s.inject(Fault::new(
        "getSeries",
        Some(1),
        FaultAction::TruncateBody { after_bytes: 50 },
    ));
    let r = get(&s, &format!("{V1}/getSeries"));
    assert_eq!(r.status, 200);
    assert!(r.incomplete);
    assert_eq!(r.body.len(), 50);

    s.inject(Fault::new(
        "*",
        Some(2),
        FaultAction::Status {
            code: 503,
            body: String::new(),
            content_type: None,
            retry_after: Some("2".into()),
        },
    ));
    for _ in 0..2 {
        let r = get(&s, &format!("{V4}/getModalityValues"));
        assert_eq!((r.status, r.header("retry-after")), (503, Some("2")));
    }
    assert_eq!(get(&s, &format!("{V4}/getModalityValues")).status, 200);
    assert_eq!(s.hits("getModalityValues"), 3);
    assert_eq!(s.hits("getCollectionValues"), 2);
    assert_eq!(s.requests().len(), 6);
}

#[test]
fn token_flow_v2_and_restricted_collection() {
    let server = small();
    let s = &server;
    // no header → 500 text; bad token → 401; other endpoints → empty 200
    let r = get(s, &format!("{V2}/getCollectionValues"));
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "Server was not able to process your request\nnull"
    );
    let bad = raw(
        s,
        "GET",
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", "Bearer nope")],
        "",
    )
    .unwrap();
    assert_eq!(bad.status, 401);
    let r = get(s, &format!("{V2}/getSeries?Collection=LIDC-IDRI"));
    assert_eq!((r.status, r.body.len()), (200, 0));

    let bad_login = raw(
        s,
        "POST",
        "/nbia-api/oauth/token",
        &[],
        "username=alice&password=nope&grant_type=password",
    );
    assert_eq!(bad_login.unwrap().status, 401);
    let tok = raw(
        s,
        "POST",
        "/nbia-api/oauth/token",
        &[],
        "username=alice&password=wonderland&client_id=NBIA&grant_type=password",
    )
    .unwrap()
    .json();
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 7200);
    assert!(tok.get("not-before-policy").is_some());
    let bearer = format!("Bearer {}", tok["access_token"].as_str().unwrap());
    let names = raw(
        s,
        "GET",
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &bearer)],
        "",
    )
    .unwrap()
    .text();
    assert!(names.contains("Restricted-Trial"));
    assert!(!get(s, &format!("{V1}/getCollectionValues"))
        .text()
        .contains("Restricted-Trial"));
    // guest sees public data only
    let guest = format!("Bearer {}", s.issue_token("nbia_guest"));
    let g = raw(
        s,
        "GET",
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &guest)],
        "",
    )
    .unwrap()
    .text();
    assert!(g.contains("LIDC-IDRI") && !g.contains("Restricted-Trial"));
    // refresh works, bogus refresh is 400
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        tok["refresh_token"].as_str().unwrap()
    );
    assert_eq!(
        raw(s, "POST", "/nbia-api/oauth/token", &[], &body)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        raw(
            s,
            "POST",
            "/nbia-api/oauth/token",
            &[],
            "grant_type=refresh_token&refresh_token=x"
        )
        .unwrap()
        .status,
        400
    );
    // logout invalidates
    let out = raw(
        s,
        "GET",
        "/nbia-api/logout",
        &[("Authorization", &bearer)],
        "",
    )
    .unwrap();
    assert_eq!(out.text(), "You Have Logged Out successfully.");
    let after = raw(
        s,
        "GET",
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &bearer)],
        "",
    )
    .unwrap();
    assert_eq!(after.status, 401);
}

#[test]
fn tokens_expire_in_real_time() {
    let s = FakeServer::start_with(Config {
        bulk_series: 0,
        token_lifetime_secs: 1,
        refresh_lifetime_secs: 2,
        ..Config::default()
    });
    let bearer = format!("Bearer {}", s.issue_token("alice"));
    let ok = raw(
        &s,
        "GET",
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &bearer)],
        "",
    )
    .unwrap();
    assert_eq!(ok.status, 200);
    assert!(!ok.text().contains("Bulk-Synthetic"));
    std::thread::sleep(Duration::from_millis(1100));
    let late = raw(
        &s,
        "GET",
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &bearer)],
        "",
    )
    .unwrap();
    assert_eq!(late.status, 401);
}

#[test]
fn v4_posts_metadata_csv_and_manifest() {
    let s = small();
    let uids: Vec<String> = s
        .data()
        .series_in("LIDC-IDRI")
        .into_iter()
        .take(2)
        .map(|x| x.series_uid)
        .collect();
    let r = raw(
        &s,
        "POST",
        &format!("{V4}/getSeriesMetadata"),
        &[],
        &format!("list={}%2C+{}", uids[0], uids[1]),
    )
    .unwrap();
    assert_eq!(r.header("content-type"), Some("text/csv"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"SeriesMetaData.csv\"")
    );
    assert_eq!(r.text().lines().count(), 3);
    let missing = raw(&s, "POST", &format!("{V4}/getSeriesMetadata"), &[], "").unwrap();
    assert_eq!(missing.status, 400);
    let m = raw(
        &s,
        "POST",
        &format!("{V4}/getManifestText"),
        &[],
        &format!("list={}&includeAnnotation=false", uids[0]),
    )
    .unwrap();
    assert_eq!(
        m.header("content-type"),
        Some("application/x-nbia-manifest-file")
    );
    let t = m.text();
    assert!(t.starts_with(&format!("downloadServerUrl={}/nbia-download/servlet/DownloadServlet\nincludeAnnotation=false\nnoOfrRetry=4\n", s.url())));
    assert!(t.ends_with(&format!("ListOfSeriesToDownload=\n{}\n", uids[0])));
    assert_eq!(
        s.requests().last().unwrap().form,
        format!("list={}&includeAnnotation=false", uids[0])
    );
}

#[test]
fn legacy_api_needs_api_key() {
    let s = small();
    assert_eq!(
        get(&s, "/services/v3/TCIA/query/getCollectionValues").status,
        401
    );
    let r = raw(
        &s,
        "GET",
        "/services/v3/TCIA/query/getPatient?Collection=LIDC-IDRI",
        &[("api_key", "test-api-key")],
        "",
    )
    .unwrap();
    let rows = r.json();
    assert_eq!(rows[0]["PatientID"], "LIDC-IDRI-0001");
    assert_eq!(rows[0]["PatientName"], "");
}
