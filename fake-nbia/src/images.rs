//! Deterministic DICOM-like image content, its cached DEFLATE pieces and MD5s.
//!
//! Image `k` of a series = a small unique explicit-VR header (preamble, `DICM`, meta group, SOP/series
//! UIDs, instance number, pixel data element header) followed by `payload` bytes that repeat one
//! 64 KiB "pixel" template (smooth 16-bit ramps plus a little noise, ~2.5x compressible).
//! The template (and each distinct tail length of it) is compressed once as raw DEFLATE ending with
//! a SYNC flush; an image's DEFLATE stream is then `[header, sync-flushed] + [template]* + [tail]`
//! plus a final empty stored block. Back-references of each piece stay inside the piece, so the
//! concatenation is a valid stream.
//!
//! Holds [`Store`] (the tail-DEFLATE and MD5 caches; the server keeps one for all data set
//! versions), [`ImageSpec`] / [`SeriesImages`], the ZIP entry names and md5hashes.csv order, and the
//! public image methods of [`Dataset`] (`image`, `image_md5`, `image_names`, `license_text`,
//! `md5_upper_case`) that tests use for their expectations.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress};
use md5::{Digest, Md5};

use crate::data::{Dataset, Series};
use crate::hash::{hstr, mix};

/// Size of the repeated payload template.
pub(crate) const BLOCK: usize = 64 * 1024;
/// A final, empty stored DEFLATE block (after a sync flush the stream is byte aligned).
pub(crate) const FINAL_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];
const TAIL_CACHE_MAX: usize = 1024;
const MD5_CACHE_MAX: usize = 4_000_000;

/// Caches shared by all requests and by every version of the data set (the server's `App` owns
/// one behind an `Arc`; a snapshot of the data set does not hold it).
pub(crate) struct Store {
    /// compressed `block[..r]` by `r`
    tails: Mutex<HashMap<usize, Bytes>>,
    /// (series UID hash ^ image size, SOP UID hash, image index) -> MD5. Keyed by content, not by
    /// DB position, so a re-released (changed) series never sees a stale hash.
    md5s: Mutex<HashMap<(u64, u64, u32), [u8; 16]>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raw DEFLATE of `input` appended to `out`, ending with a SYNC flush (byte aligned, not final).
pub(crate) fn deflate_sync(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    c.reset();
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve((input.len() / 2).max(4096));
        }
        let done = c.total_in() as usize;
        let _ = c.compress_vec(&input[done..], out, FlushCompress::Sync);
        // the flush is complete once all input is in and the output buffer was not filled
        if c.total_in() as usize == input.len() && out.len() < out.capacity() {
            break;
        }
    }
}

/// A whole raw DEFLATE stream (sync-flushed data + final empty stored block).
pub(crate) fn deflate_all(c: &mut Compress, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    if !input.is_empty() {
        deflate_sync(c, input, &mut out);
    }
    out.extend_from_slice(&FINAL_BLOCK);
    out
}

pub(crate) fn new_compress() -> Compress {
    Compress::new(Compression::new(6), false)
}

/// 128 rows of 256 16-bit pixels: an elliptic "body" (a slow ramp plus 5 bits of noise) in air (0).
fn template() -> Vec<u8> {
    let mut v = Vec::with_capacity(BLOCK);
    let mut rng: u64 = 0x5EED_1234_ABCD_0001;
    for i in 0..BLOCK / 2 {
        let (x, y) = ((i % 256) as i64, (i / 256) as i64);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (dx, dy) = (x - 128, y - 64);
        let inside = dx * dx * 4 + dy * dy * 16 < 128 * 128 * 4;
        let val = if inside {
            900 + x / 4 + y / 4 + ((rng >> 8) % 32) as i64
        } else {
            0
        };
        v.extend_from_slice(&(val as u16).to_le_bytes());
    }
    v
}

/// The payload template and its compressed form, built on first use and shared by all data sets.
fn block() -> &'static (Vec<u8>, Bytes) {
    static B: OnceLock<(Vec<u8>, Bytes)> = OnceLock::new();
    B.get_or_init(|| {
        let block = template();
        let mut z = Vec::new();
        deflate_sync(&mut new_compress(), &block, &mut z);
        (block, Bytes::from(z))
    })
}

