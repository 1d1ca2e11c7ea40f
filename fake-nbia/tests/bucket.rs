//! The fake IDC bucket ([`FakeBucket`]): ListObjectsV2 pages, prefixes, delimiters and tokens;
//! GetObject / HeadObject bytes, ranges and conditional requests; GCS mode's names and
//! `x-goog-hash`; anonymous-only access; each fault; the generated parquet index read back with
//! the `parquet` crate (schema equal to IDC's real one), its sha256 sidecars, and revisions.

use std::collections::BTreeSet;
use std::time::Instant;

use base64::Engine;
use fake_nbia::{
    BucketConfig, BucketFault, BucketFaultAction, ColKind, FakeBucket, IdcSeries, IDC_INDEX_COLUMNS,
};
use md5::{Digest, Md5};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::common::{send_to, Resp};

fn get(b: &FakeBucket, target: &str) -> Resp {
    get_h(b, target, &[])
}

fn get_h(b: &FakeBucket, target: &str, headers: &[(&str, &str)]) -> Resp {
    send_to(&b.url(), "GET", target, headers, b"").expect("a response")
}

fn head(b: &FakeBucket, target: &str) -> Resp {
    send_to(&b.url(), "HEAD", target, &[], b"").expect("a response")
}

/// The text of every `<tag>` element (not nested in a same-named one).
fn tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let j = after.find(&close).expect("closing tag");
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

fn tag(xml: &str, t: &str) -> Option<String> {
    tags(xml, t).into_iter().next()
}

