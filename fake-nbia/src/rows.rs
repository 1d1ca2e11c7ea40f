//! Column lists and row builders for each endpoint shape and API version (series, updated series,
//! carts, patients, studies, v1/v4 series metadata), and the tag list `getDicomTags` returns.

use crate::data::{Dataset, Patient, Series, Study};
use crate::render::{Row, Val};
use crate::time::Timestamp;

fn ts1(t: &Option<Timestamp>) -> Val {
    t.map_or(Val::Null, |t| Val::S(t.v1()))
}
fn ts4(t: &Option<Timestamp>) -> Val {
    t.map_or(Val::Null, |t| Val::S(t.v4()))
}
fn num(n: u64) -> Val {
    Val::I(n as i64)
}
fn flag(b: Option<bool>) -> Val {
    b.map_or(Val::Null, Val::B)
}

pub const SERIES_V1: &[&str] = &[
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "ProtocolName",
    "SeriesDate",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesNumber",
    "AnnotationsFlag",
    "Collection",
    "PatientID",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "ImageCount",
    "TimeStamp",
    "LicenseName",
    "LicenseURI",
    "CollectionURI",
    "FileSize",
    "DateReleased",
    "StudyDesc",
    "StudyDate",
    "ThirdPartyAnalysis",
];

pub fn series_v1(s: Series) -> Row {
    vec![
        Val::S(s.series_uid),
        Val::S(s.study_uid),
        Val::S(s.modality),
        Val::opt(&s.protocol_name),
        ts1(&s.series_date),
        Val::opt(&s.series_description),
        Val::opt(&s.body_part),
        s.series_number.map_or(Val::Null, Val::I),
        flag(s.annotations_flag),
        Val::S(s.collection),
        Val::S(s.patient_id),
        Val::opt(&s.manufacturer),
        Val::opt(&s.manufacturer_model),
        Val::opt(&s.software_versions),
        num(s.image_count),
        Val::S(s.released.v1()),
        Val::S(s.license_name),
        Val::S(s.license_uri),
        Val::S(s.doi),
        num(s.file_size),
        Val::S(s.released.v1()),
        Val::opt(&s.study_desc),
        ts1(&s.study_date),
        Val::opt(&s.third_party),
    ]
}

pub const SERIES_V4: &[&str] = &[
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "ProtocolName",
    "SeriesDate",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesNumber",
    "AnnotationsFlag",
    "Collection",
    "Site",
    "PatientID",
    "PatientSex",
    "PatientAge",
    "AdmittingDiagnosisDescription",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "ImageCount",
    "MaxSubmissionTimestamp",
    "LicenseName",
    "LicenseURI",
    "DataDescriptionURI",
    "FileSize",
    "ReleasedStatus",
    "DateReleased",
    "StudyDesc",
    "StudyDate",
    "ThirdPartyAnalysis",
    "Authorized",
];

pub fn series_v4(s: Series) -> Row {
    vec![
        Val::S(s.series_uid),
        Val::S(s.study_uid),
        Val::S(s.modality),
        Val::opt(&s.protocol_name),
        ts4(&s.series_date),
        Val::opt(&s.series_description),
        Val::opt(&s.body_part),
        s.series_number.map_or(Val::Null, Val::I),
        flag(s.annotations_flag),
        Val::S(s.collection),
        Val::opt(&s.site),
        Val::S(s.patient_id),
        Val::opt(&s.patient_sex),
        Val::opt(&s.patient_age),
        Val::opt(&s.admitting_diagnosis),
        Val::opt(&s.manufacturer),
        Val::opt(&s.manufacturer_model),
        Val::opt(&s.software_versions),
        num(s.image_count),
        Val::S(s.max_submission.v4()),
        Val::S(s.license_name),
        Val::S(s.license_uri),
        Val::S(s.doi),
        num(s.file_size),
        Val::s("Released"),
        Val::S(s.released.v4()),
        Val::opt(&s.study_desc),
        ts4(&s.study_date),
        Val::opt(&s.third_party),
        Val::I(1),
    ]
}

/// v1/v2 getUpdatedSeries (15 series columns + DateReleased).
pub const UPDATED_V1: &[&str] = &[
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "ProtocolName",
    "SeriesDate",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesNumber",
    "AnnotationsFlag",
    "Collection",
    "PatientID",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "ImageCount",
    "DateReleased",
];
/// v1 getContentsByName: same, but "Date Released" with a space.
pub const CART_V1: &[&str] = &[
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "ProtocolName",
    "SeriesDate",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesNumber",
    "AnnotationsFlag",
    "Collection",
    "PatientID",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "ImageCount",
    "Date Released",
];

