//! The fake against the NBIA server source (CBIIT/NBIA-TCIA): v4 SearchUtil's reading of the
//! search form, and the DOI, MD5, species and collection-manifest endpoints. Each test names the
//! source behaviour it pins (see docs/nbia-conformance.md).

use crate::common::zip::{md5_hex, md5_rows, parse_zip};
use crate::common::{get, post_form, small_server, Resp, V4};

const OK_TAIL: &str = "sortField=subject&sortDirection=ascending&start=0&size=100";

fn search(s: &fake_nbia::FakeServer, form: &str) -> Resp {
    post_form(s, &format!("{V4}/getSimpleSearch"), form)
}

fn total(r: &Resp) -> u64 {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["totalPatients"].as_u64().unwrap()
}

fn md5_of_sorted(mut v: Vec<String>) -> String {
    v.sort();
    md5_hex(v.concat().as_bytes())
}

#[test]
fn search_reads_sort_and_paging_fields_unconditionally() {
    let s = small_server();
    let crit = "criteriaType0=CollectionCriteria&value0=LIDC-IDRI";
    assert!(total(&search(&s, &format!("{crit}&{OK_TAIL}"))) > 0);
    for drop in ["sortField", "sortDirection", "start", "size"] {
        let tail: Vec<&str> = OK_TAIL
            .split('&')
            .filter(|p| !p.starts_with(&format!("{drop}=")))
            .collect();
        let r = search(&s, &format!("{crit}&{}", tail.join("&")));
        assert_eq!(r.status, 500, "without {drop}");
        assert_eq!(
            r.text(),
            "Server was not able to process your request\nnull"
        );
    }
    let r = search(
        &s,
        &format!("{crit}&sortField=subject&sortDirection=ascending&start=0&size=ten"),
    );
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "Server was not able to process your request\nFor input string: \"ten\""
    );
    // the manifest endpoint reads the same form
    let r = post_form(&s, &format!("{V4}/getManifestForSimpleSearch"), crit);
    assert_eq!(r.status, 500);
}

#[test]
fn search_dates_are_mm_dd_yyyy_on_date_released() {
    let s = small_server();
    let r = search(
        &s,
        &format!(
            "criteriaType0=DateRangeCriteria&fromDate0=01/01/2000&toDate0=12/31/2100&{OK_TAIL}"
        ),
    );
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "Server was not able to process your request\nUnparseable date: \"01/01/2000\""
    );
    let r = search(
        &s,
        &format!("criteriaType0=DateRangeCriteria&fromDate0=01-01-2000&{OK_TAIL}"),
    );
    assert_eq!(
        (r.status, r.text().ends_with("\nnull")),
        (500, true),
        "toDate0 missing"
    );
    // DateRangeCriteria compares each series' DateReleased (processDateRange), not StudyDate
    let ds = s.data();
    let series = ds.series_in("TCGA-BLCA");
    let latest = series.iter().map(|x| x.released).max().unwrap();
    let want: std::collections::BTreeSet<&str> = series
        .iter()
        .filter(|x| x.released.days() == latest.days())
        .map(|x| x.patient_id.as_str())
        .collect();
    let day = latest.v4();
    let form = format!("criteriaType0=CollectionCriteria&value0=TCGA-BLCA&criteriaType1=DateRangeCriteria&fromDate1={day}&toDate1={day}&{OK_TAIL}");
    assert_eq!(total(&search(&s, &form)), want.len() as u64);
}

