//! The deterministic data set: [`Dataset`] and its [`Series`] / [`Patient`] / [`Study`] /
//! [`CollectionInfo`] rows; the small hand-shaped collections built from their specs, the lazily
//! generated bulk collection, lookups by index / UID / collection, and the release / change /
//! withdraw mutations. The image methods of `Dataset` are in `images`.

use std::collections::HashMap;
use std::ops::Range;

use crate::hash::{digits, hstr, mix};
use crate::time::Timestamp;

/// Name of the collection whose series are generated on the fly from their index.
pub const BULK_COLLECTION: &str = "Bulk-Synthetic";
/// Name of the collection visible only on v2/advanced endpoints with a non-guest token.
pub const RESTRICTED_COLLECTION: &str = "Restricted-Trial";
/// Bulk layout: series per study and studies per patient (8 series per patient).
pub const BULK_SERIES_PER_STUDY: usize = 4;
pub const BULK_STUDIES_PER_PATIENT: usize = 2;
const BULK_SERIES_PER_PATIENT: usize = BULK_SERIES_PER_STUDY * BULK_STUDIES_PER_PATIENT;
const BULK_SERIES_PREFIX: &str = "1.3.6.1.4.1.14519.5.2.1.9999.4001.";
const BULK_STUDY_PREFIX: &str = "1.3.6.1.4.1.14519.5.2.1.9999.4002.";

/// One image series, with the study/patient fields the series endpoints denormalise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    pub series_uid: String,
    pub study_uid: String,
    pub patient_id: String,
    pub collection: String,
    pub modality: String,
    pub protocol_name: Option<String>,
    pub series_date: Option<Timestamp>,
    pub series_description: Option<String>,
    pub body_part: Option<String>,
    pub series_number: Option<i64>,
    pub annotations_flag: Option<bool>,
    pub manufacturer: Option<String>,
    pub manufacturer_model: Option<String>,
    pub software_versions: Option<String>,
    pub image_count: u64,
    /// Uncompressed bytes (sum of the DICOM file sizes).
    pub file_size: u64,
    /// DateReleased (v1 also reports it as TimeStamp).
    pub released: Timestamp,
    /// v4 MaxSubmissionTimestamp.
    pub max_submission: Timestamp,
    pub license_name: String,
    pub license_uri: String,
    /// Collection DOI (v1 CollectionURI, v4 DataDescriptionURI).
    pub doi: String,
    pub study_desc: Option<String>,
    pub study_date: Option<Timestamp>,
    pub third_party: Option<String>,
    pub site: Option<String>,
    pub patient_sex: Option<String>,
    pub patient_age: Option<String>,
    pub admitting_diagnosis: Option<String>,
    pub study_id: Option<String>,
    pub pixel_spacing: Option<String>,
    pub slice_thickness: Option<String>,
}

/// One patient. `released` is the latest DateReleased of its series
/// (NewPatientsInCollection returns patients whose `released` is strictly after the date).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patient {
    pub patient_id: String,
    pub patient_name: Option<String>,
    pub birth_date: Option<Timestamp>,
    pub sex: Option<String>,
    pub ethnic_group: Option<String>,
    pub collection: String,
    pub released: Timestamp,
}

/// One study. `released` is the latest DateReleased of its series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Study {
    pub study_uid: String,
    pub study_date: Option<Timestamp>,
    pub description: Option<String>,
    pub admitting_diagnoses: Option<String>,
    pub study_id: Option<String>,
    pub patient_age: Option<String>,
    pub patient_id: String,
    pub collection: String,
    pub series_count: u64,
    pub released: Timestamp,
}

/// Collection-level facts (licence, DOI, description page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionInfo {
    pub name: String,
    pub doi: String,
    pub license_name: String,
    pub license_uri: String,
    pub site: Option<String>,
    /// HTML, as getCollectionDescriptions returns it.
    pub description: String,
    pub desc_timestamp_ms: i64,
    pub restricted: bool,
}

/// Index ranges of one collection: (series, patients, studies).
pub(crate) type Ranges = (Range<usize>, Range<usize>, Range<usize>);

/// The whole data set. Small collections are stored; the bulk one is computed from indexes.
/// Cloning is cheap for the bulk collection (it stays lazy). The image caches are not part of it
/// (the server keeps them in one `images::Store` shared by every version).
#[derive(Clone)]
pub struct Dataset {
    colls: Vec<CollectionInfo>,
    small: Vec<Series>,
    patients: Vec<Patient>,
    studies: Vec<Study>,
    /// upper-case name -> (series, patients, studies) index ranges
    ranges: HashMap<String, Ranges>,
    bulk: usize,
    uid_index: HashMap<String, usize>,
    carts: Vec<(String, Vec<String>)>,
    /// Every image exactly this many bytes (None = realistic 200-520 KiB per image).
    image_bytes: Option<u32>,
    /// Number of `release` calls so far (seeds new patient IDs and UIDs).
    releases: u64,
    /// At most this many images in a Bulk-Synthetic series (None = the templates' 100-300).
    bulk_max_images: Option<u64>,
}

// ---------------------------------------------------------------- collection specs

#[derive(Clone, Copy)]
struct Tpl {
    modality: &'static str,
    body_part: Option<&'static str>,
    manufacturer: Option<&'static str>,
    model: Option<&'static str>,
    protocol: Option<&'static str>,
    software: Option<&'static str>,
    desc: Option<&'static str>,
    images: (u64, u64),
    annotations: Option<bool>,
    third_party: Option<&'static str>,
    series_number: Option<i64>,
    /// SeriesDate: 0 = same as study, -1 = absent, n = n years after the study
    date_shift: i32,
}

#[allow(clippy::too_many_arguments)]
const fn t(
    modality: &'static str,
    body_part: Option<&'static str>,
    manufacturer: Option<&'static str>,
    model: Option<&'static str>,
    protocol: Option<&'static str>,
    software: Option<&'static str>,
    desc: Option<&'static str>,
    images: (u64, u64),
) -> Tpl {
    Tpl {
        modality,
        body_part,
        manufacturer,
        model,
        protocol,
        software,
        desc,
        images,
        annotations: None,
        third_party: None,
        series_number: None,
        date_shift: 0,
    }
}

const fn annotated(mut x: Tpl) -> Tpl {
    x.annotations = Some(true);
    x
}
const fn third_party(mut x: Tpl) -> Tpl {
    x.third_party = Some("YES");
    x
}
const fn numbered(mut x: Tpl, n: i64) -> Tpl {
    x.series_number = Some(n);
    x
}
const fn dated(mut x: Tpl, shift: i32) -> Tpl {
    x.date_shift = shift;
    x
}

#[derive(Clone, Copy, PartialEq)]
enum UidStyle {
    Tcia(&'static str),
    TwoTwentyFive,
}

#[derive(Clone, Copy, PartialEq)]
enum Names {
    Empty,
    SameAsId,
    Absent,
}

struct Spec {
    name: &'static str,
    uid: UidStyle,
    doi: &'static str,
    license: (&'static str, &'static str),
    site: Option<&'static str>,
    patients: &'static [&'static str],
    names: Names,
    ethnic: bool,
    layout: &'static [&'static [u8]],
    tpls: &'static [Tpl],
    study_descs: &'static [Option<&'static str>],
    admitting: Option<&'static str>,
    base_release: (i32, u32, u32, u32, u32, u32),
    mid_release: (i32, u32, u32),
    late_release: (i32, u32, u32),
    first_study: (i32, u32, u32),
    blurb: &'static str,
    restricted: bool,
}

const CC_BY_3: (&str, &str) = (
    "Creative Commons Attribution 3.0 Unported License",
    "http://creativecommons.org/licenses/by/3.0/",
);
const CC_BY_4: (&str, &str) = (
    "Creative Commons Attribution 4.0 International License",
    "https://creativecommons.org/licenses/by/4.0/",
);
const CC_BY_NC_3: (&str, &str) = (
    "Creative Commons Attribution-NonCommercial 3.0 Unported License",
    "http://creativecommons.org/licenses/by-nc/3.0/",
);
const RESTRICTED_LICENSE: (&str, &str) = (
    "TCIA Restricted License Agreement",
    "https://www.cancerimagingarchive.net/data-usage-policies-and-restrictions/",
);

