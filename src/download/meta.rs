//! Series metadata for downloads: one normalised record per series (Collection, PatientID,
//! study fields, ImageCount, FileSize), whichever endpoint, API version or source it came from.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::intern::{self, Sym};
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

/// One series as the downloader needs it: the UID, and its fields (normalised getSeries-style
/// names → text) held compactly, since a plan may hold 300,000 of them. Texts are stored once
/// per process ([`intern`]); the fields a series shares with others of its collection, study,
/// patient or scanner are stored as groups of four, once per distinct group. A field is either
/// absent or a text (possibly empty).
#[derive(Clone, Default)]
pub struct SeriesInfo {
    pub uid: String,
    /// SeriesInstanceUID, ImageCount, FileSize, DateReleased (usually one of a kind).
    direct: [Sym; DIRECT],
    /// The other 24 fields, four to a [`intern::quad`], in [`SLOTS`] order.
    groups: [u32; GROUPS],
    /// Fields under other names (from [`SeriesInfo::from_fields`]): name → text. Boxed: one
    /// pointer in the struct for what most series never have.
    #[allow(clippy::box_collection)]
    extra: Option<Box<Vec<(Sym, Sym)>>>,
}

const DIRECT: usize = 4;
const GROUPS: usize = 6;
const SLOT_COUNT: usize = DIRECT + 4 * GROUPS;

/// Where each known field is kept: the first [`DIRECT`] on their own, then groups of four
/// fields that tend to change together.
const SLOTS: [&str; SLOT_COUNT] = [
    "SeriesInstanceUID",
    "ImageCount",
    "FileSize",
    "DateReleased",
    // the collection
    "Collection",
    "LicenseName",
    "LicenseURI",
    "DataDescriptionURI",
    // the scanner
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    // the kind of series
    "BodyPartExamined",
    "ProtocolName",
    "SeriesDescription",
    "SeriesNumber",
    // the patient
    "PatientID",
    "PatientName",
    "PatientSex",
    "PatientAge",
    // the study
    "StudyInstanceUID",
    "StudyDate",
    "StudyDescription",
    "StudyID",
    // the rest
    "SeriesDate",
    "ThirdPartyAnalysis",
    "SOPClassUID",
    "Site",
];

/// A slot holding the series' own UID (SeriesInstanceUID, nearly always).
const SAME_UID: Sym = Sym::MAX;
/// A slot holding a number below 10^9 written plainly (`123`): the number, not a stored text.
const NUMBER: Sym = intern::SYM_LIMIT;

fn slot_of(name: &str) -> Option<usize> {
    SLOTS.iter().position(|s| *s == name)
}

