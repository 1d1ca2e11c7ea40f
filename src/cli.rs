//! What users type: the clap definitions, with the small value parsers and helpers they need.
//!
//! Conventions (as in xh's cli.rs):
//! - one subcommand per NBIA endpoint, named for what it returns (`series`), with the endpoint's
//!   own name as an alias (`getSeries`) and the endpoint in its help;
//! - global options are `global = true` and each shows its environment variable in `--help`;
//! - filter flags may be repeated (`--modality CT --modality MR`): one request per value;
//! - dates are ISO `YYYY-MM-DD` and checked here, before any request;
//! - every environment variable is named by its constant in `env`;
//! - nothing here runs: `commands` turns these values into requests.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand};

use crate::api::catalogue::Api;
use crate::dates::{parse_date_arg, Date};
use crate::env;
use crate::output::{Format, RawFormat};
pub use crate::printer::ColorChoice;
use crate::secret::Secret;

#[derive(Parser, Debug)]
#[command(
    name = "tcia",
    // `-V` and `--version`: the version and the built-in server (a test checks it is DEFAULT_SERVER).
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (default server https://services.cancerimagingarchive.net)"
    ),
    about = "Query and download from The Cancer Imaging Archive (NBIA REST APIs)",
    long_about = "Query and download from The Cancer Imaging Archive (NBIA REST APIs).\n\n\
        Data goes to stdout (JSON when piped, a table on a terminal); messages go to stderr.",
    after_help = "Examples:\n  tcia series --collection LIDC-IDRI --format csv > series.csv\n  \
        tcia series --collection LIDC-IDRI | jq -r '.[].SeriesInstanceUID'\n  \
        tcia modalities --collection 'CT COLONOGRAPHY'\n  \
        tcia download --collection LIDC-IDRI --modality CT --limit 2 -o lidc   # try the first 2 series\n  \
        tcia download --collection LIDC-IDRI --modality CT -o lidc             # then all (resumes)\n  \
        tcia --source idc download --collection LIDC-IDRI -o lidc              # the same from NCI's IDC",
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// A value parser that accepts any string but offers `hints` to completions and man pages
/// (`--server nbia|nlst|URL`, `--layout flat|classic|descriptive|TEMPLATE`).
#[derive(Clone, Debug)]
pub struct Hinted(pub &'static [&'static str]);

impl TypedValueParser for Hinted {
    type Value = String;
    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }
    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}

