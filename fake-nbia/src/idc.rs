//! The generated Imaging Data Commons view of the data set: [`IdcData`] (the idc_index and
//! collections_index rows, [`IdcSeries`] / [`IdcCollection`]) and the bucket objects of every
//! series ([`IdcObject`], with its bytes described by a [`Content`]), built from fake-nbia's own
//! [`Dataset`] so that the same SeriesInstanceUIDs, StudyInstanceUIDs and PatientIDs exist on both,
//! plus an optional lazily generated bulk collection for benchmarks, and series revisions.

use std::sync::OnceLock;

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::data::{Dataset, Series, BULK_COLLECTION, RESTRICTED_COLLECTION};
use crate::hash::{digits, hstr, mix};
use crate::images::SeriesImages;

/// The AWS buckets IDC serves from.
pub const AWS_BUCKETS: [&str; 3] = ["idc-open-data", "idc-open-data-two", "idc-open-data-cr"];
/// The bucket holding the index artifacts (both modes).
pub const ARTIFACTS_BUCKET: &str = "idc-index-data-artifacts";
/// The first index version the fake publishes (`<ver>/release_artifacts/`); each
/// `revise_series` publishes the next patch version.
pub const FIRST_INDEX_VERSION: (u32, u32, u32) = (25, 0, 5);

/// The GCS name of an AWS bucket, as idc-index maps them (idc-open-data keeps its name).
pub fn gcs_bucket(aws: &str) -> &str {
    match aws {
        "idc-open-data-two" => "idc-open-idc1",
        "idc-open-data-cr" => "idc-open-cr",
        other => other,
    }
}

/// How the fake bucket is generated and served. Use `..BucketConfig::default()`.
#[derive(Clone, Debug)]
pub struct BucketConfig {
    /// Serve as Google Cloud Storage's XML API (GCS bucket names, `x-goog-*` headers).
    pub gcs: bool,
    /// Size of every object of the collections derived from the NBIA data set; None = NBIA's
    /// per-image size (200-520 KiB; slow to hash at start-up). Default Some(4096).
    pub object_bytes: Option<u32>,
    /// At most this many instances per derived series (None = NBIA's ImageCount, 150-300 for
    /// CT). Default Some(5), so tests download few objects.
    pub max_instances: Option<u64>,
    /// ListObjectsV2 returns at most this many keys per page (S3: 1000).
    pub max_keys_cap: usize,
    /// Bulk collection (`bulk_synthetic`, NBIA's Bulk-Synthetic UIDs): series count (0 = none),
    /// objects per series, bytes per object.
    pub bulk_series: usize,
    pub bulk_objects: usize,
    pub bulk_object_bytes: u32,
    /// Serve `<file>.sha256` sidecars beside the index parquet files.
    pub sidecars: bool,
    /// Every n-th object of a series (n-1, 2n-1, ... 0-based) is a multipart upload (S3 ETag
    /// `"<hex>-2"`, not an MD5); 0 = none.
    pub multipart_every: usize,
    /// Every n-th object of a series (0-based index % n == 0, i.e. the first, ...) is a GCS
    /// composite object (x-goog-hash has only crc32c, ETag is not an MD5); 0 = none.
    pub composite_every: usize,
}

impl Default for BucketConfig {
    fn default() -> BucketConfig {
        BucketConfig {
            gcs: false,
            object_bytes: Some(4096),
            max_instances: Some(5),
            max_keys_cap: 1000,
            bulk_series: 0,
            bulk_objects: 200,
            bulk_object_bytes: 512_000,
            sidecars: true,
            multipart_every: 0,
            composite_every: 0,
        }
    }
}

/// The bytes of one object: `head`, then `fill` bytes of the shared pixel template (repeated),
/// then `tail`. Generated on the fly; never held whole.
#[derive(Clone, Debug, PartialEq)]
pub struct Content {
    pub head: Bytes,
    pub fill: usize,
    pub tail: Bytes,
}