fn md5_hex(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256_hex(b: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

fn first_in(b: &FakeBucket, bucket: &str) -> IdcSeries {
    b.data()
        .series
        .iter()
        .find(|s| s.aws_bucket == bucket)
        .unwrap_or_else(|| panic!("a series in {bucket}"))
        .clone()
}

/// Every key of one listing, following NextContinuationToken; also the page sizes.
fn list_all(b: &FakeBucket, bucket: &str, prefix: &str) -> (Vec<String>, Vec<usize>) {
    let (mut keys, mut pages) = (Vec::new(), Vec::new());
    let mut token: Option<String> = None;
    loop {
        let mut t = format!("/{bucket}?list-type=2&prefix={}", enc(prefix));
        if let Some(tok) = &token {
            t.push_str(&format!("&continuation-token={}", enc(tok)));
        }
        let r = get(b, &t);
        assert_eq!(r.status, 200, "{}", r.text());
        let x = r.text();
        assert_eq!(tag(&x, "ContinuationToken"), token, "the token is echoed");
        let page = tags(&x, "Key");
        assert_eq!(tag(&x, "KeyCount"), Some(page.len().to_string()));
        pages.push(page.len());
        keys.extend(page);
        match (
            tag(&x, "IsTruncated").as_deref(),
            tag(&x, "NextContinuationToken"),
        ) {
            (Some("true"), Some(next)) => token = Some(next),
            (Some("false"), None) => return (keys, pages),
            other => panic!("inconsistent page {other:?}: {x}"),
        }
    }
}

#[test]
fn listing_pages_follow_continuation_tokens() {
    let b = FakeBucket::start_with(BucketConfig {
        max_keys_cap: 3,
        ..BucketConfig::default()
    });
    let s = first_in(&b, "idc-open-data");
    assert_eq!(s.objects.len(), 5);
    let (keys, pages) = list_all(&b, "idc-open-data", &format!("{}/", s.crdc_series_uuid));
    assert_eq!(pages, [3, 2]);
    let mut want: Vec<String> = s.objects.iter().map(|o| o.key.clone()).collect();
    want.sort();
    assert_eq!(keys, want, "one series' keys, sorted, none twice");
    // the whole bucket over many pages is exactly the index's objects in that bucket
    let (all, pages) = list_all(&b, "idc-open-data", "");
    assert!(pages.len() > 10);
    let want: BTreeSet<String> = b
        .data()
        .series
        .iter()
        .filter(|s| s.aws_bucket == "idc-open-data")
        .flat_map(|s| s.objects.iter().map(|o| o.key.clone()))
        .collect();
    assert_eq!(all, want.into_iter().collect::<Vec<_>>());
}

#[test]
fn listing_contents_prefixes_and_delimiters() {
    let b = FakeBucket::start();
    let s = first_in(&b, "idc-open-data");
    let r = get(
        &b,
        &format!(
            "/idc-open-data?list-type=2&prefix={}/&max-keys=2",
            s.crdc_series_uuid
        ),
    );
    assert_eq!(r.header("content-type"), Some("application/xml"));
    let x = r.text();
    assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>idc-open-data</Name>"), "{x}");
    assert_eq!(tag(&x, "MaxKeys").as_deref(), Some("2"));
    assert_eq!(tag(&x, "IsTruncated").as_deref(), Some("true"));
    let mut objs = s.objects.clone();
    objs.sort_by(|a, b| a.key.cmp(&b.key));
    let contents = tags(&x, "Contents");
    assert_eq!(contents.len(), 2);
    let c = &contents[0];
    assert_eq!(tag(c, "Key"), Some(objs[0].key.clone()));
    assert_eq!(
        tag(c, "ETag"),
        Some(format!("&quot;{}&quot;", objs[0].md5_hex))
    );
    assert_eq!(tag(c, "Size"), Some("4096".to_string()));
    assert_eq!(tag(c, "StorageClass").as_deref(), Some("STANDARD"));
    let lm = tag(c, "LastModified").unwrap();
    assert!(
        lm.len() == 24 && lm.ends_with(".000Z") && &lm[10..11] == "T",
        "{lm}"
    );
    // a prefix that matches nothing
    let x = get(&b, "/idc-open-data?list-type=2&prefix=nope/").text();
    assert_eq!(tag(&x, "KeyCount").as_deref(), Some("0"));
    assert!(tags(&x, "Contents").is_empty());
    // delimiter: one CommonPrefix per series in the bucket, no Contents
    let x = get(&b, "/idc-open-data-cr?list-type=2&delimiter=/").text();
    let cps = tags(&x, "CommonPrefixes");
    let want: Vec<String> = {
        let mut v: Vec<String> = b
            .data()
            .series
            .iter()
            .filter(|s| s.aws_bucket == "idc-open-data-cr")
            .map(|s| format!("<Prefix>{}/</Prefix>", s.crdc_series_uuid))
            .collect();
        v.sort();
        v
    };
    assert!(!want.is_empty());
    assert_eq!(cps, want);
    assert!(tags(&x, "Contents").is_empty());
    // start-after skips up to and including that key
    let x = get(
        &b,
        &format!(
            "/idc-open-data?list-type=2&prefix={}/&start-after={}",
            s.crdc_series_uuid, objs[1].key
        ),
    )
    .text();
    assert_eq!(
        tags(&x, "Key"),
        objs[2..].iter().map(|o| o.key.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn listing_errors() {
    let b = FakeBucket::start();
    for bad in ["bogus", "a2lsbGVyAGZmZmZmZmZmZmZmZmZmZmY="] {
        let r = get(
            &b,
            &format!("/idc-open-data?list-type=2&continuation-token={bad}"),
        );
        assert_eq!(r.status, 400);
        assert_eq!(tag(&r.text(), "Code").as_deref(), Some("InvalidArgument"));
    }
    let r = get(&b, "/idc-open-data?list-type=2&max-keys=abc");
    assert_eq!(r.status, 400);
    let r = get(&b, "/idc-open-data");
    assert_eq!(r.status, 400, "ListObjects v1 is not served");
    let r = get(&b, "/no-such-bucket?list-type=2");
    assert_eq!(r.status, 404);
    let x = r.text();
    assert_eq!(tag(&x, "Code").as_deref(), Some("NoSuchBucket"));
    assert_eq!(tag(&x, "BucketName").as_deref(), Some("no-such-bucket"));
    // GCS names do not exist on S3
    assert_eq!(get(&b, "/idc-open-idc1?list-type=2").status, 404);
}

#[test]
fn get_and_head_objects() {
    let b = FakeBucket::start();
    let s = first_in(&b, "idc-open-data");
    let o = &s.objects[0];
    let path = format!("/idc-open-data/{}", o.key);
    let r = get(&b, &path);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len() as u64, o.size);
    assert_eq!(md5_hex(&r.body), o.md5_hex);
    assert_eq!(crc32c::crc32c(&r.body), o.crc32c);
    assert_eq!(r.body, o.bytes());
    assert_eq!(r.header("content-length"), Some("4096"));
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", o.md5_hex).as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/dicom"));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    assert_eq!(&r.body[128..132], b"DICM", "a DICOM file");
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains(&o.sop_instance_uid) && text.contains(&s.series_instance_uid));
    assert!(o.key.starts_with(&format!("{}/", s.crdc_series_uuid)));
    assert!(o.key.ends_with(&format!("{}.dcm", o.crdc_instance_uuid)));
    // HEAD: the same headers, no body
    let h = head(&b, &path);
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(h.header("content-length"), Some("4096"));
    assert_eq!(h.header("etag"), r.header("etag"));
    // ranges
    let r = get_h(&b, &path, &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/4096"));
    assert_eq!(r.body, o.bytes()[10..20].to_vec());
    let r = get_h(&b, &path, &[("Range", "bytes=-5")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, o.bytes()[4091..].to_vec());
    let r = get_h(&b, &path, &[("Range", "bytes=4000-")]);
    assert_eq!(r.header("content-range"), Some("bytes 4000-4095/4096"));
    let r = get_h(&b, &path, &[("Range", "bytes=5000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */4096"));
    // conditional
    let etag = format!("\"{}\"", o.md5_hex);
    assert_eq!(get_h(&b, &path, &[("If-None-Match", &etag)]).status, 304);
    assert_eq!(get_h(&b, &path, &[("If-Match", "\"0\"")]).status, 412);
    // a missing key
    let r = get(
        &b,
        &format!("/idc-open-data/{}/nope.dcm", s.crdc_series_uuid),
    );
    assert_eq!(r.status, 404);
    let x = r.text();
    assert_eq!(tag(&x, "Code").as_deref(), Some("NoSuchKey"));
    assert_eq!(
        tag(&x, "Message").as_deref(),
        Some("The specified key does not exist.")
    );
    assert_eq!(
        tag(&x, "Key"),
        Some(format!("{}/nope.dcm", s.crdc_series_uuid))
    );
    assert_eq!(
        head(&b, &format!("/idc-open-data/{}/x", s.crdc_series_uuid)).status,
        404
    );
    // an object is in its own bucket only
    assert_eq!(
        get(&b, &format!("/idc-open-data-two/{}", o.key)).status,
        404
    );
}

#[test]
fn only_anonymous_requests() {
    let b = FakeBucket::start();
    let o = first_in(&b, "idc-open-data").objects[0].key.clone();
    let auth = "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
    let r = get_h(
        &b,
        &format!("/idc-open-data/{o}"),
        &[("Authorization", auth)],
    );
    assert_eq!(r.status, 403);
    let r = get(
        &b,
        &format!("/idc-open-data/{o}?X-Amz-Credential=AKIA&X-Amz-Signature=00"),
    );
    assert_eq!(r.status, 403);
    let r = get_h(&b, "/idc-open-data?list-type=2", &[("Authorization", auth)]);
    assert_eq!(r.status, 403);
    assert_eq!(b.hits("GetObject"), 2);
    assert_eq!(b.hits("ListObjectsV2"), 1);
    assert!(b.requests()[0].authorization.is_some());
}

#[test]
fn gcs_mode_names_and_hashes() {
    let b = FakeBucket::start_with(BucketConfig {
        gcs: true,
        composite_every: 2,
        ..BucketConfig::default()
    });
    let d = b.data();
    let two = d
        .series
        .iter()
        .find(|s| s.aws_bucket == "idc-open-data-two")
        .unwrap();
    let cr = d
        .series
        .iter()
        .find(|s| s.aws_bucket == "idc-open-data-cr")
        .unwrap();
    assert_eq!(cr.license_short_name, "CC BY-NC 3.0");
    for (aws, gcs, s) in [
        ("idc-open-data-two", "idc-open-idc1", two),
        ("idc-open-data-cr", "idc-open-cr", cr),
    ] {
        assert_eq!(get(&b, &format!("/{aws}/{}", s.objects[0].key)).status, 404);
        assert_eq!(get(&b, &format!("/{aws}?list-type=2")).status, 404);
        let x = get(
            &b,
            &format!("/{gcs}?list-type=2&prefix={}/", s.crdc_series_uuid),
        )
        .text();
        assert!(
            x.contains("xmlns=\"http://doc.s3.amazonaws.com/2006-03-01\""),
            "{x}"
        );
        assert_eq!(tags(&x, "Key").len(), s.objects.len());
        assert!(tag(&x, "Generation").is_some());
    }
    let s = first_in(&b, "idc-open-data");
    for o in &s.objects {
        let r = get(&b, &format!("/idc-open-data/{}", o.key));
        assert_eq!(r.status, 200);
        let crc = format!("crc32c={}", b64(&crc32c::crc32c(&r.body).to_be_bytes()));
        let md5 = format!("md5={}", b64(&Md5::digest(&r.body)));
        let hash = r.header("x-goog-hash").unwrap();
        assert!(r.header("x-goog-generation").is_some());
        assert_eq!(r.header("x-goog-stored-content-length"), Some("4096"));
        if o.composite {
            assert_eq!(hash, crc);
            assert_ne!(
                r.header("etag"),
                Some(format!("\"{}\"", o.md5_hex).as_str())
            );
        } else {
            assert_eq!(hash, format!("{crc},{md5}"));
            assert_eq!(
                r.header("etag"),
                Some(format!("\"{}\"", o.md5_hex).as_str())
            );
        }
    }
    assert_eq!(s.objects.iter().filter(|o| o.composite).count(), 3);
}

#[test]
fn multipart_etags() {
    let b = FakeBucket::start_with(BucketConfig {
        multipart_every: 2,
        ..BucketConfig::default()
    });
    let s = first_in(&b, "idc-open-data");
    for o in &s.objects {
        let r = head(&b, &format!("/idc-open-data/{}", o.key));
        let etag = r.header("etag").unwrap().to_string();
        if o.multipart {
            assert!(
                etag.ends_with("-2\"") && !etag.contains(&o.md5_hex),
                "{etag}"
            );
        } else {
            assert_eq!(etag, format!("\"{}\"", o.md5_hex));
        }
    }
    assert_eq!(s.objects.iter().filter(|o| o.multipart).count(), 2);
}

#[test]
fn object_faults() {
    let b = FakeBucket::start();
    let s = first_in(&b, "idc-open-data");
    let (o, o2) = (&s.objects[0], &s.objects[1]);
    let path = format!("/idc-open-data/{}", o.key);
    // dropped body: the full Content-Length, fewer bytes, then the connection is cut (once)
    b.inject(BucketFault::object(
        &o.key,
        Some(1),
        BucketFaultAction::DropBody { after_bytes: 1000 },
    ));
    let r = get(&b, &path);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("4096"));
    assert_eq!(r.body.len(), 1000);
    assert_eq!(get(&b, &path).body.len(), 4096, "the rule is spent");
    // 503 SlowDown with Retry-After, for the series prefix, twice
    let sd = BucketFaultAction::SlowDown {
        retry_after: Some(2),
    };
    b.inject(BucketFault::object(
        &format!("{}/", s.crdc_series_uuid),
        Some(2),
        sd,
    ));
    for p in [&path, &format!("/idc-open-data/{}", o2.key)] {
        let r = get(&b, p);
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("2"));
        let x = r.text();
        assert_eq!(tag(&x, "Code").as_deref(), Some("SlowDown"));
        assert_eq!(
            tag(&x, "Message").as_deref(),
            Some("Please reduce your request rate.")
        );
    }
    assert_eq!(get(&b, &path).status, 200);
    // wrong bytes: same length and headers, different content
    b.inject(BucketFault::object(
        &o.key,
        Some(1),
        BucketFaultAction::WrongBytes,
    ));
    let r = get(&b, &path);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 4096);
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", o.md5_hex).as_str())
    );
    assert_ne!(md5_hex(&r.body), o.md5_hex);
    // missing: listed, but GET and HEAD 404
    b.inject(BucketFault::object(
        &o.key,
        Some(2),
        BucketFaultAction::Missing,
    ));
    assert_eq!(get(&b, &path).status, 404);
    assert_eq!(head(&b, &path).status, 404);
    let x = get(
        &b,
        &format!("/idc-open-data?list-type=2&prefix={}/", s.crdc_series_uuid),
    )
    .text();
    assert!(tags(&x, "Key").contains(&o.key));
    // slow first byte
    b.inject(BucketFault::object(
        &o.key,
        Some(1),
        BucketFaultAction::SlowFirstByte { ms: 300 },
    ));
    let t = Instant::now();
    assert_eq!(get(&b, &path).status, 200);
    assert!(t.elapsed().as_millis() >= 300);
    // 500 for a whole-bucket path rule
    b.inject(BucketFault::object(
        &format!("idc-open-data/{}", o.key),
        Some(1),
        BucketFaultAction::InternalError,
    ));
    assert_eq!(get(&b, &path).status, 500);
    assert_eq!(get(&b, &path).status, 200);
}