/// `--source`: where series rows and files come from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// TCIA's NBIA servers (the REST APIs)
    Nbia,
    /// NCI's Imaging Data Commons: its parquet index and public buckets
    Idc,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Server: a base URL, or `nbia` or `nlst` [default: https://services.cancerimagingarchive.net, or a manifest's server]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::SERVER,
        value_name = "URL|nbia|nlst",
        value_parser = Hinted(&["nbia", "nlst"]),
        hide_possible_values = true
    )]
    pub server: Option<String>,

    /// API flavour: v4 (current), v1, v2 (authenticated) or legacy (Bindaas, needs --api-key)
    #[arg(long, global = true, help_heading = "Global options", env = env::API, value_enum, default_value_t = Api::V4)]
    pub api: Api,

    /// Where the data comes from: nbia (TCIA's NBIA servers) or idc (NCI's Imaging Data Commons: its index and public buckets)
    #[arg(long, global = true, help_heading = "Global options", env = env::SOURCE, value_enum, default_value_t = DataSource::Nbia)]
    pub source: DataSource,

    /// IDC's index files (idc_index.parquet, collections_index.parquet): a URL base or a local directory [default: IDC's current release on storage.googleapis.com]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::IDC_INDEX,
        value_name = "URL|DIR"
    )]
    pub idc_index: Option<String>,

    /// IDC's bucket endpoint, for --source idc downloads [default: https://s3.amazonaws.com; https://storage.googleapis.com also works]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::IDC_ENDPOINT,
        value_name = "URL"
    )]
    pub idc_endpoint: Option<String>,

    /// API key for --api legacy, sent as header `api_key` (never printed)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::API_KEY,
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<Secret>,

    /// Output format [default: table on a terminal, json otherwise]
    #[arg(
        long,
        short = 'f',
        global = true,
        help_heading = "Global options",
        env = env::FORMAT,
        value_enum
    )]
    pub format: Option<Format>,

    /// Pass the server's own bytes for format=<RAW> through untouched
    #[arg(long, global = true, help_heading = "Global options", value_enum, value_name = "RAW", conflicts_with_all = ["format", "fields"])]
    pub raw: Option<RawFormat>,

    /// Select and order columns (comma-separated)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_delimiter = ',',
        value_name = "A,B,C"
    )]
    pub fields: Vec<String>,

    /// Only the first N rows of a list, or the first N series of a download or sync
    #[arg(long, global = true, help_heading = "Global options", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Connect and idle-read timeout in seconds
    #[arg(long, global = true, help_heading = "Global options", env = env::TIMEOUT, default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Retries for failed requests (connection errors, 5xx, 429), with backoff [default: 3; downloads: 4 per series, or a manifest's noOfrRetry]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::RETRIES,
        value_name = "N"
    )]
    pub retries: Option<u32>,

    /// More diagnostics on stderr (request URLs, timings); repeat for more
    #[arg(short, long, global = true, help_heading = "Global options", action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Global options",
        env = env::QUIET
    )]
    pub quiet: bool,

    /// Allow plain http:// to a non-loopback server
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::ALLOW_HTTP
    )]
    pub allow_http: bool,

    /// Answer list commands from the local index (`tcia index update` builds it), not the server
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::OFFLINE
    )]
    pub offline: bool,

    /// Send every request through this proxy [default: HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::PROXY,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub proxy: Option<String>,

    /// Also trust the CA certificates in this PEM file (e.g. an institution's TLS-inspecting proxy)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = env::CA_CERT,
        value_name = "FILE"
    )]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Colour the error and warning prefixes on stderr
    #[arg(
        long,
        alias = "colour",
        global = true,
        help_heading = "Global options",
        env = env::COLOR,
        value_enum,
        default_value_t = ColorChoice::Auto,
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List collections [getCollectionValues]
    #[command(
        alias = "getCollectionValues",
        alias = "getCollections", // tcia_utils
        after_help = "Example:\n  tcia collections --format csv"
    )]
    Collections,

    /// List modalities [getModalityValues]
    #[command(
        alias = "getModalityValues",
        alias = "getModality", // tcia_utils
        after_help = "Example:\n  tcia modalities --collection LIDC-IDRI"
    )]
    Modalities(CollBody),

    /// List body parts examined [getBodyPartValues]
    #[command(
        alias = "getBodyPartValues",
        alias = "getBodyPart", // tcia_utils
        after_help = "Example:\n  tcia body-parts --modality CT"
    )]
    BodyParts(CollMod),

    /// List manufacturers [getManufacturerValues]
    #[command(
        alias = "getManufacturerValues",
        alias = "getManufacturer", // tcia_utils
        after_help = "Example:\n  tcia manufacturers --collection LIDC-IDRI --modality CT"
    )]
    Manufacturers(CollModBody),

    /// List patients [getPatient]
    #[command(
        alias = "getPatient",
        after_help = "Example:\n  tcia patients --collection TCGA-BLCA --format csv"
    )]
    Patients(PatientsArgs),

    /// Patients of a collection with a modality [getPatientByCollectionAndModality]
    #[command(
        alias = "getPatientByCollectionAndModality",
        after_help = "Example:\n  tcia patients-by-modality --collection TCGA-BLCA --modality CT"
    )]
    PatientsByModality(PatientsByModalityArgs),

    /// Patients added to a collection after a date [NewPatientsInCollection]
    #[command(
        alias = "NewPatientsInCollection",
        alias = "getNewPatientsInCollection", // tcia_utils
        after_help = "Example:\n  tcia new-patients --collection TCGA-BLCA --since 2024-01-01"
    )]
    NewPatients(NewPatientsArgs),

    /// List studies [getPatientStudy]
    #[command(
        alias = "getPatientStudy",
        alias = "getStudy", // tcia_utils
        after_help = "Example:\n  tcia studies --collection LIDC-IDRI --patient-id LIDC-IDRI-0001"
    )]
    Studies(StudiesArgs),

    /// Studies added after a date [NewStudiesInPatientCollection]
    #[command(
        alias = "NewStudiesInPatientCollection",
        alias = "getNewStudiesInPatient", // tcia_utils
        after_help = "Example:\n  tcia new-studies --collection TCGA-BLCA --since 2024-01-01"
    )]
    NewStudies(NewStudiesArgs),

    /// List series [getSeries]
    #[command(
        alias = "getSeries",
        after_help = "Examples:\n  tcia series --collection LIDC-IDRI --format csv > series.csv\n  \
            tcia series --collection LIDC-IDRI --modality CT --modality DX | jq -r '.[].SeriesInstanceUID'"
    )]
    Series(SeriesArgs),

    /// Series released or updated after a date [getUpdatedSeries]
    #[command(
        alias = "getUpdatedSeries",
        after_help = "Example:\n  tcia updated-series --since 2025-01-01 --format csv"
    )]
    UpdatedSeries(SinceArgs),

    /// Size in bytes and image count of a series [getSeriesSize]
    #[command(
        alias = "getSeriesSize",
        after_help = "Examples:\n  tcia series-size 1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357\n  \
            tcia series-size --series-uid 1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357"
    )]
    SeriesSize(SeriesUidArgs),

    /// SOP instance UIDs of a series [getSOPInstanceUIDs]
    #[command(
        alias = "getSOPInstanceUIDs",
        alias = "getSopInstanceUids", // tcia_utils
        after_help = "Examples:\n  tcia sop-uids 1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357\n  \
            tcia sop-uids --series-uid 1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357"
    )]
    SopUids(SeriesUidArgs),

    /// Full metadata of many series [v4: getSeriesMetadata; v1/v2: getSeriesMetaData]
    #[command(
        alias = "getSeriesMetadata",
        alias = "getSeriesMetaData",
        alias = "getSeriesList", // tcia_utils
        after_help = "Examples:\n  tcia series-metadata 1.2.3 1.2.4 --format csv\n  \
            tcia series --collection LIDC-IDRI | jq -r '.[].SeriesInstanceUID' | tcia series-metadata -"
    )]
    SeriesMetadata(SeriesMetadataArgs),

    /// Series in a shared cart [getContentsByName, v1]
    #[command(
        alias = "getContentsByName",
        alias = "getSharedCart", // tcia_utils
        after_help = "Example:\n  tcia cart --name 'https://nbia.cancerimagingarchive.net/nbia-search/?saved-cart=nbia-49121659384603347'"
    )]
    Cart(CartArgs),

    /// DICOM tags of a series' first image [getDicomTags]
    #[command(
        alias = "getDicomTags",
        after_help = "Examples:\n  tcia dicom-tags 1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357\n  \
            tcia dicom-tags --series-uid 1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357"
    )]
    DicomTags(SeriesUidArgs),

    /// Patients per collection [getCollectionValuesAndCounts]
    #[command(
        alias = "getCollectionValuesAndCounts",
        alias = "getCollectionPatientCounts", // tcia_utils
        after_help = "Example:\n  tcia collection-counts --format csv"
    )]
    CollectionCounts,

    /// Counts per modality [getModalityValuesAndCounts]
    #[command(
        alias = "getModalityValuesAndCounts",
        alias = "getModalityCounts", // tcia_utils
        after_help = "Example:\n  tcia modality-counts --collection LIDC-IDRI"
    )]
    ModalityCounts(CollBody),

    /// Counts per body part [getBodyPartValuesAndCounts]
    #[command(
        alias = "getBodyPartValuesAndCounts",
        alias = "getBodyPartCounts", // tcia_utils
        after_help = "Example:\n  tcia body-part-counts --modality CT"
    )]
    BodyPartCounts(CollMod),

    /// Counts per manufacturer [getManufacturerValuesAndCounts]
    #[command(
        alias = "getManufacturerValuesAndCounts",
        alias = "getManufacturerCounts", // tcia_utils
        after_help = "Example:\n  tcia manufacturer-counts --collection LIDC-IDRI"
    )]
    ManufacturerCounts(CollModBody),

    /// Patients per species code [getSpeciesValuesAndCounts, v4]
    #[command(
        alias = "getSpeciesValuesAndCounts",
        after_help = "Example:\n  tcia species-counts --format csv"
    )]
    SpeciesCounts,

    /// Collection descriptions as plain text [getCollectionDescriptions]
    #[command(
        alias = "getCollectionDescriptions",
        after_help = "Example:\n  tcia descriptions --collection TCGA-BLCA --format json"
    )]
    Descriptions(DescriptionsArgs),

    /// The portal's search: patients matching criteria [getSimpleSearch]
    #[command(
        alias = "getSimpleSearch",
        after_help = "Examples:\n  tcia search --collection LIDC-IDRI --modality CT --size 20\n  \
            tcia search --modality MR --from 2020-01-01 --all --format csv\n  \
            tcia search --modality CT --modality PT --all-modalities --sex F --age 40:60 --all\n  \
            tcia search --collection LIDC-IDRI --sort studies --descending --min-studies 1\n  \
            tcia search --model 'SIEMENS||Sensation 16' --exclude-commercial --third-party no"
    )]
    Search(SearchArgs),

    /// Write a .tcia manifest for criteria, series UIDs or a whole collection [getManifestForSimpleSearch / getManifestText / getManifestForCollection]
    #[command(
        alias = "getManifestForSimpleSearch",
        alias = "getManifestText",
        alias = "getManifestForCollection",
        after_help = "Examples:\n  tcia manifest --collection LIDC-IDRI --modality CT -o lidc-ct.tcia\n  \
            tcia manifest --series-uid 1.2.3 --series-uid 1.2.4 -o two.tcia\n  \
            tcia manifest --whole-collection TCGA-BLCA -o blca.tcia"
    )]
    Manifest(ManifestArgs),

    /// Collections or series that a DOI describes [getCollectionOrSeriesForDOI, v4]
    #[command(
        alias = "getCollectionOrSeriesForDOI",
        after_help = "Examples:\n  tcia doi 10.7937/K9/TCIA.2015.LO9QL9SX\n  \
            tcia doi https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX --level series --format csv\n  \
            tcia download --doi 10.7937/K9/TCIA.2015.LO9QL9SX -o lidc"
    )]
    Doi(DoiArgs),

    /// The server's MD5 of a series, study, patient or collection [getMD5Hierarchy, v4]
    #[command(
        alias = "getMD5Hierarchy",
        after_help = "Examples:\n  tcia md5 --collection LIDC-IDRI\n  \
            tcia md5 --patient-id LIDC-IDRI-0001 --collection LIDC-IDRI\n  \
            tcia verify lidc --remote            # compare a whole download with the server"
    )]
    Md5(Md5Args),

    /// Download whole series, verified, into a directory [getImage / getImageWithMD5Hash]
    #[command(
        alias = "getImage",
        alias = "getImageWithMD5Hash",
        alias = "downloadSeries", // tcia_utils
        after_help = "Examples:\n  tcia download --collection LIDC-IDRI --modality CT -o lidc\n  \
            tcia series --collection LIDC-IDRI | tcia download -i - -o lidc --layout classic\n  \
            tcia download --manifest cart.tcia -o data --jobs 8\n  \
            tcia download 1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357 -o one --zip\n  \
            tcia download --doi 10.7937/K9/TCIA.2015.LO9QL9SX -o lidc\n  \
            tcia download --collection LIDC-IDRI --limit 2 -o try          # the first 2 series\n  \
            tcia download --collection LIDC-IDRI -o lidc --dry-run --format csv > plan.csv\n  \
            tcia download --collection LIDC-IDRI -o lidc --format ndjson | jq -r .path\n\n\
            Only what tcia wrote and recorded is ever replaced: a series whose final path holds\n\
            something else fails (exit 1) and nothing of it is touched. Licences go to\n\
            DIR/LICENSES/<Collection>."
    )]
    Download(DownloadArgs),

    /// Mirror a selection: download what is new or changed since the last sync [getSeries + getUpdatedSeries]
    #[command(
        after_help = "Examples:\n  tcia sync --collection LIDC-IDRI -o /data/lidc            # nightly, from cron\n  \
        tcia sync --collection LIDC-IDRI -o /data/lidc --dry-run\n  \
        tcia sync --manifest cohort.tcia -o /data/cohort --delete\n  \
        tcia sync --collection LIDC-IDRI -o /data/lidc --verify-remote   # also catch silent replacements"
    )]
    Sync(SyncArgs),

    /// Download one DICOM image, checked against the server's MD5 (v4) [getSingleImage]
    #[command(
        alias = "getSingleImage",
        alias = "downloadImage", // tcia_utils
        after_help = "Examples:\n  tcia single-image --series-uid 1.2.3 --sop-uid 1.2.3.4 -o image.dcm\n  \
            tcia single-image 1.2.3 1.2.3.4 -o images/"
    )]
    SingleImage(SingleImageArgs),

    /// Re-check a download directory against its recorded MD5s (exit 0 only when intact)
    #[command(after_help = "Examples:\n  tcia verify lidc\n  \
        tcia verify lidc --remote      # did the server change any series since?\n  \
        tcia verify lidc --format json\n  \
        tcia verify lidc | head -1     # the exit code still says what was found\n\n\
        Problems: corrupt, missing, extra, untracked (no completion record), bad-record.")]
    Verify(VerifyArgs),

    /// The local series index: build or refresh it, or show what is there [getSeries + getUpdatedSeries]
    #[command(
        subcommand,
        after_help = "Examples:\n  tcia index update              # first run: every public series (getSeries)\n  \
        tcia index update              # later runs: only what changed (getUpdatedSeries)\n  \
        tcia index update --full       # rebuild; drops series the server no longer lists\n  \
        tcia index status\n  \
        tcia series --offline --collection LIDC-IDRI --format csv"
    )]
    Index(IndexCommand),

    /// Run one read-only SQL statement on the local index and print its rows
    #[command(
        after_help = "Examples:\n  tcia query \"SELECT Collection, Modality, count(*), sum(FileSize) FROM series GROUP BY 1, 2\"\n  \
        tcia query \"SELECT SeriesInstanceUID FROM series WHERE Modality = 'MR' AND ImageCount > 100\" --format csv \\\n    | tcia download -i - -o mr\n\n\
        Tables: series, patients, studies, collections, index_info (see README, \"The local index\")."
    )]
    Query(QueryArgs),

    /// Log in to a server that needs it (OAuth2 password grant); public data needs no login [nbia-api/oauth/token]
    #[command(
        after_help = "Examples:\n  tcia login --user alice                 # prompts for the password\n  \
        printf '%s\\n' \"$PASS\" | tcia login --user alice --password-stdin\n  \
        tcia login --guest --server nlst"
    )]
    Login(LoginArgs),

    /// Log out: end the session on the server and delete the cached token [nbia-api/logout]
    #[command(after_help = "Examples:\n  tcia logout\n  tcia logout --server nlst")]
    Logout,

    /// Login state (local: reads the token cache)
    #[command(subcommand, after_help = "Example:\n  tcia auth status")]
    Auth(AuthCommand),

    /// Print a shell completion script to stdout
    #[command(after_help = "Examples:\n  \
        tcia completions bash > ~/.local/share/bash-completion/completions/tcia\n  \
        tcia completions zsh > ~/.zfunc/_tcia")]
    Completions(CompletionsArgs),

    /// Print the manual page (roff) to stdout: of tcia, or of one subcommand
    #[command(
        after_help = "Examples:\n  tcia man | man -l -\n  tcia man download > tcia-download.1"
    )]
    Man(ManArgs),

    /// The config file: effective settings and where each came from, or the file's path
    #[command(
        subcommand,
        after_help = "Examples:\n  tcia config show\n  tcia config path"
    )]
    Config(ConfigCommand),
}