const GE: Option<&str> = Some("GE MEDICAL SYSTEMS");
const SIEMENS: Option<&str> = Some("SIEMENS");

static SPECS: &[Spec] = &[
    Spec {
        name: "CT COLONOGRAPHY",
        uid: UidStyle::Tcia("6279.6001"),
        doi: "https://doi.org/10.7937/K9/TCIA.2015.NWTESAY1",
        license: CC_BY_3,
        site: Some("Colon"),
        patients: &["1.3.6.1.4.1.9328.50.4.0001", "1.3.6.1.4.1.9328.50.4.0002", "1.3.6.1.4.1.9328.50.4.0010", "1.3.6.1.4.1.9328.50.4.0019", "1.3.6.1.4.1.9328.50.4.0106"],
        names: Names::SameAsId,
        ethnic: false,
        layout: &[&[2], &[1, 2], &[2], &[3], &[2, 1]],
        tpls: &[
            t("CT", Some("COLON"), GE, Some("LightSpeed Pro 16"), None, Some("07MW18.4"), Some("Supine  Colon 1.25mm"), (200, 300)),
            t("CT", None, SIEMENS, Some("Sensation 64"), Some("ColonoCT"), None, Some("Prone Colon"), (150, 300)),
            t("CT", Some("Colon"), Some("\"GE Healthcare\""), Some("Revolution CT"), None, Some("rev_CT_19a"), Some("CTC Prone/Decub"), (100, 250)),
        ],
        study_descs: &[Some("CT COLONOGRAPHY SCREENING"), Some("CT COLONOGRAPHY DIAGNOSTIC"), None],
        admitting: None,
        base_release: (2011, 7, 22, 9, 14, 3),
        mid_release: (2019, 3, 14),
        late_release: (2024, 6, 11),
        first_study: (2005, 2, 3),
        blurb: "This collection contains CT colonography scans &amp; matched colonoscopy findings from the <a href=\"https://www.acrin.org/6664\">ACRIN 6664</a> trial.",
        restricted: false,
    },
    Spec {
        name: "LIDC-IDRI",
        uid: UidStyle::Tcia("6279.6001"),
        doi: "https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX",
        license: CC_BY_3,
        site: Some("Chest"),
        patients: &["LIDC-IDRI-0001", "LIDC-IDRI-0002", "LIDC-IDRI-0003", "LIDC-IDRI-0004", "LIDC-IDRI-0005"],
        names: Names::Empty,
        ethnic: false,
        layout: &[&[3, 1], &[2], &[4], &[1, 2], &[2]],
        tpls: &[
            annotated(t("CT", Some("CHEST"), GE, Some("LightSpeed Plus"), None, Some("LightSpeedApps2.4.2_H2.4M5"), None, (100, 300))),
            annotated(numbered(t("DX", Some("CHEST"), Some("Philips"), Some("Digital Diagnost"), None, None, None, (1, 2)), 3000923)),
            t("CR", Some("Chest"), SIEMENS, Some("Fidelity"), Some("CHEST PA"), Some("VA10A"), Some("CHEST PA"), (1, 2)),
            third_party(dated(t("SEG", None, Some("QIICR"), Some("dcmqi"), None, Some("1.0.5"), Some("Nodule 1 - Annotation 0"), (1, 1)), -1)),
            t("CT", Some("CHEST"), Some("TOSHIBA"), Some("Aquilion"), Some("CHEST/ABD"), Some("V2.04ER003"), Some("Chest 1.0  Lung"), (80, 200)),
        ],
        study_descs: &[None, Some("CT CHEST W/O CONTRAST"), Some("Chest X-ray")],
        admitting: None,
        base_release: (2011, 11, 8, 8, 8, 1),
        mid_release: (2020, 9, 30),
        late_release: (2025, 2, 19),
        first_study: (2000, 1, 1),
        blurb: "The Lung Image Database Consortium image collection (LIDC-IDRI) consists of diagnostic &amp; lung cancer screening thoracic CT scans with marked-up annotated lesions.",
        restricted: false,
    },
    Spec {
        name: "Pediatric-CT-SEG",
        uid: UidStyle::TwoTwentyFive,
        doi: "https://doi.org/10.7937/TCIA.X0H0-1706",
        license: CC_BY_4,
        site: None,
        patients: &["Pediatric-CT-SEG-00DAFF9C", "Pediatric-CT-SEG-03B64E39", "Pediatric-CT-SEG-1C5CDB5C", "Pediatric-CT-SEG-F2B4C7A1"],
        names: Names::Absent,
        ethnic: false,
        layout: &[&[3], &[3], &[2, 3], &[3]],
        tpls: &[
            t("CT", Some("CHEST"), SIEMENS, Some("SOMATOM Definition AS+"), Some("Pediatric CAP"), Some("syngo CT VA48A"), Some("Standard/Full"), (150, 300)),
            third_party(dated(t("SEG", None, None, None, None, None, Some("Organ segmentations"), (1, 1)), -1)),
            third_party(dated(t("RTSTRUCT", None, Some("Varian Imaging Laboratories, Switzerland"), Some("ARIA RadOnc"), None, Some("13.6.23"), Some("RT Structures (organs)"), (1, 1)), 4)),
            t("CT", Some("ABDOMEN"), Some("GE MEDICAL SYSTEMS / MIM Software"), Some("Discovery CT750 HD"), None, None, Some("ABD  5mm"), (60, 160)),
        ],
        study_descs: &[Some("CT CHEST ABDOMEN PELVIS W CONTRAST"), Some("CT ABD/PELVIS")],
        admitting: None,
        base_release: (2022, 3, 2, 14, 30, 0),
        mid_release: (2023, 5, 17),
        late_release: (2024, 10, 1),
        first_study: (2009, 8, 21),
        blurb: "Pediatric CT scans with expert organ contours&nbsp;(SEG &amp; RTSTRUCT) for 29 organs.",
        restricted: false,
    },
    Spec {
        name: "Restricted-Trial",
        uid: UidStyle::Tcia("7777.3001"),
        doi: "https://doi.org/10.7937/TCIA.RESTRICTED-TRIAL",
        license: RESTRICTED_LICENSE,
        site: Some("Brain"),
        patients: &["RT-001", "RT-002", "RT-003"],
        names: Names::SameAsId,
        ethnic: false,
        layout: &[&[2], &[1], &[2]],
        tpls: &[
            t("MR", Some("BRAIN"), SIEMENS, Some("Skyra"), Some("t1_mprage"), Some("syngo MR E11"), Some("T1 MPRAGE"), (100, 200)),
            t("CT", Some("HEAD"), GE, Some("Revolution"), None, None, Some("HEAD W/O"), (50, 120)),
        ],
        study_descs: &[Some("MRI BRAIN W/WO")],
        admitting: Some("Glioblastoma"),
        base_release: (2021, 4, 1, 10, 0, 0),
        mid_release: (2022, 4, 1),
        late_release: (2024, 4, 1),
        first_study: (2018, 4, 4),
        blurb: "A restricted-access trial collection. Access requires a signed data use agreement.",
        restricted: true,
    },
    Spec {
        name: "Soft-tissue-Sarcoma",
        uid: UidStyle::Tcia("5168.1900"),
        doi: "https://doi.org/10.7937/K9/TCIA.2015.7GO2GSKS",
        license: CC_BY_3,
        site: Some("Extremity"),
        patients: &["STS_001", "STS_002", "STS_005", "STS_010", "STS_015"],
        names: Names::SameAsId,
        ethnic: false,
        layout: &[&[3, 2], &[2], &[4], &[2, 1], &[3]],
        tpls: &[
            t("MR", Some("EXTREMITY"), GE, Some("GENESIS_SIGNA"), None, Some("09"), Some("2. AXIAL T1 BOTH LEGS - RESEARCH"), (20, 60)),
            t("MR", Some("EXTREMITY"), GE, Some("Signa HDxt"), None, None, Some("AX  STIR"), (20, 40)),
            t("PT", Some("Extremity"), GE, Some("Discovery ST"), Some("MGH_WBS_2D"), Some("41.04"), Some("WB_2D_AC"), (200, 300)),
            t("CT", Some("LEG"), SIEMENS, Some("Biograph 16"), None, None, Some("CT 5.0  B30f"), (100, 250)),
            numbered(dated(t("RTSTRUCT", None, Some("GE MEDICAL SYSTEMS / MIM Software"), None, None, None, Some("GTV contours"), (1, 1)), 4), 5238012),
        ],
        study_descs: &[
            Some("MRI LT LEG +C"),
            Some("IRM FÉMUR/CUISSE GAUCHE C- C+ -MUSQ"),
            Some("IRM EXTRU+00C9MITU+00C9S SANS & AVEC INFUSION"),
            Some("CT PET with registered MR"),
            Some("^THIGH"),
        ],
        admitting: None,
        base_release: (2015, 5, 27, 17, 12, 21),
        mid_release: (2018, 1, 9),
        late_release: (2024, 2, 28),
        first_study: (2003, 12, 12),
        blurb: "This collection contains FDG-PET/CT and anatomical MR (T1-weighted, T2-weighted with fat-suppression) imaging data from 51 patients with histologically proven soft-tissue sarcomas (STSs) of the extremities.",
        restricted: false,
    },
    Spec {
        name: "TCGA-BLCA",
        uid: UidStyle::Tcia("8421.4016"),
        doi: "https://doi.org/10.7937/K9/TCIA.2016.8LNG8XDR",
        license: CC_BY_NC_3,
        site: Some("Bladder"),
        patients: &["TCGA-CU-A3QU", "TCGA-CU-A3KJ", "TCGA-4Z-AA86", "TCGA-G2-A2EF"],
        names: Names::SameAsId,
        ethnic: true,
        layout: &[&[2], &[1, 2, 1], &[3], &[2]],
        tpls: &[
            t("CT", Some("PELVIS"), Some("TOSHIBA"), Some("Aquilion ONE"), Some("5.1 4DCT & ITV FB + 4D + INSP/EXP"), Some("V4.51ER010"), Some("P4^P100^S113^I0, Gated, 70.0%"), (100, 300)),
            t("MR", Some("BLADDER"), Some("Philips Medical Systems"), Some("Achieva"), None, Some("3.2.1"), Some("T2 TSE  AX"), (20, 80)),
            t("PT", Some("WHOLEBODY"), SIEMENS, Some("Biograph 40"), Some("PET WB"), Some("VG50C"), Some("PET WB AC"), (200, 300)),
            t("CT", Some("Abdomen"), GE, Some("LightSpeed VCT"), None, None, Some("Recon 2: 5mm"), (60, 200)),
        ],
        study_descs: &[Some("CT ABDOMEN PELVIS W CONT"), Some("Breast^Bilateral Tumor"), Some("MRI PELVIS W/WO CONTRAST"), Some("PET/CT SKULL BASE TO THIGH")],
        admitting: Some("Bladder Urothelial Carcinoma"),
        base_release: (2016, 6, 1, 11, 45, 52),
        mid_release: (2019, 6, 20),
        late_release: (2025, 1, 15),
        first_study: (2004, 1, 20),
        blurb: "The Cancer Genome Atlas Urothelial Bladder Carcinoma (TCGA-BLCA) data collection is part of a larger effort to connect cancer phenotypes to genotypes.",
        restricted: false,
    },
];

