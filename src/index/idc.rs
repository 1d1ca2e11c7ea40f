//! IDC's parquet index files (`idc_index.parquet`, `collections_index.parquet`) imported into an
//! index database that answers as the NBIA one does: a `series` table with the getSeries column
//! names NBIA scripts use (then IDC's own), `patients`, `studies` and `collections` tables made
//! from it, and `idc_index`, a view with IDC's own column names for `tcia query`.
//!
//! The big file is read column by column, a batch of rows at a time, with the parquet crate's
//! low-level column readers, so memory stays at a few pages per column whatever the file's size.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::{anyhow, Context as _};
use parquet::column::reader::{get_typed_column_reader, ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, ToSql};

use super::build::finish_table;

/// The file names under an IDC index base.
pub const SERIES_FILE: &str = "idc_index.parquet";
pub const COLLECTIONS_FILE: &str = "collections_index.parquet";

/// The output columns of `tcia --source idc series`: getSeries names first (a script written for
/// NBIA output finds its columns), then IDC's own.
pub const SERIES_COLUMNS: &[&str] = &[
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "PatientID",
    "Collection",
    "Modality",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    "SeriesDescription",
    "SeriesNumber",
    "SeriesDate",
    "StudyDate",
    "StudyDesc",
    "PatientAge",
    "PatientSex",
    "ImageCount",
    "FileSize",
    "DataDescriptionURI",
    "LicenseName",
    "collection_id",
    "crdc_series_uuid",
    "aws_bucket",
    "series_aws_url",
    "source_DOI",
    "license_short_name",
    "series_revised_idc_version",
];

/// IDC columns kept beside the series rows (same rowid), for `tcia query` on `idc_index`.
const MORE_COLUMNS: &[&str] = &[
    "analysis_result_id",
    "SOPClassUID",
    "sop_class_name",
    "TransferSyntaxUID",
    "transfer_syntax_name",
    "PhotometricInterpretation",
    "PixelRepresentation",
    "series_init_idc_version",
    "series_size_MB",
];

pub const PATIENT_COLUMNS: &[&str] = &["PatientId", "PatientSex", "Collection", "collection_id"];
pub const STUDY_COLUMNS: &[&str] = &[
    "StudyInstanceUID",
    "StudyDate",
    "StudyDescription",
    "PatientAge",
    "PatientID",
    "PatientSex",
    "Collection",
    "SeriesCount",
    "collection_id",
];
pub const COLLECTION_COLUMNS: &[&str] = &[
    "Collection",
    "collection_id",
    "cancer_types",
    "tumor_locations",
    "species",
    "subjects",
    "status",
    "updated",
];

/// IDC's idc_index columns, in its own order, as the `idc_index` view gives them.
const IDC_ORDER: &[(&str, &str)] = &[
    ("collection_id", "s.collection_id"),
    ("analysis_result_id", "m.analysis_result_id"),
    ("PatientID", "s.PatientID"),
    ("SeriesInstanceUID", "s.SeriesInstanceUID"),
    ("StudyInstanceUID", "s.StudyInstanceUID"),
    ("source_DOI", "s.source_DOI"),
    ("PatientAge", "s.PatientAge"),
    ("PatientSex", "s.PatientSex"),
    ("StudyDate", "s.StudyDate"),
    ("StudyDescription", "s.StudyDesc"),
    ("BodyPartExamined", "s.BodyPartExamined"),
    ("Modality", "s.Modality"),
    ("SOPClassUID", "m.SOPClassUID"),
    ("sop_class_name", "m.sop_class_name"),
    ("TransferSyntaxUID", "m.TransferSyntaxUID"),
    ("transfer_syntax_name", "m.transfer_syntax_name"),
    ("PhotometricInterpretation", "m.PhotometricInterpretation"),
    ("PixelRepresentation", "m.PixelRepresentation"),
    ("Manufacturer", "s.Manufacturer"),
    ("ManufacturerModelName", "s.ManufacturerModelName"),
    ("SeriesDate", "s.SeriesDate"),
    ("SeriesDescription", "s.SeriesDescription"),
    ("SeriesNumber", "s.SeriesNumber"),
    ("instanceCount", "s.ImageCount"),
    ("license_short_name", "s.license_short_name"),
    ("series_init_idc_version", "m.series_init_idc_version"),
    ("series_revised_idc_version", "s.series_revised_idc_version"),
    ("aws_bucket", "s.aws_bucket"),
    ("crdc_series_uuid", "s.crdc_series_uuid"),
    ("series_aws_url", "s.series_aws_url"),
    ("series_size_MB", "m.series_size_MB"),
];

