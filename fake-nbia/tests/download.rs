//! Series downloads: getImage / getImageWithMD5Hash / getSingleImage and the ZIP faults.
//! Requests go through `curl`; ZIPs are parsed here (streaming, local headers + data descriptors)
//! and checked with `python3 -m zipfile -t` / `unzip -t` when those tools exist.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use fake_nbia::{Config, FakeServer, Fault, FaultAction, Series};
use flate2::{Decompress, FlushDecompress, Status};
use md5::{Digest, Md5};

const V1: &str = "/nbia-api/services/v1";
const V2: &str = "/nbia-api/services/v2";
const V4: &str = "/nbia-api/services/v4";

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// curl's exit code (non-zero for a cut connection)
    curl_rc: i32,
    file: PathBuf,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn tmp(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "fake-nbia-dl-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

fn fetch(s: &FakeServer, target: &str, headers: &[&str]) -> Resp {
    let (hf, bf) = (tmp("h"), tmp("b.zip"));
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "20", "-D"])
        .arg(&hf)
        .arg("-o")
        .arg(&bf);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(format!("{}{target}", s.url()))
        .output()
        .expect("curl");
    let head = std::fs::read_to_string(&hf).unwrap_or_default();
    let _ = std::fs::remove_file(&hf);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: std::fs::read(&bf).unwrap_or_default(),
        curl_rc: out.status.code().unwrap_or(-1),
        file: bf,
    }
}

impl Drop for Resp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

fn u16le(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}
fn u32le(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[derive(Debug)]
struct Zip {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// central directory present and consistent with the local entries
    complete: bool,
}

impl Zip {
    fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect()
    }
    fn get(&self, name: &str) -> &[u8] {
        &self
            .entries
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .unwrap_or_else(|| panic!("no entry {name}"))
            .1
    }
}

/// Read a ZIP the streaming way (local header, inflate to the end of the DEFLATE stream, signed
/// data descriptor), checking the Java ZipOutputStream framing, then the central directory + EOCD.
fn parse_zip(b: &[u8]) -> Zip {
    let mut pos = 0;
    let mut entries = Vec::new();
    let mut offsets = Vec::new();
    while pos + 30 <= b.len() && u32le(b, pos) == 0x0403_4b50 {
        assert_eq!(u16le(b, pos + 6) & 0x08, 0x08, "bit 3 set");
        assert_eq!(u16le(b, pos + 8), 8, "DEFLATE");
        assert_eq!(
            &b[pos + 14..pos + 26],
            &[0; 12],
            "crc/sizes zero in local header"
        );
        let (nl, xl) = (u16le(b, pos + 26), u16le(b, pos + 28));
        let name = b[pos + 30..pos + 30 + nl].to_vec();
        let data = pos + 30 + nl + xl;
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 16);
        let ok = loop {
            out.reserve(1 << 16);
            let before = d.total_in() as usize;
            match d.decompress_vec(&b[data + before..], &mut out, FlushDecompress::None) {
                Ok(Status::StreamEnd) => break true,
                Ok(_) if d.total_in() as usize == before && out.len() < out.capacity() => {
                    break false
                }
                Ok(_) => {}
                Err(_) => break false,
            }
        };
        if !ok {
            return Zip {
                entries,
                complete: false,
            };
        }
        let dd = data + d.total_in() as usize;
        if dd + 16 > b.len() {
            return Zip {
                entries,
                complete: false,
            };
        }
        assert_eq!(u32le(b, dd), 0x0807_4b50, "data descriptor signature");
        assert_eq!(u32le(b, dd + 4), crc32fast::hash(&out), "crc");
        assert_eq!(u32le(b, dd + 8) as u64, d.total_in(), "compressed size");
        assert_eq!(u32le(b, dd + 12) as usize, out.len(), "size");
        offsets.push(pos as u32);
        entries.push((name, out));
        pos = dd + 16;
    }
    if pos + 22 > b.len() || u32le(b, pos) != 0x0201_4b50 && u32le(b, pos) != 0x0605_4b50 {
        return Zip {
            entries,
            complete: false,
        };
    }
    let cd = pos;
    let mut k = 0;
    while u32le(b, pos) == 0x0201_4b50 {
        let nl = u16le(b, pos + 28);
        let name = &b[pos + 46..pos + 46 + nl];
        assert_eq!(name, &entries[k].0[..]);
        assert_eq!(u32le(b, pos + 42), offsets[k]);
        assert_eq!(u32le(b, pos + 16), crc32fast::hash(&entries[k].1));
        pos += 46 + nl;
        k += 1;
    }
    assert_eq!(k, entries.len());
    assert_eq!(u32le(b, pos), 0x0605_4b50, "EOCD");
    assert_eq!(u16le(b, pos + 10), k);
    assert_eq!(u32le(b, pos + 12) as usize, pos - cd);
    assert_eq!(u32le(b, pos + 16) as usize, cd);
    assert_eq!(pos + 22, b.len(), "nothing after EOCD");
    Zip {
        entries,
        complete: true,
    }
}