static BULK_TPLS: [Tpl; BULK_SERIES_PER_PATIENT] = [
    t(
        "CT",
        Some("CHEST"),
        SIEMENS,
        Some("SOMATOM Force"),
        Some("Thorax Routine"),
        Some("syngo CT VB20A"),
        Some("Thorax  1.0  Br40  3"),
        (100, 300),
    ),
    t(
        "CT",
        Some("CHEST"),
        GE,
        Some("Revolution CT"),
        None,
        Some("rev_CT_19a"),
        Some("Lung 1.25mm"),
        (100, 300),
    ),
    t(
        "PT",
        Some("WHOLEBODY"),
        SIEMENS,
        Some("Biograph mCT"),
        Some("PET WB FDG"),
        Some("VG60A"),
        Some("PET WB AC"),
        (150, 300),
    ),
    third_party(t(
        "SEG",
        None,
        None,
        Some("dcmqi"),
        None,
        Some("1.2.4"),
        Some("Tumor segmentation"),
        (1, 1),
    )),
    t(
        "MR",
        Some("BRAIN"),
        Some("Philips Medical Systems"),
        Some("Ingenia"),
        Some("T1W_3D_TFE"),
        Some("5.6.1"),
        Some("sT1W_3D_TFE"),
        (120, 200),
    ),
    t(
        "MR",
        Some("BRAIN"),
        SIEMENS,
        Some("Prisma"),
        None,
        None,
        Some("t2_tse_tra  5mm"),
        (20, 60),
    ),
    t(
        "CR",
        Some("CHEST"),
        Some("FUJIFILM Corporation"),
        Some("XU-D1"),
        Some("CHEST PA"),
        None,
        Some("CHEST PA/LAT"),
        (1, 2),
    ),
    t(
        "RTSTRUCT",
        None,
        Some("Varian Imaging Laboratories, Switzerland"),
        Some("ARIA RadOnc"),
        None,
        Some("15.6"),
        Some("RTSTRUCT GTV & OARs"),
        (1, 1),
    ),
];

fn sop_class(modality: &str) -> &'static str {
    match modality {
        "CT" => "1.2.840.10008.5.1.4.1.1.2",
        "MR" => "1.2.840.10008.5.1.4.1.1.4",
        "PT" => "1.2.840.10008.5.1.4.1.1.128",
        "SEG" => "1.2.840.10008.5.1.4.1.1.66.4",
        "RTSTRUCT" => "1.2.840.10008.5.1.4.1.1.481.3",
        "DX" => "1.2.840.10008.5.1.4.1.1.1.1",
        "CR" => "1.2.840.10008.5.1.4.1.1.1",
        _ => "1.2.840.10008.5.1.4.1.1.7",
    }
}

/// (ImageCount, FileSize). Every image of a series has the same size, so FileSize / ImageCount is
/// the per-image size (`image_bytes` when set, else 200-520 KiB).
fn images_and_size(tpl: &Tpl, seed: u64, image_bytes: Option<u32>) -> (u64, u64) {
    let h = mix(seed);
    let (lo, hi) = tpl.images;
    let images = lo + h % (hi - lo + 1);
    let per = match image_bytes {
        Some(n) => u64::from(n),
        None => 200 * 1024 + (h >> 24) % (320 * 1024),
    };
    (images, images * per)
}

fn geometry(modality: &str, seed: u64) -> (Option<String>, Option<String>) {
    match modality {
        "CT" => {
            let ps = ["0.703125", "0.78125", "0.976562"][(seed % 3) as usize];
            let st = ["1.25, 2.5", "1", "5"][((seed >> 8) % 3) as usize];
            (Some(ps.to_string()), Some(st.to_string()))
        }
        "MR" => (Some("0.9375".to_string()), Some("3, 5".to_string())),
        "PT" => (Some("4.0728".to_string()), Some("3.27".to_string())),
        _ => (None, None),
    }
}

fn age(seed: u64) -> String {
    format!("{:03}Y", 35 + seed % 50)
}

fn sex(seed: u64) -> Option<String> {
    match seed % 5 {
        0 => None,
        1 | 3 => Some("F".to_string()),
        _ => Some("M".to_string()),
    }
}

fn uid_for(style: UidStyle, seed: u64) -> String {
    match style {
        UidStyle::Tcia(site) => format!("1.3.6.1.4.1.14519.5.2.1.{}.{}", site, digits(seed, 30)),
        UidStyle::TwoTwentyFive => format!("2.25.{}", digits(seed, 39)),
    }
}