/// The idc_index columns read, and those without which the file is not IDC's.
const READ: &[&str] = &[
    "collection_id",
    "analysis_result_id",
    "PatientID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "source_DOI",
    "PatientAge",
    "PatientSex",
    "StudyDate",
    "StudyDescription",
    "BodyPartExamined",
    "Modality",
    "SOPClassUID",
    "sop_class_name",
    "TransferSyntaxUID",
    "transfer_syntax_name",
    "PhotometricInterpretation",
    "PixelRepresentation",
    "Manufacturer",
    "ManufacturerModelName",
    "SeriesDate",
    "SeriesDescription",
    "SeriesNumber",
    "instanceCount",
    "license_short_name",
    "series_init_idc_version",
    "series_revised_idc_version",
    "aws_bucket",
    "crdc_series_uuid",
    "series_aws_url",
    "series_size_MB",
];
const REQUIRED: &[&str] = &[
    "collection_id",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "PatientID",
    "aws_bucket",
    "crdc_series_uuid",
    "instanceCount",
    "series_size_MB",
];

/// Rows per batch read from each column.
const BATCH: usize = 4096;

/// What an import found.
#[derive(Debug, Default)]
pub struct Imported {
    pub series: u64,
    pub patients: u64,
    pub studies: u64,
    pub collections: u64,
    /// `idc_index_data_version` from the file's metadata.
    pub version: Option<String>,
}

/// One collection of collections_index.
#[derive(Debug, Default, Clone)]
struct Collection {
    name: String,
    id: String,
    cancer_types: Option<String>,
    tumor_locations: Option<String>,
    species: Option<String>,
    subjects: Option<i64>,
    status: Option<String>,
    updated: Option<String>,
}

fn bad(path: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{} is not an IDC index file: {why}", path.display())
}

fn open(path: &Path) -> anyhow::Result<SerializedFileReader<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    SerializedFileReader::new(f).map_err(|e| bad(path, e))
}

/// `idc_index_data_version` from a parquet file's key-value metadata.
pub fn data_version(path: &Path) -> Option<String> {
    let r = open(path).ok()?;
    version_of(&r)
}

fn version_of(r: &SerializedFileReader<File>) -> Option<String> {
    r.metadata()
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == "idc_index_data_version")
        .and_then(|kv| kv.value.clone())
}

/// Import both files into `conn` (inside the caller's transaction): tables, then indexes.
/// `progress` hears the series rows written so far.
pub fn import(
    conn: &Connection,
    series_file: &Path,
    collections_file: &Path,
    progress: &dyn Fn(u64),
) -> anyhow::Result<Imported> {
    let (collections, licenses) = read_collections(collections_file)?;
    create_tables(conn)?;
    {
        let mut ins = conn.prepare(
            "INSERT INTO collections (name, collection_id, cancer_types, tumor_locations, species, subjects, status, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for c in &collections {
            ins.execute(rusqlite::params![
                c.name,
                c.id,
                c.cancer_types,
                c.tumor_locations,
                c.species,
                c.subjects,
                c.status,
                c.updated
            ])?;
        }
    }
    let names: HashMap<&str, &str> = collections
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut out = read_series(conn, series_file, &names, &licenses, progress)?;
    // Collections the series name but collections_index lacks: listed under their id.
    conn.execute(
        "INSERT INTO collections (name, collection_id) SELECT DISTINCT Collection, collection_id FROM series WHERE collection_id NOT IN (SELECT collection_id FROM collections)",
        [],
    )?;
    finish_table(
        conn,
        "series",
        &["SeriesInstanceUID"],
        &[
            ("Collection", true),
            ("collection_id", false),
            ("PatientID", true),
            ("StudyInstanceUID", false),
            ("crdc_series_uuid", false),
        ],
    )?;
    conn.execute_batch(
        "DELETE FROM idc_more WHERE rowid NOT IN (SELECT rowid FROM series);
         INSERT INTO patients (PatientId, PatientSex, Collection, collection_id)
           SELECT PatientID, max(PatientSex), Collection, collection_id FROM series
           GROUP BY collection_id, PatientID ORDER BY min(rowid);
         INSERT INTO studies (StudyInstanceUID, StudyDate, StudyDescription, PatientAge, PatientID, PatientSex, Collection, SeriesCount, collection_id)
           SELECT StudyInstanceUID, max(StudyDate), max(StudyDesc), max(PatientAge), PatientID, max(PatientSex), Collection, count(*), collection_id FROM series
           GROUP BY StudyInstanceUID ORDER BY min(rowid);",
    )?;
    finish_table(
        conn,
        "patients",
        &["collection_id", "PatientId"],
        &[("Collection", true), ("PatientId", true)],
    )?;
    finish_table(
        conn,
        "studies",
        &["StudyInstanceUID"],
        &[("Collection", true), ("PatientID", true)],
    )?;
    let count = |t: &str| -> rusqlite::Result<u64> {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n.max(0) as u64)
    };
    out.series = count("series")?;
    out.patients = count("patients")?;
    out.studies = count("studies")?;
    out.collections = count("collections")?;
    Ok(out)
}

