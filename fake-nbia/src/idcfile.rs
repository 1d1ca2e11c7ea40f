//! The index artifacts as IDC publishes them: `idc_index.parquet` and `collections_index.parquet`
//! (IDC's real schema: optional UTF-8 byte arrays, int64 and double columns, the nested
//! `sources` list of structs; ZSTD; `idc_index_data_version` and `pandas` metadata), written with
//! the `parquet` crate's column writers, and their `sha256sum`-style sidecars.

use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::idc::{IdcCollection, IdcData, IdcSeries};

/// Physical type of a flat column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColKind {
    Str,
    I64,
    F64,
}

/// idc_index.parquet's columns, in order, as in idc-index-data 25.0.5.
pub const IDC_INDEX_COLUMNS: [(&str, ColKind); 31] = [
    ("collection_id", ColKind::Str),
    ("analysis_result_id", ColKind::Str),
    ("PatientID", ColKind::Str),
    ("SeriesInstanceUID", ColKind::Str),
    ("StudyInstanceUID", ColKind::Str),
    ("source_DOI", ColKind::Str),
    ("PatientAge", ColKind::Str),
    ("PatientSex", ColKind::Str),
    ("StudyDate", ColKind::Str),
    ("StudyDescription", ColKind::Str),
    ("BodyPartExamined", ColKind::Str),
    ("Modality", ColKind::Str),
    ("SOPClassUID", ColKind::Str),
    ("sop_class_name", ColKind::Str),
    ("TransferSyntaxUID", ColKind::Str),
    ("transfer_syntax_name", ColKind::Str),
    ("PhotometricInterpretation", ColKind::Str),
    ("PixelRepresentation", ColKind::Str),
    ("Manufacturer", ColKind::Str),
    ("ManufacturerModelName", ColKind::Str),
    ("SeriesDate", ColKind::Str),
    ("SeriesDescription", ColKind::Str),
    ("SeriesNumber", ColKind::Str),
    ("instanceCount", ColKind::I64),
    ("license_short_name", ColKind::Str),
    ("series_init_idc_version", ColKind::I64),
    ("series_revised_idc_version", ColKind::I64),
    ("aws_bucket", ColKind::Str),
    ("crdc_series_uuid", ColKind::Str),
    ("series_aws_url", ColKind::Str),
    ("series_size_MB", ColKind::F64),
];

/// collections_index.parquet's schema (the real file's).
pub const COLLECTIONS_SCHEMA: &str = "message schema {
  optional binary collection_name (STRING);
  optional binary collection_id (STRING);
  optional binary cancer_types (STRING);
  optional binary tumor_locations (STRING);
  optional int64 subjects;
  optional binary species (STRING);
  optional group sources (LIST) {
    repeated group list {
      optional group element {
        optional binary source_id (STRING);
        optional binary source_title (STRING);
        optional binary source_type (STRING);
        optional binary source_doi (STRING);
        optional binary source_url (STRING);
        optional binary modalities (STRING);
        optional group license {
          optional binary license_url (STRING);
          optional binary license_long_name (STRING);
          optional binary license_short_name (STRING);
        }
        optional binary citation (STRING);
        optional group provenance {
          optional binary data_contributor (STRING);
          optional binary source_data_provider (STRING);
          optional binary deidentification_party (STRING);
          optional binary dicom_conversion_by (STRING);
        }
        optional binary Access (STRING);
        optional binary ImageTypes (STRING);
      }
    }
  }
  optional binary supporting_data (STRING);
  optional binary program_id (STRING);
  optional binary status (STRING);
  optional binary updated (STRING);
  optional binary description (STRING);
}";

fn idc_index_schema() -> String {
    let mut s = String::from("message schema {\n");
    for (name, kind) in IDC_INDEX_COLUMNS {
        let t = match kind {
            ColKind::Str => "binary",
            ColKind::I64 => "int64",
            ColKind::F64 => "double",
        };
        let ann = if kind == ColKind::Str {
            " (STRING)"
        } else {
            ""
        };
        s.push_str(&format!("  optional {t} {name}{ann};\n"));
    }
    s.push('}');
    s
}