#[test]
fn listing_faults() {
    let b = FakeBucket::start();
    let s = first_in(&b, "idc-open-data");
    let list = format!("/idc-open-data?list-type=2&prefix={}/", s.crdc_series_uuid);
    let o = &s.objects[2];
    b.inject(BucketFault::object(
        &o.key,
        Some(1),
        BucketFaultAction::OmitFromListing,
    ));
    let keys = tags(&get(&b, &list).text(), "Key");
    assert_eq!(keys.len(), s.objects.len() - 1);
    assert!(!keys.contains(&o.key));
    assert_eq!(
        get(&b, &format!("/idc-open-data/{}", o.key)).status,
        200,
        "still there"
    );
    assert_eq!(tags(&get(&b, &list).text(), "Key").len(), s.objects.len());
    b.inject(BucketFault::listing(
        &s.crdc_series_uuid,
        Some(1),
        BucketFaultAction::SlowDown { retry_after: None },
    ));
    let r = get(&b, &list);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(get(&b, &list).status, 200);
    // a listing rule does not touch GetObject
    b.inject(BucketFault::listing(
        "",
        None,
        BucketFaultAction::InternalError,
    ));
    assert_eq!(get(&b, &format!("/idc-open-data/{}", o.key)).status, 200);
    assert_eq!(get(&b, &list).status, 500);
    b.clear_faults();
    assert_eq!(get(&b, &list).status, 200);
}