fn create_tables(conn: &Connection) -> anyhow::Result<()> {
    let typed = |c: &str| match c {
        "ImageCount" | "FileSize" | "series_revised_idc_version" | "series_init_idc_version" => {
            format!("\"{c}\" INTEGER")
        }
        "series_size_MB" => format!("\"{c}\" REAL"),
        // SeriesNumber: a number where IDC's text is one, else the text (no affinity).
        "SeriesNumber" => format!("\"{c}\""),
        _ => format!("\"{c}\" TEXT"),
    };
    let defs = |cols: &[&str]| cols.iter().map(|c| typed(c)).collect::<Vec<_>>().join(", ");
    let view: Vec<String> = IDC_ORDER
        .iter()
        .map(|(name, expr)| format!("{expr} AS \"{name}\""))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE series ({});
         CREATE TABLE idc_more ({});
         CREATE TABLE patients ({});
         CREATE TABLE studies ({});
         CREATE TABLE collections (name TEXT NOT NULL, collection_id TEXT NOT NULL, cancer_types TEXT, tumor_locations TEXT, species TEXT, subjects INTEGER, status TEXT, updated TEXT);
         CREATE VIEW idc_index AS SELECT {} FROM series s JOIN idc_more m ON m.rowid = s.rowid;",
        defs(SERIES_COLUMNS),
        defs(MORE_COLUMNS),
        defs(PATIENT_COLUMNS),
        defs(STUDY_COLUMNS),
        view.join(", ")
    ))?;
    Ok(())
}

/// collections_index: the collections, and license short name → long name from their sources.
fn read_collections(path: &Path) -> anyhow::Result<(Vec<Collection>, HashMap<String, String>)> {
    let r = open(path)?;
    let mut out = Vec::new();
    let mut licenses = HashMap::new();
    let rows = r.get_row_iter(None).map_err(|e| bad(path, e))?;
    for row in rows {
        let row = row.map_err(|e| bad(path, e))?;
        let mut c = Collection::default();
        for (name, field) in row.get_column_iter() {
            match name.as_str() {
                "collection_name" => c.name = text(field).unwrap_or_default(),
                "collection_id" => c.id = text(field).unwrap_or_default(),
                "cancer_types" => c.cancer_types = text(field),
                "tumor_locations" => c.tumor_locations = text(field),
                "species" => c.species = text(field),
                "subjects" => c.subjects = text(field).and_then(|t| t.parse().ok()),
                "status" => c.status = text(field),
                "updated" => c.updated = text(field),
                "sources" => licenses_in(field, &mut licenses),
                _ => {}
            }
        }
        if c.id.is_empty() {
            return Err(bad(path, "a row without collection_id"));
        }
        if c.name.is_empty() {
            c.name = c.id.clone();
        }
        out.push(c);
    }
    Ok((out, licenses))
}