#[test]
fn search_criteria_as_searchutil_reads_them() {
    let s = small_server();
    let base = total(&search(
        &s,
        &format!("criteriaType0=CollectionCriteria&value0=LIDC-IDRI&{OK_TAIL}"),
    ));
    // an unknown criterion is ignored; numbering stops at the first gap
    let form = format!("criteriaType0=CollectionCriteria&value0=LIDC-IDRI&criteriaType1=NoSuchCriteria&value1=x&criteriaType3=PatientCriteria&value3=nobody&{OK_TAIL}");
    assert_eq!(total(&search(&s, &form)), base);
    // values compare in upper case
    assert_eq!(
        total(&search(
            &s,
            &format!("criteriaType0=CollectionCriteria&value0=lidc-idri&{OK_TAIL}")
        )),
        base
    );
    // a criterion without its value is a NullPointerException
    let r = search(&s, &format!("criteriaType0=CollectionCriteria&{OK_TAIL}"));
    assert_eq!((r.status, r.text().ends_with("\nnull")), (500, true));
    // ModelCriteria is MANUFACTURER||MODEL: one part is an ArrayIndexOutOfBoundsException
    let r = search(
        &s,
        &format!("criteriaType0=ModelCriteria&value0=LightSpeed&{OK_TAIL}"),
    );
    assert_eq!(r.status, 500);
    assert!(
        r.text().ends_with("Index 1 out of bounds for length 1"),
        "{}",
        r.text()
    );
    // MinNumberOfStudiesCriteria keeps patients with MORE than N matching studies
    let ds = s.data();
    let mut studies: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        Default::default();
    let series = ds.series_in("LIDC-IDRI");
    for x in &series {
        studies
            .entry(&x.patient_id)
            .or_default()
            .insert(&x.study_uid);
    }
    let more_than_one = studies.values().filter(|v| v.len() > 1).count() as u64;
    let form = format!("criteriaType0=CollectionCriteria&value0=LIDC-IDRI&criteriaType1=MinNumberOfStudiesCriteria&value1=1&{OK_TAIL}");
    assert_eq!(total(&search(&s, &form)), more_than_one);
    let r = search(
        &s,
        &format!("criteriaType0=MinNumberOfStudiesCriteria&value0=two&{OK_TAIL}"),
    );
    assert!(
        r.text().ends_with("For input string: \"two\""),
        "{}",
        r.text()
    );
    // a time point without an event type: `throw new Exception()`, message null
    let r = search(
        &s,
        &format!("criteriaType0=TimePointCriteria&fromDay0=1&{OK_TAIL}"),
    );
    assert_eq!((r.status, r.text().ends_with("\nnull")), (500, true));
}

#[test]
fn search_sorts_as_result_set_sorter() {
    let s = small_server();
    let subjects = |dir: &str| -> Vec<String> {
        let r = search(&s, &format!("criteriaType0=CollectionCriteria&value0=LIDC-IDRI&sortField=subject&sortDirection={dir}&start=0&size=100"));
        r.json()["resultSet"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["subjectId"].as_str().unwrap().to_string())
            .collect()
    };
    let asc = subjects("ascending");
    let mut sorted = asc.clone();
    sorted.sort_by_key(|a| a.to_lowercase());
    assert_eq!(asc, sorted);
    let mut desc = subjects("descending");
    desc.reverse();
    assert_eq!(desc, asc);
    // "study" sorts by the number of matching studies; an unknown field by collection
    let hits = |field: &str| -> Vec<serde_json::Value> {
        let r = search(
            &s,
            &format!("sortField={field}&sortDirection=descending&start=0&size=100000"),
        );
        r.json()["resultSet"].as_array().unwrap().clone()
    };
    let studies: Vec<u64> = hits("study")
        .iter()
        .map(|h| h["totalNumberOfStudies"].as_u64().unwrap())
        .collect();
    assert!(studies.windows(2).all(|w| w[0] >= w[1]), "{studies:?}");
    assert!(studies.first() > studies.last());
    let projects: Vec<String> = hits("nonsense")
        .iter()
        .map(|h| h["project"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(projects.windows(2).all(|w| w[0] >= w[1]), "{projects:?}");
}

#[test]
fn manifest_for_search_is_the_requested_page_without_annotations() {
    let s = small_server();
    let form = "criteriaType0=CollectionCriteria&value0=LIDC-IDRI&sortField=subject&sortDirection=ascending&start=0&size=1";
    let r = post_form(&s, &format!("{V4}/getManifestForSimpleSearch"), form);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.contains("includeAnnotation=false\n"), "{text}");
    let first = {
        let mut p: Vec<String> = s
            .data()
            .patients_in("LIDC-IDRI")
            .into_iter()
            .map(|p| p.patient_id)
            .collect();
        p.sort_by_key(|a| a.to_lowercase());
        p[0].clone()
    };
    let want = s
        .data()
        .series_in("LIDC-IDRI")
        .iter()
        .filter(|x| x.patient_id == first)
        .count();
    let listed = text
        .split("ListOfSeriesToDownload=\n")
        .nth(1)
        .unwrap()
        .lines()
        .count();
    assert_eq!(listed, want);
}

#[test]
fn doi_matches_the_stored_uri_exactly() {
    let s = small_server();
    let ds = s.data();
    let uri = ds.series_in("LIDC-IDRI")[0].doi.clone();
    let bare = uri.trim_start_matches("https://doi.org/").to_string();
    let url = format!("{V4}/getCollectionOrSeriesForDOI");
    let r = post_form(
        &s,
        &url,
        &format!("DOI={}&CollectionOrSeries=Series", urlenc(&uri)),
    );
    assert_eq!(r.status, 200);
    let rows = r.json();
    let want = ds
        .series()
        .filter(|x| x.doi == uri && x.collection != fake_nbia::RESTRICTED_COLLECTION)
        .count();
    assert_eq!(rows.as_array().unwrap().len(), want);
    assert!(rows[0].get("seriesInstanceUID").is_some());
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("thirdPartyAnanlysis").is_some()),
        "{rows}"
    );
    // the bare DOI is not what is stored: nothing, as `[]`
    let r = post_form(
        &s,
        &url,
        &format!("DOI={}&CollectionOrSeries=Series", urlenc(&bare)),
    );
    assert_eq!(r.text(), "[]");
    // collection level: one row per collection and third-party value
    let r = post_form(&s, &url, &format!("DOI={}", urlenc(&uri)));
    assert!(r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x.get("seriesInstanceUID").is_none()));
    let r = post_form(&s, &url, &format!("DOI={}&format=json", urlenc(&uri)));
    assert_eq!(r.status, 400);
    assert!(
        r.text().starts_with("Invalid form parameter: 'format'"),
        "{}",
        r.text()
    );
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn md5_hierarchy_is_built_from_the_stored_image_digests() {
    let s = small_server();
    let ds = s.data();
    let series = ds.series_in("TCGA-BLCA");
    let url = format!("{V4}/getMD5Hierarchy");
    let level = |form: String| post_form(&s, &url, &form).text();
    // series = MD5 of the sorted md5hashes.csv digests, as stored
    let mut by_series = std::collections::BTreeMap::new();
    for x in &series {
        let zip = get(
            &s,
            &format!(
                "{V4}/getImage?SeriesInstanceUID={}&IncludeMD5=yes",
                x.series_uid
            ),
        );
        let digests: Vec<String> = md5_rows(parse_zip(&zip.body).get("md5hashes.csv"))
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        let h = md5_of_sorted(digests);
        assert_eq!(level(format!("SeriesInstanceUID={}", x.series_uid)), h);
        by_series.insert(x.series_uid.clone(), h);
    }
    let study = &series[0].study_uid;
    let in_study: Vec<String> = series
        .iter()
        .filter(|x| &x.study_uid == study)
        .map(|x| by_series[&x.series_uid].clone())
        .collect();
    assert_eq!(
        level(format!("StudyInstanceUID={study}")),
        md5_of_sorted(in_study)
    );
    let pid = &series[0].patient_id;
    assert_eq!(
        level(format!("PatientID={pid}")),
        "",
        "a PatientID alone is not answered"
    );
    let p = level(format!("PatientID={pid}&Collection=TCGA-BLCA"));
    assert_eq!(p.len(), 32);
    let c = level("Collection=TCGA-BLCA".into());
    assert_eq!(c.len(), 32);
    assert_ne!(c, p);
    assert_eq!(level("SeriesInstanceUID=1.2.3.4".into()), "");
    let r = post_form(&s, &url, "SeriesUID=1.2.3");
    assert_eq!(r.status, 400);
}