/// `python3 -m zipfile -t` and `unzip -t` (each only if installed) agree that the file is valid.
fn external_check(path: &PathBuf, expect_ok: bool) {
    let tools: [(&str, &[&str]); 2] = [("python3", &["-m", "zipfile", "-t"]), ("unzip", &["-tqq"])];
    for (tool, args) in tools {
        if let Ok(o) = Command::new(tool).args(args).arg(path).output() {
            let ok =
                o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("corrupted");
            assert_eq!(ok, expect_ok, "{tool}: {o:?}");
        }
    }
}

fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", Md5::digest(b))
}

/// md5hashes.csv → name → hash (as served)
fn md5_rows(csv: &[u8]) -> Vec<(String, String)> {
    let t = std::str::from_utf8(csv).unwrap();
    assert!(t.starts_with("Filename,MD5Hash\n"), "{t}");
    assert!(t.ends_with('\n') && !t.contains('\r') && !t.contains('"'));
    t.lines()
        .skip(1)
        .map(|l| {
            let (n, h) = l.split_once(',').unwrap();
            assert_eq!(h.len(), 32);
            (n.to_string(), h.to_string())
        })
        .collect()
}

fn server() -> FakeServer {
    FakeServer::start_with(Config {
        bulk_series: 20,
        ..Config::default()
    })
}

fn pick(s: &FakeServer, f: impl Fn(&Series) -> bool) -> Series {
    s.data()
        .series()
        .filter(|x| x.collection != fake_nbia::RESTRICTED_COLLECTION)
        .find(|x| f(x))
        .expect("a matching series")
}

fn json(s: &FakeServer, target: &str) -> serde_json::Value {
    serde_json::from_slice(&fetch(s, target, &[]).body).unwrap()
}

#[test]
fn get_image_v4_new_names_with_md5_is_a_complete_valid_zip() {
    let s = server();
    let ds = s.data();
    let x = pick(&s, |x| x.image_count > 100);
    let uid = &x.series_uid;
    let r = fetch(
        &s,
        &format!("{V4}/getImage?SeriesInstanceUID={uid}&NewFileNames=Yes&IncludeMD5=yes"),
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{uid}.zip\"").as_str())
    );
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.header("content-length").is_none());
    external_check(&r.file, true);
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
    let meta = json(&s, &format!("{V1}/getSeries?SeriesInstanceUID={uid}"));
    assert_eq!(meta[0]["FileSize"].as_u64(), Some(total));
    assert_eq!(meta[0]["ImageCount"].as_u64(), Some(names.len() as u64));
    let size = json(&s, &format!("{V1}/getSeriesSize?SeriesInstanceUID={uid}"));
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
    let v1 = fetch(
        &s,
        &format!("{V1}/getImage?SeriesInstanceUID={uid}&IncludeMD5=yes&Foo=1"),
        &[],
    );
    let z1 = parse_zip(&v1.body);
    assert_eq!(z1.names()[1], "00000001.dcm");
    assert_eq!(
        z1.names().last().unwrap(),
        &format!("{:08}.dcm", x.image_count)
    );
    let bad = fetch(
        &s,
        &format!("{V4}/getImage?SeriesInstanceUID={uid}&Foo=1"),
        &[],
    );
    assert_eq!(bad.status, 400);
    assert!(bad.text().starts_with("Invalid query parameter: 'Foo'."));
}