/// A scalar cell as text (numbers too); None for null and nested values.
fn text(f: &Field) -> Option<String> {
    match f {
        Field::Null | Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => None,
        Field::Str(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `sources[].license.{license_short_name, license_long_name}` pairs.
fn licenses_in(f: &Field, out: &mut HashMap<String, String>) {
    let Field::ListInternal(list) = f else {
        return;
    };
    for el in list.elements() {
        let Field::Group(src) = el else { continue };
        for (k, v) in src.get_column_iter() {
            let (true, Field::Group(lic)) = (k == "license", v) else {
                continue;
            };
            let mut short = None;
            let mut long = None;
            for (lk, lv) in lic.get_column_iter() {
                match lk.as_str() {
                    "license_short_name" => short = text(lv),
                    "license_long_name" => long = text(lv),
                    _ => {}
                }
            }
            if let (Some(s), Some(l)) = (short, long) {
                out.entry(s).or_insert(l);
            }
        }
    }
}

/// One column's reader and its current batch.
enum Reader {
    Str(ColumnReaderImpl<ByteArrayType>, Vec<ByteArray>),
    I64(ColumnReaderImpl<Int64Type>, Vec<i64>),
    I32(ColumnReaderImpl<Int32Type>, Vec<i32>),
    F64(ColumnReaderImpl<DoubleType>, Vec<f64>),
    F32(ColumnReaderImpl<FloatType>, Vec<f32>),
}

/// A cell of a batch.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Null,
    Str(&'a str),
    Int(i64),
    Real(f64),
}

impl Cell<'_> {
    fn str(self) -> Option<String> {
        match self {
            Cell::Str(s) => Some(s.to_string()),
            Cell::Int(i) => Some(i.to_string()),
            Cell::Real(f) => Some(f.to_string()),
            Cell::Null => None,
        }
    }
}

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Cell::Null => ToSqlOutput::from(rusqlite::types::Null),
            Cell::Str(s) => ToSqlOutput::from(s),
            Cell::Int(i) => ToSqlOutput::from(i),
            Cell::Real(f) => ToSqlOutput::from(f),
        })
    }
}

struct Column {
    reader: Reader,
    max_def: i16,
    defs: Vec<i16>,
    /// Next value of the batch.
    next: usize,
    /// Next level of the batch.
    level: usize,
}

impl Column {
    fn new(r: ColumnReader, max_def: i16) -> anyhow::Result<Column> {
        let reader = match r {
            ColumnReader::ByteArrayColumnReader(_) => {
                Reader::Str(get_typed_column_reader(r), Vec::new())
            }
            ColumnReader::Int64ColumnReader(_) => {
                Reader::I64(get_typed_column_reader(r), Vec::new())
            }
            ColumnReader::Int32ColumnReader(_) => {
                Reader::I32(get_typed_column_reader(r), Vec::new())
            }
            ColumnReader::DoubleColumnReader(_) => {
                Reader::F64(get_typed_column_reader(r), Vec::new())
            }
            ColumnReader::FloatColumnReader(_) => {
                Reader::F32(get_typed_column_reader(r), Vec::new())
            }
            _ => return Err(anyhow!("a column of an unexpected type")),
        };
        Ok(Column {
            reader,
            max_def,
            defs: Vec::new(),
            next: 0,
            level: 0,
        })
    }

    /// Read the next batch; returns the rows in it.
    fn fill(&mut self) -> parquet::errors::Result<usize> {
        self.defs.clear();
        self.next = 0;
        self.level = 0;
        let defs = (self.max_def > 0).then_some(&mut self.defs);
        // One batch of whichever type the column has.
        macro_rules! batch {
            ($r:expr, $v:expr) => {{
                $v.clear();
                $r.read_records(BATCH, defs, None, $v)?
            }};
        }
        let (records, _, _) = match &mut self.reader {
            Reader::Str(r, v) => batch!(r, v),
            Reader::I64(r, v) => batch!(r, v),
            Reader::I32(r, v) => batch!(r, v),
            Reader::F64(r, v) => batch!(r, v),
            Reader::F32(r, v) => batch!(r, v),
        };
        Ok(records)
    }

    /// The next row's cell.
    fn take(&mut self) -> Cell<'_> {
        if self.max_def > 0 {
            let d = self.defs.get(self.level).copied().unwrap_or(0);
            self.level += 1;
            if d < self.max_def {
                return Cell::Null;
            }
        }
        let i = self.next;
        self.next += 1;
        match &self.reader {
            Reader::Str(_, v) => {
                v.get(i)
                    .map_or(Cell::Null, |b| match std::str::from_utf8(b.data()) {
                        Ok(s) => Cell::Str(s),
                        Err(_) => Cell::Null,
                    })
            }
            Reader::I64(_, v) => v.get(i).map_or(Cell::Null, |x| Cell::Int(*x)),
            Reader::I32(_, v) => v.get(i).map_or(Cell::Null, |x| Cell::Int(i64::from(*x))),
            Reader::F64(_, v) => v.get(i).map_or(Cell::Null, |x| Cell::Real(*x)),
            Reader::F32(_, v) => v.get(i).map_or(Cell::Null, |x| Cell::Real(f64::from(*x))),
        }
    }
}