#[test]
fn image_md5_species_counts_and_collection_manifest() {
    let s = small_server();
    let ds = s.data();
    let x = &ds.series_in("LIDC-IDRI")[0];
    let sop = &ds.sop_uids(&x.series_uid)[0];
    let r = get(&s, &format!("{V4}/getMD5HashForImage?SOPInstanceUID={sop}"));
    assert_eq!(
        r.text().to_lowercase(),
        ds.image_md5(&x.series_uid, 0).unwrap()
    );
    assert_eq!(
        get(&s, &format!("{V4}/getMD5HashForImage?SOPInstanceUID=1.2.3")).text(),
        ""
    );
    assert_eq!(
        get(&s, &format!("{V4}/getMD5HashForImage?SopInstanceUID={sop}")).status,
        400
    );
    let r = get(&s, &format!("{V4}/getSpeciesValuesAndCounts"));
    let rows = r.json();
    assert_eq!(rows[0]["Species"], "337915000");
    assert!(rows[0]["Count"].as_u64().unwrap() > 0);
    let r = post_form(
        &s,
        &format!("{V4}/getManifestForCollection"),
        "collection=TCGA-BLCA",
    );
    let text = r.text();
    let listed: Vec<&str> = text
        .split("ListOfSeriesToDownload=\n")
        .nth(1)
        .unwrap()
        .lines()
        .collect();
    let mut want: Vec<String> = ds
        .series_in("TCGA-BLCA")
        .into_iter()
        .map(|x| x.series_uid)
        .collect();
    want.sort();
    assert_eq!(listed, want);
    assert!(text.contains("includeAnnotation=true\n"));
    let r = post_form(
        &s,
        &format!("{V4}/getManifestForCollection"),
        "Collection=TCGA-BLCA",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn v4_takes_format_only_where_the_source_allows_it() {
    let s = small_server();
    // V4_getBodyPartValues: Set.of("Collection", "format", "Modality")
    assert_eq!(
        get(&s, &format!("{V4}/getBodyPartValues?format=csv")).status,
        200
    );
    // GetBodyPartValuesAndCounts: Set.of("Collection", "Modality"), no format
    let r = get(&s, &format!("{V4}/getBodyPartValuesAndCounts?format=csv"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "Invalid query parameter: 'format'. Allowed parameters are: [Collection, Modality]"
    );
    for ep in [
        "getDicomTags?SeriesUID=1.2",
        "getCollectionDescriptions",
        "getImage?SeriesInstanceUID=1.2",
    ] {
        let sep = if ep.contains('?') { '&' } else { '?' };
        assert_eq!(
            get(&s, &format!("{V4}/{ep}{sep}format=json")).status,
            400,
            "{ep}"
        );
    }
}

#[test]
fn v4_get_endpoints_check_the_sources_allowed_sets() {
    let s = small_server();
    let value = |p: &str| match p {
        "format" => "json",
        "fromDate" => "01-01-2020",
        "NewFileNames" | "IncludeMD5" => "yes",
        _ => "x",
    };
    for (ep, allowed) in fake_nbia::reference::V4_GET_ALLOWED {
        let r = get(&s, &format!("{V4}/{ep}?bogus=1"));
        assert_eq!(r.status, 400, "{ep}");
        assert!(
            r.text()
                .starts_with("Invalid query parameter: 'bogus'. Allowed parameters are: ["),
            "{ep}: {}",
            r.text()
        );
        let q: Vec<String> = allowed
            .iter()
            .map(|p| format!("{p}={}", value(p)))
            .collect();
        let r = get(&s, &format!("{V4}/{ep}?{}", q.join("&")));
        assert!(
            !r.text().starts_with("Invalid query parameter"),
            "{ep} refuses one of {allowed:?}: {}",
            r.text()
        );
    }
}

/// Distinct (collection, patient) of the public series `keep` selects.
fn patients_where(s: &fake_nbia::FakeServer, keep: &dyn Fn(&fake_nbia::Series) -> bool) -> u64 {
    let ds = s.data();
    let set: std::collections::BTreeSet<(String, String)> = ds
        .series()
        .filter(|x| x.collection != fake_nbia::RESTRICTED_COLLECTION && keep(x))
        .map(|x| (x.collection.clone(), x.patient_id.clone()))
        .collect();
    set.len() as u64
}

#[test]
fn search_criteria_semantics_follow_the_query_handler() {
    let s = small_server();
    let count = |crit: &str| total(&search(&s, &format!("{crit}&{OK_TAIL}")));
    // PatientSexCriteria: upper-case IN; exactly "Null" for none recorded
    let f = patients_where(&s, &|x| {
        x.patient_sex
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("F"))
    });
    assert!(f > 0);
    assert_eq!(count("criteriaType0=PatientSexCriteria&value0=f"), f);
    let none = patients_where(&s, &|x| x.patient_sex.is_none());
    assert!(none > 0, "the data set has patients without a recorded sex");
    assert_eq!(count("criteriaType0=PatientSexCriteria&value0=Null"), none);
    assert_eq!(count("criteriaType0=PatientSexCriteria&value0=NULL"), 0);
    // ModalityAndedSearchCriteria "all": patients with a series of each modality
    let ds = s.data();
    let with = |m: &str| -> std::collections::BTreeSet<(String, String)> {
        ds.series()
            .filter(|x| x.collection != fake_nbia::RESTRICTED_COLLECTION && x.modality == m)
            .map(|x| (x.collection.clone(), x.patient_id.clone()))
            .collect()
    };
    let both = with("CT").intersection(&with("SEG")).count() as u64;
    assert!(both > 0);
    let crit = "criteriaType0=ImageModalityCriteria&value0=CT&criteriaType1=ImageModalityCriteria&value1=SEG";
    assert_eq!(
        count(&format!(
            "{crit}&criteriaType2=ModalityAndedSearchCriteria&value2=all"
        )),
        both
    );
    assert!(count(crit) > both, "without it: any of the modalities");
    // ThirdPartyAnalysis: LIKE, and NO also matches none recorded
    let yes = patients_where(&s, &|x| x.third_party.as_deref() == Some("YES"));
    assert_eq!(count("criteriaType0=ThirdPartyAnalysis&value0=YES"), yes);
    let no = patients_where(&s, &|x| x.third_party.as_deref() != Some("YES"));
    assert_eq!(count("criteriaType0=ThirdPartyAnalysis&value0=NO"), no);
    // DescriptionCriteria: any word in study description, series description or protocol name
    let word = "segmentations";
    let has = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|t| t.to_uppercase().contains(&word.to_uppercase()))
    };
    let d = patients_where(&s, &|x| {
        has(&x.study_desc) || has(&x.series_description) || has(&x.protocol_name)
    });
    assert!(d > 0);
    assert_eq!(
        count(&format!("criteriaType0=DescriptionCriteria&value0={word}")),
        d
    );
}
