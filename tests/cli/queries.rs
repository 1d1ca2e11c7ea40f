//! Every metadata command against the fake server: endpoint paths, parameter spellings per API
//! version, date formats, aliases, multi-valued filters.

use fake_nbia::FakeServer;
use serde_json::Value;

use super::*;

fn server() -> FakeServer {
    FakeServer::start()
}

#[test]
fn collections_match_the_server_in_order() {
    let s = server();
    let rows = json_rows(&s, &["collections"]);
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["Collection"].as_str().unwrap())
        .collect();
    assert_eq!(names, s.data().collections());
    assert!(names.contains(&"CT COLONOGRAPHY"));
    assert_eq!(
        requests_to(&s, "getCollectionValues")[0].path,
        "/nbia-api/services/v4/getCollectionValues"
    );
}

#[test]
fn endpoint_name_is_an_alias() {
    let s = server();
    let a = json_rows(&s, &["getSeries", "--collection", "LIDC-IDRI"]);
    let b = json_rows(&s, &["series", "--collection", "LIDC-IDRI"]);
    assert_eq!(a, b);
    assert_eq!(a.len(), s.data().series_in("LIDC-IDRI").len());
}

#[test]
fn series_of_a_collection_with_a_space() {
    let s = server();
    let rows = json_rows(&s, &["series", "--collection", "CT COLONOGRAPHY"]);
    let want: Vec<String> = s
        .data()
        .series_in("CT COLONOGRAPHY")
        .into_iter()
        .map(|x| x.series_uid)
        .collect();
    let got: Vec<String> = rows
        .iter()
        .map(|r| r["SeriesInstanceUID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    let q = query_of(&requests_to(&s, "getSeries")[0]);
    assert_eq!(q["Collection"], "CT COLONOGRAPHY");
}

#[test]
fn every_series_filter_uses_the_exact_wire_name() {
    let s = server();
    let series = &s.data().series_in("LIDC-IDRI")[0];
    run(
        &s,
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--patient-id",
            &series.patient_id,
            "--study-uid",
            &series.study_uid,
            "--series-uid",
            &series.series_uid,
            "--modality",
            &series.modality,
        ],
        0,
    );
    let q = query_of(&requests_to(&s, "getSeries")[0]);
    assert_eq!(q["Collection"], "LIDC-IDRI");
    assert_eq!(q["PatientID"], series.patient_id);
    assert_eq!(q["StudyInstanceUID"], series.study_uid);
    assert_eq!(q["SeriesInstanceUID"], series.series_uid);
    assert_eq!(q["Modality"], series.modality);
}

#[test]
fn patient_id_spelling_differs_per_endpoint() {
    let s = server();
    let p = &s.data().patients_in("TCGA-BLCA")[0];
    let rows = json_rows(
        &s,
        &[
            "patients",
            "--collection",
            "TCGA-BLCA",
            "--patient-id",
            &p.patient_id,
        ],
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["PatientId"], p.patient_id.as_str());
    assert_eq!(
        query_of(&requests_to(&s, "getPatient")[0])["PatientId"],
        p.patient_id
    );

    let studies = json_rows(
        &s,
        &[
            "studies",
            "--collection",
            "TCGA-BLCA",
            "--patient-id",
            &p.patient_id,
        ],
    );
    assert!(!studies.is_empty());
    assert!(studies
        .iter()
        .all(|r| r["PatientID"] == p.patient_id.as_str()));
    assert_eq!(
        query_of(&requests_to(&s, "getPatientStudy")[0])["PatientID"],
        p.patient_id
    );
}

#[test]
fn dates_are_converted_per_endpoint_and_version() {
    let s = server();
    run(
        &s,
        &[
            "new-patients",
            "--collection",
            "TCGA-BLCA",
            "--since",
            "2024-01-31",
        ],
        0,
    );
    run(
        &s,
        &[
            "new-patients",
            "--collection",
            "TCGA-BLCA",
            "--since",
            "2024-01-31",
            "--api",
            "v1",
        ],
        0,
    );
    let reqs = requests_to(&s, "NewPatientsInCollection");
    assert_eq!(
        reqs[0].path,
        "/nbia-api/services/v4/NewPatientsInCollection"
    );
    assert_eq!(query_of(&reqs[0])["fromDate"], "01-31-2024");
    assert_eq!(
        reqs[1].path,
        "/nbia-api/services/v1/NewPatientsInCollection"
    );
    assert_eq!(query_of(&reqs[1])["Date"], "2024/01/31");
    assert!(!query_of(&reqs[1]).contains_key("fromDate"));

    run(
        &s,
        &["updated-series", "--since", "2024-01-31", "--api", "v1"],
        0,
    );
    run(&s, &["updated-series", "--since", "2024-01-31"], 0);
    let reqs = requests_to(&s, "getUpdatedSeries");
    assert_eq!(query_of(&reqs[0])["fromDate"], "31/01/2024");
    assert_eq!(query_of(&reqs[1])["fromDate"], "01-31-2024");

    run(
        &s,
        &[
            "new-studies",
            "--collection",
            "TCGA-BLCA",
            "--since",
            "2024-01-31",
            "--api",
            "v1",
        ],
        0,
    );
    assert_eq!(
        query_of(&requests_to(&s, "NewStudiesInPatientCollection")[0])["Date"],
        "2024/01/31"
    );
}

#[test]
fn new_patients_since_selects_a_subset() {
    let s = server();
    let all = json_rows(&s, &["patients", "--collection", "TCGA-BLCA"]);
    let new = json_rows(
        &s,
        &[
            "new-patients",
            "--collection",
            "TCGA-BLCA",
            "--since",
            "2024-01-01",
        ],
    );
    let old = json_rows(
        &s,
        &[
            "new-patients",
            "--collection",
            "TCGA-BLCA",
            "--since",
            "2000-01-01",
        ],
    );
    assert!(
        !new.is_empty() && new.len() < all.len(),
        "{} of {}",
        new.len(),
        all.len()
    );
    assert_eq!(old.len(), all.len());
    // The same answer from v1, which spells the date differently.
    let new_v1 = json_rows(
        &s,
        &[
            "new-patients",
            "--collection",
            "TCGA-BLCA",
            "--since",
            "2024-01-01",
            "--api",
            "v1",
        ],
    );
    let ids = |rows: &[serde_json::Map<String, Value>]| -> Vec<String> {
        rows.iter()
            .map(|r| r["PatientId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&new), ids(&new_v1));
}

#[test]
fn v1_and_v4_columns_differ() {
    let s = server();
    let v4 = json_rows(&s, &["series", "--collection", "LIDC-IDRI"]);
    let v1 = json_rows(&s, &["series", "--collection", "LIDC-IDRI", "--api", "v1"]);
    assert_eq!(v4.len(), v1.len());
    assert!(v4.iter().all(|r| r.contains_key("Authorized")));
    assert!(v1.iter().all(|r| !r.contains_key("Authorized")));
    assert_eq!(
        requests_to(&s, "getSeries")[1].path,
        "/nbia-api/services/v1/getSeries"
    );
}

#[test]
fn repeated_filters_run_one_request_each_and_merge() {
    let s = server();
    let ct = json_rows(
        &s,
        &["series", "--collection", "LIDC-IDRI", "--modality", "CT"],
    );
    let dx = json_rows(
        &s,
        &["series", "--collection", "LIDC-IDRI", "--modality", "DX"],
    );
    let before = s.hits("getSeries");
    let both = json_rows(
        &s,
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--modality",
            "CT",
            "--modality",
            "DX",
            "--modality",
            "CT",
        ],
    );
    assert_eq!(
        s.hits("getSeries") - before,
        2,
        "duplicate values are sent once"
    );
    assert!(!ct.is_empty() && !dx.is_empty());
    assert_eq!(both.len(), ct.len() + dx.len());
    assert_eq!(&both[..ct.len()], &ct[..], "rows merged in request order");
}

#[test]
fn overlapping_requests_are_deduplicated() {
    let s = server();
    let one = json_rows(&s, &["modalities", "--collection", "LIDC-IDRI"]);
    let twice = json_rows(
        &s,
        &[
            "modalities",
            "--collection",
            "LIDC-IDRI",
            "--collection",
            "lidc-idri",
        ],
    );
    assert_eq!(one, twice);
}

#[test]
fn body_parts_keep_the_empty_object() {
    let s = server();
    let rows = json_rows(&s, &["body-parts"]);
    assert_eq!(
        rows[0],
        serde_json::Map::new(),
        "the null body part comes first as {{}}"
    );
    let (csv, _) = run(&s, &["body-parts", "--format", "csv"], 0);
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        ["BodyPartExamined"]
    );
    let first = rdr.records().next().unwrap().unwrap();
    assert_eq!(
        first.iter().collect::<Vec<_>>(),
        [""],
        "a {{}} row is an empty cell"
    );
    assert_eq!(rdr.records().count() + 1, rows.len());
}

#[test]
fn values_and_simple_lists() {
    let s = server();
    for (cmd, key) in [
        ("modalities", "Modality"),
        ("manufacturers", "Manufacturer"),
    ] {
        let rows = json_rows(&s, &[cmd, "--collection", "LIDC-IDRI"]);
        assert!(!rows.is_empty(), "{cmd}");
        assert!(
            rows.iter().all(|r| r.is_empty() || r.contains_key(key)),
            "{cmd}"
        );
    }
    let by_mod = json_rows(
        &s,
        &[
            "patients-by-modality",
            "--collection",
            "LIDC-IDRI",
            "--modality",
            "CT",
        ],
    );
    assert!(!by_mod.is_empty());
    assert!(by_mod.iter().all(|r| r.contains_key("PatientId")));
}

#[test]
fn series_size_and_sop_uids() {
    let s = server();
    let series = &s.data().series_in("LIDC-IDRI")[0];
    let size = json_rows(&s, &["series-size", "--series-uid", &series.series_uid]);
    assert_eq!(size[0]["TotalSizeInBytes"], series.file_size);
    assert_eq!(size[0]["ObjectCount"], series.image_count);
    // An unknown series: the server's one empty row is kept, with a word on stderr.
    let (out, err) = run(
        &s,
        &["series-size", "--series-uid", "1.2.3.4", "--format", "json"],
        0,
    );
    assert_eq!(out, "[\n{}\n]\n");
    assert!(
        err.contains("unknown series 1.2.3.4: not on this server"),
        "{err}"
    );
    let sops = json_rows(&s, &["sop-uids", "--series-uid", &series.series_uid]);
    let got: Vec<&str> = sops
        .iter()
        .map(|r| r["SOPInstanceUID"].as_str().unwrap())
        .collect();
    assert_eq!(got, s.data().sop_uids(&series.series_uid));
}

#[test]
fn series_metadata_v4_posts_batches_and_v1_gets_each() {
    let s = server();
    let uids: Vec<String> = s
        .data()
        .series_in("TCGA-BLCA")
        .into_iter()
        .take(3)
        .map(|x| x.series_uid)
        .collect();
    let mut args = vec!["series-metadata"];
    args.extend(uids.iter().map(String::as_str));
    let rows = json_rows(&s, &args);
    assert_eq!(rows.len(), 3);
    let posts = requests_to(&s, "getSeriesMetadata");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].method, "POST");
    assert_eq!(form_decode(&posts[0].form)["list"], uids.join(","));
    let got: Vec<&str> = rows
        .iter()
        .map(|r| r["SeriesInstanceUID"].as_str().unwrap())
        .collect();
    assert_eq!(got, uids);

    args.extend(["--api", "v1"]);
    let rows = json_rows(&s, &args);
    assert_eq!(rows.len(), 3);
    assert_eq!(requests_to(&s, "getSeriesMetaData").len(), 3);
    let got: Vec<&str> = rows
        .iter()
        .map(|r| r["Series UID"].as_str().unwrap())
        .collect();
    assert_eq!(
        got, uids,
        "input order kept although requests run concurrently"
    );
}