fn description_html(spec_blurb: &str, doi: &str) -> String {
    format!(
        "<p>{spec_blurb}</p><p>Please see the&nbsp;<a href=\"{doi}\" target=\"_blank\">data description page</a> for details.<br /></p><p><strong>Acknowledgements</strong><br />Data providers &amp; TCIA.</p>"
    )
}

// ---------------------------------------------------------------- stored rows

/// Where a study of a small collection sits: the indexes that seed and shape its rows.
struct StudyPos<'a> {
    /// Index of the collection in `SPECS`.
    ci: u64,
    spec: &'a Spec,
    /// Patient index within the collection.
    pi: usize,
    /// Study index within the patient.
    si: usize,
    /// Study index within the collection.
    study_k: usize,
    pid: &'static str,
    /// `hstr` of the patient ID.
    pseed: u64,
}

/// The study-level values of a stored study, repeated in each of its series.
struct StudyFacts {
    study_uid: String,
    patient_id: String,
    /// `hstr` of the patient ID; seeds PatientSex.
    pseed: u64,
    study_date: Timestamp,
    desc: Option<String>,
    patient_age: Option<String>,
    study_id: Option<String>,
    admitting: Option<String>,
}

/// The series-specific inputs of one stored series.
struct NewSeries {
    tpl: Tpl,
    /// Seeds ImageCount, FileSize and the CT geometry.
    seed: u64,
    series_uid: String,
    series_date: Option<Timestamp>,
    /// 0-based position in its study (SeriesNumber when the template sets none).
    position: usize,
    released: Timestamp,
}

/// The study-level values of a built study.
fn study_facts(at: &StudyPos) -> StudyFacts {
    let (spec, pid, pseed, si, study_k) = (at.spec, at.pid, at.pseed, at.si, at.study_k);
    let study_uid = uid_for(
        spec.uid,
        mix(at.ci * 1_000 + 17) ^ hstr(&format!("{pid}/study/{si}")),
    );
    let study_date = Timestamp::date(spec.first_study.0, spec.first_study.1, spec.first_study.2)
        .plus_days(at.pi as i64 * 37 + si as i64 * 120);
    let desc = spec.study_descs[study_k % spec.study_descs.len()].map(str::to_string);
    let patient_age = Some(age(pseed + si as u64));
    let study_id = if study_k % 3 == 2 {
        None
    } else {
        Some(format!("{}", 1000 + (mix(pseed + si as u64) % 9000)))
    };
    let admitting = if study_k % 2 == 0 {
        spec.admitting.map(str::to_string)
    } else {
        None
    };
    StudyFacts {
        study_uid,
        patient_id: pid.to_string(),
        pseed,
        study_date,
        desc,
        patient_age,
        study_id,
        admitting,
    }
}

/// DateReleased of built series `k` (series `ser` of `nseries` of its study): the last patient's
/// series late, the second-to-last patient's later studies mid, all others at the base release.
fn built_released(at: &StudyPos, k: usize, ser: usize, nseries: usize) -> Timestamp {
    let spec = at.spec;
    let (by, bm, bd, bh, bmi, bs) = spec.base_release;
    let np = spec.layout.len();
    let (mi, se) = (((k * 7) % 60) as u32, ((k * 13) % 60) as u32);
    if at.pi == np - 1 {
        let (y, m, d) = spec.late_release;
        Timestamp::new(y, m, d, 10, mi, se)
    } else if at.pi == np - 2 && (at.si > 0 || spec.layout[at.pi].len() == 1 && ser + 1 == nseries)
    {
        let (y, m, d) = spec.mid_release;
        Timestamp::new(y, m, d, 15, mi, se)
    } else {
        Timestamp::new(by, bm, bd, bh, (bmi + mi) % 60, (bs + se) % 60)
    }
}

/// A stored series of a collection built from `spec`; ImageCount, FileSize and geometry follow
/// from the template and seed, MaxSubmissionTimestamp is its DateReleased.
fn stored_series(spec: &Spec, f: &StudyFacts, new: NewSeries, image_bytes: Option<u32>) -> Series {
    let tpl = new.tpl;
    let (images, size) = images_and_size(&tpl, new.seed, image_bytes);
    let (pixel_spacing, slice_thickness) = geometry(tpl.modality, new.seed);
    Series {
        series_uid: new.series_uid,
        study_uid: f.study_uid.clone(),
        patient_id: f.patient_id.clone(),
        collection: spec.name.to_string(),
        modality: tpl.modality.to_string(),
        protocol_name: tpl.protocol.map(str::to_string),
        series_date: new.series_date,
        series_description: tpl.desc.map(str::to_string),
        body_part: tpl.body_part.map(str::to_string),
        series_number: Some(tpl.series_number.unwrap_or(new.position as i64 + 1)),
        annotations_flag: tpl.annotations,
        manufacturer: tpl.manufacturer.map(str::to_string),
        manufacturer_model: tpl.model.map(str::to_string),
        software_versions: tpl.software.map(str::to_string),
        image_count: images,
        file_size: size,
        released: new.released,
        max_submission: new.released,
        license_name: spec.license.0.to_string(),
        license_uri: spec.license.1.to_string(),
        doi: spec.doi.to_string(),
        study_desc: f.desc.clone(),
        study_date: Some(f.study_date),
        third_party: tpl.third_party.map(str::to_string),
        site: spec.site.map(str::to_string),
        patient_sex: sex(f.pseed),
        patient_age: f.patient_age.clone(),
        admitting_diagnosis: f.admitting.clone(),
        study_id: f.study_id.clone(),
        pixel_spacing,
        slice_thickness,
    }
}

/// The study row of a stored study with `series_count` series, the latest released at `released`.
fn study_row(spec: &Spec, f: StudyFacts, series_count: u64, released: Timestamp) -> Study {
    Study {
        study_uid: f.study_uid,
        study_date: Some(f.study_date),
        description: f.desc,
        admitting_diagnoses: f.admitting,
        study_id: f.study_id,
        patient_age: f.patient_age,
        patient_id: f.patient_id,
        collection: spec.name.to_string(),
        series_count,
        released,
    }
}

/// The patient row of a stored patient; name and ethnic group follow the spec.
fn patient_row(spec: &Spec, pid: &str, pseed: u64, released: Timestamp) -> Patient {
    Patient {
        patient_id: pid.to_string(),
        patient_name: match spec.names {
            Names::Empty => Some(String::new()),
            Names::SameAsId => Some(pid.to_string()),
            Names::Absent => None,
        },
        birth_date: None,
        sex: sex(pseed),
        ethnic_group: if spec.ethnic {
            [Some("W"), Some("1"), None][(pseed % 3) as usize].map(str::to_string)
        } else {
            None
        },
        collection: spec.name.to_string(),
        released,
    }
}

/// The `CollectionInfo` of collection `ci` of `SPECS`.
fn spec_collection_info(ci: u64, spec: &Spec) -> CollectionInfo {
    CollectionInfo {
        name: spec.name.to_string(),
        doi: spec.doi.to_string(),
        license_name: spec.license.0.to_string(),
        license_uri: spec.license.1.to_string(),
        site: spec.site.map(str::to_string),
        description: description_html(spec.blurb, spec.doi),
        desc_timestamp_ms: 1_600_000_000_000 + (ci as i64) * 86_400_000 * 97,
        restricted: spec.restricted,
    }
}

// ---------------------------------------------------------------- building

impl Dataset {
    /// Build the data set; `bulk_series` = number of series in Bulk-Synthetic (0 = no such collection).
    /// Images get realistic sizes (200-520 KiB).
    pub fn new(bulk_series: usize) -> Dataset {
        Dataset::with_image_bytes(bulk_series, None)
    }