#[test]
fn get_image_with_md5_hash_all_versions_and_hex_case() {
    let s = server();
    let ds = s.data();
    let token = s.issue_token("alice");
    let auth = format!("Authorization: Bearer {token}");
    let small = pick(&s, |x| x.image_count <= 3);
    let upper = pick(&s, |x| ds.md5_upper_case(&x.series_uid));
    let lower = pick(&s, |x| {
        !ds.md5_upper_case(&x.series_uid) && x.image_count < 100
    });
    for (ver, x) in [(V1, &small), (V2, &upper), (V4, &lower)] {
        let uid = &x.series_uid;
        let r = fetch(
            &s,
            &format!("{ver}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
            &[&auth],
        );
        assert_eq!(r.status, 200, "{ver}");
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        external_check(&r.file, true);
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
    let r = fetch(
        &s,
        &format!(
            "{V1}/getImageWithMD5Hash?SeriesInstanceUID={}",
            bulk.series_uid
        ),
        &[],
    );
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(z.entries.len() as u64, bulk.image_count + 1);
}

#[test]
fn get_single_image() {
    let s = server();
    let x = pick(&s, |x| x.image_count >= 3);
    let sops = s.data().sop_uids(&x.series_uid);
    let r = fetch(
        &s,
        &format!(
            "{V4}/getSingleImage?SeriesInstanceUID={}&SOPInstanceUID={}",
            x.series_uid, sops[2]
        ),
        &[],
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
    let r = fetch(
        &s,
        &format!(
            "{V1}/getSingleImage?SeriesInstanceUID={}&SOPInstanceUID=1.2.3",
            x.series_uid
        ),
        &[],
    );
    assert_eq!(
        (r.status, r.header("content-type")),
        (500, Some("text/plain"))
    );
    assert_eq!(
        r.text(),
        "Server was not able to process your request\nnull"
    );
    let r = fetch(
        &s,
        &format!("{V1}/getSingleImage?SeriesInstanceUID={}", x.series_uid),
        &[],
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
    let s = server();
    let ok = pick(&s, |x| x.image_count <= 3).series_uid;
    let restricted = s.data().series_in(fake_nbia::RESTRICTED_COLLECTION)[0].clone();
    let ru = &restricted.series_uid;
    for ver in [V1, V4] {
        let r = fetch(&s, &format!("{ver}/getImage"), &[]);
        assert_eq!(
            (r.status, r.header("content-type")),
            (400, Some("application/json"))
        );
        assert_eq!(
            r.text(),
            "A parameter, SeriesInstanceUID, is required for this API call."
        );
        let r = fetch(&s, &format!("{ver}/getImageWithMD5Hash"), &[]);
        assert_eq!(
            r.text(),
            "A parameter, SeriesInstanceUID, is required for this API call."
        );
    }
    for uid in ["1.2.3.4", ru.as_str()] {
        let r = fetch(&s, &format!("{V1}/getImage?SeriesInstanceUID={uid}"), &[]);
        assert_eq!(r.status, 400);
        assert_eq!(
            r.text(),
            format!("Image with given SeriesInstanceUID,{uid}, is not in public domain.")
        );
        let r = fetch(
            &s,
            &format!("{V4}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
            &[],
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.text(), format!("The user has not been granted the access to image with given SeriesInstanceUID,{uid}. Please contact System Admin to resolve this issue."));
    }
    // v2: no Authorization → 500 (48 bytes); bad token → 401 empty; guest cannot see restricted;
    // alice can
    let r = fetch(&s, &format!("{V2}/getImage?SeriesInstanceUID={ok}"), &[]);
    assert_eq!((r.status, r.body.len()), (500, 48));
    let r = fetch(
        &s,
        &format!("{V2}/getSingleImage?SeriesInstanceUID={ok}&SOPInstanceUID=1"),
        &["Authorization: Bearer nope"],
    );
    assert_eq!((r.status, r.body.len()), (401, 0));
    let guest = format!("Authorization: Bearer {}", s.issue_token("nbia_guest"));
    let r = fetch(
        &s,
        &format!("{V2}/getImage?SeriesInstanceUID={ru}"),
        &[&guest],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("The user has not been granted"));
    let alice = format!("Authorization: Bearer {}", s.issue_token("alice"));
    let r = fetch(
        &s,
        &format!("{V2}/getImage?SeriesInstanceUID={ru}"),
        &[&alice],
    );
    assert_eq!(r.status, 200);
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(z.entries.len() as u64, restricted.image_count + 1);
    assert!(String::from_utf8_lossy(z.get("LICENSE")).contains("Restricted-Trial"));
}

fn md5_zip(s: &FakeServer, uid: &str) -> Resp {
    fetch(
        s,
        &format!("{V4}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
        &[],
    )
}

#[test]
fn fault_bad_md5_and_corrupt_entry() {
    let s = server();
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
    external_check(&r.file, true);
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
    external_check(&r.file, true); // CRC matches the corrupted bytes
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
    let s = server();
    let x = pick(&s, |x| x.image_count >= 5 && x.image_count < 100);
    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::ShortZip { entries: 3 },
    ));
    let r = fetch(
        &s,
        &format!(
            "{V4}/getImage?SeriesInstanceUID={}&IncludeMD5=yes",
            x.series_uid
        ),
        &[],
    );
    assert_eq!(r.status, 200);
    external_check(&r.file, true);
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
    let s = server();
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
        let r = fetch(
            &s,
            &format!("{V1}/getImage?SeriesInstanceUID={}", x.series_uid),
            &[],
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
    let s = server();
    let x = pick(&s, |x| x.image_count >= 20);
    let target = format!("{V1}/getImage?SeriesInstanceUID={}", x.series_uid);
    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::TruncateBody {
            after_bytes: 10_000,
        },
    ));
    let r = fetch(&s, &target, &[]);
    assert_eq!(r.status, 200);
    assert_ne!(r.curl_rc, 0);
    assert_eq!(r.body.len(), 10_000);
    let z = parse_zip(&r.body);
    assert!(!z.complete);
    assert!(!z.entries.is_empty());
    external_check(&r.file, false);

    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::Drip {
            chunk: 4096,
            interval_ms: 1,
        },
    ));
    let r = fetch(&s, &target, &[]);
    assert!(parse_zip(&r.body).complete);

    s.inject(Fault::new(
        "getImage",
        Some(1),
        FaultAction::HtmlPage {
            code: 502,
            title: "Bad Gateway".into(),
        },
    ));
    let r = fetch(&s, &target, &[]);
    assert_eq!(
        (r.status, r.header("content-type")),
        (502, Some("text/html"))
    );

    s.inject(Fault::new("getImage", Some(1), FaultAction::Drop));
    let r = fetch(&s, &target, &[]);
    assert_eq!(r.status, 0);
    assert_ne!(r.curl_rc, 0);
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

/// POST a JSON body to the control API.
fn post_json(s: &FakeServer, path: &str, body: &str) -> Resp {
    let (hf, bf) = (tmp("h"), tmp("b"));
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "-D"])
        .arg(&hf)
        .arg("-o")
        .arg(&bf)
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ])
        .arg(format!("{}{path}", s.url()))
        .output()
        .expect("curl");
    let head = std::fs::read_to_string(&hf).unwrap_or_default();
    let _ = std::fs::remove_file(&hf);
    Resp {
        status: head
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        headers: Vec::new(),
        body: std::fs::read(&bf).unwrap_or_default(),
        curl_rc: out.status.code().unwrap_or(-1),
        file: bf,
    }
}