#[test]
fn series_metadata_reads_uids_from_stdin_and_warns_on_unknown() {
    let s = server();
    let uid = s.data().series_in("LIDC-IDRI")[0].series_uid.clone();
    let out = tcia(&s)
        .args(["series-metadata", "-", "--api", "v1", "--format", "ndjson"])
        .write_stdin(format!("{uid}\n\n1.2.3.4.5\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("unknown series 1.2.3.4.5: not on this server"));
}

#[test]
fn cart_accepts_the_portal_url() {
    let s = server();
    let rows = json_rows(
        &s,
        &[
            "cart",
            "--name",
            "https://nbia.cancerimagingarchive.net/nbia-search/?saved-cart=nbia-49121659384603347",
        ],
    );
    assert!(!rows.is_empty());
    let r = &requests_to(&s, "getContentsByName")[0];
    assert_eq!(
        r.path, "/nbia-api/services/v1/getContentsByName",
        "carts only exist on v1"
    );
    assert_eq!(query_of(r)["name"], "nbia-49121659384603347");
}

#[test]
fn dicom_tags_use_series_uid_parameter() {
    let s = server();
    let uid = s.data().series_in("LIDC-IDRI")[0].series_uid.clone();
    let rows = json_rows(&s, &["dicom-tags", "--series-uid", &uid]);
    assert!(rows.iter().any(|r| r["element"] == "(0008,0060)"));
    assert!(rows
        .iter()
        .any(|r| r["element"].as_str().unwrap().starts_with('>')));
    assert_eq!(
        query_of(&requests_to(&s, "getDicomTags")[0])["SeriesUID"],
        uid
    );
}

#[test]
fn counts_are_normalised() {
    let s = server();
    let rows = json_rows(&s, &["collection-counts"]);
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(r["Collection"].is_string(), "{r:?}");
        assert!(r["Count"].is_u64(), "{r:?}");
    }
    let bp = json_rows(&s, &["body-part-counts", "--collection", "LIDC-IDRI"]);
    assert!(
        bp.iter()
            .all(|r| r.contains_key("BodyPartExamined") && r["Count"].is_u64()),
        "{bp:?}"
    );
    let (csv, _) = run(
        &s,
        &[
            "modality-counts",
            "--collection",
            "LIDC-IDRI",
            "--format",
            "csv",
        ],
        0,
    );
    assert!(csv.starts_with("Modality,Count"), "{csv}");
    json_rows(&s, &["manufacturer-counts", "--collection", "LIDC-IDRI"]);
}

#[test]
fn descriptions_are_plain_text_unless_html() {
    let s = server();
    let text = json_rows(&s, &["descriptions", "--collection", "TCGA-BLCA"]);
    let d = text[0]["description"].as_str().unwrap();
    assert!(
        !d.contains('<') && !d.contains("&amp;") && !d.is_empty(),
        "{d}"
    );
    let html = json_rows(&s, &["descriptions", "--collection", "TCGA-BLCA", "--html"]);
    assert!(html[0]["description"].as_str().unwrap().contains('<'));
    assert_eq!(
        query_of(&requests_to(&s, "getCollectionDescriptions")[0])["collectionName"],
        "TCGA-BLCA"
    );
}

#[test]
fn search_pages_through_everything() {
    let s = server();
    let want = s.data().patients_in("LIDC-IDRI").len();
    let page = json_rows(&s, &["search", "--collection", "LIDC-IDRI", "--size", "2"]);
    assert_eq!(page.len(), want.min(2));
    let before = s.hits("getSimpleSearch");
    let all = json_rows(
        &s,
        &[
            "search",
            "--collection",
            "LIDC-IDRI",
            "--all",
            "--size",
            "2",
        ],
    );
    assert_eq!(all.len(), want);
    assert_eq!(s.hits("getSimpleSearch") - before, want.div_ceil(2));
    let form = form_decode(&requests_to(&s, "getSimpleSearch")[0].form);
    assert_eq!(form["criteriaType0"], "CollectionCriteria");
    assert_eq!(form["value0"], "LIDC-IDRI");
}

#[test]
fn manifest_from_criteria_and_from_uids() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lidc.tcia");
    let (_, err) = run(
        &s,
        &[
            "manifest",
            "--collection",
            "LIDC-IDRI",
            "-o",
            path.to_str().unwrap(),
        ],
        0,
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let uids: Vec<&str> = text
        .split("ListOfSeriesToDownload=\n")
        .nth(1)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(uids.len(), s.data().series_in("LIDC-IDRI").len());
    assert!(err.contains(&format!("({} series)", uids.len())), "{err}");

    let two = dir.path().join("two.tcia");
    let (a, b) = (uids[0].to_string(), uids[1].to_string());
    run(
        &s,
        &[
            "manifest",
            "--series-uid",
            &a,
            "--series-uid",
            &b,
            "-o",
            two.to_str().unwrap(),
        ],
        0,
    );
    let text = std::fs::read_to_string(&two).unwrap();
    assert!(
        text.ends_with(&format!("{a}\n{b}\n")) || text.contains(&format!("{a}\n{b}")),
        "{text}"
    );
    assert_eq!(
        form_decode(&requests_to(&s, "getManifestText")[0].form)["list"],
        format!("{a},{b}")
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
}

#[test]
fn legacy_api_sends_the_key_header() {
    let s = server();
    let rows = json_rows(
        &s,
        &[
            "collections",
            "--api",
            "legacy",
            "--api-key",
            "test-api-key",
        ],
    );
    assert!(!rows.is_empty());
    let r = &requests_to(&s, "getCollectionValues")[0];
    assert_eq!(r.path, "/services/v3/TCIA/query/getCollectionValues");
    assert_eq!(r.api_key.as_deref(), Some("test-api-key"));
    let (_, err) = run(
        &s,
        &["collections", "--api", "legacy", "--api-key", "wrong"],
        4,
    );
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(!err.contains("wrong"), "the key is never printed: {err}");
    let (_, err) = run(&s, &["collections", "--api", "legacy"], 2);
    assert!(err.contains("--api-key"), "{err}");
}

#[test]
fn v2_without_a_token_says_why_it_is_empty() {
    let s = server();
    let (out, err) = run(
        &s,
        &[
            "series",
            "--collection",
            "LIDC-IDRI",
            "--api",
            "v2",
            "--format",
            "json",
        ],
        0,
    );
    assert_eq!(out, "[]\n");
    assert!(err.contains("--api v4"), "{err}");
}