/// idc_index.parquet's schema in idc-index-data 25.0.5 (from the real file, pyarrow's view:
/// every column optional; strings are BYTE_ARRAY with the String logical type).
const REAL_IDC_INDEX: &str = "collection_id analysis_result_id PatientID SeriesInstanceUID StudyInstanceUID source_DOI PatientAge PatientSex StudyDate StudyDescription BodyPartExamined Modality SOPClassUID sop_class_name TransferSyntaxUID transfer_syntax_name PhotometricInterpretation PixelRepresentation Manufacturer ManufacturerModelName SeriesDate SeriesDescription SeriesNumber instanceCount:INT64 license_short_name series_init_idc_version:INT64 series_revised_idc_version:INT64 aws_bucket crdc_series_uuid series_aws_url series_size_MB:DOUBLE";

/// collections_index.parquet's leaf columns in idc-index-data 25.0.5.
const REAL_COLLECTIONS_LEAVES: &str = "collection_name collection_id cancer_types tumor_locations subjects species sources.list.element.source_id sources.list.element.source_title sources.list.element.source_type sources.list.element.source_doi sources.list.element.source_url sources.list.element.modalities sources.list.element.license.license_url sources.list.element.license.license_long_name sources.list.element.license.license_short_name sources.list.element.citation sources.list.element.provenance.data_contributor sources.list.element.provenance.source_data_provider sources.list.element.provenance.deidentification_party sources.list.element.provenance.dicom_conversion_by sources.list.element.Access sources.list.element.ImageTypes supporting_data program_id status updated description";