#[derive(Args, Debug, Clone, Default)]
pub struct CollBody {
    /// Collection name (repeatable)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Body part examined, e.g. CHEST (repeatable)
    #[arg(long)]
    pub body_part: Vec<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CollMod {
    /// Collection name (repeatable)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Modality, e.g. CT (repeatable)
    #[arg(long)]
    pub modality: Vec<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CollModBody {
    /// Collection name (repeatable)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Modality, e.g. CT (repeatable)
    #[arg(long)]
    pub modality: Vec<String>,
    /// Body part examined, e.g. CHEST (repeatable)
    #[arg(long)]
    pub body_part: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct PatientsArgs {
    /// Collection name (repeatable)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Patient ID (repeatable)
    #[arg(long)]
    pub patient_id: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct PatientsByModalityArgs {
    /// Collection name (repeatable)
    #[arg(long, required = true)]
    pub collection: Vec<String>,
    /// Modality, e.g. CT (repeatable)
    #[arg(long, required = true)]
    pub modality: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct NewPatientsArgs {
    /// Collection name (repeatable)
    #[arg(long, required = true)]
    pub collection: Vec<String>,
    /// Only what was released after this date (YYYY-MM-DD)
    #[arg(long, value_parser = parse_date_arg, value_name = "YYYY-MM-DD")]
    pub since: Date,
}

#[derive(Args, Debug, Clone)]
pub struct StudiesArgs {
    /// Collection name (repeatable)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Patient ID (repeatable)
    #[arg(long)]
    pub patient_id: Vec<String>,
    /// Study instance UID (repeatable)
    #[arg(long)]
    pub study_uid: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct NewStudiesArgs {
    /// Collection name (repeatable)
    #[arg(long, required = true)]
    pub collection: Vec<String>,
    /// Patient ID (repeatable)
    #[arg(long)]
    pub patient_id: Vec<String>,
    /// Only what was released after this date (YYYY-MM-DD)
    #[arg(long, value_parser = parse_date_arg, value_name = "YYYY-MM-DD")]
    pub since: Date,
}

#[derive(Args, Debug, Clone, Default)]
pub struct SeriesArgs {
    #[command(flatten)]
    pub filters: SeriesFilters,
    /// Series instance UID (repeatable)
    #[arg(long)]
    pub series_uid: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SinceArgs {
    /// Only what was released after this date (YYYY-MM-DD)
    #[arg(long, value_parser = parse_date_arg, value_name = "YYYY-MM-DD")]
    pub since: Date,
}

#[derive(Args, Debug, Clone)]
pub struct SeriesUidArgs {
    /// Series instance UIDs (or --series-uid UID)
    #[arg(value_name = "UID", required_unless_present = "series_uid")]
    pub uids: Vec<String>,
    /// Series instance UID (repeatable; the same as giving it as an argument)
    #[arg(long, value_name = "UID")]
    pub series_uid: Vec<String>,
}

impl SeriesUidArgs {
    /// The UIDs given either way, arguments first.
    pub fn all(&self) -> Vec<String> {
        self.uids.iter().chain(&self.series_uid).cloned().collect()
    }
}

#[derive(Args, Debug, Clone)]
pub struct SeriesMetadataArgs {
    /// Series instance UIDs; `-` reads them from stdin, one per line
    #[arg(value_name = "UID", required_unless_present = "series_uid")]
    pub uids: Vec<String>,
    /// Series instance UID (repeatable; the same as giving it as an argument)
    #[arg(long, value_name = "UID")]
    pub series_uid: Vec<String>,
}

impl SeriesMetadataArgs {
    /// The UIDs given either way, arguments first.
    pub fn all(&self) -> Vec<String> {
        self.uids.iter().chain(&self.series_uid).cloned().collect()
    }
}

#[derive(Args, Debug, Clone)]
pub struct CartArgs {
    /// Cart name, or the portal URL containing `?saved-cart=NAME`
    #[arg(long)]
    pub name: String,
}

#[derive(Args, Debug, Clone)]
pub struct DescriptionsArgs {
    /// Collection name (repeatable)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Keep the server's HTML instead of plain text
    #[arg(long)]
    pub html: bool,
}

/// The portal's search criteria, as v4 SearchUtil reads them (NBIA server source).
#[derive(Args, Debug, Clone, Default)]
pub struct Criteria {
    /// Collection (repeatable: any of)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Modality (repeatable: any of; with --all-modalities: all of)
    #[arg(long)]
    pub modality: Vec<String>,
    /// Patients having every --modality given, not any (ModalityAndedSearchCriteria)
    #[arg(long, requires = "modality")]
    pub all_modalities: bool,
    /// Anatomical site / body part (repeatable; NOT SPECIFIED matches none recorded)
    #[arg(long)]
    pub body_part: Vec<String>,
    /// Manufacturer (repeatable; the server ORs it with --model and --software-version)
    #[arg(long)]
    pub manufacturer: Vec<String>,
    /// Manufacturer and model as the portal's tree gives them (repeatable)
    #[arg(long, value_name = "MANUFACTURER||MODEL", value_parser = tree_value(2))]
    pub model: Vec<String>,
    /// Manufacturer, model and software version (repeatable)
    #[arg(long, value_name = "MANUFACTURER||MODEL||VERSION", value_parser = tree_value(3))]
    pub software_version: Vec<String>,
    /// Species: human, mouse, dog, or an NCBI/SNOMED code (repeatable)
    #[arg(long)]
    pub species: Vec<String>,
    /// Patient sex as recorded, e.g. M, F, O; Null for none recorded (repeatable)
    #[arg(long)]
    pub sex: Vec<String>,
    /// Series released (DateReleased, as the server's DateRangeCriteria compares) on or after this date
    #[arg(long, value_parser = parse_date_arg, value_name = "YYYY-MM-DD")]
    pub from: Option<Date>,
    /// Series released on or before this date
    #[arg(long, value_parser = parse_date_arg, value_name = "YYYY-MM-DD")]
    pub to: Option<Date>,
    /// Patient ID (repeatable; * is a wildcard)
    #[arg(long)]
    pub patient_id: Vec<String>,
    /// Study instance UID (repeatable; * is a wildcard) [StudyCriteria]
    #[arg(long)]
    pub study_uid: Vec<String>,
    /// Series instance UID criterion (search only; `manifest --series-uid` lists series instead)
    #[arg(skip)]
    pub series_uid: Vec<String>,
    /// Words (any of; * wildcard, "quoted phrase") in the study description, series description
    /// or protocol name: the server has one DescriptionCriteria for all three
    #[arg(long, visible_aliases = ["study-description", "series-description"], value_name = "TEXT")]
    pub description: Option<String>,
    /// Patients with MORE THAN N matching studies (the server compares with >)
    #[arg(long, value_name = "N")]
    pub min_studies: Option<u32>,
    /// Patients with more than N distinct study dates
    #[arg(long, value_name = "N")]
    pub min_study_dates: Option<u32>,
    /// Leave out series whose licence excludes commercial use
    #[arg(long)]
    pub exclude_commercial: bool,
    /// Phantoms: only, exclude, or include
    #[arg(long, value_enum, value_name = "only|exclude|include")]
    pub phantom: Option<Phantom>,
    /// Third-party analysis series: yes (only them) or no (only original data)
    #[arg(long, value_enum, value_name = "yes|no")]
    pub third_party: Option<YesNo>,
    /// Longitudinal time point: event type and a day range from it (FROM or TO may be empty)
    #[arg(long, value_name = "EVENT:FROM:TO", value_parser = parse_timepoint)]
    pub timepoint: Option<(String, String, String)>,
    /// Patient age range in years, inclusive
    #[arg(long, value_name = "FROM:TO", value_parser = parse_range)]
    pub age: Option<(String, String)>,
    /// Slice thickness range in mm, inclusive
    #[arg(long, value_name = "FROM:TO", value_parser = parse_range)]
    pub slice_thickness: Option<(String, String)>,
    /// Pixel spacing range in mm, inclusive
    #[arg(long, value_name = "FROM:TO", value_parser = parse_range)]
    pub pixel_spacing: Option<(String, String)>,
    /// Order of the patients
    #[arg(long, value_enum, default_value_t = SortField::Subject)]
    pub sort: SortField,
    /// Sort descending instead of ascending
    #[arg(long)]
    pub descending: bool,
}

/// `--sort`: the fields v4 ResultSetSorter knows.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SortField {
    #[default]
    Subject,
    Collection,
    Studies,
    Series,
}

/// `--phantom`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phantom {
    Only,
    Exclude,
    Include,
}

/// A yes/no flag value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

/// `A||B` (n = 2) or `A||B||C` (n = 3): the portal's manufacturer tree values.
fn tree_value(n: usize) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |s: &str| {
        let parts: Vec<&str> = s.split("||").collect();
        if parts.len() == n && parts.iter().all(|p| !p.is_empty()) {
            Ok(s.to_string())
        } else if n == 2 {
            Err(format!(
                "'{s}': expected MANUFACTURER||MODEL, e.g. 'SIEMENS||Sensation 16'"
            ))
        } else {
            Err(format!(
                "'{s}': expected MANUFACTURER||MODEL||VERSION, e.g. 'SIEMENS||Sensation 16||syngo CT 2007A'"
            ))
        }
    }
}

fn number(s: &str) -> bool {
    s.parse::<f64>().is_ok_and(|f| f.is_finite() && f >= 0.0)
}

/// `FROM:TO`, two non-negative numbers.
fn parse_range(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((a, b)) if number(a) && number(b) => Ok((a.to_string(), b.to_string())),
        _ => Err(format!(
            "'{s}': expected FROM:TO, two numbers such as 40:60"
        )),
    }
}

/// `EVENT:FROM:TO`: an event type, and whole days (either may be empty, not both).
fn parse_timepoint(s: &str) -> Result<(String, String, String), String> {
    let parts: Vec<&str> = s.splitn(3, ':').collect();
    let int = |d: &str| d.is_empty() || d.parse::<i32>().is_ok();
    match parts[..] {
        [e, from, to] if e.len() > 1 && int(from) && int(to) && !(from.is_empty() && to.is_empty()) => {
            Ok((e.to_string(), from.to_string(), to.to_string()))
        }
        _ => Err(format!(
            "'{s}': expected EVENT:FROM:TO, an event type and whole days (one may be empty), e.g. Diagnosis:0:365"
        )),
    }
}

#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    pub criteria: Criteria,
    /// First result (0-based)
    #[arg(long, default_value_t = 0, conflicts_with = "all")]
    pub start: u64,
    /// Results per page
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub size: u64,
    /// Page through every result
    #[arg(long)]
    pub all: bool,
    /// Series instance UID (repeatable; * is a wildcard) [SeriesCriteria]
    #[arg(long, value_name = "UID")]
    pub series_uid: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ManifestArgs {
    #[command(flatten)]
    pub criteria: Criteria,
    /// Series UIDs for the manifest (repeatable); `-` reads them from stdin
    #[arg(long, value_name = "UID")]
    pub series_uid: Vec<String>,
    /// Where to write the manifest (`-` for stdout); written atomically
    #[arg(short, long, value_name = "FILE.tcia")]
    pub output: std::path::PathBuf,
    /// Every series of one collection [getManifestForCollection]
    #[arg(long, value_name = "COLLECTION", conflicts_with = "series_uid")]
    pub whole_collection: Option<String>,
    /// Leave annotations out of the manifest (getManifestForSimpleSearch always leaves them out)
    #[arg(long)]
    pub no_annotations: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DoiArgs {
    /// The DOI: 10.7937/..., doi:10.7937/... or https://doi.org/10.7937/...
    #[arg(value_name = "DOI")]
    pub doi: String,
    /// One row per collection, or per series
    #[arg(long, value_enum, default_value_t = DoiLevel::Collection)]
    pub level: DoiLevel,
}

/// `tcia doi --level`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DoiLevel {
    Series,
    Collection,
}

#[derive(Args, Debug, Clone)]
#[group(id = "md5_level", required = true, multiple = true, args = ["series_uid", "study_uid", "patient_id", "collection"])]
pub struct Md5Args {
    /// A series
    #[arg(long, value_name = "UID", conflicts_with_all = ["study_uid", "patient_id", "collection"])]
    pub series_uid: Option<String>,
    /// A study
    #[arg(long, value_name = "UID", conflicts_with_all = ["patient_id", "collection"])]
    pub study_uid: Option<String>,
    /// A patient (needs --collection: the server answers a PatientID only with its collection)
    #[arg(long, value_name = "ID", requires = "collection")]
    pub patient_id: Option<String>,
    /// A collection (with --patient-id: that patient's collection)
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DownloadArgs {
    /// Series instance UIDs to download
    #[arg(value_name = "UID")]
    pub uids: Vec<String>,
    /// Series instance UID to download (repeatable; the same as giving it as an argument)
    #[arg(long, value_name = "UID")]
    pub series_uid: Vec<String>,
    /// Output directory (created if missing)
    #[arg(short, long, value_name = "DIR", env = env::OUTPUT)]
    pub output: std::path::PathBuf,
    /// Read UIDs from a file (`-` = stdin): one per line, or CSV/TSV/JSON/NDJSON with a SeriesInstanceUID column (repeatable)
    #[arg(short, long = "input", value_name = "FILE")]
    pub input: Vec<String>,
    /// A .tcia manifest from the portal; its server is used unless --server is given
    #[arg(long, value_name = "FILE.tcia")]
    pub manifest: Vec<std::path::PathBuf>,
    /// A shared cart: its name, or the portal URL with ?saved-cart=NAME
    #[arg(long, value_name = "NAME|URL")]
    pub cart: Option<String>,
    #[command(flatten)]
    pub filters: SeriesFilters,
    /// Directory layout: flat, classic, descriptive, or a template like '%Collection/%PatientID/%Modality-%SeriesInstanceUID'
    #[arg(long, default_value = "flat", value_name = "LAYOUT",
          value_parser = Hinted(&["flat", "classic", "descriptive"]), hide_possible_values = true)]
    pub layout: String,
    /// Keep each series as a verified <layout path>.zip instead of extracting it
    #[arg(long)]
    pub zip: bool,
    /// Series downloaded at the same time
    #[arg(short, long, default_value_t = 4, env = env::JOBS, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Skip MD5 verification (file counts and sizes are still checked)
    #[arg(long)]
    pub no_md5: bool,
    /// Re-hash series already on disk instead of trusting their completion records
    #[arg(long)]
    pub verify: bool,
    /// Show what would be downloaded and skipped; download nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not check free disk space before starting
    #[arg(long)]
    pub no_space_check: bool,
    /// Give up on a connection that sends nothing for this long (no total time limit)
    #[arg(long, default_value_t = 300, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Take only shard K of N of the selection (stable hash of the series UID); `auto` reads
    /// Slurm (SLURM_ARRAY_TASK_ID) or Kubernetes (JOB_COMPLETION_INDEX with --shards N)
    #[arg(long, value_name = "K/N|auto")]
    pub shard: Option<String>,
    /// The shard count for --shard auto under a Kubernetes Indexed Job
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// Every series a DOI describes (10.7937/..., doi:... or https://doi.org/...) [getCollectionOrSeriesForDOI]
    #[arg(long, value_name = "DOI")]
    pub doi: Option<String>,
    /// When stderr is not a terminal (cron, CI, TERM=dumb): a progress line this often
    /// (`30s`, `5m`, `500ms`; `0` or `off`: none)
    #[arg(long, default_value = "30s", value_name = "DURATION", env = env::HEARTBEAT,
          value_parser = parse_heartbeat)]
    pub heartbeat: std::time::Duration,
}