impl Content {
    pub fn bytes(data: Vec<u8>) -> Content {
        Content {
            head: Bytes::from(data),
            fill: 0,
            tail: Bytes::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.fill + self.tail.len()
    }

    /// The bytes in `start..end` as shared slices, in order.
    pub fn slices(&self, start: usize, end: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        let mut take = |b: Bytes, out: &mut Vec<Bytes>| {
            let (s, e) = (pos, pos + b.len());
            pos = e;
            let (a, z) = (start.max(s), end.min(e));
            if a < z {
                out.push(b.slice(a - s..z - s));
            }
        };
        take(self.head.clone(), &mut out);
        let block = fill_block();
        let mut left = self.fill;
        while left > 0 {
            let n = left.min(block.len());
            take(block.slice(..n), &mut out);
            left -= n;
        }
        take(self.tail.clone(), &mut out);
        out
    }

    /// The whole object (tests and small artifacts).
    pub fn to_vec(&self) -> Vec<u8> {
        self.slices(0, self.len()).concat()
    }
}

/// The shared fill pattern: NBIA's 64 KiB pixel template, so derived objects have the same bytes
/// as NBIA's images of that size.
fn fill_block() -> Bytes {
    static B: OnceLock<Bytes> = OnceLock::new();
    B.get_or_init(|| Bytes::from_static(crate::images::template_block()))
        .clone()
}

/// One object of a series in the bucket.
#[derive(Clone, Debug)]
pub struct IdcObject {
    /// `<crdc_series_uuid>/<crdc_instance_uuid>.dcm`
    pub key: String,
    pub crdc_instance_uuid: String,
    pub sop_instance_uid: String,
    pub size: u64,
    /// MD5 of the bytes (lower-case hex), whatever the ETag says.
    pub md5_hex: String,
    /// CRC32C of the bytes.
    pub crc32c: u32,
    /// S3 ETag is `"<hex>-2"` (not an MD5).
    pub multipart: bool,
    /// GCS composite object: x-goog-hash carries only crc32c.
    pub composite: bool,
    #[doc(hidden)]
    pub content: Content,
}

impl IdcObject {
    /// The object's bytes, as the bucket serves them.
    pub fn bytes(&self) -> Vec<u8> {
        self.content.to_vec()
    }
}

/// One idc_index row (every column, in the file's order) and the series' objects.
#[derive(Clone, Debug)]
pub struct IdcSeries {
    pub collection_id: String,
    pub analysis_result_id: Option<String>,
    pub patient_id: String,
    pub series_instance_uid: String,
    pub study_instance_uid: String,
    pub source_doi: String,
    pub patient_age: Option<String>,
    pub patient_sex: Option<String>,
    /// `YYYY-MM-DD`
    pub study_date: Option<String>,
    pub study_description: Option<String>,
    pub body_part_examined: Option<String>,
    pub modality: String,
    pub sop_class_uid: String,
    pub sop_class_name: String,
    pub transfer_syntax_uid: String,
    pub transfer_syntax_name: String,
    pub photometric_interpretation: Option<String>,
    pub pixel_representation: Option<String>,
    pub manufacturer: Option<String>,
    pub manufacturer_model_name: Option<String>,
    /// `YYYY-MM-DD`
    pub series_date: Option<String>,
    pub series_description: Option<String>,
    /// Decimal digits, as a string (the real column is a string).
    pub series_number: Option<String>,
    pub instance_count: i64,
    pub license_short_name: String,
    pub series_init_idc_version: i64,
    pub series_revised_idc_version: i64,
    /// AWS name, also in GCS mode (the index only has AWS names).
    pub aws_bucket: String,
    pub crdc_series_uuid: String,
    /// `s3://<aws_bucket>/<crdc_series_uuid>/*`
    pub series_aws_url: String,
    /// Total bytes / 1e6 (decimal MB), rounded to 6 places as IDC's are.
    pub series_size_mb: f64,
    pub objects: Vec<IdcObject>,
}

impl IdcSeries {
    /// Exact byte total of the objects.
    pub fn total_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }
}

#[derive(Clone, Debug)]
pub struct IdcLicense {
    pub license_url: String,
    pub license_long_name: String,
    pub license_short_name: String,
}

#[derive(Clone, Debug)]
pub struct IdcProvenance {
    pub data_contributor: String,
    pub source_data_provider: String,
    pub deidentification_party: String,
    pub dicom_conversion_by: String,
}

