//! The endpoint catalogue: the servers tcia knows, and for every NBIA endpoint tcia calls and
//! every API version, the method, the path, the parameter spellings, the date formats and the
//! known columns in the server's order. Metadata endpoints are read by one generic query path
//! (`api::rows`); downloads, single images and the OAuth endpoints take their paths from here.

use reqwest::Url;

use crate::dates::DateFmt;
use crate::error::Error;

pub const DEFAULT_SERVER: &str = "https://services.cancerimagingarchive.net";
pub const NLST_SERVER: &str = "https://nlst.cancerimagingarchive.net";

/// A file-name-safe key for a server URL (`https_services.cancerimagingarchive.net_443`).
pub fn server_key(base: &Url) -> String {
    file_key(&format!(
        "{}_{}_{}{}",
        base.scheme(),
        base.host_str().unwrap_or("host"),
        base.port_or_known_default().unwrap_or(0),
        base.path().trim_end_matches('/')
    ))
}

/// Text as a file-name-safe key: ASCII letters, digits, `.` and `-` kept, the rest `_`.
pub fn file_key(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether a URL's host is this machine (plain http is allowed there without `--allow-http`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Resolve `--server`: a URL, or the names `nbia` / `nlst`. Plain http is refused unless the host
/// is loopback or `allow_http` is set.
pub fn resolve_server(s: &str, allow_http: bool) -> Result<Url, Error> {
    let raw_s = s;
    let masked = crate::secret::mask_url_password(s);
    let s = masked.as_str();
    let raw = match raw_s.trim() {
        "nbia" | "tcia" => DEFAULT_SERVER,
        "nlst" => NLST_SERVER,
        other => other,
    };
    let url = Url::parse(raw).map_err(|e| {
        Error::Usage(format!(
            "invalid --server '{s}': {e}; {}",
            scheme_hint(s).unwrap_or_else(|| format!(
                "expected a URL such as {DEFAULT_SERVER}, or one of: nbia, nlst"
            ))
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback(&url) && !allow_http {
                return Err(Error::Usage(format!(
                    "refusing plain http:// for --server {s}: use https://, or pass --allow-http if you really mean it"
                )));
            }
        }
        other => {
            return Err(Error::Usage(format!(
                "invalid --server '{s}': scheme '{other}' is not supported; {}",
                scheme_hint(s)
                    .unwrap_or_else(|| "use https:// (or http:// for a local server)".into())
            )))
        }
    }
    if url.host().is_none() {
        return Err(Error::Usage(format!("invalid --server '{s}': no host")));
    }
    Ok(url)
}

/// `127.0.0.1:8080` or `nbia.example.org`: a host without a scheme; say which one to add
/// (http:// for a server on this machine, https:// otherwise).
fn scheme_hint(s: &str) -> Option<String> {
    let s = s.trim();
    if s.contains("://") || s.is_empty() {
        return None;
    }
    let host = s.split([':', '/']).next().unwrap_or("");
    let local = host == "localhost" || host.starts_with("127.") || s.starts_with("[::1]");
    let scheme = if local { "http" } else { "https" };
    Some(format!("did you mean {scheme}://{s}?"))
}

/// The API flavour selected with `--api`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Api {
    /// NBIA Search API v4 (current, anonymous for public data).
    V4,
    /// NBIA Search API v1 (older, anonymous).
    V1,
    /// NBIA Search with Authentication API v2 (Bearer token) and the advanced endpoints.
    V2,
    /// The retired TCIA "Bindaas" API (`/services/v3/TCIA/query`, header `api_key`).
    Legacy,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::V4 => "v4",
            Api::V1 => "v1",
            Api::V2 => "v2",
            Api::Legacy => "legacy",
        }
    }
}

/// What a user filters on, independent of how each endpoint spells it on the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    Collection,
    PatientId,
    StudyUid,
    SeriesUid,
    SopUid,
    Modality,
    BodyPart,
    Manufacturer,
    Model,
    Since,
    CartName,
}