/// The 64 KiB payload template every image repeats (the IDC objects reuse it).
pub(crate) fn template_block() -> &'static [u8] {
    &block().0
}

impl Store {
    pub(crate) fn new() -> Store {
        Store {
            tails: Mutex::new(HashMap::new()),
            md5s: Mutex::new(HashMap::new()),
        }
    }

    fn tail_z(&self, r: usize) -> Bytes {
        if let Some(b) = lock(&self.tails).get(&r) {
            return b.clone();
        }
        let mut c = new_compress();
        let mut z = Vec::new();
        deflate_sync(&mut c, &block().0[..r], &mut z);
        let b = Bytes::from(z);
        let mut m = lock(&self.tails);
        if m.len() >= TAIL_CACHE_MAX {
            m.clear();
        }
        m.insert(r, b.clone());
        b
    }

    /// Append the complete raw DEFLATE stream of an image (cached pieces, no recompression).
    pub(crate) fn deflate(&self, spec: &ImageSpec, c: &mut Compress, out: &mut BytesMut) {
        if !spec.header.is_empty() {
            let mut z = Vec::with_capacity(spec.header.len() + 64);
            deflate_sync(c, &spec.header, &mut z);
            out.put_slice(&z);
        }
        let block_z = &block().1;
        for _ in 0..spec.payload / BLOCK {
            out.put_slice(block_z);
        }
        let r = spec.payload % BLOCK;
        if r > 0 {
            out.put_slice(&self.tail_z(r));
        }
        out.put_slice(&FINAL_BLOCK);
    }

    /// MD5 of image `k` of a series, computed once and cached.
    pub(crate) fn md5(&self, ds: &Dataset, si: &SeriesImages, k: usize) -> [u8; 16] {
        let key = (
            hstr(&si.series.series_uid) ^ mix(si.size as u64),
            hstr(&si.sops[k]),
            k as u32,
        );
        if let Some(d) = lock(&self.md5s).get(&key) {
            return *d;
        }
        let d = md5_of(ds, si, k);
        let mut m = lock(&self.md5s);
        if m.len() >= MD5_CACHE_MAX {
            m.clear();
        }
        m.insert(key, d);
        d
    }
}

/// MD5 of image `k` of a series, computed from its bytes (no cache).
fn md5_of(ds: &Dataset, si: &SeriesImages, k: usize) -> [u8; 16] {
    let spec = ds.image_spec(si, k);
    let mut h = Md5::new();
    spec.pieces(|b| h.update(b));
    h.finalize().into()
}

/// One image: its (possibly truncated) header and the number of template bytes after it.
pub(crate) struct ImageSpec {
    pub header: Vec<u8>,
    pub payload: usize,
}

impl ImageSpec {
    pub fn len(&self) -> usize {
        self.header.len() + self.payload
    }

    /// Visit the bytes of the image in order, as slices.
    pub(crate) fn pieces(&self, mut f: impl FnMut(&[u8])) {
        f(&self.header);
        let block = &block().0;
        for _ in 0..self.payload / BLOCK {
            f(block);
        }
        let r = self.payload % BLOCK;
        if r > 0 {
            f(&block[..r]);
        }
    }

    /// CRC-32 of the image bytes.
    pub(crate) fn crc(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        self.pieces(|b| h.update(b));
        h.finalize()
    }
}

fn elem(out: &mut Vec<u8>, group: u16, element: u16, vr: &[u8; 2], val: &[u8], pad: u8) {
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(vr);
    let len = val.len() + val.len() % 2;
    if matches!(vr, b"OB" | b"OW") {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    }
    out.extend_from_slice(val);
    if val.len() % 2 == 1 {
        out.push(pad);
    }
}