pub fn updated_v1(s: Series) -> Row {
    let mut r = series_v1(s);
    let released = r[20].clone();
    r.truncate(15);
    r.push(released);
    r
}

/// Legacy Bindaas getSeries (15 columns).
pub const SERIES_LEGACY: &[&str] = &[
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "ProtocolName",
    "SeriesDate",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesNumber",
    "AnnotationsFlag",
    "Collection",
    "PatientID",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "ImageCount",
];

pub fn series_legacy(s: Series) -> Row {
    let mut r = series_v1(s);
    r.truncate(15);
    r
}

pub const PATIENT_V1: &[&str] = &[
    "PatientId",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "EthnicGroup",
    "Collection",
    "Phantom",
    "SpeciesCode",
    "SpeciesDescription",
];
pub const PATIENT_V4: &[&str] = &[
    "PatientId",
    "PatientName",
    "PatientSex",
    "EthnicGroup",
    "Collection",
    "Phantom",
    "SpeciesCode",
    "SpeciesDescription",
    "Authorized",
];
pub const PATIENT_LEGACY: &[&str] = &[
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "EthnicGroup",
    "Collection",
];

pub fn patient_v1(p: Patient) -> Row {
    vec![
        Val::S(p.patient_id),
        Val::opt(&p.patient_name),
        ts1(&p.birth_date),
        Val::opt(&p.sex),
        Val::opt(&p.ethnic_group),
        Val::S(p.collection),
        Val::s("NO"),
        Val::s("337915000"),
        Val::s("Homo sapiens"),
    ]
}

pub fn patient_v4(p: Patient) -> Row {
    let mut r = patient_v1(p);
    r.remove(2);
    r.push(Val::I(1));
    r
}

pub fn patient_legacy(p: Patient) -> Row {
    let mut r = patient_v1(p);
    r.truncate(6);
    r
}

pub const STUDY_V1: &[&str] = &[
    "StudyInstanceUID",
    "StudyDate",
    "StudyDescription",
    "AdmittingDiagnosesDescription",
    "StudyID",
    "PatientAge",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "EthnicGroup",
    "Collection",
    "SeriesCount",
    "LongitudinalTemporalEventType",
    "LongitudinalTemporalOffsetFromEvent",
];
pub const STUDY_V4: &[&str] = &[
    "StudyInstanceUID",
    "StudyDate",
    "StudyDescription",
    "AdmittingDiagnosesDescription",
    "StudyID",
    "PatientAge",
    "PatientID",
    "PatientName",
    "PatientSex",
    "EthnicGroup",
    "Collection",
    "SeriesCount",
    "LongitudinalTemporalEventType",
    "LongitudinalTemporalOffsetFromEvent",
    "Authorized",
];

pub fn study_v1(st: Study, p: &Patient) -> Row {
    vec![
        Val::S(st.study_uid),
        ts1(&st.study_date),
        Val::opt(&st.description),
        Val::opt(&st.admitting_diagnoses),
        Val::opt(&st.study_id),
        Val::opt(&st.patient_age),
        Val::S(st.patient_id),
        Val::opt(&p.patient_name),
        ts1(&p.birth_date),
        Val::opt(&p.sex),
        Val::opt(&p.ethnic_group),
        Val::S(st.collection),
        num(st.series_count),
        Val::Null,
        Val::Null,
    ]
}

pub fn study_v4(st: Study, p: &Patient) -> Row {
    let date = ts4(&st.study_date);
    let mut r = study_v1(st, p);
    r[1] = date;
    r.remove(8);
    r.push(Val::I(1));
    r
}

pub const META_V1: &[&str] = &[
    "Series UID",
    "Collection",
    "3rd Party Analysis",
    "Data Description URI",
    "Subject ID",
    "Study UID",
    "Study Description",
    "Study Date",
    "Series Description",
    "Manufacturer",
    "Modality",
    "SOP Class UID",
    "Number of Images",
    "File Size",
    "File Location",
    "Series Number",
    "License Name",
    "License URL",
    "Annotation Size",
    "Date Released",
    "Series Date",
    "Protocol Name",
    "Body Part Examined",
    "Annotations Flag",
    "Manufacturer Model Name",
    "Software Versions",
    "TimeStamp",
];

fn sanitize(v: &Option<String>) -> Val {
    v.as_ref().map_or(Val::Null, |s| {
        Val::S(
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-'))
                .collect(),
        )
    })
}