/// One element of collections_index's `sources` list.
#[derive(Clone, Debug)]
pub struct IdcSource {
    pub source_id: String,
    pub source_title: String,
    pub source_type: String,
    pub source_doi: String,
    pub source_url: String,
    pub modalities: String,
    pub license: Option<IdcLicense>,
    pub citation: String,
    pub provenance: Option<IdcProvenance>,
    pub access: String,
    pub image_types: String,
}

/// One collections_index row.
#[derive(Clone, Debug)]
pub struct IdcCollection {
    /// NBIA's name, e.g. `LIDC-IDRI`.
    pub collection_name: String,
    /// e.g. `lidc_idri`
    pub collection_id: String,
    pub cancer_types: String,
    pub tumor_locations: String,
    pub subjects: i64,
    pub species: String,
    pub sources: Vec<IdcSource>,
    pub supporting_data: Option<String>,
    pub program_id: String,
    pub status: String,
    pub updated: Option<String>,
    pub description: String,
}

/// A snapshot of what IDC holds: the index rows and every object (current and retired).
#[derive(Clone, Debug)]
pub struct IdcData {
    /// Index version, e.g. `25.0.5` (a directory under idc-index-data-artifacts/).
    pub version: String,
    /// The `idc_index_data_version` metadata value, e.g. `25.0.5-0-g1a2b3c4`.
    pub version_tag: String,
    /// The idc_index rows, in file order.
    pub series: Vec<IdcSeries>,
    pub collections: Vec<IdcCollection>,
    /// SeriesInstanceUIDs NBIA serves but IDC lacks.
    pub nbia_only: Vec<String>,
    /// SeriesInstanceUIDs IDC has but NBIA lacks (an analysis result).
    pub idc_only: Vec<String>,
    /// Previous revisions of revised series: no longer in the index, objects still in the bucket.
    pub retired: Vec<IdcSeries>,
    #[doc(hidden)]
    pub revisions: u64,
}

/// `LIDC-IDRI` → `lidc_idri`, `CT COLONOGRAPHY` → `ct_colonography`.
pub fn collection_id(name: &str) -> String {
    name.to_lowercase().replace([' ', '-'], "_")
}