/// The header of image `k` (0-based) of a series whose images are all `size` bytes.
fn image_spec(ds: &Dataset, s: &Series, sop: &str, k: usize, size: usize) -> ImageSpec {
    let class = ds.sop_class_uid(s).as_bytes();
    let mut meta = Vec::with_capacity(200);
    elem(&mut meta, 0x0002, 0x0001, b"OB", &[0, 1], 0);
    elem(&mut meta, 0x0002, 0x0002, b"UI", class, 0);
    elem(&mut meta, 0x0002, 0x0003, b"UI", sop.as_bytes(), 0);
    elem(&mut meta, 0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1", 0);
    elem(
        &mut meta,
        0x0002,
        0x0012,
        b"UI",
        b"1.3.6.1.4.1.14519.5.2.1.9999.1",
        0,
    );
    elem(&mut meta, 0x0002, 0x0013, b"SH", b"FAKE_NBIA_1", b' ');
    let mut h = Vec::with_capacity(512);
    h.resize(128, 0);
    h.extend_from_slice(b"DICM");
    elem(
        &mut h,
        0x0002,
        0x0000,
        b"UL",
        &(meta.len() as u32).to_le_bytes(),
        0,
    );
    h.extend_from_slice(&meta);
    elem(&mut h, 0x0008, 0x0016, b"UI", class, 0);
    elem(&mut h, 0x0008, 0x0018, b"UI", sop.as_bytes(), 0);
    elem(&mut h, 0x0008, 0x0060, b"CS", s.modality.as_bytes(), b' ');
    elem(&mut h, 0x0010, 0x0020, b"LO", s.patient_id.as_bytes(), b' ');
    elem(&mut h, 0x0020, 0x000D, b"UI", s.study_uid.as_bytes(), 0);
    elem(&mut h, 0x0020, 0x000E, b"UI", s.series_uid.as_bytes(), 0);
    elem(
        &mut h,
        0x0020,
        0x0013,
        b"IS",
        (k + 1).to_string().as_bytes(),
        b' ',
    );
    // pixel data element header; its value is the payload
    h.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00]);
    h.extend_from_slice(b"OW\0\0");
    let payload = size.saturating_sub(h.len() + 4);
    h.extend_from_slice(&(payload as u32).to_le_bytes());
    h.truncate(size);
    ImageSpec { header: h, payload }
}

/// Per-series facts needed to produce its images.
pub(crate) struct SeriesImages {
    pub series: Series,
    pub sops: Vec<String>,
    pub size: usize,
}

impl SeriesImages {
    pub fn count(&self) -> usize {
        self.sops.len()
    }
}

/// Number of images per acquisition: two acquisitions for series of more than 100 images.
fn acquisitions(n: usize) -> Vec<usize> {
    if n > 100 {
        vec![n / 2, n - n / 2]
    } else {
        vec![n]
    }
}

fn width(n: usize) -> usize {
    n.to_string().len()
}

/// Entry names of `n` images in ZIP order.
pub(crate) fn names(n: usize, new_file_names: bool) -> Vec<String> {
    if !new_file_names {
        return (1..=n).map(|i| format!("{i:08}.dcm")).collect();
    }
    let acq = acquisitions(n);
    let aw = width(acq.len());
    let mut v = Vec::with_capacity(n);
    for (a, &m) in acq.iter().enumerate() {
        let iw = width(m);
        for i in 1..=m {
            v.push(format!("{:0aw$}-{:0iw$}.dcm", a + 1, i));
        }
    }
    v
}

/// Whether the stored MD5 hex of a series is upper case (the DB keeps whatever it was given).
pub(crate) fn md5_upper(series_uid: &str) -> bool {
    hstr(series_uid) % 3 == 0
}

pub(crate) fn hex(d: &[u8; 16], upper: bool) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(32);
    for b in d {
        let _ = if upper {
            write!(s, "{b:02X}")
        } else {
            write!(s, "{b:02x}")
        };
    }
    s
}

/// Deterministic "HashMap" order of the md5hashes.csv rows (a permutation of 0..n).
pub(crate) fn csv_order(series_uid: &str, n: usize) -> Vec<usize> {
    let seed = hstr(series_uid) ^ 0xC5F0;
    let mut v: Vec<usize> = (0..n).collect();
    v.sort_by_key(|&k| mix(seed ^ k as u64));
    v
}

/// Short licence name as the LICENSE template uses it.
fn short_license(name: &str) -> String {
    let nc = name.contains("NonCommercial");
    let ver = ["4.0", "3.0", "2.5"].into_iter().find(|v| name.contains(v));
    match (name.starts_with("Creative Commons Attribution"), ver) {
        (true, Some(v)) => format!("CC BY{} {v}", if nc { "-NC" } else { "" }),
        _ => name.to_string(),
    }
}