/// v4 getSeries rows of a collection, by SeriesInstanceUID.
fn series_rows(s: &FakeServer, collection: &str) -> HashMap<String, serde_json::Value> {
    let c = collection.replace(' ', "%20");
    let v = json(s, &format!("{V4}/getSeries?Collection={c}"));
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
    let r = fetch(
        s,
        &format!("{ver}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
        &[],
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
    let s = server();
    let before = series_rows(&s, "LIDC-IDRI");
    let old_patients = s.data().patients_in("LIDC-IDRI").len();
    let since = yesterday_v4();
    let r = fetch(&s, &format!("{V4}/getUpdatedSeries?fromDate={since}"), &[]);
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

    let updated = json(&s, &format!("{V4}/getUpdatedSeries?fromDate={since}"));
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

    let np = json(
        &s,
        &format!("{V4}/NewPatientsInCollection?Collection=LIDC-IDRI&fromDate={since}"),
    );
    assert_eq!(np.as_array().unwrap().len(), 1, "{np}");
    assert_eq!(np[0]["PatientId"], a.patient_id.as_str());
    let ns = json(
        &s,
        &format!("{V4}/NewStudiesInPatientCollection?Collection=LIDC-IDRI&fromDate={since}"),
    );
    assert_eq!(ns.as_array().unwrap().len(), 1, "{ns}");
    assert_eq!(ns[0]["StudyInstanceUID"], a.study_uid.as_str());
    let counts = json(&s, &format!("{V4}/getCollectionValuesAndCounts"));
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
    let s = server();
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
    let size = json(&s, &format!("{V4}/getSeriesSize?SeriesInstanceUID={uid}"));
    assert_eq!(size[0]["ObjectCount"].as_u64(), Some(n as u64));
    assert_eq!(
        size[0]["TotalSizeInBytes"].as_u64(),
        Some(x.file_size + per)
    );
    let v1 = json(
        &s,
        &format!("{V1}/getSeriesMetaData?SeriesInstanceUID={uid}"),
    );
    assert_eq!(v1[0]["Number of Images"], n.to_string(), "{v1}");
    assert_eq!(v1[0]["File Size"], (x.file_size + per).to_string(), "{v1}");
    let sops = json(
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
    let updated = json(&s, &format!("{V4}/getUpdatedSeries?fromDate={since}"));
    assert_eq!(updated.as_array().unwrap().len(), 1);
    assert_eq!(updated[0]["SeriesInstanceUID"], uid.as_str());
    let np = json(
        &s,
        &format!("{V4}/NewPatientsInCollection?Collection=TCGA-BLCA&fromDate={since}"),
    );
    assert_eq!(np[0]["PatientId"], x.patient_id.as_str());
    // the v4 metadata CSV
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "--data-binary"])
        .arg(format!("list={uid}"))
        .arg(format!("{}{V4}/getSeriesMetadata", s.url()))
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
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
    let r = fetch(
        &s,
        &format!("{V4}/getImage?SeriesInstanceUID={uid}&IncludeMD5=yes"),
        &[],
    );
    let z = parse_zip(&r.body);
    assert!(z.complete);
    assert_eq!(z.entries.len(), n + 2); // LICENSE, images, md5hashes.csv
    let r = fetch(
        &s,
        &format!(
            "{V4}/getSingleImage?SeriesInstanceUID={uid}&SOPInstanceUID={}",
            new_sop[0]
        ),
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, new_zip[k]);
    // an old snapshot stays as it was
    assert_eq!(old.find_series(&uid).unwrap().image_count as usize, n0);
    assert_eq!(old.sop_uids(&uid).len(), n0);
}

#[test]
fn withdrawn_series_is_gone_everywhere() {
    let s = server();
    let x = pick(&s, |x| x.collection == "Soft-tissue-Sarcoma");
    let uid = x.series_uid.clone();
    let n_before = series_rows(&s, "Soft-tissue-Sarcoma").len();
    s.withdraw_series(&uid);
    let rows = series_rows(&s, "Soft-tissue-Sarcoma");
    assert_eq!(rows.len(), n_before - 1);
    assert!(!rows.contains_key(&uid));
    let r = fetch(&s, &format!("{V4}/getSeries?SeriesInstanceUID={uid}"), &[]);
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = fetch(&s, &format!("{V1}/getImage?SeriesInstanceUID={uid}"), &[]);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        format!("Image with given SeriesInstanceUID,{uid}, is not in public domain.")
    );
    let r = fetch(
        &s,
        &format!("{V4}/getImageWithMD5Hash?SeriesInstanceUID={uid}"),
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("has not been granted the access"),
        "{}",
        r.text()
    );
    let sop = &s.data().sop_uids(&x.series_uid);
    assert!(sop.is_empty());
    let r = fetch(
        &s,
        &format!("{V1}/getSeriesMetaData?SeriesInstanceUID={uid}"),
        &[],
    );
    assert_eq!(r.status, 204);
    let r = fetch(
        &s,
        &format!("{V4}/getSOPInstanceUIDs?SeriesInstanceUID={uid}"),
        &[],
    );
    assert_eq!((r.status, r.body.len()), (200, 0));
    let size = json(&s, &format!("{V4}/getSeriesSize?SeriesInstanceUID={uid}"));
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
    let pts = json(
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
    let s = server();
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