/// `--heartbeat`: a duration (`30s`, `250ms`, plain seconds), or `0` / `off` for none.
fn parse_heartbeat(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if s == "off" {
        return Ok(std::time::Duration::ZERO);
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{e}: expected a duration such as 30s, 5m or 500ms, or off"))
}

#[derive(Args, Debug, Clone)]
pub struct SyncArgs {
    #[command(flatten)]
    pub download: DownloadArgs,
    /// Look for updated series released after this date instead of the last sync (YYYY-MM-DD)
    #[arg(long, value_parser = parse_date_arg, value_name = "YYYY-MM-DD")]
    pub since: Option<Date>,
    /// Delete local series that left the selection (they are only reported otherwise)
    #[arg(long)]
    pub delete: bool,
    /// Also compare the mirror's MD5s with the server's (getMD5Hierarchy) and fetch series the
    /// server replaced, even when their counts and dates did not change
    #[arg(long)]
    pub verify_remote: bool,
}

/// getSeries filters selecting what to download.
#[derive(Args, Debug, Clone, Default)]
pub struct SeriesFilters {
    /// Collection (repeatable)
    #[arg(long)]
    pub collection: Vec<String>,
    /// Patient ID (repeatable)
    #[arg(long)]
    pub patient_id: Vec<String>,
    /// Study instance UID (repeatable)
    #[arg(long)]
    pub study_uid: Vec<String>,
    /// Modality (repeatable)
    #[arg(long)]
    pub modality: Vec<String>,
    /// Body part examined (repeatable)
    #[arg(long)]
    pub body_part: Vec<String>,
    /// Manufacturer (repeatable)
    #[arg(long)]
    pub manufacturer: Vec<String>,
    /// Manufacturer model name (repeatable)
    #[arg(long)]
    pub model: Vec<String>,
}

impl SeriesFilters {
    /// The filters as getSeries parameters.
    pub fn params(&self) -> Vec<(crate::api::catalogue::Param, Vec<String>)> {
        use crate::api::catalogue::Param::*;
        vec![
            (Collection, self.collection.clone()),
            (PatientId, self.patient_id.clone()),
            (StudyUid, self.study_uid.clone()),
            (Modality, self.modality.clone()),
            (BodyPart, self.body_part.clone()),
            (Manufacturer, self.manufacturer.clone()),
            (Model, self.model.clone()),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.collection.is_empty()
            && self.patient_id.is_empty()
            && self.study_uid.is_empty()
            && self.modality.is_empty()
            && self.body_part.is_empty()
            && self.manufacturer.is_empty()
            && self.model.is_empty()
    }
}

#[derive(Args, Debug, Clone)]
pub struct SingleImageArgs {
    /// The series instance UID, then the SOP instance UID (or --series-uid and --sop-uid)
    #[arg(value_name = "UID", num_args = 0..=2)]
    pub uids: Vec<String>,
    /// Series instance UID
    #[arg(long)]
    pub series_uid: Option<String>,
    /// SOP instance UID of the image
    #[arg(long)]
    pub sop_uid: Option<String>,
    /// Where to write the image (a directory gets <SOP>.dcm); written atomically
    #[arg(short, long, value_name = "PATH")]
    pub output: std::path::PathBuf,
    /// Do not check the image against the server's MD5 (v4 getMD5HashForImage)
    #[arg(long)]
    pub no_md5: bool,
}

#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// User name [default: TCIA_USER, or a prompt on a terminal]
    #[arg(long, short = 'u', conflicts_with = "guest")]
    pub user: Option<String>,
    /// Log in as the guest user (nbia_guest, empty password)
    #[arg(long)]
    pub guest: bool,
    /// Read the password from the first line of stdin (otherwise TCIA_PASSWORD, or a no-echo prompt)
    #[arg(long, conflicts_with = "guest")]
    pub password_stdin: bool,
    /// Token endpoint [default: <server>/nbia-api/oauth/token]
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// OAuth client id
    #[arg(long, default_value = "NBIA", value_name = "ID")]
    pub client_id: String,
    /// OAuth client secret, for servers that need one (prefer the environment variable)
    #[arg(
        long,
        env = env::CLIENT_SECRET,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<crate::secret::Secret>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuthCommand {
    /// Server, user and token expiry (never the token itself)
    #[command(after_help = "Examples:\n  tcia auth status\n  tcia auth status --server nlst")]
    Status,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// Effective settings and where each came from (flag, environment, config file, default)
    #[command(after_help = "Example:\n  tcia config show --api v1")]
    Show,
    /// The config file's path (it need not exist)
    #[command(after_help = "Example:\n  tcia config path")]
    Path,
}

#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum, required_unless_present = "values")]
    pub shell: Option<clap_complete::Shell>,
    /// Print the server's values of one kind, one per line (the scripts call this; cached for a
    /// day under the configuration directory)
    #[arg(long, value_enum, value_name = "KIND")]
    pub values: Option<ValueKind>,
}

/// What `tcia completions --values` lists.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Collection,
    Modality,
    BodyPart,
}