impl Dataset {
    pub(crate) fn series_images(&self, series_uid: &str) -> Option<SeriesImages> {
        let index = self.series_index(series_uid)?;
        let series = self.series_at(index);
        let sops = self.sop_uids(series_uid);
        let size = if sops.is_empty() {
            0
        } else {
            (series.file_size / sops.len() as u64) as usize
        };
        Some(SeriesImages { series, sops, size })
    }

    pub(crate) fn image_spec(&self, si: &SeriesImages, k: usize) -> ImageSpec {
        image_spec(self, &si.series, &si.sops[k], k, si.size)
    }

    /// The bytes of image `index` (0-based, ZIP order = `sop_uids` order) of a series.
    pub fn image(&self, series_uid: &str, index: usize) -> Option<Vec<u8>> {
        let si = self.series_images(series_uid)?;
        if index >= si.count() {
            return None;
        }
        let spec = self.image_spec(&si, index);
        let mut v = Vec::with_capacity(spec.len());
        spec.pieces(|b| v.extend_from_slice(b));
        Some(v)
    }

    /// MD5 (lower-case hex) of image `index` of a series, computed from its bytes (independently
    /// of the server's MD5 cache).
    pub fn image_md5(&self, series_uid: &str, index: usize) -> Option<String> {
        let si = self.series_images(series_uid)?;
        (index < si.count()).then(|| hex(&md5_of(self, &si, index), false))
    }

    /// Image entry names in ZIP order (without LICENSE / md5hashes.csv): `00000001.dcm`..., or with
    /// `new_file_names` `<acq>-<inst>.dcm` (two acquisitions when the series has more than 100 images).
    pub fn image_names(&self, series_uid: &str, new_file_names: bool) -> Vec<String> {
        match self.find_series(series_uid) {
            Some(s) => names(s.image_count as usize, new_file_names),
            None => Vec::new(),
        }
    }

    /// Text of the LICENSE entry getImage puts first in a collection's ZIPs.
    pub fn license_text(&self, collection: &str) -> String {
        let (name, uri, coll) = match self.collection_info(collection) {
            Some(c) => (
                short_license(&c.license_name),
                c.license_uri.clone(),
                c.name.clone(),
            ),
            None => (
                "Not Specified".to_string(),
                "Not Specified".to_string(),
                collection.to_string(),
            ),
        };
        format!(
            "License Information. The {coll} collection is distributed under the {name} at {uri} By downloading the data, you agree to abide by terms of this license."
        )
    }

    /// Whether the MD5 hex of a series is stored (and served in md5hashes.csv) in upper case.
    pub fn md5_upper_case(&self, series_uid: &str) -> bool {
        md5_upper(series_uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn names_and_widths() {
        assert_eq!(names(1, true), ["1-1.dcm"]);
        let n = names(40, true);
        assert_eq!((n[0].as_str(), n[39].as_str()), ("1-01.dcm", "1-40.dcm"));
        let n = names(150, true);
        assert_eq!((n[0].as_str(), n[75].as_str()), ("1-01.dcm", "2-01.dcm"));
        assert_eq!(names(2, false), ["00000001.dcm", "00000002.dcm"]);
    }

    #[test]
    fn concatenated_deflate_is_valid_and_compresses() {
        let ds = Dataset::with_image_bytes(0, None);
        let uid = ds.series_at(0).series_uid;
        let si = ds.series_images(&uid).unwrap();
        let spec = ds.image_spec(&si, 3);
        assert_eq!(spec.len(), si.size);
        let mut out = BytesMut::new();
        Store::new().deflate(&spec, &mut new_compress(), &mut out);
        let mut dec = Vec::new();
        flate2::read::DeflateDecoder::new(&out[..])
            .read_to_end(&mut dec)
            .unwrap();
        assert_eq!(dec, ds.image(&uid, 3).unwrap());
        let ratio = dec.len() as f64 / out.len() as f64;
        assert!((2.0..3.5).contains(&ratio), "ratio {ratio}");
        assert_eq!(&dec[128..132], b"DICM");
    }

    #[test]
    fn tiny_images_are_exact() {
        for n in [0u32, 10, 200, 4096] {
            let ds = Dataset::with_image_bytes(0, Some(n));
            let uid = ds.series_at(1).series_uid;
            assert_eq!(ds.image(&uid, 0).unwrap().len(), n as usize);
        }
    }
}
