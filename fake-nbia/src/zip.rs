//! Series downloads: getImage / getImageWithMD5Hash (streamed ZIP, framed like Java's
//! ZipOutputStream) and getSingleImage, plus the ZIP-level faults.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use flate2::Compress;

use crate::data::{Dataset, Series};
use crate::faults::FaultAction;
use crate::images::{
    csv_order, deflate_all, hex, md5_upper, names, new_compress, SeriesImages, Store,
};
use crate::render::{bad_param, server_error};
use crate::request::{Ctx, Ver};

/// Target size of the body chunks handed to hyper.
const CHUNK: usize = 256 * 1024;

enum Item {
    License(String),
    Image { k: usize },
    Extra { name: String, bytes: usize },
    Md5Csv,
}

/// A ZIP produced lazily, one entry at a time.
struct ZipStream {
    ds: Arc<Dataset>,
    /// The server's image caches (tail DEFLATE pieces, MD5s).
    store: Arc<Store>,
    si: SeriesImages,
    names: Vec<String>,
    items: Vec<Item>,
    pos: usize,
    fault: Option<FaultAction>,
    comp: Compress,
    offset: u64,
    central: Vec<u8>,
    entries: u16,
    dos: (u16, u16),
    buf: BytesMut,
    done: bool,
}

impl ZipStream {
    fn put(&mut self, b: &[u8]) {
        self.buf.put_slice(b);
        self.offset += b.len() as u64;
    }

    /// Write one entry: local header (bit 3), the DEFLATE data, a signed data descriptor.
    fn entry(&mut self, name: &[u8], crc: u32, usize_: u64, write_data: impl FnOnce(&mut Self)) {
        let local_offset = self.offset;
        let (time, date) = self.dos;
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed
        h.extend_from_slice(&0x0808u16.to_le_bytes()); // data descriptor + UTF-8 names
        h.extend_from_slice(&8u16.to_le_bytes()); // DEFLATE
        h.extend_from_slice(&time.to_le_bytes());
        h.extend_from_slice(&date.to_le_bytes());
        h.extend_from_slice(&[0; 12]); // crc, sizes: in the data descriptor
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name);
        self.put(&h);
        let start = self.offset;
        write_data(self);
        let csize = self.offset - start;
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        d.extend_from_slice(&(csize as u32).to_le_bytes());
        d.extend_from_slice(&(usize_ as u32).to_le_bytes());
        self.put(&d);
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes()); // version made by
        c.extend_from_slice(&20u16.to_le_bytes()); // version needed
        c.extend_from_slice(&0x0808u16.to_le_bytes());
        c.extend_from_slice(&8u16.to_le_bytes());
        c.extend_from_slice(&time.to_le_bytes());
        c.extend_from_slice(&date.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&(csize as u32).to_le_bytes());
        c.extend_from_slice(&(usize_ as u32).to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0; 12]); // extra, comment, disk, internal attrs, external attrs
        c.extend_from_slice(&(local_offset as u32).to_le_bytes());
        c.extend_from_slice(name);
        self.entries += 1;
    }

    fn small_entry(&mut self, name: &[u8], data: &[u8]) {
        let z = deflate_all(&mut self.comp, data);
        let crc = crc32fast::hash(data);
        self.entry(name, crc, data.len() as u64, |me| me.put(&z));
    }

    fn image_entry(&mut self, k: usize) {
        let spec = self.ds.image_spec(&self.si, k);
        let name = self.names[k].clone();
        let with_md5 = self.items.iter().any(|i| matches!(i, Item::Md5Csv));
        if with_md5 {
            // cached for md5hashes.csv, before any corruption
            self.store.md5(&self.ds, &self.si, k);
        }
        if matches!(self.fault, Some(FaultAction::CorruptEntry { entry }) if entry == k) {
            let mut bytes = Vec::with_capacity(spec.len());
            spec.pieces(|b| bytes.extend_from_slice(b));
            let n = bytes.len();
            for i in [n / 2, n / 2 + 1, n * 3 / 4, n.saturating_sub(1)] {
                if i < n {
                    bytes[i] ^= 0x5A;
                }
            }
            self.small_entry(name.as_bytes(), &bytes);
            return;
        }
        let crc = spec.crc();
        let store = self.store.clone();
        self.entry(name.as_bytes(), crc, spec.len() as u64, |me| {
            let start = me.buf.len();
            store.deflate(&spec, &mut me.comp, &mut me.buf);
            me.offset += (me.buf.len() - start) as u64;
        });
    }

    fn md5_csv(&self) -> String {
        let upper = md5_upper(&self.si.series.series_uid);
        let mut out = String::from("Filename,MD5Hash\n");
        for k in csv_order(&self.si.series.series_uid, self.si.count()) {
            let mut d = self.store.md5(&self.ds, &self.si, k);
            if matches!(self.fault, Some(FaultAction::BadMd5 { entry }) if entry == k) {
                use md5::Digest;
                d = md5::Md5::digest(d).into();
            }
            out.push_str(&self.names[k]);
            out.push(',');
            out.push_str(&hex(&d, upper));
            out.push('\n');
        }
        out
    }

    fn finish(&mut self) {
        let cd_offset = self.offset;
        let central = std::mem::take(&mut self.central);
        self.put(&central);
        let mut e = Vec::with_capacity(22);
        e.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        e.extend_from_slice(&[0; 4]); // disk numbers
        e.extend_from_slice(&self.entries.to_le_bytes());
        e.extend_from_slice(&self.entries.to_le_bytes());
        e.extend_from_slice(&(central.len() as u32).to_le_bytes());
        e.extend_from_slice(&(cd_offset as u32).to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        self.put(&e);
    }
}

