//! Series downloads: getImage / getImageWithMD5Hash / getSingleImage and the ZIP faults, and
//! data changes (release / change / withdraw) while the server runs. Requests go through the
//! shared client; ZIPs are parsed strictly by `common::zip` (the `external` module checks them
//! with curl, python3 and unzip too).

use std::collections::HashMap;

use fake_nbia::{FakeServer, Fault, FaultAction, Series};

use crate::common::zip::{md5_hex, md5_rows, parse_zip, Zip};
use crate::common::{get, get_json, get_with, post_form, post_json, send, small_server, Resp};
use crate::common::{V1, V2, V4};

fn pick(s: &FakeServer, f: impl Fn(&Series) -> bool) -> Series {
    s.data()
        .series()
        .filter(|x| x.collection != fake_nbia::RESTRICTED_COLLECTION)
        .find(|x| f(x))
        .expect("a matching series")
}

#[test]
fn get_image_v4_new_names_with_md5_is_a_complete_valid_zip() {
    let s = small_server();
    let ds = s.data();
    let x = pick(&s, |x| x.image_count > 100);
    let uid = &x.series_uid;
    let r = get(
        &s,
        &format!("{V4}/getImage?SeriesInstanceUID={uid}&NewFileNames=Yes&IncludeMD5=yes"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{uid}.zip\"").as_str())
    );
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.header("content-length").is_none());
    let z = parse_zip(&r.body);
    assert!(z.complete);
    let names = ds.image_names(uid, true);
    assert_eq!(names.len() as u64, x.image_count);
    let half = names.len() / 2;
    let w = half.to_string().len();
    assert_eq!(names[0], format!("1-{:0w$}.dcm", 1));
    assert_eq!(names[half - 1], format!("1-{half}.dcm"));
    assert_eq!(names[half], format!("2-{:0w$}.dcm", 1));
    let mut want = vec!["LICENSE".to_string()];
    want.extend(names.iter().cloned());
    want.push("md5hashes.csv".to_string());
    assert_eq!(z.names(), want);
    assert_eq!(z.get("LICENSE"), ds.license_text(&x.collection).as_bytes());
    assert!(ds
        .license_text(&x.collection)
        .starts_with("License Information. The "));
    // contents, sizes, md5 rows
    let mut total = 0u64;
    for (k, n) in names.iter().enumerate() {
        let bytes = z.get(n);
        assert_eq!(bytes, &ds.image(uid, k).unwrap()[..]);
        assert_eq!(&bytes[128..132], b"DICM");
        total += bytes.len() as u64;
    }
    let meta = get_json(&s, &format!("{V1}/getSeries?SeriesInstanceUID={uid}"));
    assert_eq!(meta[0]["FileSize"].as_u64(), Some(total));
    assert_eq!(meta[0]["ImageCount"].as_u64(), Some(names.len() as u64));
    let size = get_json(&s, &format!("{V1}/getSeriesSize?SeriesInstanceUID={uid}"));
    assert_eq!(size[0]["TotalSizeInBytes"].as_u64(), Some(total));
    let rows = md5_rows(z.get("md5hashes.csv"));
    assert_eq!(rows.len(), names.len());
    let row_names: Vec<&String> = rows.iter().map(|(n, _)| n).collect();
    assert_ne!(
        row_names,
        names.iter().collect::<Vec<_>>(),
        "rows are shuffled"
    );
    for (n, h) in &rows {
        let k = names.iter().position(|m| m == n).unwrap();
        assert_eq!(h.to_lowercase(), md5_hex(z.get(n)));
        assert_eq!(h.to_lowercase(), ds.image_md5(uid, k).unwrap());
    }
    // v1/v2 ignore IncludeMD5, v4 rejects unknown parameters
    let v1 = get(
        &s,
        &format!("{V1}/getImage?SeriesInstanceUID={uid}&IncludeMD5=yes&Foo=1"),
    );
    let z1 = parse_zip(&v1.body);
    assert_eq!(z1.names()[1], "00000001.dcm");
    assert_eq!(
        z1.names().last().unwrap(),
        &format!("{:08}.dcm", x.image_count)
    );
    let bad = get(&s, &format!("{V4}/getImage?SeriesInstanceUID={uid}&Foo=1"));
    assert_eq!(bad.status, 400);
    assert!(bad.text().starts_with("Invalid query parameter: 'Foo'."));
}