    /// Build the data set with every image exactly `image_bytes` bytes (None = realistic sizes).
    /// FileSize of every series is then ImageCount × the per-image size.
    pub fn with_image_bytes(bulk_series: usize, image_bytes: Option<u32>) -> Dataset {
        let mut ds = Dataset {
            colls: Vec::new(),
            small: Vec::new(),
            patients: Vec::new(),
            studies: Vec::new(),
            ranges: HashMap::new(),
            bulk: bulk_series,
            uid_index: HashMap::new(),
            carts: Vec::new(),
            image_bytes,
            releases: 0,
            bulk_max_images: None,
        };
        for (ci, spec) in SPECS.iter().enumerate() {
            ds.build_collection(ci as u64, spec);
        }
        if bulk_series > 0 {
            ds.add_bulk_collection();
        }
        for (i, s) in ds.small.iter().enumerate() {
            ds.uid_index.insert(s.series_uid.clone(), i);
        }
        ds.carts = ds.default_carts();
        ds
    }

    /// Cap the images of every Bulk-Synthetic series (FileSize follows), for large but quick
    /// runs such as the fault soak.
    pub fn with_bulk_max_images(mut self, max: Option<u64>) -> Dataset {
        self.bulk_max_images = max;
        self
    }

    /// Describe the lazy Bulk-Synthetic collection and reserve its index ranges after the stored ones.
    fn add_bulk_collection(&mut self) {
        self.colls.push(CollectionInfo {
            name: BULK_COLLECTION.to_string(),
            doi: "https://doi.org/10.7937/TCIA.BULK-SYNTHETIC".to_string(),
            license_name: CC_BY_4.0.to_string(),
            license_uri: CC_BY_4.1.to_string(),
            site: Some("Chest".to_string()),
            description: description_html(
                "A large synthetic collection used to exercise paging &amp; streaming.",
                "https://doi.org/10.7937/TCIA.BULK-SYNTHETIC",
            ),
            desc_timestamp_ms: 1_700_000_000_000,
            restricted: false,
        });
        let (n, np, nst) = (self.small.len(), self.patients.len(), self.studies.len());
        let bulk = self.bulk;
        self.ranges.insert(
            BULK_COLLECTION.to_uppercase(),
            (
                n..n + bulk,
                np..np + bulk.div_ceil(BULK_SERIES_PER_PATIENT),
                nst..nst + bulk.div_ceil(BULK_SERIES_PER_STUDY),
            ),
        );
    }

    /// The two carts of `v1/getContentsByName` (the first stored series of two collections).
    fn default_carts(&self) -> Vec<(String, Vec<String>)> {
        let cart = |coll: &str, n: usize| -> Vec<String> {
            self.small
                .iter()
                .filter(|s| s.collection == coll)
                .take(n)
                .map(|s| s.series_uid.clone())
                .collect()
        };
        vec![
            ("nbia-49121659384603347".to_string(), cart("TCGA-BLCA", 4)),
            ("nbia-20230808151512345".to_string(), cart("LIDC-IDRI", 3)),
        ]
    }

    /// Append one small collection built from its spec: per patient its studies (each after its
    /// series) and then the patient, in layout order; then its `CollectionInfo` and index ranges.
    fn build_collection(&mut self, ci: u64, spec: &Spec) {
        let s0 = self.small.len();
        let p0 = self.patients.len();
        let st0 = self.studies.len();
        let mut k = 0usize; // series counter within the collection
        let mut study_k = 0usize;
        for (pi, studies) in spec.layout.iter().enumerate() {
            let pid = spec.patients[pi];
            let pseed = hstr(pid);
            let mut p_released = Timestamp::new(1900, 1, 1, 0, 0, 0);
            for (si, &nseries) in studies.iter().enumerate() {
                let at = StudyPos {
                    ci,
                    spec,
                    pi,
                    si,
                    study_k,
                    pid,
                    pseed,
                };
                p_released = p_released.max(self.build_study(&at, nseries, &mut k));
                study_k += 1;
            }
            self.patients
                .push(patient_row(spec, pid, pseed, p_released));
        }
        self.colls.push(spec_collection_info(ci, spec));
        self.ranges.insert(
            spec.name.to_uppercase(),
            (
                s0..self.small.len(),
                p0..self.patients.len(),
                st0..self.studies.len(),
            ),
        );
    }

    /// Append the `nseries` series of one stored study (advancing the collection's series counter
    /// `k`), then the study. Returns the study's DateReleased (the latest of its series).
    fn build_study(&mut self, at: &StudyPos, nseries: u8, k: &mut usize) -> Timestamp {
        let facts = study_facts(at);
        let mut st_released = Timestamp::new(1900, 1, 1, 0, 0, 0);
        for ser in 0..nseries as usize {
            let s = self.built_series(at, &facts, *k, ser, nseries as usize);
            st_released = st_released.max(s.released);
            self.small.push(s);
            *k += 1;
        }
        self.studies
            .push(study_row(at.spec, facts, nseries as u64, st_released));
        st_released
    }

    /// Series `ser` of `nseries` of a stored study; `k` counts series within the collection.
    fn built_series(
        &self,
        at: &StudyPos,
        facts: &StudyFacts,
        k: usize,
        ser: usize,
        nseries: usize,
    ) -> Series {
        let spec = at.spec;
        let tpl = spec.tpls[k % spec.tpls.len()];
        let seed = mix(at.ci << 32 | k as u64);
        let series_uid = uid_for(spec.uid, seed ^ 0x5E51E5);
        let released = built_released(at, k, ser, nseries);
        let study_date = facts.study_date;
        let series_date = match tpl.date_shift {
            -1 => None,
            0 => Some(study_date),
            n => Some(Timestamp::date(
                study_date.year + n,
                study_date.month,
                study_date.day,
            )),
        };
        let new = NewSeries {
            tpl,
            seed,
            series_uid,
            series_date,
            position: ser,
            released,
        };
        stored_series(spec, facts, new, self.image_bytes)
    }

    // ------------------------------------------------------------ bulk generation

    fn bulk_released(p: usize, within: usize) -> Timestamp {
        let h = mix(p as u64 ^ 0xB01C_DA7E);
        Timestamp::new(
            2011 + (h % 15) as i32,
            1 + ((h >> 8) % 12) as u32,
            1 + ((h >> 16) % 28) as u32,
            (8 + (h >> 24) % 10) as u32,
            (within * 3) as u32,
            ((h >> 32) % 60) as u32,
        )
    }

    fn bulk_series_uid(i: usize) -> String {
        format!(
            "{BULK_SERIES_PREFIX}{}{:010}",
            100_000_000_000 + mix(i as u64) % 900_000_000_000,
            i
        )
    }

    fn bulk_study_uid(j: usize) -> String {
        format!(
            "{BULK_STUDY_PREFIX}{}{:010}",
            100_000_000_000 + mix(j as u64 ^ 0x57) % 900_000_000_000,
            j
        )
    }

    fn bulk_patient_id(p: usize) -> String {
        format!("BULK-{:06}", p + 1)
    }

    fn parse_bulk_index(uid: &str, prefix: &str) -> Option<usize> {
        let rest = uid.strip_prefix(prefix)?;
        if rest.len() != 22 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest[12..].parse().ok()
    }