/// A UUIDv4-shaped string from a seed.
pub fn uuid(seed: u64) -> String {
    let a = mix(seed);
    let b = mix(a ^ 0xA5A5_5A5A_DEAD_BEEF);
    let hi = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let lo = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    let h = format!("{hi:016x}{lo:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn sop_class_name(modality: &str) -> &'static str {
    match modality {
        "CT" => "CT Image Storage",
        "MR" => "MR Image Storage",
        "PT" => "Positron Emission Tomography Image Storage",
        "SEG" => "Segmentation Storage",
        "RTSTRUCT" => "RT Structure Set Storage",
        "DX" => "Digital X-Ray Image Storage - For Presentation",
        "CR" => "Computed Radiography Image Storage",
        _ => "Secondary Capture Image Storage",
    }
}

fn short_license(long: &str) -> String {
    let nc = long.contains("NonCommercial");
    let ver = if long.contains("4.0") { "4.0" } else { "3.0" };
    format!("CC BY{} {ver}", if nc { "-NC" } else { "" })
}

fn license_url(short: &str) -> String {
    let (kind, ver) = short
        .trim_start_matches("CC ")
        .split_once(' ')
        .unwrap_or(("BY", "4.0"));
    format!(
        "https://creativecommons.org/licenses/{}/{ver}/",
        kind.to_lowercase()
    )
}

fn long_license(short: &str) -> String {
    let nc = short.contains("NC");
    let ver = if short.ends_with("4.0") {
        "4.0 International"
    } else {
        "3.0 Unported"
    };
    format!(
        "Creative Commons Attribution{} {ver} License",
        if nc { "-NonCommercial" } else { "" }
    )
}

fn iso_date(t: Option<crate::time::Timestamp>) -> Option<String> {
    t.map(|t| format!("{:04}-{:02}-{:02}", t.year, t.month, t.day))
}

/// `https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX` → `10.7937/k9/tcia.2015.lo9ql9sx`
fn doi_of(doi: &str) -> String {
    doi.trim_start_matches("https://doi.org/").to_lowercase()
}

/// The shared head of bulk objects (a DICOM preamble and `DICM`), and an MD5/CRC32C state
/// after head + fill, computed once per fill length.
fn bulk_head() -> Bytes {
    static H: OnceLock<Bytes> = OnceLock::new();
    H.get_or_init(|| {
        let mut h = vec![0u8; 128];
        h.extend_from_slice(b"DICM");
        Bytes::from(h)
    })
    .clone()
}

const BULK_TAIL: usize = 64;

/// What an object's digests are computed from.
struct Digests {
    md5: [u8; 16],
    crc: u32,
}

fn digests(c: &Content) -> Digests {
    let mut h = Md5::new();
    let mut crc = 0u32;
    for b in c.slices(0, c.len()) {
        h.update(&b);
        crc = crc32c::crc32c_append(crc, &b);
    }
    Digests {
        md5: h.finalize().into(),
        crc,
    }
}

/// Bulk digests: the state after the shared head + fill is computed once and cloned.
struct BulkHasher {
    fill: usize,
    md5: Md5,
    crc: u32,
}

impl BulkHasher {
    fn new(fill: usize) -> BulkHasher {
        let prefix = Content {
            head: bulk_head(),
            fill,
            tail: Bytes::new(),
        };
        let mut md5 = Md5::new();
        let mut crc = 0u32;
        for b in prefix.slices(0, prefix.len()) {
            md5.update(&b);
            crc = crc32c::crc32c_append(crc, &b);
        }
        BulkHasher { fill, md5, crc }
    }
    fn digests(&self, tail: &[u8]) -> Digests {
        let mut h = self.md5.clone();
        h.update(tail);
        Digests {
            md5: h.finalize().into(),
            crc: crc32c::crc32c_append(self.crc, tail),
        }
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The multipart-style ETag value (without quotes) of content: MD5 of the two halves' MD5s, "-2".
pub fn multipart_etag(c: &Content) -> String {
    let mid = c.len() / 2;
    let mut outer = Md5::new();
    for (a, z) in [(0, mid), (mid, c.len())] {
        let mut h = Md5::new();
        for b in c.slices(a, z) {
            h.update(&b);
        }
        outer.update(h.finalize());
    }
    format!("{}-2", hex(&outer.finalize()))
}

/// A 16-bit-unique 64-byte tail for a bulk object.
fn bulk_tail(seed: u64) -> Bytes {
    let mut v = Vec::with_capacity(BULK_TAIL);
    let mut s = seed;
    while v.len() < BULK_TAIL {
        s = mix(s);
        v.extend_from_slice(&s.to_le_bytes());
    }
    Bytes::from(v)
}

/// Parameters for building one series' objects.
struct ObjSpec<'a> {
    nbia: &'a Series,
    sops: &'a [String],
    crdc_series_uuid: &'a str,
    /// Some(bytes) = bulk-style objects of that size; None = DICOM images of `size`.
    bulk: Option<&'a BulkHasher>,
    size: usize,
}

fn build_objects(ds: &Dataset, cfg: &BucketConfig, spec: &ObjSpec) -> Vec<IdcObject> {
    let si = SeriesImages {
        series: spec.nbia.clone(),
        sops: spec.sops.to_vec(),
        size: spec.size,
    };
    let useed = hstr(spec.crdc_series_uuid);
    (0..spec.sops.len())
        .map(|k| {
            let iuuid = uuid(useed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let (content, d) = match spec.bulk {
                Some(bh) => {
                    let tail = bulk_tail(useed ^ k as u64);
                    let d = bh.digests(&tail);
                    let c = Content {
                        head: bulk_head(),
                        fill: bh.fill,
                        tail,
                    };
                    (c, d)
                }
                None => {
                    let img = ds.image_spec(&si, k);
                    let c = Content {
                        head: Bytes::from(img.header),
                        fill: img.payload,
                        tail: Bytes::new(),
                    };
                    let d = digests(&c);
                    (c, d)
                }
            };
            let multipart =
                cfg.multipart_every > 0 && k % cfg.multipart_every == cfg.multipart_every - 1;
            let composite = cfg.composite_every > 0 && k % cfg.composite_every == 0;
            IdcObject {
                key: format!("{}/{iuuid}.dcm", spec.crdc_series_uuid),
                crdc_instance_uuid: iuuid,
                sop_instance_uid: spec.sops[k].clone(),
                size: content.len() as u64,
                md5_hex: hex(&d.md5),
                crc32c: d.crc,
                multipart,
                composite,
                content,
            }
        })
        .collect()
}

fn size_mb(objects: &[IdcObject]) -> f64 {
    let total: u64 = objects.iter().map(|o| o.size).sum();
    (total as f64 / 1e6 * 1e6).round() / 1e6
}

/// The generated IDC data set (deterministic for a given config).
pub struct Generator {
    pub ds: Dataset,
    pub cfg: BucketConfig,
    bulk_hasher: Option<BulkHasher>,
}

impl Generator {
    pub fn new(cfg: BucketConfig) -> Generator {
        let ds = Dataset::with_image_bytes(cfg.bulk_series, Some(4096));
        let bulk_hasher = (cfg.bulk_series > 0).then(|| {
            let size = cfg.bulk_object_bytes as usize;
            BulkHasher::new(size.saturating_sub(bulk_head().len() + BULK_TAIL))
        });
        Generator {
            ds,
            cfg,
            bulk_hasher,
        }
    }

    fn object_size(&self, s: &Series) -> usize {
        match self.cfg.object_bytes {
            Some(n) => n as usize,
            None => {
                let real = Dataset::with_image_bytes(0, None);
                real.find_series(&s.series_uid)
                    .map(|r| (r.file_size / r.image_count.max(1)) as usize)
                    .unwrap_or(4096)
            }
        }
    }

    fn bucket_of(&self, s: &Series, index_in_collection: usize) -> &'static str {
        if s.license_name.contains("NonCommercial") {
            "idc-open-data-cr"
        } else if s.collection == "Soft-tissue-Sarcoma" && index_in_collection % 2 == 1 {
            "idc-open-data-two"
        } else {
            "idc-open-data"
        }
    }

    /// One idc_index row (and objects) for an NBIA series.
    fn row(
        &self,
        s: &Series,
        sops: &[String],
        bucket: &str,
        crdc: String,
        init: i64,
        revised: i64,
    ) -> IdcSeries {
        let bulk = s.collection == BULK_COLLECTION;
        let size = if bulk {
            self.cfg.bulk_object_bytes as usize
        } else {
            self.object_size(s)
        };
        let objects = build_objects(
            &self.ds,
            &self.cfg,
            &ObjSpec {
                nbia: s,
                sops,
                crdc_series_uuid: &crdc,
                bulk: if bulk {
                    self.bulk_hasher.as_ref()
                } else {
                    None
                },
                size,
            },
        );
        let pixels = !matches!(s.modality.as_str(), "RTSTRUCT" | "SR");
        let license = if bulk {
            "CC BY 4.0".to_string()
        } else {
            short_license(&s.license_name)
        };
        IdcSeries {
            collection_id: collection_id(&s.collection),
            analysis_result_id: None,
            patient_id: s.patient_id.clone(),
            series_instance_uid: s.series_uid.clone(),
            study_instance_uid: s.study_uid.clone(),
            source_doi: doi_of(&s.doi),
            patient_age: s.patient_age.clone(),
            patient_sex: s.patient_sex.clone(),
            study_date: iso_date(s.study_date),
            study_description: s.study_desc.clone(),
            body_part_examined: s.body_part.clone(),
            modality: s.modality.clone(),
            sop_class_uid: self.ds.sop_class_uid(s).to_string(),
            sop_class_name: sop_class_name(&s.modality).to_string(),
            transfer_syntax_uid: "1.2.840.10008.1.2.1".to_string(),
            transfer_syntax_name: "Explicit VR Little Endian".to_string(),
            photometric_interpretation: pixels.then(|| "MONOCHROME2".to_string()),
            pixel_representation: pixels
                .then(|| if s.modality == "SEG" { "0" } else { "1" }.to_string()),
            manufacturer: s.manufacturer.clone(),
            manufacturer_model_name: s.manufacturer_model.clone(),
            series_date: iso_date(s.series_date),
            series_description: s.series_description.clone(),
            series_number: s.series_number.map(|n| n.to_string()),
            instance_count: objects.len() as i64,
            license_short_name: license,
            series_init_idc_version: init,
            series_revised_idc_version: revised,
            aws_bucket: bucket.to_string(),
            series_aws_url: format!("s3://{bucket}/{crdc}/*"),
            crdc_series_uuid: crdc,
            series_size_mb: size_mb(&objects),
            objects,
        }
    }

    fn capped_sops(&self, s: &Series) -> Vec<String> {
        let mut sops = self.ds.sop_uids(&s.series_uid);
        if s.collection != BULK_COLLECTION {
            if let Some(n) = self.cfg.max_instances {
                sops.truncate(n.max(1) as usize);
            }
        }
        sops
    }

    /// The whole data set.
    pub fn generate(&self) -> IdcData {
        let mut series = Vec::new();
        let mut nbia_only = Vec::new();
        let mut per_coll: std::collections::HashMap<String, usize> = Default::default();
        let mut bulk = Vec::new();
        for s in self.ds.series() {
            if s.collection == BULK_COLLECTION {
                bulk.push(s);
                continue;
            }
            if s.collection == RESTRICTED_COLLECTION {
                continue;
            }
            let n = per_coll.entry(s.collection.clone()).or_default();
            let idx = *n;
            *n += 1;
            // IDC lacks the fourth series of two collections
            if idx == 3
                && matches!(
                    s.collection.as_str(),
                    "CT COLONOGRAPHY" | "Soft-tissue-Sarcoma"
                )
            {
                nbia_only.push(s.series_uid.clone());
                continue;
            }
            let seed = hstr(&s.series_uid);
            let init = 1 + (seed % 17) as i64;
            let revised = init + (mix(seed) % 3) as i64;
            let sops = self.capped_sops(&s);
            let bucket = self.bucket_of(&s, idx);
            series.push(self.row(&s, &sops, bucket, uuid(seed), init, revised));
        }
        // one IDC-only analysis result: a SEG over LIDC-IDRI's first series
        let mut idc_only = Vec::new();
        if let Some(first) = series.iter().find(|r| r.collection_id == "lidc_idri") {
            let nbia = self
                .ds
                .find_series(&first.series_instance_uid)
                .expect("series from the data set");
            let uid = format!(
                "1.2.276.0.7230010.3.1.3.{}",
                digits(hstr("idc-only-seg"), 30)
            );
            let seg = Series {
                series_uid: uid.clone(),
                modality: "SEG".to_string(),
                manufacturer: Some("QIICR".to_string()),
                manufacturer_model: Some("https://github.com/QIICR/dcmqi".to_string()),
                series_description: Some("Segmentation of nodule 1".to_string()),
                series_number: Some(1000),
                body_part: None,
                ..nbia
            };
            let sops = vec![format!(
                "1.2.276.0.7230010.3.1.4.{}",
                digits(hstr("idc-only-seg-sop"), 30)
            )];
            let mut row = self.row(&seg, &sops, "idc-open-data", uuid(hstr(&uid)), 18, 18);
            row.analysis_result_id = Some("dicom_lidc_idri_nodules".to_string());
            row.source_doi = "10.7937/tcia.2018.h7umfurq".to_string();
            series.push(row);
            idc_only.push(uid);
        }
        // the bulk collection
        for s in bulk {
            let seed = hstr(&s.series_uid);
            let sops: Vec<String> = (0..self.cfg.bulk_objects)
                .map(|k| format!("{}.{}", s.series_uid, k + 1))
                .collect();
            series.push(self.row(&s, &sops, "idc-open-data", uuid(seed), 20, 20));
        }
        let collections = self.collections(&series);
        let (a, b, c) = FIRST_INDEX_VERSION;
        IdcData {
            version: format!("{a}.{b}.{c}"),
            version_tag: format!("{a}.{b}.{c}-0-g{:07x}", hstr("v0") & 0xFFF_FFFF),
            series,
            collections,
            nbia_only,
            idc_only,
            retired: Vec::new(),
            revisions: 0,
        }
    }

    fn collections(&self, series: &[IdcSeries]) -> Vec<IdcCollection> {
        let mut names: Vec<String> = self
            .ds
            .all_collections()
            .into_iter()
            .filter(|c| c != RESTRICTED_COLLECTION)
            .filter(|c| series.iter().any(|s| s.collection_id == collection_id(c)))
            .collect();
        names.sort_by_key(|n| collection_id(n));
        names
            .iter()
            .map(|name| {
                let id = collection_id(name);
                let info = self.ds.collection_info(name);
                let rows: Vec<&IdcSeries> =
                    series.iter().filter(|s| s.collection_id == id).collect();
                let mut mods: Vec<&str> = rows.iter().map(|s| s.modality.as_str()).collect();
                mods.sort();
                mods.dedup();
                let mods = mods.join(", ");
                let mut patients: Vec<&str> = rows.iter().map(|s| s.patient_id.as_str()).collect();
                patients.sort();
                patients.dedup();
                let doi = info.map(|i| doi_of(&i.doi)).unwrap_or_default();
                let short = rows
                    .first()
                    .map(|r| r.license_short_name.clone())
                    .unwrap_or_else(|| "CC BY 4.0".to_string());
                let mut sources = vec![IdcSource {
                    source_id: id.clone(),
                    source_title: format!("Data From {name}"),
                    source_type: "original_data".to_string(),
                    source_url: format!("https://doi.org/{doi}"),
                    source_doi: doi,
                    modalities: mods.clone(),
                    license: Some(IdcLicense {
                        license_url: license_url(&short),
                        license_long_name: long_license(&short),
                        license_short_name: short.clone(),
                    }),
                    citation: format!(
                        "Fake, A. (2020). <i>Data From {name}</i> (Version 1) [Data set]. The Cancer Imaging Archive."
                    ),
                    provenance: Some(IdcProvenance {
                        data_contributor: "TCIA".to_string(),
                        source_data_provider: "UNKNOWN".to_string(),
                        deidentification_party: "TCIA".to_string(),
                        dicom_conversion_by: "NOT_APPLICABLE".to_string(),
                    }),
                    access: "Public".to_string(),
                    image_types: mods.clone(),
                }];
                if id == "lidc_idri" {
                    sources.push(IdcSource {
                        source_id: "dicom_lidc_idri_nodules".to_string(),
                        source_title:
                            "Standardized representation of the TCIA LIDC-IDRI annotations using DICOM"
                                .to_string(),
                        source_type: "analysis_result".to_string(),
                        source_doi: "10.7937/tcia.2018.h7umfurq".to_string(),
                        source_url: "https://doi.org/10.7937/tcia.2018.h7umfurq".to_string(),
                        modalities: "SEG, SR".to_string(),
                        license: Some(IdcLicense {
                            license_url: license_url("CC BY 3.0"),
                            license_long_name: long_license("CC BY 3.0"),
                            license_short_name: "CC BY 3.0".to_string(),
                        }),
                        citation: "Fedorov, A. (2018). Standardized representation [Data set]."
                            .to_string(),
                        provenance: None,
                        access: "Public".to_string(),
                        image_types: "SEG, SR".to_string(),
                    });
                }
                IdcCollection {
                    collection_name: name.clone(),
                    collection_id: id.clone(),
                    cancer_types: info
                        .and_then(|i| i.site.clone())
                        .map(|s| format!("{s} Cancer"))
                        .unwrap_or_else(|| "Various".to_string()),
                    tumor_locations: info
                        .and_then(|i| i.site.clone())
                        .unwrap_or_else(|| "Various".to_string()),
                    subjects: patients.len() as i64,
                    species: "Human".to_string(),
                    sources,
                    supporting_data: (id != "ct_colonography")
                        .then(|| "Clinical, Image Analyses".to_string()),
                    program_id: if id.starts_with("tcga") {
                        "tcga"
                    } else {
                        "community"
                    }
                    .to_string(),
                    status: "Complete".to_string(),
                    updated: (id != "bulk_synthetic").then(|| "2021-04-10".to_string()),
                    description: info
                        .map(|i| i.description.clone())
                        .unwrap_or_else(|| format!("The {name} collection.")),
                }
            })
            .collect()
    }

    /// A new revision of a series: new crdc_series_uuid, revised version + 1, one more instance.
    /// The old revision moves to `retired` (its objects stay in the bucket).
    pub fn revise(&self, data: &IdcData, series_uid: &str) -> Result<IdcData, String> {
        let mut next = data.clone();
        let i = next
            .series
            .iter()
            .position(|s| s.series_instance_uid == series_uid)
            .ok_or_else(|| format!("no IDC series {series_uid}"))?;
        let old = next.series[i].clone();
        let nbia = match self.ds.find_series(series_uid) {
            Some(s) => s,
            None => {
                // the IDC-only series: rebuild its NBIA-like row from a neighbour
                let base = self
                    .ds
                    .find_series(
                        &next
                            .series
                            .iter()
                            .find(|s| {
                                s.collection_id == old.collection_id
                                    && s.analysis_result_id.is_none()
                            })
                            .ok_or("no neighbour")?
                            .series_instance_uid,
                    )
                    .ok_or("no neighbour")?;
                Series {
                    series_uid: series_uid.to_string(),
                    modality: old.modality.clone(),
                    ..base
                }
            }
        };
        let mut sops: Vec<String> = old
            .objects
            .iter()
            .map(|o| o.sop_instance_uid.clone())
            .collect();
        let r = data.revisions + 1;
        sops.push(format!(
            "1.2.276.0.7230010.3.1.4.{}",
            digits(hstr(series_uid) ^ mix(r), 30)
        ));
        let crdc = uuid(hstr(&old.crdc_series_uuid) ^ mix(r));
        let mut row = self.row(
            &nbia,
            &sops,
            &old.aws_bucket,
            crdc,
            old.series_init_idc_version,
            old.series_revised_idc_version + 1,
        );
        // keep the columns that do not come from NBIA
        row.analysis_result_id = old.analysis_result_id.clone();
        row.source_doi = old.source_doi.clone();
        row.license_short_name = old.license_short_name.clone();
        next.series[i] = row;
        next.retired.push(old);
        next.revisions = r;
        let (a, b, c) = FIRST_INDEX_VERSION;
        next.version = format!("{a}.{b}.{}", c as u64 + r);
        next.version_tag = format!(
            "{}-0-g{:07x}",
            next.version,
            hstr(&format!("v{r}")) & 0xFFF_FFFF
        );
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_uuids() {
        assert_eq!(collection_id("LIDC-IDRI"), "lidc_idri");
        assert_eq!(collection_id("CT COLONOGRAPHY"), "ct_colonography");
        let u = uuid(7);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]), "{u}");
        assert_eq!(uuid(7), u);
        assert_ne!(uuid(8), u);
    }

    #[test]
    fn content_slices() {
        let c = Content {
            head: Bytes::from_static(b"abc"),
            fill: 70_000,
            tail: Bytes::from_static(b"xyz"),
        };
        let all = c.to_vec();
        assert_eq!(all.len(), c.len());
        assert_eq!(&all[..3], b"abc");
        assert_eq!(&all[all.len() - 3..], b"xyz");
        assert_eq!(c.slices(2, 70_004).concat(), all[2..70_004].to_vec());
    }

    #[test]
    fn bulk_digests_match_bytes() {
        let cfg = BucketConfig {
            bulk_series: 1,
            bulk_objects: 2,
            bulk_object_bytes: 100_000,
            ..BucketConfig::default()
        };
        let d = Generator::new(cfg).generate();
        let s = d.series.last().unwrap();
        assert_eq!(s.collection_id, "bulk_synthetic");
        for o in &s.objects {
            let b = o.bytes();
            assert_eq!(b.len(), 100_000);
            assert_eq!(hex(&Md5::digest(&b)), o.md5_hex);
            assert_eq!(crc32c::crc32c(&b), o.crc32c);
        }
        assert_ne!(s.objects[0].md5_hex, s.objects[1].md5_hex);
    }
}