#[test]
fn get_image_with_md5_hash_all_versions_and_hex_case() {
    let s = small_server();
    let ds = s.data();
    let token = s.issue_token("alice");
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let small = pick(&s, |x| x.image_count <= 3);
    let upper = pick(&s, |x| ds.md5_upper_case(&x.series_uid));
    let lower = pick(&s, |x| {
        !ds.md5_upper_case(&x.series_uid) && x.image_count < 100
    });
    for (ver, x) in [(V1, &small), (V2, &upper), (V4, &lower)] {
        let uid = &x.series_uid;
        let r = get_with(
            &s,
            &format!("{ver}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
            &auth,
        );
        assert_eq!(r.status, 200, "{ver}");
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        let z = parse_zip(&r.body);
        let mut want = ds.image_names(uid, false);
        want.push("md5hashes.csv".into());
        assert_eq!(z.names(), want);
        let rows: HashMap<String, String> = md5_rows(z.get("md5hashes.csv")).into_iter().collect();
        assert_eq!(rows.len() as u64, x.image_count);
        for (n, h) in &rows {
            assert_eq!(h.to_lowercase(), md5_hex(z.get(n)));
            let want_upper = ds.md5_upper_case(uid);
            assert_eq!(h == &h.to_uppercase(), want_upper, "{h}");
            assert_eq!(h == &h.to_lowercase(), !want_upper, "{h}");
        }
    }
    // bulk series download too
    let bulk = s.data().series_in("Bulk-Synthetic")[3].clone();
    let r = get(
        &s,
        &format!(
            "{V1}/getImageWithMD5Hash?SeriesInstanceUID={}",
            bulk.series_uid
        ),
    );
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(z.entries.len() as u64, bulk.image_count + 1);
}

#[test]
fn get_single_image() {
    let s = small_server();
    let x = pick(&s, |x| x.image_count >= 3);
    let sops = s.data().sop_uids(&x.series_uid);
    let r = get(
        &s,
        &format!(
            "{V4}/getSingleImage?SeriesInstanceUID={}&SOPInstanceUID={}",
            x.series_uid, sops[2]
        ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/dicom"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename={}.dcm", sops[2]).as_str())
    );
    assert_eq!(r.header("content-length"), Some("4096"));
    assert_eq!(r.body, s.data().image(&x.series_uid, 2).unwrap());
    let sop_bytes = sops[2].as_bytes();
    assert!(r.body.windows(sop_bytes.len()).any(|w| w == sop_bytes));
    // unknown SOP → the NPE page; missing parameter → 400 sentence
    let r = get(
        &s,
        &format!(
            "{V1}/getSingleImage?SeriesInstanceUID={}&SOPInstanceUID=1.2.3",
            x.series_uid
        ),
    );
    assert_eq!(
        (r.status, r.header("content-type")),
        (500, Some("text/plain"))
    );
    assert_eq!(
        r.text(),
        "Server was not able to process your request\nnull"
    );
    let r = get(
        &s,
        &format!("{V1}/getSingleImage?SeriesInstanceUID={}", x.series_uid),
    );
    assert_eq!(
        (r.status, r.header("content-type")),
        (400, Some("application/json"))
    );
    assert_eq!(
        r.text(),
        "A parameter, SeriesInstanceUID and SOPInstanceUID, are required for this API call."
    );
}