    /// Generate bulk series `i` (0-based). Modality/body part/manufacturer depend only on `i % 8`.
    fn bulk_series(&self, i: usize) -> Series {
        let within = i % BULK_SERIES_PER_PATIENT;
        let tpl = &BULK_TPLS[within];
        let p = i / BULK_SERIES_PER_PATIENT;
        let j = i / BULK_SERIES_PER_STUDY;
        let pseed = mix(p as u64 ^ 0xFACE);
        let (mut images, mut size) = images_and_size(tpl, i as u64 ^ 0xB1B1, self.image_bytes);
        if let Some(max) = self.bulk_max_images.filter(|m| *m >= 1 && images > *m) {
            // Every image of a series has the same size: FileSize stays ImageCount × it.
            size = size / images * (1 + (i as u64 % max));
            images = 1 + (i as u64 % max);
        }
        let released = Self::bulk_released(p, within);
        let study_date = Timestamp::date(
            1995 + (pseed % 25) as i32,
            1 + ((pseed >> 8) % 12) as u32,
            1 + ((pseed >> 16) % 28) as u32,
        )
        .plus_days((j % BULK_STUDIES_PER_PATIENT) as i64 * 90);
        let (pixel_spacing, slice_thickness) = geometry(tpl.modality, i as u64);
        Series {
            series_uid: Self::bulk_series_uid(i),
            study_uid: Self::bulk_study_uid(j),
            patient_id: Self::bulk_patient_id(p),
            collection: BULK_COLLECTION.to_string(),
            modality: tpl.modality.to_string(),
            protocol_name: tpl.protocol.map(str::to_string),
            series_date: Some(study_date),
            series_description: tpl.desc.map(str::to_string),
            body_part: tpl.body_part.map(str::to_string),
            series_number: Some((i % BULK_SERIES_PER_STUDY) as i64 + 1),
            annotations_flag: None,
            manufacturer: tpl.manufacturer.map(str::to_string),
            manufacturer_model: tpl.model.map(str::to_string),
            software_versions: tpl.software.map(str::to_string),
            image_count: images,
            file_size: size,
            released,
            max_submission: released,
            license_name: CC_BY_4.0.to_string(),
            license_uri: CC_BY_4.1.to_string(),
            doi: "https://doi.org/10.7937/TCIA.BULK-SYNTHETIC".to_string(),
            study_desc: Some(
                if j % 2 == 0 {
                    "CT CHEST W/O CONTRAST"
                } else {
                    "PET/CT  WHOLE BODY"
                }
                .to_string(),
            ),
            study_date: Some(study_date),
            third_party: tpl.third_party.map(str::to_string),
            site: Some("Chest".to_string()),
            patient_sex: sex(pseed),
            patient_age: Some(age(pseed + (j % 2) as u64)),
            admitting_diagnosis: None,
            study_id: Some(format!("{}", 1000 + j % 9000)),
            pixel_spacing,
            slice_thickness,
        }
    }

    fn bulk_patient(&self, p: usize) -> Patient {
        let pseed = mix(p as u64 ^ 0xFACE);
        let last = ((p + 1) * BULK_SERIES_PER_PATIENT).min(self.bulk) - 1;
        Patient {
            patient_id: Self::bulk_patient_id(p),
            patient_name: Some(Self::bulk_patient_id(p)),
            birth_date: None,
            sex: sex(pseed),
            ethnic_group: None,
            collection: BULK_COLLECTION.to_string(),
            released: Self::bulk_released(p, last % BULK_SERIES_PER_PATIENT),
        }
    }

    fn bulk_study(&self, j: usize) -> Study {
        let first = j * BULK_SERIES_PER_STUDY;
        let last = (first + BULK_SERIES_PER_STUDY).min(self.bulk) - 1;
        let s = self.bulk_series(first);
        Study {
            study_uid: s.study_uid,
            study_date: s.study_date,
            description: s.study_desc,
            admitting_diagnoses: None,
            study_id: s.study_id,
            patient_age: s.patient_age,
            patient_id: s.patient_id,
            collection: BULK_COLLECTION.to_string(),
            series_count: (last - first + 1) as u64,
            released: Self::bulk_released(
                j / BULK_STUDIES_PER_PATIENT,
                last % BULK_SERIES_PER_PATIENT,
            ),
        }
    }

    // ------------------------------------------------------------ public accessors

    /// Collections as anonymous getCollectionValues returns them (ASCII-sorted, no Restricted-Trial).
    pub fn collections(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .colls
            .iter()
            .filter(|c| !c.restricted)
            .map(|c| c.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Every collection including Restricted-Trial, ASCII-sorted.
    pub fn all_collections(&self) -> Vec<String> {
        let mut v: Vec<String> = self.colls.iter().map(|c| c.name.clone()).collect();
        v.sort();
        v
    }

    /// Collection facts, case-insensitive name match.
    pub fn collection_info(&self, name: &str) -> Option<&CollectionInfo> {
        self.colls
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// True for the collection hidden from anonymous/guest callers.
    pub fn is_restricted(&self, collection: &str) -> bool {
        collection.eq_ignore_ascii_case(RESTRICTED_COLLECTION)
    }

    /// Number of bulk series (0 = no bulk collection).
    pub fn bulk_series_count(&self) -> usize {
        self.bulk
    }

    /// Total series, patients and studies (including restricted and bulk).
    pub fn series_count(&self) -> usize {
        self.small.len() + self.bulk
    }
    pub fn patient_count(&self) -> usize {
        self.patients.len() + self.bulk.div_ceil(BULK_SERIES_PER_PATIENT)
    }
    pub fn study_count(&self) -> usize {
        self.studies.len() + self.bulk.div_ceil(BULK_SERIES_PER_STUDY)
    }

    /// Series by DB index (small collections first, then the bulk ones).
    pub fn series_at(&self, i: usize) -> Series {
        if i < self.small.len() {
            self.small[i].clone()
        } else {
            self.bulk_series(i - self.small.len())
        }
    }
    pub fn patient_at(&self, i: usize) -> Patient {
        if i < self.patients.len() {
            self.patients[i].clone()
        } else {
            self.bulk_patient(i - self.patients.len())
        }
    }
    pub fn study_at(&self, i: usize) -> Study {
        if i < self.studies.len() {
            self.studies[i].clone()
        } else {
            self.bulk_study(i - self.studies.len())
        }
    }

    /// Every series (including Restricted-Trial and the lazily generated bulk ones), in DB order.
    pub fn series(&self) -> impl Iterator<Item = Series> + '_ {
        (0..self.series_count()).map(move |i| self.series_at(i))
    }

    /// Index ranges (series, patients, studies) of a collection, case-insensitive.
    pub(crate) fn ranges(&self, collection: &str) -> Option<Ranges> {
        self.ranges.get(&collection.to_uppercase()).cloned()
    }

    pub fn series_in(&self, collection: &str) -> Vec<Series> {
        self.ranges(collection)
            .map(|(r, _, _)| r.map(|i| self.series_at(i)).collect())
            .unwrap_or_default()
    }
    pub fn patients_in(&self, collection: &str) -> Vec<Patient> {
        self.ranges(collection)
            .map(|(_, r, _)| r.map(|i| self.patient_at(i)).collect())
            .unwrap_or_default()
    }
    pub fn studies_in(&self, collection: &str) -> Vec<Study> {
        self.ranges(collection)
            .map(|(_, _, r)| r.map(|i| self.study_at(i)).collect())
            .unwrap_or_default()
    }

    /// DB index of a series UID (exact match).
    pub(crate) fn series_index(&self, uid: &str) -> Option<usize> {
        if let Some(&i) = self.uid_index.get(uid) {
            return Some(i);
        }
        let i = Self::parse_bulk_index(uid, BULK_SERIES_PREFIX)?;
        (i < self.bulk && Self::bulk_series_uid(i) == uid).then_some(self.small.len() + i)
    }

    /// Look a series up by its UID (exact match).
    pub fn find_series(&self, uid: &str) -> Option<Series> {
        self.series_index(uid).map(|i| self.series_at(i))
    }

    /// A patient by collection and ID (exact ID match).
    pub fn patient(&self, collection: &str, patient_id: &str) -> Option<Patient> {
        if collection == BULK_COLLECTION {
            let p: usize = patient_id.strip_prefix("BULK-")?.parse().ok()?;
            return (p >= 1 && (p - 1) * BULK_SERIES_PER_PATIENT < self.bulk)
                .then(|| self.bulk_patient(p - 1));
        }
        self.patients
            .iter()
            .find(|p| p.patient_id == patient_id && p.collection == collection)
            .cloned()
    }

    /// Position of a patient within its collection (DB order).
    pub(crate) fn patients_in_order_index(&self, collection: &str, patient_id: &str) -> usize {
        if collection == BULK_COLLECTION {
            return patient_id
                .get(5..)
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(1)
                .saturating_sub(1);
        }
        let Some((_, r, _)) = self.ranges(collection) else {
            return 0;
        };
        self.patients[r]
            .iter()
            .position(|p| p.patient_id == patient_id)
            .unwrap_or(0)
    }

    /// The patient a series belongs to.
    pub fn patient_of(&self, s: &Series) -> Patient {
        self.patient(&s.collection, &s.patient_id)
            .expect("series without patient")
    }

    /// The study a series belongs to.
    pub fn study_of(&self, s: &Series) -> Study {
        if s.collection == BULK_COLLECTION {
            if let Some(j) = Self::parse_bulk_index(&s.study_uid, BULK_STUDY_PREFIX) {
                return self.bulk_study(j);
            }
        }
        self.studies
            .iter()
            .find(|st| st.study_uid == s.study_uid)
            .cloned()
            .expect("series without study")
    }

    /// SOP Class UID reported for a series' modality.
    pub fn sop_class_uid(&self, s: &Series) -> &'static str {
        sop_class(&s.modality)
    }

    /// SOP instance UIDs of a series, ascending string order (empty for unknown series).
    pub fn sop_uids(&self, series_uid: &str) -> Vec<String> {
        let Some(s) = self.find_series(series_uid) else {
            return Vec::new();
        };
        let seed = hstr(series_uid);
        let two25 = s.series_uid.starts_with("2.25.");
        let mut v: Vec<String> = (0..s.image_count)
            .map(|k| {
                let d = digits(
                    mix(seed ^ k.wrapping_mul(0x9E37_79B9)),
                    if two25 { 39 } else { 38 },
                );
                if two25 {
                    format!("2.25.{d}")
                } else {
                    format!("1.3.6.1.4.1.14519.5.2.1.{d}")
                }
            })
            .collect();
        v.sort();
        v
    }

    /// Shared carts served by v1 getContentsByName: (name, series UIDs).
    pub fn carts(&self) -> &[(String, Vec<String>)] {
        &self.carts
    }

    /// Facet view for value lists/counts: (series, weight). The bulk collection contributes its
    /// 8 templates with their multiplicities instead of every series.
    pub(crate) fn facet_rows(&self, range: Range<usize>) -> Vec<(Series, u64)> {
        let n = self.small.len();
        let mut out = Vec::new();
        for i in range.start..range.end.min(n) {
            out.push((self.small[i].clone(), 1));
        }
        if range.end > n && self.bulk > 0 {
            let lo = range.start.max(n) - n;
            let hi = range.end - n;
            let k = BULK_SERIES_PER_PATIENT;
            for t in 0..k {
                // number of i in lo..hi with i % k == t
                let count = |x: usize| x / k + usize::from(x % k > t);
                let w = count(hi) - count(lo);
                if w > 0 {
                    out.push((self.bulk_series(t), w as u64));
                }
            }
        }
        out
    }

    /// Distinct patients per collection name (for getCollectionValuesAndCounts).
    pub(crate) fn patient_count_in(&self, collection: &str) -> usize {
        self.ranges(collection)
            .map(|(_, r, _)| r.len())
            .unwrap_or(0)
    }

    /// Collections in DB order.
    pub(crate) fn collection_infos(&self) -> &[CollectionInfo] {
        &self.colls
    }
}

// ---------------------------------------------------------------- new releases (mutation)

/// Which kind of index range of a collection.
#[derive(Clone, Copy)]
enum Part {
    Series,
    Patients,
    Studies,
}

/// One `release` call: the collection it adds to, its number (1 = first release) and its time.
struct ReleaseAt {
    /// Index of the collection in `SPECS`.
    ci: u64,
    spec: &'static Spec,
    r: u64,
    now: Timestamp,
}

impl Dataset {
    fn spec_of(collection: &str) -> Result<(u64, &'static Spec), String> {
        if collection.eq_ignore_ascii_case(BULK_COLLECTION) {
            return Err(format!(
                "{BULK_COLLECTION} is generated and cannot be changed"
            ));
        }
        SPECS
            .iter()
            .enumerate()
            .find(|(_, sp)| sp.name.eq_ignore_ascii_case(collection))
            .map(|(i, sp)| (i as u64, sp))
            .ok_or_else(|| format!("no such collection: {collection}"))
    }