#[derive(Args, Debug, Clone)]
pub struct ManArgs {
    /// A subcommand (e.g. `download`, or `auth status`); none for the main page
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Vec<String>,
}

/// The subcommand's name as typed (`series-metadata`), from its variant.
pub fn command_name(c: &Command) -> String {
    let debug = format!("{c:?}");
    let variant = debug
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .next()
        .unwrap_or("");
    let mut out = String::new();
    for (i, ch) in variant.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

#[derive(Subcommand, Debug, Clone)]
pub enum IndexCommand {
    /// Build the index for the selected server, or bring it up to date
    #[command(
        after_help = "Each --api (v4, v1, v2) has an index of its own; v2 needs `tcia login` first.\n\nExamples:\n  tcia index update\n  tcia index update --full --metadata\n  tcia --api v2 index update     # after tcia login: what your account sees\n  tcia -v index update --full    # also how long each step of the build took"
    )]
    Update(IndexUpdateArgs),
    /// Every index on this machine: server, API, rows, collections, last update, size, path
    #[command(after_help = "Examples:\n  tcia index status\n  tcia index status --format json")]
    Status,
}

#[derive(Args, Debug, Clone)]
pub struct IndexUpdateArgs {
    /// Rebuild from a full getSeries (also drops series the server no longer lists)
    #[arg(long)]
    pub full: bool,
    /// Also store getSeriesMetadata's per-series extras (slice thickness, pixel spacing, ...)
    #[arg(long)]
    pub metadata: bool,
}