#[test]
fn download_errors_and_access() {
    let s = small_server();
    let ok = pick(&s, |x| x.image_count <= 3).series_uid;
    let restricted = s.data().series_in(fake_nbia::RESTRICTED_COLLECTION)[0].clone();
    let ru = &restricted.series_uid;
    for ver in [V1, V4] {
        let r = get(&s, &format!("{ver}/getImage"));
        assert_eq!(
            (r.status, r.header("content-type")),
            (400, Some("application/json"))
        );
        assert_eq!(
            r.text(),
            "A parameter, SeriesInstanceUID, is required for this API call."
        );
        let r = get(&s, &format!("{ver}/getImageWithMD5Hash"));
        assert_eq!(
            r.text(),
            "A parameter, SeriesInstanceUID, is required for this API call."
        );
    }
    for uid in ["1.2.3.4", ru.as_str()] {
        let r = get(&s, &format!("{V1}/getImage?SeriesInstanceUID={uid}"));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.text(),
            format!("Image with given SeriesInstanceUID,{uid}, is not in public domain.")
        );
        let r = get(
            &s,
            &format!("{V4}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.text(), format!("The user has not been granted the access to image with given SeriesInstanceUID,{uid}. Please contact System Admin to resolve this issue."));
    }
    // v2: no Authorization → 500 (48 bytes); bad token → 401 empty; guest cannot see restricted;
    // alice can
    let r = get(&s, &format!("{V2}/getImage?SeriesInstanceUID={ok}"));
    assert_eq!((r.status, r.body.len()), (500, 48));
    let r = get_with(
        &s,
        &format!("{V2}/getSingleImage?SeriesInstanceUID={ok}&SOPInstanceUID=1"),
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!((r.status, r.body.len()), (401, 0));
    let guest = format!("Bearer {}", s.issue_token("nbia_guest"));
    let r = get_with(
        &s,
        &format!("{V2}/getImage?SeriesInstanceUID={ru}"),
        &[("Authorization", &guest)],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("The user has not been granted"));
    let alice = format!("Bearer {}", s.issue_token("alice"));
    let r = get_with(
        &s,
        &format!("{V2}/getImage?SeriesInstanceUID={ru}"),
        &[("Authorization", &alice)],
    );
    assert_eq!(r.status, 200);
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(z.entries.len() as u64, restricted.image_count + 1);
    assert!(String::from_utf8_lossy(z.get("LICENSE")).contains("Restricted-Trial"));
}

fn md5_zip(s: &FakeServer, uid: &str) -> Resp {
    get(
        s,
        &format!("{V4}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
    )
}

#[test]
fn fault_bad_md5_and_corrupt_entry() {
    let s = small_server();
    let x = pick(&s, |x| x.image_count >= 4 && x.image_count < 100);
    let uid = &x.series_uid;
    let mismatches = |z: &Zip| -> Vec<String> {
        let mut v: Vec<String> = md5_rows(z.get("md5hashes.csv"))
            .into_iter()
            .filter(|(n, h)| h.to_lowercase() != md5_hex(z.get(n)))
            .map(|(n, _)| n)
            .collect();
        v.sort();
        v
    };
    s.inject(Fault::new(
        "getImageWithMD5Hash",
        Some(1),
        FaultAction::BadMd5 { entry: 1 },
    ));
    let r = md5_zip(&s, uid);
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(mismatches(&z), ["00000002.dcm"]);
    assert_eq!(z.get("00000002.dcm"), &s.data().image(uid, 1).unwrap()[..]);

    s.inject(Fault::new(
        "getImageWithMD5Hash",
        Some(1),
        FaultAction::CorruptEntry { entry: 2 },
    ));
    let r = md5_zip(&s, uid);
    let z = parse_zip(&r.body);
    assert_eq!(mismatches(&z), ["00000003.dcm"]);
    assert_ne!(z.get("00000003.dcm"), &s.data().image(uid, 2).unwrap()[..]);
    assert_eq!(z.get("00000003.dcm").len(), 4096);

    // the rule was spent: a clean download again
    let z = parse_zip(&md5_zip(&s, uid).body);
    assert!(mismatches(&z).is_empty());
}

#[test]
fn fault_short_zip_is_valid_but_short() {
    let s = small_server();
    let x = pick(&s, |x| x.image_count >= 5 && x.image_count < 100);
    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::ShortZip { entries: 3 },
    ));
    let r = get(
        &s,
        &format!(
            "{V4}/getImage?SeriesInstanceUID={}&IncludeMD5=yes",
            x.series_uid
        ),
    );
    assert_eq!(r.status, 200);
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(z.names(), ["LICENSE", "00000001.dcm", "00000002.dcm"]);
    s.inject(Fault::new(
        "*",
        Some(1),
        FaultAction::ShortZip { entries: 2 },
    ));
    let z = parse_zip(&md5_zip(&s, &x.series_uid).body);
    assert!(z.complete);
    assert_eq!(z.names(), ["00000001.dcm", "00000002.dcm"]);
}

#[test]
fn fault_extra_entry_with_hostile_names() {
    let s = small_server();
    let x = pick(&s, |x| (2..50).contains(&x.image_count));
    let n = x.image_count as usize;
    for name in [
        "../../evil.dcm",
        "/etc/passwd",
        "C:\\x.dcm",
        "a\\b.dcm",
        "x\u{0}y.dcm",
        "sub/dir.dcm",
    ] {
        let action = FaultAction::ExtraEntry {
            name: name.to_string(),
            bytes: 100,
        };
        s.inject(Fault::new("getImageWithMD5Hash", Some(1), action.clone()));
        let z = parse_zip(&md5_zip(&s, &x.series_uid).body);
        assert!(z.complete);
        assert_eq!(z.entries.len(), n + 2);
        assert_eq!(z.entries[n].0, name.as_bytes());
        assert_eq!(z.entries[n].1.len(), 100);
        assert_eq!(z.names()[n + 1], "md5hashes.csv");
        assert_eq!(md5_rows(z.get("md5hashes.csv")).len(), n);
        // no md5hashes.csv: the extra entry comes last
        s.inject(Fault::new("getImage", Some(1), action));
        let r = get(
            &s,
            &format!("{V1}/getImage?SeriesInstanceUID={}", x.series_uid),
        );
        let z = parse_zip(&r.body);
        assert_eq!(z.entries.len(), n + 2);
        assert_eq!(z.entries.last().unwrap().0, name.as_bytes());
    }
    // serde shape of the new actions
    let f: Fault = serde_json::from_str(
        r#"{"endpoint":"getImage","times":1,"action":{"kind":"extra_entry","name":"../x","bytes":3}}"#,
    )
    .unwrap();
    assert!(matches!(f.action, FaultAction::ExtraEntry { bytes: 3, .. }));
    for j in [
        r#"{"kind":"bad_md5","entry":0}"#,
        r#"{"kind":"short_zip","entries":2}"#,
        r#"{"kind":"corrupt_entry","entry":1}"#,
    ] {
        serde_json::from_str::<FaultAction>(j).unwrap();
    }
}

#[test]
fn transport_faults_on_downloads() {
    let s = small_server();
    let x = pick(&s, |x| x.image_count >= 20);
    let target = format!("{V1}/getImage?SeriesInstanceUID={}", x.series_uid);
    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::TruncateBody {
            after_bytes: 10_000,
        },
    ));
    let r = get(&s, &target);
    assert_eq!(r.status, 200);
    assert!(r.incomplete, "the chunked body is cut, not ended");
    assert_eq!(r.body.len(), 10_000);
    let z = parse_zip(&r.body);
    assert!(!z.complete);
    assert!(!z.entries.is_empty());

    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::Drip {
            chunk: 4096,
            interval_ms: 1,
        },
    ));
    let r = get(&s, &target);
    assert!(parse_zip(&r.body).complete);

    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::HtmlPage {
            code: 502,
            title: "Bad Gateway".into(),
        },
    ));
    let r = get(&s, &target);
    assert_eq!(
        (r.status, r.header("content-type")),
        (502, Some("text/html"))
    );

    s.inject(Fault::new("getImage", Some(1), FaultAction::Drop));
    assert!(
        send(&s, "GET", &target, &[], b"").is_none(),
        "closed without a response"
    );
    assert_eq!(s.hits("getImage"), 4);
}