    /// Position of a collection in `colls` (DB order).
    fn coll_pos(&self, collection: &str) -> usize {
        self.colls
            .iter()
            .position(|c| c.name == collection)
            .expect("known collection")
    }

    fn range_mut(&mut self, collection: &str, part: Part) -> &mut Range<usize> {
        let r = self
            .ranges
            .get_mut(&collection.to_uppercase())
            .expect("collection ranges");
        match part {
            Part::Series => &mut r.0,
            Part::Patients => &mut r.1,
            Part::Studies => &mut r.2,
        }
    }

    /// Grow (`delta` = 1) or shrink (-1) one part of a collection at its end; every later
    /// collection's range of that part moves along.
    fn resize(&mut self, collection: &str, part: Part, delta: isize) {
        let pos = self.coll_pos(collection);
        let later: Vec<String> = self.colls[pos + 1..]
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let r = self.range_mut(collection, part);
        r.end = r.end.wrapping_add_signed(delta);
        for name in later {
            let r = self.range_mut(&name, part);
            *r = r.start.wrapping_add_signed(delta)..r.end.wrapping_add_signed(delta);
        }
    }

    fn reindex(&mut self) {
        self.uid_index = self
            .small
            .iter()
            .enumerate()
            .map(|(i, s)| (s.series_uid.clone(), i))
            .collect();
    }

    /// Recompute a study's and a patient's series count / DateReleased from their series; remove
    /// them when they have none left.
    fn refresh_parents(&mut self, collection: &str, study_uid: &str, patient_id: &str) {
        let (sr, pr, str_) = self.ranges(collection).expect("collection ranges");
        let series = &self.small[sr];
        let of_study: Vec<&Series> = series.iter().filter(|s| s.study_uid == study_uid).collect();
        let of_patient: Vec<&Series> = series
            .iter()
            .filter(|s| s.patient_id == patient_id)
            .collect();
        let study_released = of_study.iter().map(|s| s.released).max();
        let study_n = of_study.len() as u64;
        let patient_released = of_patient.iter().map(|s| s.released).max();
        if let Some(j) = str_
            .clone()
            .find(|&j| self.studies[j].study_uid == study_uid)
        {
            match study_released {
                Some(r) => {
                    self.studies[j].released = r;
                    self.studies[j].series_count = study_n;
                }
                None => {
                    self.studies.remove(j);
                    self.resize(collection, Part::Studies, -1);
                }
            }
        }
        if let Some(p) = pr
            .clone()
            .find(|&p| self.patients[p].patient_id == patient_id)
        {
            match patient_released {
                Some(r) => self.patients[p].released = r,
                None => {
                    self.patients.remove(p);
                    self.resize(collection, Part::Patients, -1);
                }
            }
        }
    }

    /// Index in `small` of a stored series; Err for bulk and unknown series.
    fn stored_index(&self, series_uid: &str) -> Result<usize, String> {
        if let Some(&i) = self.uid_index.get(series_uid) {
            return Ok(i);
        }
        if self.series_index(series_uid).is_some() {
            return Err(format!(
                "{BULK_COLLECTION} series are generated and cannot be changed: {series_uid}"
            ));
        }
        Err(format!("no such series: {series_uid}"))
    }

    /// Add a new patient with one new study holding `count` new series to `collection`, all
    /// released at `now`. Returns the new SeriesInstanceUIDs.
    pub(crate) fn release(
        &mut self,
        collection: &str,
        count: usize,
        now: Timestamp,
    ) -> Result<Vec<String>, String> {
        let (ci, spec) = Self::spec_of(collection)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        self.releases += 1;
        let at = ReleaseAt {
            ci,
            spec,
            r: self.releases,
            now,
        };
        let coll = spec.name.to_string();
        let facts = self.release_facts(&at);
        let (sr, pr, str_) = self.ranges(&coll).expect("collection ranges");
        let mut uids = Vec::with_capacity(count);
        for k in 0..count {
            let s = self.released_series(&at, &facts, k, &uids);
            let series_uid = s.series_uid.clone();
            self.small.insert(sr.end + k, s);
            self.resize(&coll, Part::Series, 1);
            uids.push(series_uid);
        }
        let (pid, pseed) = (facts.patient_id.clone(), facts.pseed);
        self.studies
            .insert(str_.end, study_row(spec, facts, count as u64, now));
        self.resize(&coll, Part::Studies, 1);
        self.patients
            .insert(pr.end, patient_row(spec, &pid, pseed, now));
        self.resize(&coll, Part::Patients, 1);
        self.reindex();
        Ok(uids)
    }