fn reader(bytes: Vec<u8>) -> SerializedFileReader<bytes::Bytes> {
    SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("a parquet file")
}

fn field_str(f: &Field) -> Option<String> {
    match f {
        Field::Str(s) => Some(s.clone()),
        Field::Null => None,
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn idc_index_parquet_reads_back() {
    let b = FakeBucket::start();
    let dir = std::env::temp_dir().join(format!("fake-bucket-idx-{}", std::process::id()));
    b.write_index(&dir);
    let bytes = std::fs::read(dir.join("idc_index.parquet")).unwrap();
    let side = std::fs::read_to_string(dir.join("idc_index.parquet.sha256")).unwrap();
    assert_eq!(side, format!("{}  idc_index.parquet\n", sha256_hex(&bytes)));
    let _ = std::fs::remove_dir_all(&dir);
    let r = reader(bytes);
    let md = r.metadata().file_metadata();
    let d = b.data();
    assert_eq!(md.num_rows() as usize, d.series.len());
    let kv = md.key_value_metadata().expect("metadata");
    let ver = kv
        .iter()
        .find(|k| k.key == "idc_index_data_version")
        .unwrap();
    assert_eq!(ver.value.as_deref(), Some(d.version_tag.as_str()));
    assert!(d.version_tag.starts_with("25.0.5-0-g"));
    assert!(kv.iter().any(|k| k.key == "pandas"));
    assert_eq!(
        r.metadata().row_group(0).column(0).compression(),
        parquet::basic::Compression::ZSTD(Default::default())
    );
    // the schema equals the real file's
    let cols: Vec<String> = md
        .schema_descr()
        .columns()
        .iter()
        .map(|c| {
            assert_eq!(c.max_def_level(), 1, "optional");
            match c.physical_type() {
                parquet::basic::Type::BYTE_ARRAY => {
                    assert_eq!(
                        c.logical_type_ref(),
                        Some(&parquet::basic::LogicalType::String)
                    );
                    c.name().to_string()
                }
                t => format!("{}:{t}", c.name()),
            }
        })
        .collect();
    assert_eq!(cols.join(" "), REAL_IDC_INDEX);
    assert_eq!(IDC_INDEX_COLUMNS.len(), 31);
    assert_eq!(IDC_INDEX_COLUMNS[30], ("series_size_MB", ColKind::F64));
    // the rows equal data()
    let rows: Vec<_> = r.get_row_iter(None).unwrap().map(|x| x.unwrap()).collect();
    for (row, s) in rows.iter().zip(&d.series) {
        let f: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        assert_eq!(field_str(f[0]).as_deref(), Some(s.collection_id.as_str()));
        assert_eq!(field_str(f[1]), s.analysis_result_id);
        assert_eq!(
            field_str(f[3]).as_deref(),
            Some(s.series_instance_uid.as_str())
        );
        assert_eq!(field_str(f[8]), s.study_date);
        assert_eq!(field_str(f[22]), s.series_number);
        assert_eq!(f[23], &Field::Long(s.objects.len() as i64));
        assert_eq!(
            field_str(f[28]).as_deref(),
            Some(s.crdc_series_uuid.as_str())
        );
        assert_eq!(f[30], &Field::Double(s.series_size_mb));
    }
    // names, buckets and the series TCIA and IDC share
    let nbia = fake_nbia::Dataset::new(0);
    let ids: BTreeSet<&str> = d.series.iter().map(|s| s.collection_id.as_str()).collect();
    assert!(ids.contains("lidc_idri") && ids.contains("ct_colonography"));
    assert!(!ids.contains("restricted_trial"));
    for s in &d.series {
        assert_eq!(
            s.series_aws_url,
            format!("s3://{}/{}/*", s.aws_bucket, s.crdc_series_uuid)
        );
        assert!((s.series_size_mb - s.total_bytes() as f64 / 1e6).abs() < 1e-6);
        if d.idc_only.contains(&s.series_instance_uid) {
            assert!(nbia.find_series(&s.series_instance_uid).is_none());
            continue;
        }
        let n = nbia
            .find_series(&s.series_instance_uid)
            .expect("the same UID on NBIA");
        assert_eq!(
            (n.study_uid.as_str(), n.patient_id.as_str()),
            (s.study_instance_uid.as_str(), s.patient_id.as_str())
        );
    }
    let buckets: BTreeSet<&str> = d.series.iter().map(|s| s.aws_bucket.as_str()).collect();
    assert_eq!(buckets.len(), 3);
    assert_eq!(d.nbia_only.len(), 2);
    assert!(d.nbia_only.iter().all(|u| nbia.find_series(u).is_some()));
    assert!(d
        .series
        .iter()
        .all(|s| !d.nbia_only.contains(&s.series_instance_uid)));
    assert!(d
        .series
        .iter()
        .any(|s| s.patient_age.is_none() || s.body_part_examined.is_none()));
}

#[test]
fn collections_index_parquet_reads_back() {
    let b = FakeBucket::start();
    let (_, bytes) = b.index_files();
    let r = reader(bytes);
    let md = r.metadata().file_metadata();
    let d = b.data();
    assert_eq!(md.num_rows() as usize, d.collections.len());
    let top: Vec<String> = md
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(top.join(" "), "collection_name collection_id cancer_types tumor_locations subjects species sources supporting_data program_id status updated description");
    let leaves: Vec<String> = md
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.path().string())
        .collect();
    assert_eq!(leaves.join(" "), REAL_COLLECTIONS_LEAVES);
    let levels: BTreeSet<(i16, i16)> = md
        .schema_descr()
        .columns()
        .iter()
        .map(|c| (c.max_def_level(), c.max_rep_level()))
        .collect();
    assert_eq!(
        levels,
        [(1, 0), (4, 1), (5, 1)].into(),
        "as in the real file"
    );
    let rows: Vec<_> = r.get_row_iter(None).unwrap().map(|x| x.unwrap()).collect();
    let lidc = rows
        .iter()
        .zip(&d.collections)
        .find(|(_, c)| c.collection_id == "lidc_idri")
        .expect("lidc_idri");
    let f: Vec<&Field> = lidc.0.get_column_iter().map(|(_, f)| f).collect();
    assert_eq!(field_str(f[0]).as_deref(), Some("LIDC-IDRI"));
    let Field::ListInternal(sources) = f[6] else {
        panic!("sources: {:?}", f[6])
    };
    assert_eq!(sources.elements().len(), 2);
    let Field::Group(second) = &sources.elements()[1] else {
        panic!()
    };
    let g: Vec<(&String, &Field)> = second.get_column_iter().collect();
    assert_eq!(g[0].0, "source_id");
    assert_eq!(
        field_str(g[0].1).as_deref(),
        Some("dicom_lidc_idri_nodules")
    );
    assert_eq!(g[8].0, "provenance");
    assert_eq!(g[8].1, &Field::Null);
    let Field::Group(lic) = g[6].1 else {
        panic!("license {:?}", g[6].1)
    };
    let l: Vec<Option<String>> = lic.get_column_iter().map(|(_, f)| field_str(f)).collect();
    assert_eq!(l[2].as_deref(), Some("CC BY 3.0"));
    let names: BTreeSet<&str> = d
        .collections
        .iter()
        .map(|c| c.collection_name.as_str())
        .collect();
    assert!(names.contains("CT COLONOGRAPHY") && names.contains("TCGA-BLCA"));
}

#[test]
fn index_artifacts_over_http() {
    let b = FakeBucket::start();
    let base = b.index_url();
    assert!(
        base.starts_with(&b.url())
            && base.ends_with("/idc-index-data-artifacts/current/release_artifacts/")
    );
    let path = |f: &str| format!("/idc-index-data-artifacts/current/release_artifacts/{f}");
    let (idc, coll) = b.index_files();
    for (name, bytes) in [
        ("idc_index.parquet", &idc),
        ("collections_index.parquet", &coll),
    ] {
        let r = get(&b, &path(name));
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, bytes);
        let etag = r.header("etag").unwrap().to_string();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"));
        assert!(r.header("last-modified").is_some());
        assert_eq!(
            get_h(&b, &path(name), &[("If-None-Match", &etag)]).status,
            304
        );
        assert_eq!(
            get_h(&b, &path(name), &[("If-None-Match", "\"other\"")]).status,
            200
        );
        let side = get(&b, &path(&format!("{name}.sha256")));
        assert_eq!(side.text(), format!("{}  {name}\n", sha256_hex(bytes)));
        let h = head(&b, &path(name));
        assert_eq!(
            h.header("content-length"),
            Some(bytes.len().to_string().as_str())
        );
        let r = get_h(&b, &path(name), &[("Range", "bytes=0-3")]);
        assert_eq!((r.status, r.body.as_slice()), (206, b"PAR1".as_slice()));
        // the version directory serves the same file
        let v = format!(
            "/idc-index-data-artifacts/{}/release_artifacts/{name}",
            b.data().version
        );
        assert_eq!(&get(&b, &v).body, bytes);
    }
    // a corrupted parquet: same length, the sidecar no longer matches
    b.inject(BucketFault::object(
        "idc-index-data-artifacts/current/release_artifacts/idc_index.parquet",
        Some(1),
        BucketFaultAction::WrongBytes,
    ));
    let r = get(&b, &path("idc_index.parquet"));
    assert_eq!(r.body.len(), idc.len());
    assert_ne!(sha256_hex(&r.body), sha256_hex(&idc));
    // no sidecars
    let nb = FakeBucket::start_with(BucketConfig {
        sidecars: false,
        ..BucketConfig::default()
    });
    assert_eq!(get(&nb, &path("idc_index.parquet")).status, 200);
    assert_eq!(get(&nb, &path("idc_index.parquet.sha256")).status, 404);
}