impl Iterator for ZipStream {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        while self.buf.len() < CHUNK {
            let Some(item) = self.items.get(self.pos) else {
                self.finish();
                self.done = true;
                break;
            };
            self.pos += 1;
            match item {
                Item::License(t) => {
                    let t = t.clone();
                    self.small_entry(b"LICENSE", t.as_bytes());
                }
                Item::Image { k } => self.image_entry(*k),
                Item::Extra { name, bytes } => {
                    let (name, n) = (name.clone(), *bytes);
                    let data: Vec<u8> = b"FAKE-NBIA EXTRA ENTRY "
                        .iter()
                        .copied()
                        .cycle()
                        .take(n)
                        .collect();
                    self.small_entry(name.as_bytes(), &data);
                }
                Item::Md5Csv => {
                    let csv = self.md5_csv();
                    self.small_entry(b"md5hashes.csv", csv.as_bytes());
                }
            }
        }
        Some(self.buf.split().freeze())
    }
}

fn dos_time(s: &Series) -> (u16, u16) {
    let t = s.released;
    let time = ((t.hour << 11) | (t.minute << 5) | (t.second / 2)) as u16;
    let date = ((((t.year - 1980).max(0) as u32) << 9) | (t.month << 5) | t.day) as u16;
    (time, date)
}

fn yes(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true"))
}

fn no_access(ctx: &Ctx, uid: &str) -> Response {
    if ctx.ver == Ver::V1 {
        bad_param(&format!(
            "Image with given SeriesInstanceUID,{uid}, is not in public domain."
        ))
    } else {
        bad_param(&format!(
            "The user has not been granted the access to image with given SeriesInstanceUID,{uid}. Please contact System Admin to resolve this issue."
        ))
    }
}

/// getImage (`md5_variant` = false) and getImageWithMD5Hash (true).
pub fn get_image(ctx: &Ctx, md5_variant: bool) -> Response {
    let Some(uid) = ctx.q.get("SeriesInstanceUID") else {
        return bad_param("A parameter, SeriesInstanceUID, is required for this API call.");
    };
    let si = match ctx.ds.series_images(uid) {
        Some(si) if ctx.visible(&si.series.collection) => si,
        _ => return no_access(ctx, uid),
    };
    let new_names = !md5_variant && yes(ctx.q.get("NewFileNames"));
    let with_md5 = md5_variant || (ctx.ver == Ver::V4 && yes(ctx.q.get("IncludeMD5")));
    let mut items = Vec::new();
    if !md5_variant {
        items.push(Item::License(ctx.ds.license_text(&si.series.collection)));
    }
    items.extend((0..si.count()).map(|k| Item::Image { k }));
    match &ctx.fault {
        Some(FaultAction::ShortZip { entries }) => items.truncate(*entries),
        Some(FaultAction::ExtraEntry { name, bytes }) => {
            items.push(Item::Extra {
                name: name.clone(),
                bytes: *bytes,
            });
            if with_md5 {
                items.push(Item::Md5Csv);
            }
        }
        _ if with_md5 => items.push(Item::Md5Csv),
        _ => {}
    }
    let stream = ZipStream {
        ds: ctx.ds.clone(),
        store: ctx.images.clone(),
        names: names(si.count(), new_names),
        dos: dos_time(&si.series),
        si,
        items,
        pos: 0,
        fault: ctx.fault.clone(),
        comp: new_compress(),
        offset: 0,
        central: Vec::new(),
        entries: 0,
        buf: BytesMut::with_capacity(CHUNK + 64 * 1024),
        done: false,
    };
    let body = Body::from_stream(futures_util::stream::iter(
        stream.map(Ok::<Bytes, std::io::Error>),
    ));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{uid}.zip\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// getSingleImage: one DICOM file with a Content-Length.
pub fn single_image(ctx: &Ctx) -> Response {
    let (Some(uid), Some(sop)) = (ctx.q.get("SeriesInstanceUID"), ctx.q.get("SOPInstanceUID"))
    else {
        return bad_param(
            "A parameter, SeriesInstanceUID and SOPInstanceUID, are required for this API call.",
        );
    };
    let Some(si) = ctx.ds.series_images(uid) else {
        return server_error("null");
    };
    if !ctx.visible(&si.series.collection) {
        return no_access(ctx, uid);
    }
    let Some(k) = si.sops.iter().position(|s| s == sop) else {
        return server_error("null");
    };
    let spec = ctx.ds.image_spec(&si, k);
    let mut bytes = Vec::with_capacity(spec.len());
    spec.pieces(|b| bytes.extend_from_slice(b));
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/dicom"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(spec.len()));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename={sop}.dcm")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