#[test]
fn realistic_sizes_sum_to_file_size() {
    let ds = fake_nbia::Dataset::new(8);
    for x in [ds.series_at(0), ds.series_in("Bulk-Synthetic")[5].clone()] {
        let per = x.file_size / x.image_count;
        assert!((200 * 1024..520 * 1024).contains(&per), "{per}");
        let n = x.image_count as usize;
        for k in [0, n - 1] {
            assert_eq!(ds.image(&x.series_uid, k).unwrap().len() as u64, per);
        }
        assert!(ds.image(&x.series_uid, n).is_none());
    }
}

// ---------------------------------------------------------------- releases while running

/// v4 getSeries rows of a collection, by SeriesInstanceUID.
fn series_rows(s: &FakeServer, collection: &str) -> HashMap<String, serde_json::Value> {
    let c = collection.replace(' ', "%20");
    let v = get_json(s, &format!("{V4}/getSeries?Collection={c}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["SeriesInstanceUID"].as_str().unwrap().to_string(),
                r.clone(),
            )
        })
        .collect()
}

fn today_v4() -> String {
    fake_nbia::Timestamp::now().v4()
}

fn yesterday_v4() -> String {
    fake_nbia::Timestamp::now().plus_days(-1).v4()
}

/// Download getImageWithMD5Hash and check: `n` images, md5hashes.csv rows = md5 of the served
/// bytes, bytes = `Dataset::image`. Returns the image bytes in ZIP order.
fn verified_md5_zip(s: &FakeServer, ver: &str, uid: &str, n: usize) -> Vec<Vec<u8>> {
    let r = get(
        s,
        &format!("{ver}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let z = parse_zip(&r.body);
    assert!(z.complete);
    let names = z.names();
    assert_eq!(names.len(), n + 1, "{names:?}");
    assert_eq!(names[n], "md5hashes.csv");
    let rows = md5_rows(z.get("md5hashes.csv"));
    assert_eq!(rows.len(), n);
    for (name, hash) in &rows {
        assert_eq!(hash.to_lowercase(), md5_hex(z.get(name)), "{name}");
    }
    let ds = s.data();
    let mut out = Vec::new();
    for (k, name) in names[..n].iter().enumerate() {
        assert_eq!(z.get(name), &ds.image(uid, k).unwrap()[..], "{name}");
        out.push(z.get(name).to_vec());
    }
    out
}

#[test]
fn released_series_appear_everywhere_and_download() {
    let s = small_server();
    let before = series_rows(&s, "LIDC-IDRI");
    let old_patients = s.data().patients_in("LIDC-IDRI").len();
    let since = yesterday_v4();
    let r = get(&s, &format!("{V4}/getUpdatedSeries?fromDate={since}"));
    assert_eq!(
        (r.status, r.text()),
        (200, String::new()),
        "nothing new yet"
    );

    let uids = s.release_series("LIDC-IDRI", 2);
    assert_eq!(uids.len(), 2);
    let after = series_rows(&s, "LIDC-IDRI");
    assert_eq!(after.len(), before.len() + 2);
    let ds = s.data();
    for u in &uids {
        let row = &after[u];
        assert_eq!(row["Collection"], "LIDC-IDRI");
        assert_eq!(row["DateReleased"], today_v4());
        let x = ds.find_series(u).unwrap();
        assert_eq!(row["ImageCount"].as_u64(), Some(x.image_count));
        assert_eq!(row["FileSize"].as_u64(), Some(x.file_size));
        assert_eq!(x.file_size, x.image_count * 4096);
        assert_eq!(ds.sop_uids(u).len() as u64, x.image_count);
    }
    // the new series share one new patient and one new study
    let (a, b) = (
        ds.find_series(&uids[0]).unwrap(),
        ds.find_series(&uids[1]).unwrap(),
    );
    assert_eq!((&a.patient_id, &a.study_uid), (&b.patient_id, &b.study_uid));
    assert_eq!(ds.patients_in("LIDC-IDRI").len(), old_patients + 1);
    assert_eq!(ds.study_of(&a).series_count, 2);

    let updated = get_json(&s, &format!("{V4}/getUpdatedSeries?fromDate={since}"));
    let mut got: Vec<String> = updated
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["SeriesInstanceUID"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = uids.clone();
    want.sort();
    assert_eq!(got, want);

    let np = get_json(
        &s,
        &format!("{V4}/NewPatientsInCollection?Collection=LIDC-IDRI&fromDate={since}"),
    );
    assert_eq!(np.as_array().unwrap().len(), 1, "{np}");
    assert_eq!(np[0]["PatientId"], a.patient_id.as_str());
    let ns = get_json(
        &s,
        &format!("{V4}/NewStudiesInPatientCollection?Collection=LIDC-IDRI&fromDate={since}"),
    );
    assert_eq!(ns.as_array().unwrap().len(), 1, "{ns}");
    assert_eq!(ns[0]["StudyInstanceUID"], a.study_uid.as_str());
    let counts = get_json(&s, &format!("{V4}/getCollectionValuesAndCounts"));
    let lidc = counts
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Collection"] == "LIDC-IDRI")
        .unwrap();
    assert_eq!(lidc["Count"].as_u64(), Some(old_patients as u64 + 1));

    for u in &uids {
        let n = ds.find_series(u).unwrap().image_count as usize;
        verified_md5_zip(&s, V4, u, n);
    }
    // the bulk collection stays lazy and untouched
    assert_eq!(ds.series_in("Bulk-Synthetic").len(), 20);
}

#[test]
fn changed_series_has_one_more_image_and_fresh_hashes() {
    let s = small_server();
    let x = pick(&s, |x| x.collection == "TCGA-BLCA" && x.image_count < 100);
    let uid = x.series_uid.clone();
    let n0 = x.image_count as usize;
    let old = s.data();
    let old_zip = verified_md5_zip(&s, V1, &uid, n0); // warms the md5 cache
    let old_row = &series_rows(&s, "TCGA-BLCA")[&uid];
    assert_eq!(old_row["ImageCount"].as_u64(), Some(n0 as u64));

    assert_eq!(s.change_series(&uid), n0 as u64 + 1);
    let n = n0 + 1;
    let per = x.file_size / x.image_count;
    let row = &series_rows(&s, "TCGA-BLCA")[&uid];
    assert_eq!(row["ImageCount"].as_u64(), Some(n as u64));
    assert_eq!(row["FileSize"].as_u64(), Some(x.file_size + per));
    assert_eq!(row["DateReleased"], today_v4());
    let size = get_json(&s, &format!("{V4}/getSeriesSize?SeriesInstanceUID={uid}"));
    assert_eq!(size[0]["ObjectCount"].as_u64(), Some(n as u64));
    assert_eq!(
        size[0]["TotalSizeInBytes"].as_u64(),
        Some(x.file_size + per)
    );
    let v1 = get_json(
        &s,
        &format!("{V1}/getSeriesMetaData?SeriesInstanceUID={uid}"),
    );
    assert_eq!(v1[0]["Number of Images"], n.to_string(), "{v1}");
    assert_eq!(v1[0]["File Size"], (x.file_size + per).to_string(), "{v1}");
    let sops = get_json(
        &s,
        &format!("{V4}/getSOPInstanceUIDs?SeriesInstanceUID={uid}"),
    );
    let sops: Vec<String> = sops
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["SOPInstanceUID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sops.len(), n);
    let old_sops = old.sop_uids(&uid);
    let new_sop: Vec<&String> = sops.iter().filter(|u| !old_sops.contains(u)).collect();
    assert_eq!(new_sop.len(), 1);
    assert!(old_sops.iter().all(|u| sops.contains(u)));
    // the updated-series feed and the patient/study feeds see the re-release
    let since = yesterday_v4();
    let updated = get_json(&s, &format!("{V4}/getUpdatedSeries?fromDate={since}"));
    assert_eq!(updated.as_array().unwrap().len(), 1);
    assert_eq!(updated[0]["SeriesInstanceUID"], uid.as_str());
    let np = get_json(
        &s,
        &format!("{V4}/NewPatientsInCollection?Collection=TCGA-BLCA&fromDate={since}"),
    );
    assert_eq!(np[0]["PatientId"], x.patient_id.as_str());
    // the v4 metadata CSV
    let meta = post_form(
        &s,
        &format!("{V4}/getSeriesMetadata"),
        &format!("list={uid}"),
    );
    assert_eq!(meta.status, 200);
    let csv = meta.text();
    let mut lines = csv.lines();
    let head = lines.next().unwrap();
    let row = lines.next().unwrap();
    assert!(
        head.contains("\"ImageCount\"") && head.contains("\"FileSize\""),
        "{head}"
    );
    assert!(row.contains(&format!(",\"{n}\",")), "{row}");
    assert!(
        row.contains(&format!(",\"{}\"", x.file_size + per)),
        "{row}"
    );

    // the ZIPs: fresh bytes and hashes, never the cached ones of the old version
    let new_zip = verified_md5_zip(&s, V1, &uid, n);
    let k = sops.iter().position(|u| u == new_sop[0]).unwrap();
    assert_ne!(new_zip[k], old_zip.get(k).cloned().unwrap_or_default());
    let r = get(
        &s,
        &format!("{V4}/getImage?SeriesInstanceUID={uid}&IncludeMD5=yes"),
    );
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(z.entries.len(), n + 2); // LICENSE, images, md5hashes.csv
    let r = get(
        &s,
        &format!(
            "{V4}/getSingleImage?SeriesInstanceUID={uid}&SOPInstanceUID={}",
            new_sop[0]
        ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, new_zip[k]);
    // an old snapshot stays as it was
    assert_eq!(old.find_series(&uid).unwrap().image_count as usize, n0);
    assert_eq!(old.sop_uids(&uid).len(), n0);
}

#[test]
fn withdrawn_series_is_gone_everywhere() {
    let s = small_server();
    let x = pick(&s, |x| x.collection == "Soft-tissue-Sarcoma");
    let uid = x.series_uid.clone();
    let n_before = series_rows(&s, "Soft-tissue-Sarcoma").len();
    s.withdraw_series(&uid);
    let rows = series_rows(&s, "Soft-tissue-Sarcoma");
    assert_eq!(rows.len(), n_before - 1);
    assert!(!rows.contains_key(&uid));
    let r = get(&s, &format!("{V4}/getSeries?SeriesInstanceUID={uid}"));
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = get(&s, &format!("{V1}/getImage?SeriesInstanceUID={uid}"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        format!("Image with given SeriesInstanceUID,{uid}, is not in public domain.")
    );
    let r = get(
        &s,
        &format!("{V4}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("has not been granted the access"),
        "{}",
        r.text()
    );
    let sop = &s.data().sop_uids(&x.series_uid);
    assert!(sop.is_empty());
    let r = get(
        &s,
        &format!("{V1}/getSeriesMetaData?SeriesInstanceUID={uid}"),
    );
    assert_eq!(r.status, 204);
    let r = get(
        &s,
        &format!("{V4}/getSOPInstanceUIDs?SeriesInstanceUID={uid}"),
    );
    assert_eq!((r.status, r.body.len()), (200, 0));
    let size = get_json(&s, &format!("{V4}/getSeriesSize?SeriesInstanceUID={uid}"));
    assert_eq!(size, serde_json::json!([{}]));
    // withdrawing every series of a patient removes the patient and its studies
    let ds = s.data();
    let p = ds.patients_in("Soft-tissue-Sarcoma")[0].clone();
    for y in ds.series_in("Soft-tissue-Sarcoma") {
        if y.patient_id == p.patient_id {
            s.withdraw_series(&y.series_uid);
        }
    }
    let ds = s.data();
    assert!(ds.patient("Soft-tissue-Sarcoma", &p.patient_id).is_none());
    assert!(ds
        .studies_in("Soft-tissue-Sarcoma")
        .iter()
        .all(|st| st.patient_id != p.patient_id));
    let pts = get_json(
        &s,
        &format!("{V4}/getPatient?Collection=Soft-tissue-Sarcoma"),
    );
    assert_eq!(
        pts.as_array().unwrap().len(),
        ds.patients_in("Soft-tissue-Sarcoma").len()
    );
    // later collections still resolve (ranges moved along)
    for c in ["TCGA-BLCA", "Bulk-Synthetic"] {
        assert_eq!(series_rows(&s, c).len(), ds.series_in(c).len());
    }
    for y in ds.series() {
        assert_eq!(ds.find_series(&y.series_uid).unwrap(), y);
    }
}

#[test]
fn control_api_release_change_withdraw() {
    let s = small_server();
    let r = post_json(
        &s,
        "/__fake/release",
        r#"{"collection": "CT COLONOGRAPHY", "count": 3}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let uids: Vec<String> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(uids.len(), 3);
    let rows = series_rows(&s, "CT COLONOGRAPHY");
    assert!(uids.iter().all(|u| rows.contains_key(u)));

    let n = s.data().find_series(&uids[0]).unwrap().image_count;
    let r = post_json(
        &s,
        "/__fake/change",
        &format!(r#"{{"series": "{}"}}"#, uids[0]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["image_count"].as_u64(), Some(n + 1));
    assert_eq!(
        series_rows(&s, "CT COLONOGRAPHY")[&uids[0]]["ImageCount"].as_u64(),
        Some(n + 1)
    );

    let r = post_json(
        &s,
        "/__fake/withdraw",
        &format!(r#"{{"series": "{}"}}"#, uids[1]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!series_rows(&s, "CT COLONOGRAPHY").contains_key(&uids[1]));

    for (path, body) in [
        ("/__fake/release", r#"{"collection": "Nope"}"#),
        ("/__fake/release", r#"{"collection": "Bulk-Synthetic"}"#),
        ("/__fake/change", r#"{"series": "1.2.3"}"#),
        ("/__fake/withdraw", r#"{"series": "1.2.3"}"#),
        ("/__fake/withdraw", r#"{"uid": "1.2.3"}"#),
    ] {
        assert_eq!(post_json(&s, path, body).status, 400, "{path} {body}");
    }
    // control requests are not logged
    assert_eq!(s.hits("release") + s.hits("change") + s.hits("withdraw"), 0);
}