/// The values of one leaf column: only the non-null ones, plus levels for every slot.
enum Vals {
    Str(Vec<ByteArray>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

struct Leaf {
    vals: Vals,
    defs: Vec<i16>,
    reps: Option<Vec<i16>>,
}

fn str_leaf<'a>(it: impl Iterator<Item = Option<&'a str>>) -> Leaf {
    let (mut vals, mut defs) = (Vec::new(), Vec::new());
    for v in it {
        defs.push(v.is_some() as i16);
        if let Some(v) = v {
            vals.push(ByteArray::from(v));
        }
    }
    Leaf {
        vals: Vals::Str(vals),
        defs,
        reps: None,
    }
}

fn i64_leaf(it: impl Iterator<Item = i64>) -> Leaf {
    let vals: Vec<i64> = it.collect();
    Leaf {
        defs: vec![1; vals.len()],
        vals: Vals::I64(vals),
        reps: None,
    }
}

fn pandas_meta(columns: &[(&str, ColKind)], rows: usize) -> String {
    let cols: Vec<serde_json::Value> = columns
        .iter()
        .map(|(name, kind)| {
            let (p, n) = match kind {
                ColKind::Str => ("object", "str"),
                ColKind::I64 => ("int64", "Int64"),
                ColKind::F64 => ("float64", "float64"),
            };
            serde_json::json!({"name": name, "field_name": name, "pandas_type": p, "numpy_type": n, "metadata": null})
        })
        .collect();
    serde_json::json!({
        "index_columns": [{"kind": "range", "name": null, "start": 0, "stop": rows, "step": 1}],
        "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "str", "metadata": {"encoding": "UTF-8"}}],
        "columns": cols,
        "attributes": {},
        "creator": {"library": "pyarrow", "version": "26.0.0"},
        "pandas_version": "3.0.6"
    })
    .to_string()
}

fn write(schema: &str, leaves: Vec<Leaf>, meta: Vec<KeyValue>) -> Vec<u8> {
    let schema = Arc::new(parse_message_type(schema).expect("fake-nbia: parquet schema"));
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_created_by("parquet-cpp-arrow version 26.0.0".to_string())
            .set_key_value_metadata(Some(meta))
            .build(),
    );
    let mut buf = Vec::new();
    let mut w = SerializedFileWriter::new(&mut buf, schema, props).expect("parquet writer");
    let mut rg = w.next_row_group().expect("row group");
    let mut leaves = leaves.into_iter();
    while let Some(mut col) = rg.next_column().expect("next column") {
        let leaf = leaves.next().expect("a leaf per column");
        let (defs, reps) = (Some(leaf.defs.as_slice()), leaf.reps.as_deref());
        match leaf.vals {
            Vals::Str(v) => col.typed::<ByteArrayType>().write_batch(&v, defs, reps),
            Vals::I64(v) => col.typed::<Int64Type>().write_batch(&v, defs, reps),
            Vals::F64(v) => col.typed::<DoubleType>().write_batch(&v, defs, reps),
        }
        .expect("write column");
        col.close().expect("close column");
    }
    rg.close().expect("close row group");
    w.close().expect("close parquet");
    buf
}

fn meta(data: &IdcData, columns: &[(&str, ColKind)], rows: usize) -> Vec<KeyValue> {
    vec![
        KeyValue::new("pandas".to_string(), pandas_meta(columns, rows)),
        KeyValue::new(
            "idc_index_data_version".to_string(),
            data.version_tag.clone(),
        ),
    ]
}

/// idc_index.parquet for `data` (one row group).
pub fn idc_index(data: &IdcData) -> Vec<u8> {
    let s = &data.series;
    type Get = fn(&IdcSeries) -> Option<&str>;
    let strs: [(usize, Get); 27] = [
        (0, |r| Some(&r.collection_id)),
        (1, |r| r.analysis_result_id.as_deref()),
        (2, |r| Some(&r.patient_id)),
        (3, |r| Some(&r.series_instance_uid)),
        (4, |r| Some(&r.study_instance_uid)),
        (5, |r| Some(&r.source_doi)),
        (6, |r| r.patient_age.as_deref()),
        (7, |r| r.patient_sex.as_deref()),
        (8, |r| r.study_date.as_deref()),
        (9, |r| r.study_description.as_deref()),
        (10, |r| r.body_part_examined.as_deref()),
        (11, |r| Some(&r.modality)),
        (12, |r| Some(&r.sop_class_uid)),
        (13, |r| Some(&r.sop_class_name)),
        (14, |r| Some(&r.transfer_syntax_uid)),
        (15, |r| Some(&r.transfer_syntax_name)),
        (16, |r| r.photometric_interpretation.as_deref()),
        (17, |r| r.pixel_representation.as_deref()),
        (18, |r| r.manufacturer.as_deref()),
        (19, |r| r.manufacturer_model_name.as_deref()),
        (20, |r| r.series_date.as_deref()),
        (21, |r| r.series_description.as_deref()),
        (22, |r| r.series_number.as_deref()),
        (24, |r| Some(&r.license_short_name)),
        (27, |r| Some(&r.aws_bucket)),
        (28, |r| Some(&r.crdc_series_uuid)),
        (29, |r| Some(&r.series_aws_url)),
    ];
    let mut leaves: Vec<Option<Leaf>> = (0..31).map(|_| None).collect();
    for (i, get) in strs {
        leaves[i] = Some(str_leaf(s.iter().map(get)));
    }
    leaves[23] = Some(i64_leaf(s.iter().map(|r| r.instance_count)));
    leaves[25] = Some(i64_leaf(s.iter().map(|r| r.series_init_idc_version)));
    leaves[26] = Some(i64_leaf(s.iter().map(|r| r.series_revised_idc_version)));
    let mb: Vec<f64> = s.iter().map(|r| r.series_size_mb).collect();
    leaves[30] = Some(Leaf {
        defs: vec![1; mb.len()],
        vals: Vals::F64(mb),
        reps: None,
    });
    let leaves = leaves
        .into_iter()
        .map(|l| l.expect("every column"))
        .collect();
    write(
        &idc_index_schema(),
        leaves,
        meta(data, &IDC_INDEX_COLUMNS, s.len()),
    )
}

