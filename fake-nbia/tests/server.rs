//! End-to-end checks of the fake's query API through the shared HTTP client: empty answers,
//! formats, v4 parameter checks, bulk streaming, transport faults, tokens, POST endpoints and the
//! legacy API.

use fake_nbia::{Config, FakeServer, Fault, FaultAction};

use crate::common::{get, get_with, post_form, send, small_server};
use crate::common::{V1, V2, V4};

#[test]
fn no_rows_is_empty_200_without_content_type() {
    let s = small_server();
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
    let s = small_server();
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
    let s = small_server();
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
    let s = small_server();
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
    let s = small_server();
    s.inject(Fault::new(
        "getCollectionValues",
        Some(1),
        FaultAction::Drop,
    ));
    assert!(send(&s, "GET", &format!("{V1}/getCollectionValues"), &[], b"").is_none());
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
    let server = small_server();
    let s = &server;
    // no header → 500 text; bad token → 401; other endpoints → empty 200
    let r = get(s, &format!("{V2}/getCollectionValues"));
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "Server was not able to process your request\nnull"
    );
    let bad = get_with(
        s,
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!(bad.status, 401);
    let r = get(s, &format!("{V2}/getSeries?Collection=LIDC-IDRI"));
    assert_eq!((r.status, r.body.len()), (200, 0));

    let bad_login = post_form(
        s,
        "/nbia-api/oauth/token",
        "username=alice&password=nope&grant_type=password",
    );
    assert_eq!(bad_login.status, 401);
    let tok = post_form(
        s,
        "/nbia-api/oauth/token",
        "username=alice&password=wonderland&client_id=NBIA&grant_type=password",
    )
    .json();
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 7200);
    assert!(tok.get("not-before-policy").is_some());
    let bearer = format!("Bearer {}", tok["access_token"].as_str().unwrap());
    let names = get_with(
        s,
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &bearer)],
    )
    .text();
    assert!(names.contains("Restricted-Trial"));
    assert!(!get(s, &format!("{V1}/getCollectionValues"))
        .text()
        .contains("Restricted-Trial"));
    // guest sees public data only
    let guest = format!("Bearer {}", s.issue_token("nbia_guest"));
    let g = get_with(
        s,
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &guest)],
    )
    .text();
    assert!(g.contains("LIDC-IDRI") && !g.contains("Restricted-Trial"));
    // refresh works, bogus refresh is 400
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        tok["refresh_token"].as_str().unwrap()
    );
    assert_eq!(post_form(s, "/nbia-api/oauth/token", &body).status, 200);
    assert_eq!(
        post_form(
            s,
            "/nbia-api/oauth/token",
            "grant_type=refresh_token&refresh_token=x"
        )
        .status,
        400
    );
    // logout invalidates
    let out = get_with(s, "/nbia-api/logout", &[("Authorization", &bearer)]);
    assert_eq!(out.text(), "You Have Logged Out successfully.");
    let after = get_with(
        s,
        &format!("{V2}/getCollectionValues"),
        &[("Authorization", &bearer)],
    );
    assert_eq!(after.status, 401);
}

/// Expiry is checked against the real clock (`Instant`): with a lifetime of 0 s every token is
/// already expired when it is first used, so no test has to wait for a clock to pass.
#[test]
fn tokens_expire_after_their_lifetime() {
    let no_bulk = Config {
        bulk_series: 0,
        ..Config::default()
    };
    let live = FakeServer::start_with(no_bulk.clone());
    let dead = FakeServer::start_with(Config {
        token_lifetime_secs: 0,
        refresh_lifetime_secs: 0,
        ..no_bulk
    });
    let names = |s: &FakeServer, token: &str| {
        let bearer = format!("Bearer {token}");
        get_with(
            s,
            &format!("{V2}/getCollectionValues"),
            &[("Authorization", &bearer)],
        )
    };
    let ok = names(&live, &live.issue_token("alice"));
    assert_eq!(ok.status, 200);
    assert!(!ok.text().contains("Bulk-Synthetic"));
    assert_eq!(names(&dead, &dead.issue_token("alice")).status, 401);
    // a password login hands out an access and a refresh token that are both expired at once
    let login = "username=alice&password=wonderland&client_id=NBIA&grant_type=password";
    let tok = post_form(&dead, "/nbia-api/oauth/token", login).json();
    assert_eq!(tok["expires_in"], 0);
    assert_eq!(
        names(&dead, tok["access_token"].as_str().unwrap()).status,
        401
    );
    let refresh = format!(
        "grant_type=refresh_token&refresh_token={}",
        tok["refresh_token"].as_str().unwrap()
    );
    assert_eq!(
        post_form(&dead, "/nbia-api/oauth/token", &refresh).status,
        400
    );
    // the same refresh on a live server works
    let tok = post_form(&live, "/nbia-api/oauth/token", login).json();
    let refresh = format!(
        "grant_type=refresh_token&refresh_token={}",
        tok["refresh_token"].as_str().unwrap()
    );
    assert_eq!(
        post_form(&live, "/nbia-api/oauth/token", &refresh).status,
        200
    );
}

#[test]
fn v4_posts_metadata_csv_and_manifest() {
    let s = small_server();
    let uids: Vec<String> = s
        .data()
        .series_in("LIDC-IDRI")
        .into_iter()
        .take(2)
        .map(|x| x.series_uid)
        .collect();
    let r = post_form(
        &s,
        &format!("{V4}/getSeriesMetadata"),
        &format!("list={}%2C+{}", uids[0], uids[1]),
    );
    assert_eq!(r.header("content-type"), Some("text/csv"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"SeriesMetaData.csv\"")
    );
    assert_eq!(r.text().lines().count(), 3);
    let missing = post_form(&s, &format!("{V4}/getSeriesMetadata"), "");
    assert_eq!(missing.status, 400);
    let m = post_form(
        &s,
        &format!("{V4}/getManifestText"),
        &format!("list={}&includeAnnotation=false", uids[0]),
    );
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
    let s = small_server();
    assert_eq!(
        get(&s, "/services/v3/TCIA/query/getCollectionValues").status,
        401
    );
    let r = get_with(
        &s,
        "/services/v3/TCIA/query/getPatient?Collection=LIDC-IDRI",
        &[("api_key", "test-api-key")],
    );
    let rows = r.json();
    assert_eq!(rows[0]["PatientID"], "LIDC-IDRI-0001");
    assert_eq!(rows[0]["PatientName"], "");
}
