//! tcia against a fake that reads requests as the NBIA server source does (issue 10): the search
//! family's form, the v4 DOI / MD5 / species / collection-manifest endpoints, verify --remote,
//! and selections that name nothing.

use std::collections::HashMap;
use std::path::Path;

use fake_nbia::FakeServer;

use super::*;

fn server() -> FakeServer {
    FakeServer::start()
}

fn form_of(s: &FakeServer, endpoint: &str, k: usize) -> HashMap<String, String> {
    form_decode(&requests_to(s, endpoint)[k].form)
}

fn manifest_uids(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("ListOfSeriesToDownload=\n")
        .nth(1)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn search_sends_what_searchutil_reads() {
    let s = server();
    // README: tcia search --collection LIDC-IDRI --modality CT --all --format csv
    let (out, _) = run(
        &s,
        &[
            "search",
            "--collection",
            "LIDC-IDRI",
            "--modality",
            "CT",
            "--all",
            "--format",
            "csv",
        ],
        0,
    );
    assert!(out.starts_with("subjectId,project,"), "{out}");
    assert!(out.lines().count() > 1, "{out}");
    let f = form_of(&s, "getSimpleSearch", 0);
    assert_eq!(f["sortField"], "subject");
    assert_eq!(f["sortDirection"], "ascending");
    assert_eq!((f["start"].as_str(), f["size"].as_str()), ("0", "100"));
    // dates as MM-dd-yyyy (v4 SimpleDateFormat), numbered after the other criteria
    run(
        &s,
        &[
            "search",
            "--collection",
            "LIDC-IDRI",
            "--from",
            "2001-02-03",
            "--sort",
            "studies",
            "--descending",
        ],
        0,
    );
    let f = form_of(&s, "getSimpleSearch", 1);
    assert_eq!(f["criteriaType1"], "DateRangeCriteria");
    assert_eq!(f["fromDate1"], "02-03-2001");
    assert_eq!(f["toDate1"], "12-31-2100");
    assert_eq!(f["sortField"], "study");
    assert_eq!(f["sortDirection"], "descending");
}

#[test]
fn search_offers_every_searchutil_criterion() {
    let s = server();
    let args = [
        "search",
        "--modality",
        "CT",
        "--modality",
        "MR",
        "--all-modalities",
        "--sex",
        "M",
        "--exclude-commercial",
        "--study-description",
        "chest",
        "--model",
        "SIEMENS||Avanto",
        "--software-version",
        "SIEMENS||Avanto||syngo",
        "--phantom",
        "exclude",
        "--third-party",
        "no",
        "--timepoint",
        "Diagnosis:0:365",
        "--age",
        "40:60",
        "--slice-thickness",
        "1:2.5",
        "--pixel-spacing",
        "0.5:1",
        "--study-uid",
        "1.2.*",
        "--series-uid",
        "1.3.*",
        "--min-studies",
        "1",
        "--min-study-dates",
        "0",
    ];
    run(&s, &args, 0);
    let f = form_of(&s, "getSimpleSearch", 0);
    let mut kinds: HashMap<String, (String, String)> = HashMap::new();
    for i in 0.. {
        let Some(k) = f.get(&format!("criteriaType{i}")) else {
            break;
        };
        let v = f.get(&format!("value{i}")).cloned().unwrap_or_default();
        let extra = ["from", "to", "eventType", "fromDay", "toDay"]
            .iter()
            .filter_map(|p| f.get(&format!("{p}{i}")).map(|v| format!("{p}={v}")))
            .collect::<Vec<_>>()
            .join(",");
        kinds.insert(k.clone(), (v, extra));
    }
    let want = [
        ("ModalityAndedSearchCriteria", "all", ""),
        ("PatientSexCriteria", "M", ""),
        ("ExcludeCommercialCriteria", "YES", ""),
        ("DescriptionCriteria", "chest", ""),
        ("ModelCriteria", "SIEMENS||Avanto", ""),
        ("SoftwareVersionCriteria", "SIEMENS||Avanto||syngo", ""),
        ("PhantomCriteria", "1", ""),
        ("ThirdPartyAnalysis", "NO", ""),
        (
            "TimePointCriteria",
            "",
            "eventType=Diagnosis,fromDay=0,toDay=365",
        ),
        ("PatientAgeRangeCriteria", "", "from=40,to=60"),
        ("SliceThicknessRangeCriteria", "", "from=1,to=2.5"),
        ("PixelSpacingRangeCriteria", "", "from=0.5,to=1"),
        ("StudyCriteria", "1.2.*", ""),
        ("SeriesCriteria", "1.3.*", ""),
        ("MinNumberOfStudiesCriteria", "1", ""),
        ("MinNumberOfStudyDatesCriteria", "0", ""),
    ];
    for (k, v, extra) in want {
        assert_eq!(
            kinds.get(k),
            Some(&(v.to_string(), extra.to_string())),
            "{k}: {f:?}"
        );
    }
}

#[test]
fn search_flag_values_are_checked_before_any_request() {
    let s = server();
    for (args, flag) in [
        (vec!["search", "--model", "Avanto"], "--model"),
        (
            vec!["search", "--software-version", "A||B"],
            "--software-version",
        ),
        (vec!["search", "--timepoint", "Diagnosis::"], "--timepoint"),
        (vec!["search", "--age", "sixty:70"], "--age"),
        (vec!["search", "--age", "60:40"], "--age"),
        (vec!["search", "--all-modalities"], "--modality"),
        (vec!["search", "--phantom", "maybe"], "--phantom"),
    ] {
        let (_, err) = run(&s, &args, 2);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    assert_eq!(s.hits("getSimpleSearch"), 0);
}

#[test]
fn min_studies_means_more_than() {
    let s = server();
    let ds = s.data();
    let mut studies: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for x in ds.series_in("LIDC-IDRI") {
        studies.entry(x.patient_id).or_default().insert(x.study_uid);
    }
    let want = studies.values().filter(|v| v.len() > 1).count();
    let rows = json_rows(
        &s,
        &[
            "search",
            "--collection",
            "LIDC-IDRI",
            "--min-studies",
            "1",
            "--all",
        ],
    );
    assert_eq!(rows.len(), want);
    assert!(want < studies.len(), "the data set must tell > from >=");
}

#[test]
fn manifest_from_criteria_and_whole_collection() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    // README: tcia manifest --collection LIDC-IDRI --modality CT -o lidc-ct.tcia
    let path = dir.path().join("lidc-ct.tcia");
    run(
        &s,
        &[
            "manifest",
            "--collection",
            "LIDC-IDRI",
            "--modality",
            "CT",
            "-o",
            path.to_str().unwrap(),
        ],
        0,
    );
    let want = s
        .data()
        .series_in("LIDC-IDRI")
        .into_iter()
        .filter(|x| x.modality == "CT")
        .count();
    assert_eq!(manifest_uids(&path).len(), want);
    let f = form_of(&s, "getManifestForSimpleSearch", 0);
    assert_eq!(
        (f["sortField"].as_str(), f["size"].as_str()),
        ("subject", "1000000")
    );
    let whole = dir.path().join("whole.tcia");
    let (_, err) = run(
        &s,
        &[
            "manifest",
            "--whole-collection",
            "TCGA-BLCA",
            "-o",
            whole.to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(
        manifest_uids(&whole).len(),
        s.data().series_in("TCGA-BLCA").len()
    );
    assert!(err.contains("series)"), "{err}");
    assert_eq!(
        form_of(&s, "getManifestForCollection", 0)["collection"],
        "TCGA-BLCA"
    );
    let (_, err) = run(
        &s,
        &[
            "manifest",
            "--whole-collection",
            "X",
            "--collection",
            "Y",
            "-o",
            "-",
        ],
        2,
    );
    assert!(err.contains("--whole-collection"), "{err}");
}

#[test]
fn doi_in_every_spelling_with_the_servers_keys() {
    let s = server();
    let uri = s.data().series_in("LIDC-IDRI")[0].doi.clone();
    let bare = uri.trim_start_matches("https://doi.org/").to_string();
    for spelling in [bare.clone(), format!("doi:{bare}"), uri.clone()] {
        let rows = json_rows(&s, &["doi", &spelling]);
        assert!(
            rows.iter().any(|r| r["collection"] == "LIDC-IDRI"),
            "{spelling}: {rows:?}"
        );
    }
    assert!(requests_to(&s, "getCollectionOrSeriesForDOI")
        .iter()
        .all(|r| form_decode(&r.form)["DOI"] == uri));
    let rows = json_rows(&s, &["doi", &bare, "--level", "series"]);
    assert_eq!(
        rows.len(),
        s.data().series().filter(|x| x.doi == uri).count()
    );
    assert!(
        rows.iter().any(|r| r.contains_key("thirdPartyAnanlysis")),
        "{rows:?}"
    );
    let (csv, _) = run(
        &s,
        &["doi", &bare, "--level", "series", "--format", "csv"],
        0,
    );
    assert_eq!(
        csv.lines().next(),
        Some("Collection,SeriesInstanceUID,ThirdPartyAnalysis,Authorized")
    );
    // no match: both stored forms were tried
    let before = s.hits("getCollectionOrSeriesForDOI");
    let (out, err) = run(&s, &["doi", "10.7937/NO.SUCH.DOI"], 0);
    assert_eq!(out.trim(), "[]");
    assert!(err.contains("https://doi.org/10.7937/NO.SUCH.DOI"), "{err}");
    let tried: Vec<String> = requests_to(&s, "getCollectionOrSeriesForDOI")[before..]
        .iter()
        .map(|r| form_decode(&r.form)["DOI"].clone())
        .collect();
    assert_eq!(
        tried,
        [
            "https://doi.org/10.7937/NO.SUCH.DOI",
            "http://dx.doi.org/10.7937/NO.SUCH.DOI"
        ]
    );
    let (_, err) = run(&s, &["doi", "LIDC-IDRI"], 2);
    assert!(err.contains("not a DOI"), "{err}");
}

#[test]
fn download_and_sync_by_doi() {
    let s = server();
    let uri = s.data().series_in("TCGA-BLCA")[0].doi.clone();
    let want: Vec<String> = s
        .data()
        .series()
        .filter(|x| x.doi == uri)
        .map(|x| x.series_uid)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = out.to_str().unwrap();
    let bare = uri.trim_start_matches("https://doi.org/");
    let (_, err) = run(&s, &["download", "--doi", bare, "-o", o], 0);
    assert!(err.contains(&format!("{} series", want.len())), "{err}");
    for u in &want {
        assert!(out.join(u).is_dir(), "{u} downloaded");
    }
    let (_, err) = run(&s, &["sync", "--doi", &format!("doi:{bare}"), "-o", o], 0);
    assert!(
        err.contains(&format!("{} unchanged", want.len())) || err.contains("nothing to do"),
        "{err}"
    );
    let (_, err) = run(
        &s,
        &[
            "download",
            "--doi",
            "10.7937/NO.SUCH.DOI",
            "-o",
            out.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("no series cites"), "{err}");
}

#[test]
fn a_selection_that_names_nothing_exits_2_and_says_what_is_near() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = out.to_str().unwrap();
    let args = [
        "download",
        "--collection",
        "LIDC",
        "--collection",
        "TCGA-BLAC",
        "-o",
        o,
    ];
    let (_, err) = run(&s, &args, 2);
    assert!(
        err.contains("no collection 'LIDC'; did you mean LIDC-IDRI?"),
        "{err}"
    );
    assert!(
        err.contains("no collection 'TCGA-BLAC'; did you mean TCGA-BLCA?"),
        "{err}"
    );
    assert_eq!(
        s.hits("getCollectionValues"),
        1,
        "one getCollectionValues call per run"
    );
    let args = [
        "sync",
        "--collection",
        "LIDC-IDRI",
        "--modality",
        "CTT",
        "-o",
        o,
    ];
    let (_, err) = run(&s, &args, 2);
    assert!(err.contains("no modality 'CTT'; did you mean CT?"), "{err}");
    assert_eq!(s.hits("getModalityValues"), 1);
    // a typo beside a real value: the selection is not empty, the typo is named
    let args = [
        "download",
        "--collection",
        "LIDC-IDRI",
        "--collection",
        "LIDC",
        "-o",
        o,
        "--dry-run",
    ];
    let (_, err) = run(&s, &args, 0);
    assert!(
        err.contains("warning: no collection 'LIDC'; did you mean LIDC-IDRI?"),
        "{err}"
    );
    // legitimately empty: every value exists, nothing matches together
    let (_, err) = run(
        &s,
        &[
            "download",
            "--collection",
            "LIDC-IDRI",
            "--modality",
            "MR",
            "-o",
            out.to_str().unwrap(),
        ],
        0,
    );
    assert!(err.contains("nothing to download"), "{err}");
    // queries keep their rows (none) and exit 0, with the warning
    let (out, err) = run(
        &s,
        &["series", "--collection", "TCGA-BLAC", "--format", "json"],
        0,
    );
    assert!(out.trim().is_empty() || out.trim() == "[]", "{out}");
    assert!(err.contains("did you mean TCGA-BLCA?"), "{err}");
    let (_, err) = run(&s, &["search", "--collection", "LIDC"], 0);
    assert!(err.contains("did you mean LIDC-IDRI?"), "{err}");
    let (_, err) = run(
        &s,
        &["manifest", "--whole-collection", "LIDC", "-o", "-"],
        0,
    );
    assert!(err.contains("no series matched"), "{err}");
    assert!(err.contains("did you mean LIDC-IDRI?"), "{err}");
}

#[test]
fn md5_levels_as_the_server_hashes_them() {
    let s = server();
    let ds = s.data();
    let x = &ds.series_in("TCGA-BLCA")[0];
    let mut digests: Vec<String> = (0..x.image_count as usize)
        .map(|k| {
            let h = ds.image_md5(&x.series_uid, k).unwrap();
            if ds.md5_upper_case(&x.series_uid) {
                h.to_uppercase()
            } else {
                h
            }
        })
        .collect();
    digests.sort();
    let want = format!("{:x}", md5::Md5::digest(digests.concat().as_bytes()));
    let rows = json_rows(&s, &["md5", "--series-uid", &x.series_uid]);
    assert_eq!(rows[0]["MD5"], want.as_str());
    assert_eq!(rows[0]["Level"], "series");
    let rows = json_rows(
        &s,
        &[
            "md5",
            "--patient-id",
            &x.patient_id,
            "--collection",
            "TCGA-BLCA",
        ],
    );
    assert_eq!(rows[0]["MD5"].as_str().unwrap().len(), 32);
    let f = form_of(&s, "getMD5Hierarchy", 1);
    assert_eq!(
        (f["PatientID"].as_str(), f["Collection"].as_str()),
        (x.patient_id.as_str(), "TCGA-BLCA")
    );
    let (_, err) = run(&s, &["md5", "--patient-id", &x.patient_id], 2);
    assert!(err.contains("--collection"), "{err}");
    let (_, err) = run(&s, &["md5"], 2);
    assert!(err.contains("--series-uid"), "{err}");
}

use md5::Digest as _;

#[test]
fn verify_remote_finds_what_the_server_replaced_with_few_requests() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blca");
    let o = out.to_str().unwrap();
    run(&s, &["download", "--collection", "TCGA-BLCA", "-o", o], 0);
    let before = s.hits("getMD5Hierarchy");
    let (stdout, err) = run(&s, &["verify", o, "--remote"], 0);
    assert!(stdout.is_empty(), "{stdout}");
    let n = s.data().series_in("TCGA-BLCA").len();
    assert!(err.contains(&format!("compared {n} series")), "{err}");
    let intact = s.hits("getMD5Hierarchy") - before;
    // one request for the collection, whatever the case of the stored digests
    assert_eq!(intact, 1, "an intact mirror of one collection");
    let uid = s.data().series_in("TCGA-BLCA")[2].series_uid.clone();
    s.change_series(&uid);
    let before = s.hits("getMD5Hierarchy");
    let (stdout, err) = run(&s, &["verify", o, "--remote"], 3);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [format!("changed\t{uid}\t{uid}")],
        "{err}"
    );
    let asked = s.hits("getMD5Hierarchy") - before;
    assert!(
        asked < 2 * n,
        "{asked} requests for {n} series (intact: {intact})"
    );
    // the local check still passes: only the server changed
    run(&s, &["verify", o], 0);
}

#[test]
fn sync_verify_remote_fetches_a_series_whose_md5_no_longer_matches() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blca");
    let o = out.to_str().unwrap();
    run(&s, &["sync", "--collection", "TCGA-BLCA", "-o", o], 0);
    // The copy and its record agree, the counts and dates agree, but the bytes are not the
    // server's: what a silent replacement on the server looks like from here.
    let uid = s.data().series_in("TCGA-BLCA")[1].series_uid.clone();
    let rec_path = out.join(".tcia/complete").join(format!("{uid}.json"));
    let mut rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rec_path).unwrap()).unwrap();
    let file = out
        .join(&uid)
        .join(rec["files"][0]["name"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    rec["files"][0]["md5"] = format!("{:x}", md5::Md5::digest(&bytes)).into();
    std::fs::write(&rec_path, rec.to_string()).unwrap();
    let (_, err) = run(&s, &["sync", "--collection", "TCGA-BLCA", "-o", o], 0);
    assert!(
        err.contains("nothing to do"),
        "plain sync cannot see it: {err}"
    );
    let (_, err) = run(
        &s,
        &[
            "sync",
            "--collection",
            "TCGA-BLCA",
            "-o",
            o,
            "--verify-remote",
        ],
        0,
    );
    assert!(
        err.contains(&format!("changed on the server: {uid}")),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap()[last], bytes[last] ^ 0xff);
    run(&s, &["verify", o, "--remote"], 0);
}

#[test]
fn single_image_is_checked_against_the_servers_md5() {
    let s = server();
    let ds = s.data();
    let x = &ds.series_in("LIDC-IDRI")[0];
    let sop = ds.sop_uids(&x.series_uid)[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.dcm");
    let p = path.to_str().unwrap();
    run(
        &s,
        &[
            "single-image",
            "--series-uid",
            &x.series_uid,
            "--sop-uid",
            &sop,
            "-o",
            p,
        ],
        0,
    );
    assert_eq!(
        query_of(&requests_to(&s, "getMD5HashForImage")[0])["SOPInstanceUID"],
        sop
    );
    std::fs::remove_file(&path).unwrap();
    // the server's record says another digest than the bytes it sends
    s.inject(fake_nbia::Fault::new(
        "getMD5HashForImage",
        None,
        fake_nbia::FaultAction::Status {
            code: 200,
            body: "0123456789abcdef0123456789abcdef".into(),
            content_type: Some("text/plain".into()),
            retry_after: None,
        },
    ));
    let (_, err) = run(
        &s,
        &[
            "single-image",
            "--series-uid",
            &x.series_uid,
            "--sop-uid",
            &sop,
            "-o",
            p,
        ],
        3,
    );
    assert!(err.contains("MD5 mismatch"), "{err}");
    assert!(!path.exists(), "nothing written");
}

#[test]
fn species_counts() {
    let s = server();
    let rows = json_rows(&s, &["species-counts"]);
    assert_eq!(rows[0]["Species"], "337915000");
    assert!(rows[0]["Count"].as_u64().unwrap() > 0);
    let rows = json_rows(&s, &["getSpeciesValuesAndCounts"]);
    assert_eq!(rows.len(), 1);
}

#[test]
fn raw_is_refused_where_v4_takes_no_format() {
    let s = server();
    let (_, err) = run(&s, &["body-part-counts", "--raw", "csv"], 2);
    assert!(
        err.contains("--raw is not available for getBodyPartValuesAndCounts"),
        "{err}"
    );
    assert_eq!(s.hits("getBodyPartValuesAndCounts"), 0);
    let (out, _) = run(&s, &["body-parts", "--raw", "csv"], 0);
    assert!(out.starts_with("BodyPartExamined"), "{out}");
}

/// The allowed sets of the v4 classes tcia queries (NBIA source, `Set.of(...)`): the metadata
/// endpoints of the reference table.
fn v4_allowed() -> Vec<(&'static str, &'static [&'static str])> {
    fake_nbia::reference::V4_GET_ALLOWED
        .iter()
        .filter(|(ep, _)| !fake_nbia::reference::V4_IMAGE_ENDPOINTS.contains(ep))
        .copied()
        .collect()
}

#[test]
fn every_v4_query_sends_only_what_the_server_allows() {
    let s = server();
    let x = &s.data().series_in("LIDC-IDRI")[0];
    let (c, p, st, se) = (
        "LIDC-IDRI",
        x.patient_id.as_str(),
        x.study_uid.as_str(),
        x.series_uid.as_str(),
    );
    let commands: Vec<Vec<&str>> = vec![
        vec!["collections"],
        vec!["modalities", "--collection", c, "--body-part", "CHEST"],
        vec!["body-parts", "--collection", c, "--modality", "CT"],
        vec![
            "manufacturers",
            "--collection",
            c,
            "--modality",
            "CT",
            "--body-part",
            "CHEST",
        ],
        vec!["patients", "--collection", c, "--patient-id", p],
        vec![
            "patients-by-modality",
            "--collection",
            c,
            "--modality",
            "CT",
        ],
        vec!["new-patients", "--collection", c, "--since", "2020-01-01"],
        vec![
            "studies",
            "--collection",
            c,
            "--patient-id",
            p,
            "--study-uid",
            st,
        ],
        vec![
            "new-studies",
            "--collection",
            c,
            "--patient-id",
            p,
            "--since",
            "2020-01-01",
        ],
        vec![
            "series",
            "--collection",
            c,
            "--patient-id",
            p,
            "--study-uid",
            st,
            "--modality",
            "CT",
            "--body-part",
            "CHEST",
            "--manufacturer",
            "GE",
            "--model",
            "X",
            "--series-uid",
            se,
        ],
        vec!["updated-series", "--since", "2020-01-01"],
        vec!["series-size", "--series-uid", se],
        vec!["sop-uids", "--series-uid", se],
        vec!["dicom-tags", "--series-uid", se],
        vec!["collection-counts"],
        vec!["modality-counts", "--collection", c, "--body-part", "CHEST"],
        vec!["body-part-counts", "--collection", c, "--modality", "CT"],
        vec![
            "manufacturer-counts",
            "--collection",
            c,
            "--modality",
            "CT",
            "--body-part",
            "CHEST",
        ],
        vec!["species-counts"],
        vec!["descriptions", "--collection", c],
    ];
    for args in &commands {
        run(&s, args, 0);
    }
    let table = v4_allowed();
    let mut seen = std::collections::HashSet::new();
    for r in s.requests() {
        let ep = r.path.rsplit('/').next().unwrap().to_string();
        let allowed = table
            .iter()
            .find(|(e, _)| *e == ep)
            .unwrap_or_else(|| panic!("{ep} is not in the table"))
            .1;
        for k in query_of(&r).keys() {
            assert!(allowed.contains(&k.as_str()), "{ep} does not take {k}");
        }
        seen.insert(ep);
    }
    assert_eq!(
        seen.len(),
        table.len(),
        "every endpoint of the table was called: {seen:?}"
    );
}

#[test]
fn the_conformance_table_names_every_endpoint_and_real_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/nbia-conformance.md")).unwrap();
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut rows = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 5, "a row has five columns: {line}");
        let tests = ticked(cells[4]);
        assert!(!tests.is_empty(), "a row without a test: {line}");
        for t in &tests {
            let (dir, rest) = match t.split_once("::") {
                Some(("cli", r)) => ("tests/cli", r),
                Some(("fake", r)) => ("fake-nbia/tests", r),
                _ => panic!("test {t:?} is not cli::... or fake::..."),
            };
            let (module, name) = rest.split_once("::").unwrap();
            let src = std::fs::read_to_string(root.join(dir).join(format!("{module}.rs")))
                .unwrap_or_else(|e| panic!("{t}: {e}"));
            assert!(src.contains(&format!("fn {name}()")), "no test {t}");
        }
        rows.push(ticked(cells[0]).join(" "));
    }
    for e in tcia::api::catalogue::ALL {
        assert!(
            rows.iter().any(|r| r.split(' ').any(|n| n == e.name)),
            "docs/nbia-conformance.md has no row for {}",
            e.name
        );
    }
}