#[derive(Args, Debug, Clone)]
pub struct QueryArgs {
    /// One read-only SQL statement (SELECT, WITH, EXPLAIN, or a read-only PRAGMA)
    #[arg(value_name = "SQL")]
    pub sql: String,
}

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// A directory written by `tcia download`
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
    /// Instead, compare the recorded MD5s with the server's (getMD5Hierarchy, v4): collection
    /// first, descending only into mismatches; lists series that changed on the server
    #[arg(long)]
    pub remote: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn endpoint_aliases_parse() {
        let cli = Cli::try_parse_from([
            "tcia",
            "getSeries",
            "--collection",
            "X",
            "--modality",
            "CT",
            "--modality",
            "MR",
        ])
        .unwrap();
        match cli.command {
            Command::Series(s) => assert_eq!(s.filters.modality, vec!["CT", "MR"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dates_are_checked_by_the_parser() {
        let err =
            Cli::try_parse_from(["tcia", "updated-series", "--since", "2024/01/01"]).unwrap_err();
        assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        assert!(Cli::try_parse_from(["tcia", "new-patients", "--since", "2024-01-01"]).is_err());
    }

    #[test]
    fn version_names_the_default_server() {
        let v = Cli::command().get_version().unwrap().to_string();
        assert!(v.ends_with(&format!(
            "(default server {})",
            crate::api::catalogue::DEFAULT_SERVER
        )));
    }

    #[test]
    fn hinted_values_are_hints_not_limits() {
        let cli = Cli::try_parse_from([
            "tcia",
            "download",
            "-o",
            "d",
            "--layout",
            "%Collection/%SeriesInstanceUID",
            "--server",
            "https://nbia.example.org",
        ])
        .unwrap();
        assert_eq!(
            cli.global.server.as_deref(),
            Some("https://nbia.example.org")
        );
        match cli.command {
            Command::Download(a) => assert_eq!(a.layout, "%Collection/%SeriesInstanceUID"),
            other => panic!("{other:?}"),
        }
        let cmd = Cli::command();
        let layout: Vec<_> = cmd
            .find_subcommand("download")
            .unwrap()
            .get_arguments()
            .find(|a| a.get_id() == "layout")
            .unwrap()
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(layout, ["flat", "classic", "descriptive"]);
    }

    #[test]
    fn global_flags_anywhere() {
        let cli =
            Cli::try_parse_from(["tcia", "collections", "--format", "csv", "--api", "v1"]).unwrap();
        assert_eq!(cli.global.format, Some(Format::Csv));
        assert_eq!(cli.global.api, Api::V1);
    }
}