/// A plainly written number below 10^9 (no sign, no leading zero): what it encodes to.
fn plain_number(v: &str) -> Option<Sym> {
    let plain = !v.is_empty()
        && v.len() <= 9
        && v.bytes().all(|b| b.is_ascii_digit())
        && (v == "0" || !v.starts_with('0'));
    plain.then(|| NUMBER | v.parse::<Sym>().expect("nine digits"))
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
    pub fn new(uid: impl Into<String>) -> SeriesInfo {
        SeriesInfo {
            uid: uid.into(),
            ..SeriesInfo::default()
        }
    }

    /// Build from fields by name (what a source other than NBIA rows uses): getSeries names
    /// or any spelling [`SeriesInfo::from_row`] knows go in their place; other names are kept
    /// as they are. A later field of the same name replaces an earlier one.
    pub fn from_fields<K: AsRef<str>, V: AsRef<str>>(
        uid: &str,
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> SeriesInfo {
        let mut s = SeriesInfo::new(uid);
        let mut raw = s.unpack();
        let mut extra = Vec::new();
        for (k, v) in fields {
            let (k, v) = (k.as_ref(), v.as_ref());
            match slot_of(k).or_else(|| canonical(k).and_then(slot_of)) {
                Some(i) => raw[i] = encode(i, v, uid),
                None => set_extra(&mut extra, k, v),
            }
        }
        s.pack(&raw);
        s.extra = (!extra.is_empty()).then(|| Box::new(extra));
        s
    }

    /// Build from any metadata row; None without a series UID.
    pub fn from_row(row: &Row) -> Option<SeriesInfo> {
        let mut texts: [Option<Cow<'_, str>>; SLOT_COUNT] = Default::default();
        // Known fields without a slot of their own (IDC's crdc_series_uuid, ...).
        let mut extras: Vec<(&'static str, Cow<'_, str>)> = Vec::new();
        for (k, v) in row {
            let Some(name) = canonical(k) else { continue };
            match slot_of(name) {
                Some(i) if texts[i].is_none() => {
                    let text = cell(Some(v));
                    if !text.is_empty() {
                        texts[i] = Some(text);
                    }
                }
                Some(_) => {}
                None if !extras.iter().any(|(n, _)| *n == name) => {
                    let text = cell(Some(v));
                    if !text.is_empty() {
                        extras.push((name, text));
                    }
                }
                None => {}
            }
        }
        let uid = texts[0].as_deref()?.trim().to_string();
        // The UID names files and directories: anything but digits and dots is refused here,
        // whichever input or server it came from.
        if !crate::uid::is_uid(&uid) {
            return None;
        }
        let mut raw = [0; SLOT_COUNT];
        for (i, t) in texts.iter().enumerate() {
            if let Some(t) = t {
                raw[i] = encode(i, t, &uid);
            }
        }
        let mut s = SeriesInfo {
            uid,
            ..SeriesInfo::default()
        };
        s.pack(&raw);
        for (name, text) in extras {
            s.set(name, &text);
        }
        Some(s)
    }

    /// The UID a row claims, valid or not (for error messages).
    pub fn claimed_uid(row: &Row) -> Option<String> {
        row.iter()
            .find(|(k, _)| canonical(k) == Some("SeriesInstanceUID"))
            .map(|(_, v)| cell(Some(v)).into_owned())
    }

    /// Merge fields known from another source (kept where this one has none).
    pub fn merge(&mut self, other: &SeriesInfo) {
        let mut raw = self.unpack();
        let theirs = other.unpack();
        let mut changed = false;
        for i in 0..SLOT_COUNT {
            if raw[i] == 0 && theirs[i] != 0 {
                raw[i] = match theirs[i] {
                    SAME_UID if other.uid != self.uid => intern::intern(&other.uid),
                    x => x,
                };
                changed = true;
            }
        }
        if changed {
            self.pack(&raw);
        }
        for &(k, v) in other.extra.iter().flat_map(|e| e.iter()) {
            let extra = self.extra.get_or_insert_with(Default::default);
            if !extra.iter().any(|(n, _)| *n == k) {
                extra.push((k, v));
            }
        }
    }

    /// Set one field (replacing what it held).
    pub fn set(&mut self, field: &str, value: &str) {
        match slot_of(field) {
            Some(i) => {
                let mut raw = self.unpack();
                raw[i] = encode(i, value, &self.uid);
                self.pack(&raw);
            }
            None => set_extra(
                self.extra.get_or_insert_with(Default::default),
                field,
                value,
            ),
        }
    }

    /// One field's text; None when the series does not have it.
    pub fn field(&self, field: &str) -> Option<Cow<'_, str>> {
        match slot_of(field) {
            Some(i) => self.decode(self.raw(i)),
            None => {
                let extra = self.extra.as_deref()?;
                let (_, v) = extra.iter().find(|(k, _)| intern::text(*k) == field)?;
                Some(Cow::Borrowed(intern::text(*v)))
            }
        }
    }

    /// Every field the series has, name → text (what a download's record keeps).
    pub fn fields(&self) -> BTreeMap<String, String> {
        let raw = self.unpack();
        let mut out: BTreeMap<String, String> = SLOTS
            .iter()
            .zip(raw)
            .filter_map(|(name, x)| Some((name.to_string(), self.decode(x)?.into_owned())))
            .collect();
        for &(k, v) in self.extra.iter().flat_map(|e| e.iter()) {
            out.insert(intern::text(k).to_string(), intern::text(v).to_string());
        }
        out
    }

    pub fn get(&self, field: &str) -> String {
        if field == "SeriesInstanceUID" {
            return self.uid.clone();
        }
        self.field(field).map(Cow::into_owned).unwrap_or_default()
    }

    fn number(&self, field: &str) -> Option<u64> {
        let i = slot_of(field)?;
        let x = self.raw(i);
        if x != SAME_UID && x & NUMBER != 0 {
            return Some(u64::from(x & !NUMBER));
        }
        let t = self.decode(x)?;
        t.trim().parse::<u64>().ok().or_else(|| {
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| *f >= 0.0)
                .map(|f| f as u64)
        })
    }

    fn raw(&self, i: usize) -> Sym {
        if i < DIRECT {
            self.direct[i]
        } else {
            let g = (i - DIRECT) / 4;
            intern::unquad(self.groups[g])[(i - DIRECT) % 4]
        }
    }

    fn unpack(&self) -> [Sym; SLOT_COUNT] {
        let mut raw = [0; SLOT_COUNT];
        raw[..DIRECT].copy_from_slice(&self.direct);
        for (g, id) in self.groups.iter().enumerate() {
            if *id != 0 {
                let at = DIRECT + 4 * g;
                raw[at..at + 4].copy_from_slice(&intern::unquad(*id));
            }
        }
        raw
    }

    fn pack(&mut self, raw: &[Sym; SLOT_COUNT]) {
        self.direct.copy_from_slice(&raw[..DIRECT]);
        for (g, id) in self.groups.iter_mut().enumerate() {
            let at = DIRECT + 4 * g;
            let q: intern::Quad = raw[at..at + 4].try_into().expect("four");
            *id = intern::quad(q);
        }
    }

    fn decode(&self, x: Sym) -> Option<Cow<'_, str>> {
        match x {
            0 => None,
            SAME_UID => Some(Cow::Borrowed(&self.uid)),
            x if x & NUMBER != 0 => Some(Cow::Owned((x & !NUMBER).to_string())),
            x => Some(Cow::Borrowed(intern::text(x))),
        }
    }

    pub fn image_count(&self) -> Option<u64> {
        self.number("ImageCount")
    }

    pub fn file_size(&self) -> Option<u64> {
        self.number("FileSize")
    }

    /// `Collection/PatientID/Modality`, as far as the catalogue knows them (for people).
    pub fn label(&self) -> String {
        ["Collection", "PatientID", "Modality"]
            .iter()
            .map(|f| self.get(f))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join("/")
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

/// How slot `i` keeps `v`.
fn encode(i: usize, v: &str, uid: &str) -> Sym {
    if i == 0 && v == uid {
        return SAME_UID;
    }
    plain_number(v).unwrap_or_else(|| intern::intern(v))
}

fn set_extra(extra: &mut Vec<(Sym, Sym)>, k: &str, v: &str) {
    let (k, v) = (intern::intern(k), intern::intern(v));
    match extra.iter_mut().find(|(n, _)| *n == k) {
        Some(e) => e.1 = v,
        None => extra.push((k, v)),
    }
}

impl std::fmt::Debug for SeriesInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesInfo")
            .field("uid", &self.uid)
            .field("fields", &self.fields())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect()
    }

    const UID: &str = "1.3.6.1.4.1.14519.5.2.1.9999.4001.1234";

    #[test]
    fn a_row_keeps_every_field_as_text() {
        let r = row(&[
            ("SeriesInstanceUID", UID),
            ("Collection Name", "LIDC-IDRI"),
            ("Collection", "ignored: the first spelling wins"),
            ("ImageCount", "133"),
            ("FileSize", "69916410"),
            ("File Size", "0"),
            ("SeriesNumber", "007"),
            ("PatientID", "12345"),
            ("StudyDescription", ""),
            ("Unknown Column", "x"),
            ("DateReleased", "2016-06-01 11:45:52.0"),
        ]);
        let s = SeriesInfo::from_row(&r).unwrap();
        assert_eq!(s.uid, UID);
        let want: BTreeMap<String, String> = [
            ("SeriesInstanceUID", UID),
            ("Collection", "LIDC-IDRI"),
            ("ImageCount", "133"),
            ("FileSize", "69916410"),
            ("SeriesNumber", "007"),
            ("PatientID", "12345"),
            ("DateReleased", "2016-06-01 11:45:52.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(s.fields(), want);
        assert_eq!(s.image_count(), Some(133));
        assert_eq!(s.file_size(), Some(69916410));
        assert_eq!(s.get("SeriesNumber"), "007", "not read as a number");
        assert_eq!(s.field("StudyDescription"), None, "empty cells are absent");
        assert!(SeriesInfo::from_row(&row(&[("SeriesInstanceUID", "1.2/x")])).is_none());
        assert!(SeriesInfo::from_row(&row(&[("Collection", "C")])).is_none());
    }

    #[test]
    fn numbers_big_odd_or_not_numbers_stay_as_written() {
        let mut s = SeriesInfo::new(UID);
        for (v, n) in [
            ("12345678901", Some(12345678901)),
            ("1e3", Some(1000)),
            (" 42 ", Some(42)),
            ("0", Some(0)),
            ("-1", None),
            ("n/a", None),
        ] {
            s.set("FileSize", v);
            assert_eq!(s.get("FileSize"), v);
            assert_eq!(s.file_size(), n, "{v}");
        }
        assert_eq!(s.image_count(), None);
    }

    #[test]
    fn set_merge_and_other_names() {
        let mut a = SeriesInfo::from_fields(
            UID,
            [
                ("Collection", "A"),
                ("Subject ID", "P1"),
                ("gcs_url", "gs://b/x"),
            ],
        );
        assert_eq!(a.get("PatientID"), "P1", "aliases are understood");
        assert_eq!(a.get("gcs_url"), "gs://b/x", "other names are kept");
        let b = SeriesInfo::from_fields(
            UID,
            [
                ("Collection", "B"),
                ("Modality", "CT"),
                ("SeriesInstanceUID", UID),
                ("gcs_url", "other"),
                ("aws_url", "s3://b/x"),
            ],
        );
        a.merge(&b);
        let f = a.fields();
        assert_eq!(f["Collection"], "A", "what a series has is kept");
        assert_eq!(f["Modality"], "CT", "gaps are filled");
        assert_eq!(f["SeriesInstanceUID"], UID);
        assert_eq!(f["gcs_url"], "gs://b/x");
        assert_eq!(f["aws_url"], "s3://b/x");
        // A UID field copied from another series keeps that series' text.
        let mut c = SeriesInfo::new("1.2.3");
        c.merge(&b);
        assert_eq!(c.fields()["SeriesInstanceUID"], UID);
        assert_eq!(c.get("SeriesInstanceUID"), "1.2.3");
        a.set("Collection", "");
        assert_eq!(
            a.field("Collection").as_deref(),
            Some(""),
            "empty, not absent"
        );
        a.set("gcs_url", "new");
        assert_eq!(a.get("gcs_url"), "new");
    }

    #[test]
    fn series_of_one_study_share_their_groups() {
        let one = |i: u32| {
            SeriesInfo::from_fields(
                format!("1.2.{i}").as_str(),
                [
                    ("SeriesInstanceUID", format!("1.2.{i}")),
                    ("Collection", "C".into()),
                    ("StudyInstanceUID", "1.9".into()),
                    ("FileSize", (1000 + i).to_string()),
                ],
            )
        };
        let (a, b) = (one(1), one(2));
        assert_eq!(a.groups, b.groups);
        assert_eq!(a.direct[0], SAME_UID);
        assert_ne!(a.direct, b.direct);
        assert_eq!(b.get("FileSize"), "1002");
        assert!(std::mem::size_of::<SeriesInfo>() <= 72);
    }
}