    /// The study-level values of the new study of a release: a patient ID and StudyInstanceUID
    /// not yet taken, a StudyDate 30-329 days before the release.
    fn release_facts(&self, at: &ReleaseAt) -> StudyFacts {
        let (spec, r) = (at.spec, at.r);
        let pid = self.release_patient_id(spec.name, r);
        let pseed = hstr(&pid);
        let mut study_uid = uid_for(
            spec.uid,
            mix(at.ci * 1_000 + 17) ^ hstr(&format!("{pid}/study/0")),
        );
        while self.studies.iter().any(|st| st.study_uid == study_uid) {
            study_uid = uid_for(spec.uid, hstr(&study_uid));
        }
        let study_date = at.now.plus_days(-30 - (pseed % 300) as i64);
        let study_date = Timestamp::date(study_date.year, study_date.month, study_date.day);
        let desc = spec.study_descs[r as usize % spec.study_descs.len()].map(str::to_string);
        let patient_age = Some(age(pseed));
        let study_id = Some(format!("{}", 1000 + (mix(pseed) % 9000)));
        let admitting = spec.admitting.map(str::to_string);
        StudyFacts {
            study_uid,
            patient_id: pid,
            pseed,
            study_date,
            desc,
            patient_age,
            study_id,
            admitting,
        }
    }

    /// `<collection>-<n>` (spaces as `_`, n from 9000 + the release number) not yet in `coll`.
    fn release_patient_id(&self, coll: &str, r: u64) -> String {
        let prefix = coll.replace(' ', "_");
        let mut n = 9000 + r;
        while self.patient(coll, &format!("{prefix}-{n:04}")).is_some() {
            n += 1;
        }
        format!("{prefix}-{n:04}")
    }

    /// New series `k` of a release, with a SeriesInstanceUID neither stored nor in `taken`.
    fn released_series(
        &self,
        at: &ReleaseAt,
        facts: &StudyFacts,
        k: usize,
        taken: &[String],
    ) -> Series {
        let spec = at.spec;
        let tpl = spec.tpls[(at.r as usize + k) % spec.tpls.len()];
        let seed = mix(0x2E1E_A5E0 ^ (at.ci << 48) ^ (at.r << 20) ^ k as u64);
        let mut series_uid = uid_for(spec.uid, seed ^ 0x5E51E5);
        while self.series_index(&series_uid).is_some() || taken.contains(&series_uid) {
            series_uid = uid_for(spec.uid, hstr(&series_uid));
        }
        let series_date = match tpl.date_shift {
            -1 => None,
            0 => Some(facts.study_date),
            d => Some(facts.study_date.plus_days(d as i64 * 30)),
        };
        let new = NewSeries {
            tpl,
            seed,
            series_uid,
            series_date,
            position: k,
            released: at.now,
        };
        stored_series(spec, facts, new, self.image_bytes)
    }

    /// Re-release a stored series with one more image, released at `now`. Returns its new ImageCount.
    pub(crate) fn change(&mut self, series_uid: &str, now: Timestamp) -> Result<u64, String> {
        let i = self.stored_index(series_uid)?;
        let s = &mut self.small[i];
        let per = s.file_size.checked_div(s.image_count).unwrap_or(0);
        s.image_count += 1;
        s.file_size += per;
        s.released = now;
        s.max_submission = now;
        let (n, coll, study, pid) = (
            s.image_count,
            s.collection.clone(),
            s.study_uid.clone(),
            s.patient_id.clone(),
        );
        self.refresh_parents(&coll, &study, &pid);
        Ok(n)
    }

    /// Remove a stored series (and its study / patient when they become empty).
    pub(crate) fn withdraw(&mut self, series_uid: &str) -> Result<(), String> {
        let i = self.stored_index(series_uid)?;
        let s = self.small.remove(i);
        self.resize(&s.collection, Part::Series, -1);
        self.reindex();
        self.refresh_parents(&s.collection, &s.study_uid, &s.patient_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_unique_and_bulk_parse() {
        let ds = Dataset::new(100);
        let mut seen = std::collections::HashSet::new();
        for s in ds.series() {
            assert!(seen.insert(s.series_uid.clone()), "dup {}", s.series_uid);
            assert_eq!(ds.find_series(&s.series_uid).unwrap(), s);
        }
        assert!(
            (60..=80).contains(&(ds.series_count() - 100)),
            "{}",
            ds.series_count()
        );
        assert_eq!(ds.patients_in("bulk-synthetic").len(), 13);
        let sops = ds.sop_uids(&ds.series_at(0).series_uid);
        assert_eq!(sops.len() as u64, ds.series_at(0).image_count);
        assert!(sops.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_small_collection_has_old_and_new_releases() {
        let ds = Dataset::new(0);
        let cut = Timestamp::date(2024, 1, 1);
        for c in ds.all_collections() {
            let s = ds.series_in(&c);
            assert!(s.iter().any(|x| x.released > cut), "{c}");
            assert!(s.iter().any(|x| x.released < cut), "{c}");
        }
    }

    fn assert_consistent(ds: &Dataset) {
        let mut seen = std::collections::HashSet::new();
        for c in ds.all_collections() {
            for x in ds.series_in(&c) {
                assert_eq!(x.collection, c);
                assert!(seen.insert(x.series_uid.clone()), "dup {}", x.series_uid);
                assert_eq!(ds.find_series(&x.series_uid).unwrap(), x);
                let st = ds.study_of(&x);
                assert_eq!(st.collection, c);
                assert!(st.released >= x.released);
                assert!(ds.patient_of(&x).released >= x.released);
            }
            for p in ds.patients_in(&c) {
                assert_eq!(p.collection, c);
            }
            for st in ds.studies_in(&c) {
                assert_eq!(st.collection, c);
                let n = ds
                    .series_in(&c)
                    .iter()
                    .filter(|x| x.study_uid == st.study_uid)
                    .count();
                assert_eq!(st.series_count, n as u64, "{}", st.study_uid);
            }
        }
        assert_eq!(seen.len(), ds.series_count());
    }

    #[test]
    fn release_change_withdraw_keep_ranges_consistent() {
        let mut ds = Dataset::new(50);
        let now = Timestamp::new(2030, 1, 2, 3, 4, 5);
        let first = "CT COLONOGRAPHY".to_string();
        let n = ds.series_count();
        let uids = ds.release(&first, 3, now).unwrap();
        assert_eq!(ds.series_count(), n + 3);
        let more = ds.release(&first.to_lowercase(), 1, now).unwrap();
        assert_ne!(
            ds.find_series(&uids[0]).unwrap().patient_id,
            ds.find_series(&more[0]).unwrap().patient_id
        );
        assert_consistent(&ds);
        let x = ds.series_in("TCGA-BLCA")[0].clone();
        assert_eq!(ds.change(&x.series_uid, now).unwrap(), x.image_count + 1);
        assert_eq!(ds.sop_uids(&x.series_uid).len() as u64, x.image_count + 1);
        assert_eq!(ds.patient_of(&x).released, now);
        ds.withdraw(&uids[1]).unwrap();
        ds.withdraw(&more[0]).unwrap();
        assert!(ds.find_series(&more[0]).is_none());
        assert!(ds.patients_in(&first).iter().all(|p| p.patient_id
            != ds.find_series(&uids[0]).unwrap().patient_id
            || p.released == now));
        assert_consistent(&ds);
        let bulk = ds.series_in(BULK_COLLECTION)[3].series_uid.clone();
        assert!(ds.change(&bulk, now).is_err());
        assert!(ds.withdraw(&bulk).is_err());
        assert!(ds.release(BULK_COLLECTION, 1, now).is_err());
        assert!(ds.release("nope", 1, now).is_err());
        assert!(ds.withdraw("1.2.3").is_err());
    }
}
