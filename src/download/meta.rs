//! Series metadata for downloads: one normalised record per series (Collection, PatientID,
//! study fields, ImageCount, FileSize), whichever endpoint, API version or source it came from.

use std::collections::HashMap;

use crate::output::{cell, Row};

/// Field names usable in `--layout` templates (getSeries names).
pub const TEMPLATE_FIELDS: &[&str] = &[
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Collection",
    "PatientID",
    "PatientName",
    "PatientSex",
    "PatientAge",
    "StudyDate",
    "StudyDescription",
    "StudyID",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "ProtocolName",
    "SoftwareVersions",
    "ImageCount",
    "FileSize",
    "DateReleased",
    "LicenseName",
    "LicenseURI",
    "DataDescriptionURI",
    "ThirdPartyAnalysis",
    "SOPClassUID",
    "Site",
    "collection_id",
    "crdc_series_uuid",
];

/// One series as the downloader needs it.
#[derive(Clone, Debug, Default)]
pub struct SeriesInfo {
    pub uid: String,
    /// Normalised getSeries-style field names → text.
    pub fields: HashMap<String, String>,
}

/// Map the many spellings of one field (v1 spaced keys, v4 CSV, getSeries JSON) to one name.
fn canonical(key: &str) -> Option<&'static str> {
    Some(match key {
        "SeriesInstanceUID" | "Series UID" | "Series ID" => "SeriesInstanceUID",
        "StudyInstanceUID" | "Study UID" => "StudyInstanceUID",
        "Collection" | "Collection Name" => "Collection",
        "PatientID" | "PatientId" | "Subject ID" => "PatientID",
        "PatientName" => "PatientName",
        "PatientSex" => "PatientSex",
        "PatientAge" => "PatientAge",
        "StudyDate" | "Study Date" => "StudyDate",
        "StudyDesc" | "StudyDescription" | "Study Description" => "StudyDescription",
        "StudyID" | "File Location" => "StudyID",
        "SeriesNumber" | "Series Number" => "SeriesNumber",
        "SeriesDescription" | "Series Description" => "SeriesDescription",
        "SeriesDate" | "Series Date" => "SeriesDate",
        "Modality" => "Modality",
        "Manufacturer" => "Manufacturer",
        "ManufacturerModelName" | "Manufacturer Model Name" => "ManufacturerModelName",
        "BodyPartExamined" | "Body Part Examined" => "BodyPartExamined",
        "ProtocolName" | "Protocol Name" => "ProtocolName",
        "SoftwareVersions" | "Software Versions" => "SoftwareVersions",
        "ImageCount" | "Number of Images" | "Number of images" => "ImageCount",
        "FileSize" | "File Size" | "File Size (Bytes)" => "FileSize",
        "DateReleased" | "Date Released" => "DateReleased",
        "LicenseName" | "License Name" => "LicenseName",
        "LicenseURI" | "License URL" => "LicenseURI",
        "DataDescriptionURI" | "Data Description URI" | "CollectionURI" => "DataDescriptionURI",
        "ThirdPartyAnalysis" | "3rd Party Analysis" => "ThirdPartyAnalysis",
        "SOP Class UID" | "SOPClassUID" => "SOPClassUID",
        "Site" => "Site",
        "collection_id" => "collection_id",
        "crdc_series_uuid" => "crdc_series_uuid",
        "series_revised_idc_version" => "series_revised_idc_version",
        _ => return None,
    })
}

impl SeriesInfo {
    pub fn new(uid: &str) -> SeriesInfo {
        SeriesInfo {
            uid: uid.to_string(),
            fields: HashMap::new(),
        }
    }

    /// Build from any metadata row; None without a series UID.
    pub fn from_row(row: &Row) -> Option<SeriesInfo> {
        let mut fields = HashMap::new();
        for (k, v) in row {
            if let Some(c) = canonical(k) {
                let text = cell(Some(v)).into_owned();
                if !text.is_empty() {
                    fields.entry(c.to_string()).or_insert(text);
                }
            }
        }
        let uid = fields.get("SeriesInstanceUID")?.trim().to_string();
        // The UID names files and directories: anything but digits and dots is refused here,
        // whichever input or server it came from.
        if !crate::uid::is_uid(&uid) {
            return None;
        }
        Some(SeriesInfo { uid, fields })
    }

    /// The UID a row claims, valid or not (for error messages).
    pub fn claimed_uid(row: &Row) -> Option<String> {
        row.iter()
            .find(|(k, _)| canonical(k) == Some("SeriesInstanceUID"))
            .map(|(_, v)| cell(Some(v)).into_owned())
    }

    /// Merge fields known from another source (kept where this one has none).
    pub fn merge(&mut self, other: &SeriesInfo) {
        for (k, v) in &other.fields {
            self.fields.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    pub fn get(&self, field: &str) -> String {
        if field == "SeriesInstanceUID" {
            return self.uid.clone();
        }
        self.fields.get(field).cloned().unwrap_or_default()
    }

    fn number(&self, field: &str) -> Option<u64> {
        let t = self.fields.get(field)?;
        t.trim().parse::<u64>().ok().or_else(|| {
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| *f >= 0.0)
                .map(|f| f as u64)
        })
    }

    pub fn image_count(&self) -> Option<u64> {
        self.number("ImageCount")
    }

    pub fn file_size(&self) -> Option<u64> {
        self.number("FileSize")
    }

    /// Study date as MM-DD-YYYY (what the official downloader puts in folder names), from
    /// `2000-01-01 00:00:00.0`, `2000-01-01`, or `01-01-2000`.
    pub fn study_date_mdy(&self) -> String {
        let d = self.get("StudyDate");
        match crate::dates::loose_parts(&d) {
            Some((y, m, dd)) => format!("{m}-{dd}-{y}"),
            None => d.split_whitespace().next().unwrap_or("").to_string(),
        }
    }

    /// Series number as the official downloader writes it: `3000566.000000`.
    pub fn series_number_text(&self) -> String {
        let n = self.get("SeriesNumber");
        let n = n.trim();
        if n.is_empty() {
            return String::new();
        }
        if n.contains('.') {
            n.to_string()
        } else {
            format!("{n}.000000")
        }
    }
}