impl Param {
    /// The command-line flag that sets this parameter (for error messages).
    pub fn flag(self) -> &'static str {
        match self {
            Param::Collection => "--collection",
            Param::PatientId => "--patient-id",
            Param::StudyUid => "--study-uid",
            Param::SeriesUid => "--series-uid",
            Param::SopUid => "--sop-uid",
            Param::Modality => "--modality",
            Param::BodyPart => "--body-part",
            Param::Manufacturer => "--manufacturer",
            Param::Model => "--model",
            Param::Since => "--since",
            Param::CartName => "--name",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// Where an endpoint lives on the server.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// `/nbia-api/services/<version>/<name>` with the selected version.
    Versioned(&'static str),
    /// `/nbia-api/services/v1/<name>` whatever version is selected (getContentsByName).
    V1Only(&'static str),
    /// `/nbia-api/services/<name>`: the un-versioned "advanced" endpoints.
    Advanced(&'static str),
    /// `/services/v3/TCIA/query/<name>`: the legacy Bindaas API.
    Legacy(&'static str),
    /// `/<path>` whatever version is selected (the OAuth token and logout endpoints).
    Root(&'static str),
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::Versioned(n)
            | Path::V1Only(n)
            | Path::Advanced(n)
            | Path::Legacy(n)
            | Path::Root(n) => n,
        }
    }

    /// The URL path (without host) for this route under `api`.
    pub fn url_path(self, api: Api) -> String {
        match self {
            Path::Versioned(n) => {
                let v = if api == Api::Legacy {
                    "v1"
                } else {
                    api.as_str()
                };
                format!("/nbia-api/services/{v}/{n}")
            }
            Path::V1Only(n) => format!("/nbia-api/services/v1/{n}"),
            Path::Advanced(n) => format!("/nbia-api/services/{n}"),
            Path::Legacy(n) => format!("/services/v3/TCIA/query/{n}"),
            Path::Root(n) => format!("/{n}"),
        }
    }
}

/// One parameter as a route spells it.
#[derive(Copy, Clone, Debug)]
pub struct Wire {
    pub param: Param,
    pub name: &'static str,
    pub date: Option<DateFmt>,
}

const fn w(param: Param, name: &'static str) -> Wire {
    Wire {
        param,
        name,
        date: None,
    }
}

const fn d(name: &'static str, fmt: DateFmt) -> Wire {
    Wire {
        param: Param::Since,
        name,
        date: Some(fmt),
    }
}

/// How an endpoint is reached under a set of API versions.
#[derive(Debug)]
pub struct Route {
    pub apis: &'static [Api],
    pub path: Path,
    pub method: Method,
    pub params: &'static [Wire],
    pub required: &'static [Param],
    pub columns: &'static [&'static str],
}

/// An endpoint as users see it: a subcommand and its routes.
#[derive(Debug)]
pub struct Endpoint {
    /// The subcommand name (`series`).
    pub command: &'static str,
    /// The endpoint name users know from the API guides (`getSeries`).
    pub name: &'static str,
    pub routes: &'static [Route],
}

impl Endpoint {
    /// The route for `api`, or an error naming the versions that have this endpoint.
    pub fn route(&'static self, api: Api) -> Result<&'static Route, String> {
        if let Some(r) = self.routes.iter().find(|r| r.apis.contains(&api)) {
            return Ok(r);
        }
        let have: Vec<&str> = self
            .routes
            .iter()
            .flat_map(|r| r.apis.iter().map(|a| a.as_str()))
            .collect();
        Err(format!(
            "`tcia {}` ({}) is not available with --api {}; it is offered by --api {}",
            self.command,
            self.name,
            api.as_str(),
            have.join(", --api ")
        ))
    }
}

impl Route {
    pub fn wire(&self, p: Param) -> Option<&'static Wire> {
        self.params.iter().find(|w| w.param == p)
    }
}

use Api::{Legacy as L, V1, V2, V4};
use Param::*;

const MODERN: &[Api] = &[V4, V1, V2];
const OLD: &[Api] = &[V1, V2];

// ---- columns, in the server's order -------------------------------------------------------

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
const SERIES_LEGACY: &[&str] = &[
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
const UPDATED_V1: &[&str] = &[
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
const CART_V1: &[&str] = &[
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
const PATIENT_V1: &[&str] = &[
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
const PATIENT_V4: &[&str] = &[
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
const PATIENT_LEGACY: &[&str] = &[
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "EthnicGroup",
    "Collection",
];
const STUDY_V1: &[&str] = &[
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
const STUDY_V4: &[&str] = &[
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
const STUDY_LEGACY: &[&str] = &[
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
];
pub const SERIES_METADATA_V1: &[&str] = &[
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
pub const SERIES_METADATA_V4: &[&str] = &[
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

macro_rules! route {
    ($apis:expr, $path:expr, $method:expr, [$($p:expr),* $(,)?], [$($r:expr),* $(,)?], $cols:expr) => {
        Route { apis: $apis, path: $path, method: $method, params: &[$($p),*], required: &[$($r),*], columns: $cols }
    };
}

use DateFmt::{DashMdy, SlashDmy, SlashYmd};
use Method::{Get, Post};
use Path::{Advanced, Legacy as Lg, Root, V1Only, Versioned};

pub static COLLECTIONS: Endpoint = Endpoint {
    command: "collections",
    name: "getCollectionValues",
    routes: &[
        route!(
            MODERN,
            Versioned("getCollectionValues"),
            Get,
            [],
            [],
            &["Collection"]
        ),
        route!(
            &[L],
            Lg("getCollectionValues"),
            Get,
            [],
            [],
            &["Collection"]
        ),
    ],
};

pub static MODALITIES: Endpoint = Endpoint {
    command: "modalities",
    name: "getModalityValues",
    routes: &[
        route!(
            MODERN,
            Versioned("getModalityValues"),
            Get,
            [w(Collection, "Collection"), w(BodyPart, "BodyPartExamined")],
            [],
            &["Modality"]
        ),
        route!(
            &[L],
            Lg("getModalityValues"),
            Get,
            [w(Collection, "Collection"), w(BodyPart, "BodyPartExamined")],
            [],
            &["Modality"]
        ),
    ],
};

pub static BODY_PARTS: Endpoint = Endpoint {
    command: "body-parts",
    name: "getBodyPartValues",
    routes: &[
        route!(
            MODERN,
            Versioned("getBodyPartValues"),
            Get,
            [w(Collection, "Collection"), w(Modality, "Modality")],
            [],
            &["BodyPartExamined"]
        ),
        route!(
            &[L],
            Lg("getBodyPartValues"),
            Get,
            [w(Collection, "Collection"), w(Modality, "Modality")],
            [],
            &["BodyPartExamined"]
        ),
    ],
};

pub static MANUFACTURERS: Endpoint = Endpoint {
    command: "manufacturers",
    name: "getManufacturerValues",
    routes: &[
        route!(
            MODERN,
            Versioned("getManufacturerValues"),
            Get,
            [
                w(Collection, "Collection"),
                w(Modality, "Modality"),
                w(BodyPart, "BodyPartExamined")
            ],
            [],
            &["Manufacturer"]
        ),
        route!(
            &[L],
            Lg("getManufacturerValues"),
            Get,
            [
                w(Collection, "Collection"),
                w(Modality, "Modality"),
                w(BodyPart, "BodyPartExamined")
            ],
            [],
            &["Manufacturer"]
        ),
    ],
};

pub static PATIENTS: Endpoint = Endpoint {
    command: "patients",
    name: "getPatient",
    routes: &[
        route!(
            &[V4],
            Versioned("getPatient"),
            Get,
            [w(Collection, "Collection"), w(PatientId, "PatientId")],
            [],
            PATIENT_V4
        ),
        route!(
            OLD,
            Versioned("getPatient"),
            Get,
            [w(Collection, "Collection"), w(PatientId, "PatientId")],
            [],
            PATIENT_V1
        ),
        route!(
            &[L],
            Lg("getPatient"),
            Get,
            [w(Collection, "Collection")],
            [],
            PATIENT_LEGACY
        ),
    ],
};

pub static PATIENTS_BY_MODALITY: Endpoint = Endpoint {
    command: "patients-by-modality",
    name: "getPatientByCollectionAndModality",
    routes: &[
        route!(
            &[V4],
            Versioned("getPatientByCollectionAndModality"),
            Get,
            [w(Collection, "Collection"), w(Modality, "Modality")],
            [Collection, Modality],
            &["PatientId", "Authorized"]
        ),
        route!(
            OLD,
            Versioned("getPatientByCollectionAndModality"),
            Get,
            [w(Collection, "Collection"), w(Modality, "Modality")],
            [Collection, Modality],
            &["PatientId"]
        ),
    ],
};

pub static NEW_PATIENTS: Endpoint = Endpoint {
    command: "new-patients",
    name: "NewPatientsInCollection",
    routes: &[
        route!(
            &[V4],
            Versioned("NewPatientsInCollection"),
            Get,
            [w(Collection, "Collection"), d("fromDate", DashMdy)],
            [Collection, Since],
            PATIENT_V4
        ),
        route!(
            OLD,
            Versioned("NewPatientsInCollection"),
            Get,
            [w(Collection, "Collection"), d("Date", SlashYmd)],
            [Collection, Since],
            PATIENT_V1
        ),
    ],
};

pub static STUDIES: Endpoint = Endpoint {
    command: "studies",
    name: "getPatientStudy",
    routes: &[
        route!(
            &[V4],
            Versioned("getPatientStudy"),
            Get,
            [
                w(Collection, "Collection"),
                w(PatientId, "PatientID"),
                w(StudyUid, "StudyInstanceUID")
            ],
            [],
            STUDY_V4
        ),
        route!(
            OLD,
            Versioned("getPatientStudy"),
            Get,
            [
                w(Collection, "Collection"),
                w(PatientId, "PatientID"),
                w(StudyUid, "StudyInstanceUID")
            ],
            [],
            STUDY_V1
        ),
        route!(
            &[L],
            Lg("getPatientStudy"),
            Get,
            [
                w(Collection, "Collection"),
                w(PatientId, "PatientID"),
                w(StudyUid, "StudyInstanceUID")
            ],
            [],
            STUDY_LEGACY
        ),
    ],
};

pub static NEW_STUDIES: Endpoint = Endpoint {
    command: "new-studies",
    name: "NewStudiesInPatientCollection",
    routes: &[
        route!(
            &[V4],
            Versioned("NewStudiesInPatientCollection"),
            Get,
            [
                w(Collection, "Collection"),
                w(PatientId, "PatientID"),
                d("fromDate", DashMdy)
            ],
            [Collection, Since],
            STUDY_V4
        ),
        route!(
            OLD,
            Versioned("NewStudiesInPatientCollection"),
            Get,
            [
                w(Collection, "Collection"),
                w(PatientId, "PatientID"),
                d("Date", SlashYmd)
            ],
            [Collection, Since],
            STUDY_V1
        ),
    ],
};

const SERIES_FILTERS: &[Wire] = &[
    w(Collection, "Collection"),
    w(PatientId, "PatientID"),
    w(StudyUid, "StudyInstanceUID"),
    w(SeriesUid, "SeriesInstanceUID"),
    w(Modality, "Modality"),
    w(BodyPart, "BodyPartExamined"),
    w(Manufacturer, "Manufacturer"),
    w(Model, "ManufacturerModelName"),
];

pub static SERIES: Endpoint = Endpoint {
    command: "series",
    name: "getSeries",
    routes: &[
        Route {
            apis: &[V4],
            path: Versioned("getSeries"),
            method: Get,
            params: SERIES_FILTERS,
            required: &[],
            columns: SERIES_V4,
        },
        Route {
            apis: OLD,
            path: Versioned("getSeries"),
            method: Get,
            params: SERIES_FILTERS,
            required: &[],
            columns: SERIES_V1,
        },
        route!(
            &[L],
            Lg("getSeries"),
            Get,
            [
                w(Collection, "Collection"),
                w(PatientId, "PatientID"),
                w(StudyUid, "StudyInstanceUID"),
                w(Modality, "Modality")
            ],
            [],
            SERIES_LEGACY
        ),
    ],
};

pub static UPDATED_SERIES: Endpoint = Endpoint {
    command: "updated-series",
    name: "getUpdatedSeries",
    routes: &[
        route!(
            &[V4],
            Versioned("getUpdatedSeries"),
            Get,
            [d("fromDate", DashMdy)],
            [Since],
            SERIES_V4
        ),
        route!(
            OLD,
            Versioned("getUpdatedSeries"),
            Get,
            [d("fromDate", SlashDmy)],
            [Since],
            UPDATED_V1
        ),
    ],
};

pub static SERIES_SIZE: Endpoint = Endpoint {
    command: "series-size",
    name: "getSeriesSize",
    routes: &[
        route!(
            MODERN,
            Versioned("getSeriesSize"),
            Get,
            [w(SeriesUid, "SeriesInstanceUID")],
            [SeriesUid],
            &["TotalSizeInBytes", "ObjectCount"]
        ),
        route!(
            &[L],
            Lg("getSeriesSize"),
            Get,
            [w(SeriesUid, "SeriesInstanceUID")],
            [SeriesUid],
            &["TotalSizeInBytes", "ObjectCount"]
        ),
    ],
};

pub static SOP_UIDS: Endpoint = Endpoint {
    command: "sop-uids",
    name: "getSOPInstanceUIDs",
    routes: &[route!(
        MODERN,
        Versioned("getSOPInstanceUIDs"),
        Get,
        [w(SeriesUid, "SeriesInstanceUID")],
        [SeriesUid],
        &["SOPInstanceUID"]
    )],
};

pub static SERIES_METADATA: Endpoint = Endpoint {
    command: "series-metadata",
    name: "getSeriesMetadata",
    routes: &[
        route!(
            &[V4],
            Versioned("getSeriesMetadata"),
            Post,
            [],
            [],
            SERIES_METADATA_V4
        ),
        route!(
            OLD,
            Versioned("getSeriesMetaData"),
            Get,
            [w(SeriesUid, "SeriesInstanceUID")],
            [SeriesUid],
            SERIES_METADATA_V1
        ),
    ],
};

pub static CART: Endpoint = Endpoint {
    command: "cart",
    name: "getContentsByName",
    routes: &[route!(
        MODERN,
        V1Only("getContentsByName"),
        Get,
        [w(CartName, "name")],
        [CartName],
        CART_V1
    )],
};

pub static DICOM_TAGS: Endpoint = Endpoint {
    command: "dicom-tags",
    name: "getDicomTags",
    routes: &[route!(
        &[V4, V2],
        Versioned("getDicomTags"),
        Get,
        [w(SeriesUid, "SeriesUID")],
        [SeriesUid],
        &["element", "name", "data"]
    )],
};

macro_rules! counts {
    ($stat:ident, $cmd:expr, $name:expr, $key:expr, [$($p:expr),*]) => {
        pub static $stat: Endpoint = Endpoint {
            command: $cmd,
            name: $name,
            routes: &[
                route!(&[V4], Versioned($name), Get, [$($p),*], [], &[$key, "Count", "Authorized"]),
                route!(&[V2], Advanced($name), Get, [$($p),*], [], &[$key, "Count"]),
            ],
        };
    };
}

counts!(
    COLLECTION_COUNTS,
    "collection-counts",
    "getCollectionValuesAndCounts",
    "Collection",
    []
);
counts!(
    MODALITY_COUNTS,
    "modality-counts",
    "getModalityValuesAndCounts",
    "Modality",
    [w(Collection, "Collection"), w(BodyPart, "BodyPartExamined")]
);
counts!(
    BODY_PART_COUNTS,
    "body-part-counts",
    "getBodyPartValuesAndCounts",
    "BodyPartExamined",
    [w(Collection, "Collection"), w(Modality, "Modality")]
);
counts!(
    MANUFACTURER_COUNTS,
    "manufacturer-counts",
    "getManufacturerValuesAndCounts",
    "Manufacturer",
    [
        w(Collection, "Collection"),
        w(Modality, "Modality"),
        w(BodyPart, "BodyPartExamined")
    ]
);

pub static DESCRIPTIONS: Endpoint = Endpoint {
    command: "descriptions",
    name: "getCollectionDescriptions",
    routes: &[
        route!(
            &[V4],
            Versioned("getCollectionDescriptions"),
            Get,
            [w(Collection, "collectionName")],
            [],
            &[
                "collectionName",
                "description",
                "descriptionURI",
                "collectionDescTimestamp"
            ]
        ),
        route!(
            &[V2],
            Advanced("getCollectionDescriptions"),
            Get,
            [w(Collection, "collectionName")],
            [],
            &[
                "collectionName",
                "description",
                "descriptionURI",
                "collectionDescTimestamp"
            ]
        ),
    ],
};

pub static SEARCH: Endpoint = Endpoint {
    command: "search",
    name: "getSimpleSearch",
    routes: &[route!(
        &[V4],
        Versioned("getSimpleSearch"),
        Post,
        [],
        [],
        &[
            "subjectId",
            "project",
            "id",
            "totalNumberOfStudies",
            "totalNumberOfSeries"
        ]
    )],
};

pub static MANIFEST_SEARCH: Endpoint = Endpoint {
    command: "manifest",
    name: "getManifestForSimpleSearch",
    routes: &[route!(
        &[V4],
        Versioned("getManifestForSimpleSearch"),
        Post,
        [],
        [],
        &[]
    )],
};

pub static MANIFEST_TEXT: Endpoint = Endpoint {
    command: "manifest",
    name: "getManifestText",
    routes: &[route!(
        &[V4],
        Versioned("getManifestText"),
        Post,
        [],
        [],
        &[]
    )],
};

/// A whole collection's manifest (`collection`, `includeAnnotation`; v4 only).
pub static MANIFEST_COLLECTION: Endpoint = Endpoint {
    command: "manifest",
    name: "getManifestForCollection",
    routes: &[route!(
        &[V4],
        Versioned("getManifestForCollection"),
        Post,
        [],
        [],
        &[]
    )],
};

/// Patients per species code (v4 only).
pub static SPECIES_COUNTS: Endpoint = Endpoint {
    command: "species-counts",
    name: "getSpeciesValuesAndCounts",
    routes: &[route!(
        &[V4],
        Versioned("getSpeciesValuesAndCounts"),
        Get,
        [],
        [],
        &["Species", "Count", "Authorized"]
    )],
};

/// Collections or series citing a DOI (form `DOI`, `CollectionOrSeries`; v4 only). The key
/// `thirdPartyAnanlysis` is the server's spelling.
pub static DOI: Endpoint = Endpoint {
    command: "doi",
    name: "getCollectionOrSeriesForDOI",
    routes: &[route!(
        &[V4],
        Versioned("getCollectionOrSeriesForDOI"),
        Post,
        [],
        [],
        &[
            "collection",
            "seriesInstanceUID",
            "thirdPartyAnanlysis",
            "authorized"
        ]
    )],
};

/// The MD5 of a series, study, patient (with its collection) or collection (v4 only).
pub static MD5_HIERARCHY: Endpoint = Endpoint {
    command: "md5",
    name: "getMD5Hierarchy",
    routes: &[route!(
        &[V4],
        Versioned("getMD5Hierarchy"),
        Post,
        [],
        [],
        &["Level", "ID", "MD5"]
    )],
};

/// The MD5 of one image (`SOPInstanceUID`; v4 only).
pub static MD5_IMAGE: Endpoint = Endpoint {
    command: "single-image",
    name: "getMD5HashForImage",
    routes: &[route!(
        &[V4],
        Versioned("getMD5HashForImage"),
        Get,
        [w(SopUid, "SOPInstanceUID")],
        [SopUid],
        &[]
    )],
};

// ---- downloads and sessions: not metadata, but their paths and methods live here too ----

/// A series as one ZIP (v4: `NewFileNames=Yes`, `IncludeMD5=yes`; v1/v2 without MD5s).
pub static IMAGE: Endpoint = Endpoint {
    command: "download",
    name: "getImage",
    routes: &[route!(
        MODERN,
        Versioned("getImage"),
        Get,
        [w(SeriesUid, "SeriesInstanceUID")],
        [SeriesUid],
        &[]
    )],
};

/// v1/v2: a series as one ZIP with md5hashes.csv.
pub static IMAGE_WITH_MD5: Endpoint = Endpoint {
    command: "download",
    name: "getImageWithMD5Hash",
    routes: &[route!(
        OLD,
        Versioned("getImageWithMD5Hash"),
        Get,
        [w(SeriesUid, "SeriesInstanceUID")],
        [SeriesUid],
        &[]
    )],
};

/// One DICOM file.
pub static SINGLE_IMAGE: Endpoint = Endpoint {
    command: "single-image",
    name: "getSingleImage",
    routes: &[route!(
        MODERN,
        Versioned("getSingleImage"),
        Get,
        [
            w(SeriesUid, "SeriesInstanceUID"),
            w(SopUid, "SOPInstanceUID")
        ],
        [SeriesUid, SopUid],
        &[]
    )],
};

/// The OAuth2 token endpoint (password and refresh grants, form-encoded).
pub static TOKEN: Endpoint = Endpoint {
    command: "login",
    name: "oauth/token",
    routes: &[route!(
        MODERN,
        Root("nbia-api/oauth/token"),
        Post,
        [],
        [],
        &[]
    )],
};

/// Ends the server's session for a Bearer token.
pub static LOGOUT: Endpoint = Endpoint {
    command: "logout",
    name: "logout",
    routes: &[route!(MODERN, Root("nbia-api/logout"), Get, [], [], &[])],
};

/// The v4 endpoints whose server class accepts `format` (its allowed-parameter set, NBIA source);
/// the others answer 400 for it, so `--raw` is refused there.
pub const V4_TAKES_FORMAT: &[&str] = &[
    "getCollectionValues",
    "getModalityValues",
    "getBodyPartValues",
    "getManufacturerValues",
    "getPatient",
    "getPatientByCollectionAndModality",
    "NewPatientsInCollection",
    "getPatientStudy",
    "NewStudiesInPatientCollection",
    "getSeries",
    "getUpdatedSeries",
    "getSeriesSize",
    "getSOPInstanceUIDs",
    "getSeriesMetadata",
];

/// Every endpoint, for lookups and documentation.
pub static ALL: &[&Endpoint] = &[
    &COLLECTIONS,
    &MODALITIES,
    &BODY_PARTS,
    &MANUFACTURERS,
    &PATIENTS,
    &PATIENTS_BY_MODALITY,
    &NEW_PATIENTS,
    &STUDIES,
    &NEW_STUDIES,
    &SERIES,
    &UPDATED_SERIES,
    &SERIES_SIZE,
    &SOP_UIDS,
    &SERIES_METADATA,
    &CART,
    &DICOM_TAGS,
    &COLLECTION_COUNTS,
    &MODALITY_COUNTS,
    &BODY_PART_COUNTS,
    &MANUFACTURER_COUNTS,
    &DESCRIPTIONS,
    &SEARCH,
    &MANIFEST_SEARCH,
    &MANIFEST_TEXT,
    &MANIFEST_COLLECTION,
    &SPECIES_COUNTS,
    &DOI,
    &MD5_HIERARCHY,
    &MD5_IMAGE,
    &IMAGE,
    &IMAGE_WITH_MD5,
    &SINGLE_IMAGE,
    &TOKEN,
    &LOGOUT,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_and_http_policy() {
        assert_eq!(
            resolve_server("nlst", false).unwrap().as_str(),
            "https://nlst.cancerimagingarchive.net/"
        );
        assert!(resolve_server("http://127.0.0.1:9", false).is_ok());
        assert!(resolve_server("http://localhost:9", false).is_ok());
        assert!(resolve_server("http://example.org", false).is_err());
        assert!(resolve_server("http://example.org", true).is_ok());
        assert!(resolve_server("ftp://example.org", true).is_err());
        assert!(resolve_server("not a url", true).is_err());
    }

    #[test]
    fn every_route_requires_only_params_it_declares() {
        for e in ALL {
            for r in e.routes {
                for p in r.required {
                    assert!(
                        r.wire(*p).is_some() || r.method == Method::Post,
                        "{} {:?}",
                        e.name,
                        p
                    );
                }
            }
        }
    }

    #[test]
    fn downloads_and_sessions_are_in_the_catalogue() {
        let names: Vec<&str> = ALL.iter().map(|e| e.name).collect();
        for n in [
            "getImage",
            "getImageWithMD5Hash",
            "getSingleImage",
            "oauth/token",
            "logout",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        let token = TOKEN.route(Api::V2).unwrap();
        assert_eq!(token.method, Method::Post);
        assert_eq!(token.path.url_path(Api::V2), "/nbia-api/oauth/token");
        assert_eq!(
            IMAGE_WITH_MD5
                .route(Api::V1)
                .unwrap()
                .path
                .url_path(Api::V1),
            "/nbia-api/services/v1/getImageWithMD5Hash"
        );
        assert!(IMAGE_WITH_MD5.route(Api::V4).is_err());
    }

    #[test]
    fn missing_version_names_the_ones_that_have_it() {
        let err = UPDATED_SERIES.route(Api::Legacy).unwrap_err();
        assert!(err.contains("--api v4"), "{err}");
        assert!(err.contains("--api v1"), "{err}");
    }

    #[test]
    fn paths_per_version() {
        assert_eq!(
            Path::Versioned("getSeries").url_path(Api::V4),
            "/nbia-api/services/v4/getSeries"
        );
        assert_eq!(
            Path::V1Only("getContentsByName").url_path(Api::V4),
            "/nbia-api/services/v1/getContentsByName"
        );
        assert_eq!(
            Path::Legacy("getSeries").url_path(Api::Legacy),
            "/services/v3/TCIA/query/getSeries"
        );
        assert_eq!(
            Path::Advanced("getCollectionValuesAndCounts").url_path(Api::V2),
            "/nbia-api/services/getCollectionValuesAndCounts"
        );
    }
}