/// v1/v2 getSeriesMetaData: spaced keys, every value a string.
pub fn meta_v1(ds: &Dataset, s: Series) -> Row {
    let sop = ds.sop_class_uid(&s);
    vec![
        Val::S(s.series_uid),
        Val::S(s.collection),
        Val::opt(&s.third_party),
        Val::S(s.doi),
        Val::S(s.patient_id),
        Val::S(s.study_uid),
        sanitize(&s.study_desc),
        s.study_date.map_or(Val::Null, |d| {
            Val::S(format!("{:02}-{:02}-{:04}", d.month, d.day, d.year))
        }),
        sanitize(&s.series_description),
        s.manufacturer
            .as_ref()
            .map_or(Val::Null, |m| Val::S(m.replace(',', " "))),
        Val::S(s.modality),
        Val::s(sop),
        Val::S(s.image_count.to_string()),
        Val::S(s.file_size.to_string()),
        Val::opt(&s.study_id),
        s.series_number
            .map_or(Val::Null, |n| Val::S(format!("{n}.000000"))),
        Val::S(s.license_name),
        Val::S(s.license_uri),
        Val::s("0"),
        Val::S(s.released.java()),
        s.series_date.map_or(Val::Null, |d| Val::S(d.java())),
        Val::opt(&s.protocol_name),
        Val::opt(&s.body_part),
        Val::S(s.annotations_flag.unwrap_or(false).to_string()),
        Val::opt(&s.manufacturer_model),
        Val::opt(&s.software_versions),
        Val::S(s.released.java()),
    ]
}

pub const META_V4: &[&str] = &[
    "PatientID",
    "PatientName",
    "PatientSex",
    "EthnicGroup",
    "Phantom",
    "SpeciesCode",
    "SpeciesDescription",
    "StudyInstanceUID",
    "StudyDate",
    "StudyDesc",
    "AdmittingDiagnosisDescription",
    "StudyID",
    "PatientAge",
    "LongitudinalTemporalEventType",
    "LongitudinalTemporalOffsetFromEvent",
    "SeriesInstanceUID",
    "Collection",
    "Site",
    "Modality",
    "ProtocolName",
    "SeriesDate",
    "SeriesDescription",
    "BodyPartExamined",
    "SeriesNumber",
    "AnnotationsFlag",
    "Manufacturer",
    "ManufacturerModelName",
    "PixelSpacing(mm)-Row",
    "SliceThickness(mm)",
    "SoftwareVersions",
    "ImageCount",
    "MaxSubmissionTimestamp",
    "LicenseName",
    "LicenseURI",
    "DataDescriptionURI",
    "FileSize",
    "ReleasedStatus",
    "DateReleased",
    "ThirdPartyAnalysis",
    "Authorized",
];

/// v4 getSeriesMetadata (40 columns).
pub fn meta_v4(ds: &Dataset, s: Series) -> Row {
    let p = ds.patient_of(&s);
    vec![
        Val::S(s.patient_id),
        Val::opt(&p.patient_name),
        Val::opt(&p.sex),
        Val::opt(&p.ethnic_group),
        Val::s("NO"),
        Val::s("337915000"),
        Val::s("Homo sapiens"),
        Val::S(s.study_uid),
        ts4(&s.study_date),
        Val::opt(&s.study_desc),
        Val::opt(&s.admitting_diagnosis),
        Val::opt(&s.study_id),
        Val::opt(&s.patient_age),
        Val::Null,
        Val::Null,
        Val::S(s.series_uid),
        Val::S(s.collection),
        Val::opt(&s.site),
        Val::S(s.modality),
        Val::opt(&s.protocol_name),
        ts4(&s.series_date),
        Val::opt(&s.series_description),
        Val::opt(&s.body_part),
        s.series_number.map_or(Val::Null, Val::I),
        flag(s.annotations_flag),
        Val::opt(&s.manufacturer),
        Val::opt(&s.manufacturer_model),
        Val::opt(&s.pixel_spacing),
        Val::opt(&s.slice_thickness),
        Val::opt(&s.software_versions),
        num(s.image_count),
        Val::S(s.max_submission.v4()),
        Val::S(s.license_name),
        Val::S(s.license_uri),
        Val::S(s.doi),
        num(s.file_size),
        Val::s("Released"),
        Val::S(s.released.v4()),
        Val::opt(&s.third_party),
        Val::I(1),
    ]
}

/// One getDicomTags row before filtering: (element, name, data).
type Tag = (&'static str, &'static str, Option<String>);