/// A `10.7937/...` DOI as the URL NBIA gives in DataDescriptionURI.
fn doi_url(doi: &str) -> String {
    if doi.starts_with("http://") || doi.starts_with("https://") {
        doi.to_string()
    } else {
        format!("https://doi.org/{doi}")
    }
}

fn read_series(
    conn: &Connection,
    path: &Path,
    names: &HashMap<&str, &str>,
    licenses: &HashMap<String, String>,
    progress: &dyn Fn(u64),
) -> anyhow::Result<Imported> {
    let r = open(path)?;
    let meta = r.metadata();
    let schema = meta.file_metadata().schema_descr();
    let index_of = |name: &str| {
        (0..schema.num_columns()).find(|&i| {
            let c = schema.column(i);
            c.max_rep_level() == 0 && c.path().parts().len() == 1 && c.name() == name
        })
    };
    for req in REQUIRED {
        if index_of(req).is_none() {
            return Err(bad(path, format!("no column {req}")));
        }
    }
    let placeholders = |n: usize| {
        (1..=n)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut ins_series = conn.prepare(&format!(
        "INSERT INTO series VALUES ({})",
        placeholders(SERIES_COLUMNS.len())
    ))?;
    let mut ins_more = conn.prepare(&format!(
        "INSERT INTO idc_more (rowid, {}) VALUES (?{}, {})",
        MORE_COLUMNS
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(","),
        MORE_COLUMNS.len() + 1,
        placeholders(MORE_COLUMNS.len())
    ))?;
    let mut written = 0u64;
    let mut rowid = 0i64;
    for g in 0..r.num_row_groups() {
        let group = r.get_row_group(g).map_err(|e| bad(path, e))?;
        let rows_in_group = group.metadata().num_rows().max(0) as usize;
        let mut cols: Vec<Option<Column>> = Vec::with_capacity(READ.len());
        for name in READ {
            cols.push(match index_of(name) {
                Some(i) => {
                    let reader = group.get_column_reader(i).map_err(|e| bad(path, e))?;
                    let c = Column::new(reader, schema.column(i).max_def_level())
                        .map_err(|e| bad(path, format!("{name}: {e}")))?;
                    Some(c)
                }
                None => None,
            });
        }
        let mut left = rows_in_group;
        while left > 0 {
            // Every column gives the same rows of the group, or the file is damaged.
            let mut n: Option<usize> = None;
            for c in cols.iter_mut().flatten() {
                let got = c.fill().map_err(|e| bad(path, e))?;
                if n.is_some_and(|n| n != got) {
                    return Err(bad(path, "its columns hold different numbers of rows"));
                }
                n = Some(got);
            }
            let n = n.unwrap_or(0);
            if n == 0 {
                return Err(bad(path, "a column ended before its row group"));
            }
            for _ in 0..n {
                let mut cells = [Cell::Null; 31];
                for (i, c) in cols.iter_mut().enumerate() {
                    if let Some(c) = c {
                        cells[i] = c.take();
                    }
                }
                rowid += 1;
                write_row(
                    &mut ins_series,
                    &mut ins_more,
                    &cells,
                    rowid,
                    names,
                    licenses,
                )?;
                written += 1;
                if written.is_multiple_of(65_536) {
                    progress(written);
                }
            }
            left = left.saturating_sub(n);
        }
    }
    progress(written);
    Ok(Imported {
        series: written,
        version: version_of(&r),
        ..Imported::default()
    })
}

/// The index in READ of a column.
fn at(name: &str) -> usize {
    READ.iter().position(|c| *c == name).unwrap_or(0)
}

fn write_row(
    ins_series: &mut rusqlite::Statement<'_>,
    ins_more: &mut rusqlite::Statement<'_>,
    cells: &[Cell<'_>; 31],
    rowid: i64,
    names: &HashMap<&str, &str>,
    licenses: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let get = |name: &str| cells[at(name)];
    let collection_id = get("collection_id");
    let collection = match collection_id {
        Cell::Str(id) => Cell::Str(names.get(id).copied().unwrap_or(id)),
        other => other,
    };
    let series_number = match get("SeriesNumber") {
        Cell::Str(s) => match s.trim().parse::<i64>() {
            Ok(n) if n.to_string() == s.trim() => Cell::Int(n),
            _ => Cell::Str(s),
        },
        other => other,
    };
    let file_size = match get("series_size_MB") {
        Cell::Real(mb) => Cell::Int((mb * 1e6).round() as i64),
        Cell::Int(mb) => Cell::Int(mb * 1_000_000),
        _ => Cell::Null,
    };
    let doi = get("source_DOI").str().map(|d| doi_url(&d));
    let short = get("license_short_name");
    let long = short.str().and_then(|s| licenses.get(&s).cloned());
    let doi_cell = doi.as_deref().map_or(Cell::Null, Cell::Str);
    let license_cell = long.as_deref().map_or(short, Cell::Str);
    let series: [Cell<'_>; 26] = [
        get("SeriesInstanceUID"),
        get("StudyInstanceUID"),
        get("PatientID"),
        collection,
        get("Modality"),
        get("BodyPartExamined"),
        get("Manufacturer"),
        get("ManufacturerModelName"),
        get("SeriesDescription"),
        series_number,
        get("SeriesDate"),
        get("StudyDate"),
        get("StudyDescription"),
        get("PatientAge"),
        get("PatientSex"),
        get("instanceCount"),
        file_size,
        doi_cell,
        license_cell,
        collection_id,
        get("crdc_series_uuid"),
        get("aws_bucket"),
        get("series_aws_url"),
        get("source_DOI"),
        short,
        get("series_revised_idc_version"),
    ];
    ins_series.execute(rusqlite::params_from_iter(series.iter()))?;
    let more: [Cell<'_>; 9] = [
        get("analysis_result_id"),
        get("SOPClassUID"),
        get("sop_class_name"),
        get("TransferSyntaxUID"),
        get("transfer_syntax_name"),
        get("PhotometricInterpretation"),
        get("PixelRepresentation"),
        get("series_init_idc_version"),
        get("series_size_MB"),
    ];
    let mut params: Vec<&dyn ToSql> = more.iter().map(|c| c as &dyn ToSql).collect();
    params.push(&rowid);
    ins_more.execute(params.as_slice())?;
    Ok(())
}

/// (display name, id) of every collection.
pub fn known_collections(conn: &Connection) -> anyhow::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT name, collection_id FROM collections ORDER BY rowid")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// `LIDC-IDRI`, `lidc_idri`, `CT COLONOGRAPHY` → the same key.
pub fn collection_key(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// One `--collection` value → its display name.
pub fn resolve(known: &[(String, String)], v: &str) -> anyhow::Result<String> {
    let key = collection_key(v);
    if let Some((name, _)) = known.iter().find(|(name, id)| {
        *id == key || name.eq_ignore_ascii_case(v.trim()) || collection_key(name) == key
    }) {
        return Ok(name.clone());
    }
    let mut near: Vec<(f64, &str)> = known
        .iter()
        .map(|(name, id)| {
            let d = strsim::jaro_winkler(&key, id)
                .max(strsim::jaro_winkler(&key, &collection_key(name)));
            (d, name.as_str())
        })
        .filter(|(d, _)| *d > 0.7)
        .collect();
    near.sort_by(|a, b| b.0.total_cmp(&a.0));
    let hint = if near.is_empty() {
        "`tcia --source idc collections` lists them".to_string()
    } else {
        format!(
            "nearest: {}",
            near.iter()
                .take(3)
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(crate::error::usage(format!(
        "--collection '{v}': IDC has no such collection ({hint})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_line_up() {
        assert_eq!(READ.len(), 31);
        assert_eq!(IDC_ORDER.len(), READ.len());
        for (name, _) in IDC_ORDER {
            assert!(READ.contains(name), "{name}");
        }
        assert_eq!(doi_url("10.7937/x"), "https://doi.org/10.7937/x");
        assert_eq!(doi_url("https://doi.org/10.1"), "https://doi.org/10.1");
    }

    #[test]
    fn collections_resolve_by_name_or_id() {
        let known = vec![
            ("LIDC-IDRI".to_string(), "lidc_idri".to_string()),
            ("CT COLONOGRAPHY".to_string(), "ct_colonography".to_string()),
        ];
        for v in ["LIDC-IDRI", "lidc_idri", "lidc-idri", "Lidc-Idri "] {
            assert_eq!(resolve(&known, v).unwrap(), "LIDC-IDRI");
        }
        assert_eq!(
            resolve(&known, "ct colonography").unwrap(),
            "CT COLONOGRAPHY"
        );
        let e = resolve(&known, "LIDC-IDR").unwrap_err().to_string();
        assert!(e.contains("nearest: LIDC-IDRI"), "{e}");
    }
}