/// collections_index.parquet for `data` (one row group), nested `sources` included.
pub fn collections_index(data: &IdcData) -> Vec<u8> {
    let c = &data.collections;
    type Get = fn(&IdcCollection) -> Option<&str>;
    let flat = |get: Get| str_leaf(c.iter().map(get));
    let mut leaves = vec![
        flat(|r| Some(&r.collection_name)),
        flat(|r| Some(&r.collection_id)),
        flat(|r| Some(&r.cancer_types)),
        flat(|r| Some(&r.tumor_locations)),
        i64_leaf(c.iter().map(|r| r.subjects)),
        flat(|r| Some(&r.species)),
    ];
    // sources: optional list (1) > repeated list (2) > optional element (3) > leaf (4), and
    // the license / provenance groups add one more level (5). A null group gives def 4.
    type SGet = fn(&crate::idc::IdcSource) -> Option<&str>;
    let plain: [SGet; 6] = [
        |s| Some(&s.source_id),
        |s| Some(&s.source_title),
        |s| Some(&s.source_type),
        |s| Some(&s.source_doi),
        |s| Some(&s.source_url),
        |s| Some(&s.modalities),
    ];
    let license: [SGet; 3] = [
        |s| s.license.as_ref().map(|l| l.license_url.as_str()),
        |s| s.license.as_ref().map(|l| l.license_long_name.as_str()),
        |s| s.license.as_ref().map(|l| l.license_short_name.as_str()),
    ];
    let provenance: [SGet; 4] = [
        |s| s.provenance.as_ref().map(|p| p.data_contributor.as_str()),
        |s| {
            s.provenance
                .as_ref()
                .map(|p| p.source_data_provider.as_str())
        },
        |s| {
            s.provenance
                .as_ref()
                .map(|p| p.deidentification_party.as_str())
        },
        |s| {
            s.provenance
                .as_ref()
                .map(|p| p.dicom_conversion_by.as_str())
        },
    ];
    let nested = |get: SGet, group: Option<fn(&crate::idc::IdcSource) -> bool>| {
        let (mut vals, mut defs, mut reps) = (Vec::new(), Vec::new(), Vec::new());
        let max = if group.is_some() { 5 } else { 4 };
        for row in c {
            if row.sources.is_empty() {
                defs.push(1);
                reps.push(0);
                continue;
            }
            for (j, s) in row.sources.iter().enumerate() {
                reps.push(if j == 0 { 0 } else { 1 });
                let present = group.is_none_or(|g| g(s));
                match get(s) {
                    Some(v) => {
                        defs.push(max);
                        vals.push(ByteArray::from(v));
                    }
                    None => defs.push(if present { max - 1 } else { 3 }),
                }
            }
        }
        Leaf {
            vals: Vals::Str(vals),
            defs,
            reps: Some(reps),
        }
    };
    for g in plain {
        leaves.push(nested(g, None));
    }
    for g in license {
        leaves.push(nested(g, Some(|s| s.license.is_some())));
    }
    leaves.push(nested(|s| Some(&s.citation), None));
    for g in provenance {
        leaves.push(nested(g, Some(|s| s.provenance.is_some())));
    }
    leaves.push(nested(|s| Some(&s.access), None));
    leaves.push(nested(|s| Some(&s.image_types), None));
    leaves.extend([
        flat(|r| r.supporting_data.as_deref()),
        flat(|r| Some(&r.program_id)),
        flat(|r| Some(&r.status)),
        flat(|r| r.updated.as_deref()),
        flat(|r| Some(&r.description)),
    ]);
    let cols: [(&str, ColKind); 12] = [
        ("collection_name", ColKind::Str),
        ("collection_id", ColKind::Str),
        ("cancer_types", ColKind::Str),
        ("tumor_locations", ColKind::Str),
        ("subjects", ColKind::I64),
        ("species", ColKind::Str),
        ("sources", ColKind::Str),
        ("supporting_data", ColKind::Str),
        ("program_id", ColKind::Str),
        ("status", ColKind::Str),
        ("updated", ColKind::Str),
        ("description", ColKind::Str),
    ];
    write(COLLECTIONS_SCHEMA, leaves, meta(data, &cols, c.len()))
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    crate::idc::hex(d.as_ref())
}

/// A `sha256sum` line: 64 hex digits, two spaces, the file name, a newline.
pub fn sidecar(bytes: &[u8], file_name: &str) -> String {
    format!("{}  {file_name}\n", sha256_hex(bytes))
}