#[test]
fn revisions_publish_a_new_index_and_keep_old_objects() {
    let b = FakeBucket::start();
    let before = b.data();
    let s = first_in(&b, "idc-open-data-two");
    let (idc0, _) = b.index_files();
    let etag0 = get(
        &b,
        "/idc-index-data-artifacts/current/release_artifacts/idc_index.parquet",
    )
    .header("etag")
    .unwrap()
    .to_string();
    let new_uuid = b.revise_series(&s.series_instance_uid);
    assert_ne!(new_uuid, s.crdc_series_uuid);
    let after = b.data();
    let n = after
        .series
        .iter()
        .find(|x| x.series_instance_uid == s.series_instance_uid)
        .unwrap();
    assert_eq!(n.crdc_series_uuid, new_uuid);
    assert_eq!(
        n.series_revised_idc_version,
        s.series_revised_idc_version + 1
    );
    assert_eq!(n.series_init_idc_version, s.series_init_idc_version);
    assert_eq!(n.objects.len(), s.objects.len() + 1);
    assert_eq!(n.instance_count, s.instance_count + 1);
    assert_eq!(n.aws_bucket, s.aws_bucket);
    assert_eq!(after.series.len(), before.series.len());
    assert_eq!(
        before
            .series
            .iter()
            .find(|x| x.series_instance_uid == s.series_instance_uid)
            .unwrap()
            .crdc_series_uuid,
        s.crdc_series_uuid,
        "a snapshot never changes"
    );
    // new objects listed and served; old ones still served
    let x = get(
        &b,
        &format!("/idc-open-data-two?list-type=2&prefix={new_uuid}/"),
    )
    .text();
    assert_eq!(tags(&x, "Key").len(), n.objects.len());
    for o in &n.objects {
        assert_eq!(
            md5_hex(&get(&b, &format!("/idc-open-data-two/{}", o.key)).body),
            o.md5_hex
        );
    }
    assert_eq!(
        get(&b, &format!("/idc-open-data-two/{}", s.objects[0].key)).status,
        200
    );
    // a new index: new ETag, new sha256, the old version still under its directory
    let cur = get(
        &b,
        "/idc-index-data-artifacts/current/release_artifacts/idc_index.parquet",
    );
    assert_ne!(cur.header("etag").unwrap(), etag0);
    assert_eq!(
        get_h(
            &b,
            "/idc-index-data-artifacts/current/release_artifacts/idc_index.parquet",
            &[("If-None-Match", &etag0)]
        )
        .status,
        200
    );
    let side = get(
        &b,
        "/idc-index-data-artifacts/current/release_artifacts/idc_index.parquet.sha256",
    )
    .text();
    assert_eq!(
        side,
        format!("{}  idc_index.parquet\n", sha256_hex(&cur.body))
    );
    assert_ne!(sha256_hex(&cur.body), sha256_hex(&idc0));
    assert_ne!(after.version, before.version);
    let old = get(
        &b,
        &format!(
            "/idc-index-data-artifacts/{}/release_artifacts/idc_index.parquet",
            before.version
        ),
    );
    assert_eq!(old.body, idc0);
    let rows: Vec<_> = reader(cur.body)
        .get_row_iter(None)
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    let uuids: Vec<Option<String>> = rows
        .iter()
        .map(|r| field_str(r.get_column_iter().nth(28).unwrap().1))
        .collect();
    assert!(
        uuids.contains(&Some(new_uuid.clone()))
            && !uuids.contains(&Some(s.crdc_series_uuid.clone()))
    );
}

#[test]
fn bulk_objects_are_generated_lazily() {
    let b = FakeBucket::start_with(BucketConfig {
        bulk_series: 2,
        bulk_objects: 3,
        bulk_object_bytes: 200_000,
        ..BucketConfig::default()
    });
    let d = b.data();
    let bulk: Vec<&IdcSeries> = d
        .series
        .iter()
        .filter(|s| s.collection_id == "bulk_synthetic")
        .collect();
    assert_eq!(bulk.len(), 2);
    let nbia = fake_nbia::Dataset::new(2);
    for s in bulk {
        assert!(
            nbia.find_series(&s.series_instance_uid).is_some(),
            "NBIA's Bulk-Synthetic UIDs"
        );
        assert_eq!(s.objects.len(), 3);
        for o in &s.objects {
            let r = get(&b, &format!("/idc-open-data/{}", o.key));
            assert_eq!(r.body.len(), 200_000);
            assert_eq!(md5_hex(&r.body), o.md5_hex);
            assert_eq!(
                r.header("etag"),
                Some(format!("\"{}\"", o.md5_hex).as_str())
            );
        }
    }
    assert!(d
        .collections
        .iter()
        .any(|c| c.collection_id == "bulk_synthetic"));
}