/// getDicomTags rows (element, name, data) for the first image of a series, including one sequence.
pub fn dicom_tags(ds: &Dataset, s: &Series) -> Vec<(String, String, Option<String>)> {
    let p = ds.patient_of(s);
    let sops = ds.sop_uids(&s.series_uid);
    let first = sops.first().cloned().unwrap_or_default();
    let class = ds.sop_class_uid(s).to_string();
    let mut v = file_meta_tags(&class, &first);
    v.extend(identifying_tags(s, &class, first));
    v.extend(referenced_image_tags(class, &sops));
    v.extend(patient_tags(s, &p));
    v.extend(series_tags(s));
    // absent attributes are simply not in the file
    v.retain(|(e, _, d)| d.is_some() || e.starts_with("(0008,1140)"));
    v.into_iter()
        .map(|(e, n, d)| (e.to_string(), n.to_string(), d))
        .collect()
}

/// Group 0002 (file meta information) of an image of SOP class `class`, SOP instance `sop`.
fn file_meta_tags(class: &str, sop: &str) -> Vec<Tag> {
    vec![
        (
            "(0002,0000)",
            "File Meta Information Group Length",
            Some("196".into()),
        ),
        (
            "(0002,0001)",
            "File Meta Information Version",
            Some("0\\1".into()),
        ),
        (
            "(0002,0002)",
            "Media Storage SOP Class UID",
            Some(class.to_string()),
        ),
        (
            "(0002,0003)",
            "Media Storage SOP Instance UID",
            Some(sop.to_string()),
        ),
        (
            "(0002,0010)",
            "Transfer Syntax UID",
            Some("1.2.840.10008.1.2.1".into()),
        ),
        (
            "(0002,0012)",
            "Implementation Class UID",
            Some("1.2.40.0.13.1.1.1".into()),
        ),
    ]
}

/// Group 0008 up to Series Description: character set, image type, SOP, study date, modality.
fn identifying_tags(s: &Series, class: &str, sop: String) -> Vec<Tag> {
    vec![
        (
            "(0008,0005)",
            "Specific Character Set",
            Some("ISO_IR 100".into()),
        ),
        (
            "(0008,0008)",
            "Image Type",
            Some("ORIGINAL\\PRIMARY\\AXIAL".into()),
        ),
        ("(0008,0016)", "SOP Class UID", Some(class.to_string())),
        ("(0008,0018)", "SOP Instance UID", Some(sop)),
        ("(0008,0020)", "Study Date", s.study_date.map(|d| d.dicom())),
        ("(0008,0060)", "Modality", Some(s.modality.clone())),
        ("(0008,0070)", "Manufacturer", s.manufacturer.clone()),
        (
            "(0008,103E)",
            "Series Description",
            s.series_description.clone(),
        ),
    ]
}

/// The Referenced Image Sequence: one item naming the second image (the first when it is alone).
fn referenced_image_tags(class: String, sops: &[String]) -> Vec<Tag> {
    vec![
        ("(0008,1140)", "Referenced Image Sequence", None),
        (">(0008,1150)", "Referenced SOP Class UID", Some(class)),
        (
            ">(0008,1155)",
            "Referenced SOP Instance UID",
            sops.get(1).cloned().or_else(|| sops.first().cloned()),
        ),
        ("(0008,1140)", "End Referenced Image Sequence", None),
    ]
}

/// Patient's Name, Patient ID, Patient's Sex and Body Part Examined.
fn patient_tags(s: &Series, p: &Patient) -> Vec<Tag> {
    vec![
        ("(0010,0010)", "Patient's Name", p.patient_name.clone()),
        ("(0010,0020)", "Patient ID", Some(s.patient_id.clone())),
        ("(0010,0040)", "Patient's Sex", p.sex.clone()),
        ("(0018,0015)", "Body Part Examined", s.body_part.clone()),
    ]
}

/// Study / Series Instance UID, Series Number, Rows and Columns.
fn series_tags(s: &Series) -> Vec<Tag> {
    vec![
        (
            "(0020,000D)",
            "Study Instance UID",
            Some(s.study_uid.clone()),
        ),
        (
            "(0020,000E)",
            "Series Instance UID",
            Some(s.series_uid.clone()),
        ),
        (
            "(0020,0011)",
            "Series Number",
            s.series_number.map(|n| n.to_string()),
        ),
        ("(0028,0010)", "Rows", Some("512".into())),
        ("(0028,0011)", "Columns", Some("512".into())),
    ]
}
