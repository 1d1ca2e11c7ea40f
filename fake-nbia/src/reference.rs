//! Reference data read from the NBIA server's source, for the tests on both sides: the fake's
//! own tests check the fake against it, tcia's tests check what tcia sends. The fake's routes keep
//! a table of their own (`routes.rs`), so that a slip in either shows up as a failing test.

/// The allowed-parameter sets of the v4 GET classes (CBIIT/NBIA-TCIA restAPI/v4, `Set.of(...)`);
/// an empty set: the class checks nothing (the fake is stricter there and takes nothing).
pub const V4_GET_ALLOWED: &[(&str, &[&str])] = &[
    ("getCollectionValues", &["format"]),
    (
        "getModalityValues",
        &["Collection", "format", "BodyPartExamined"],
    ),
    ("getBodyPartValues", &["Collection", "format", "Modality"]),
    (
        "getManufacturerValues",
        &["Collection", "format", "Modality", "BodyPartExamined"],
    ),
    ("getPatient", &["Collection", "PatientId", "format"]),
    (
        "getPatientByCollectionAndModality",
        &["Collection", "Modality", "format"],
    ),
    (
        "NewPatientsInCollection",
        &["Collection", "fromDate", "format"],
    ),
    (
        "getPatientStudy",
        &["Collection", "PatientID", "StudyInstanceUID", "format"],
    ),
    (
        "NewStudiesInPatientCollection",
        &["Collection", "PatientID", "fromDate", "format"],
    ),
    (
        "getSeries",
        &[
            "Collection",
            "format",
            "PatientID",
            "StudyInstanceUID",
            "Modality",
            "BodyPartExamined",
            "ManufacturerModelName",
            "Manufacturer",
            "SeriesInstanceUID",
        ],
    ),
    ("getUpdatedSeries", &["fromDate", "format"]),
    ("getSeriesSize", &["SeriesInstanceUID", "format"]),
    ("getSOPInstanceUIDs", &["SeriesInstanceUID", "format"]),
    ("getDicomTags", &["SeriesUID"]),
    ("getCollectionValuesAndCounts", &[]),
    (
        "getModalityValuesAndCounts",
        &["Collection", "BodyPartExamined"],
    ),
    ("getBodyPartValuesAndCounts", &["Collection", "Modality"]),
    (
        "getManufacturerValuesAndCounts",
        &["Collection", "Modality", "BodyPartExamined"],
    ),
    ("getSpeciesValuesAndCounts", &[]),
    ("getCollectionDescriptions", &["collectionName"]),
    (
        "getImage",
        &["SeriesInstanceUID", "NewFileNames", "IncludeMD5"],
    ),
    ("getImageWithMD5Hash", &["SeriesInstanceUID"]),
    ("getSingleImage", &["SeriesInstanceUID", "SOPInstanceUID"]),
    ("getMD5HashForImage", &["SOPInstanceUID"]),
];

/// The endpoints of [`V4_GET_ALLOWED`] that fetch images (downloads), not metadata.
pub const V4_IMAGE_ENDPOINTS: &[&str] = &[
    "getImage",
    "getImageWithMD5Hash",
    "getSingleImage",
    "getMD5HashForImage",
];
