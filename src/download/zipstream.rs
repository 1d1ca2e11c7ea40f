//! A streaming ZIP reader for what NBIA sends: Java ZipOutputStream archives whose DEFLATE entries
//! carry data descriptors (sizes after the data), read front to back without the central
//! directory. The zip crate's stream reader needs sizes in the local header, so the framing is
//! read here and the inflating is flate2's.
//!
//! Entry names are untrusted: [`check_name`] accepts only flat, plain file names.

use super::names::is_plain_file_name;
use std::io::{self, BufRead, Read};

use flate2::{Decompress, FlushDecompress, Status};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const ZIP64_END: u32 = 0x0606_4b50;

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("the download ended early (truncated ZIP): {0}")]
    Truncated(String),
    #[error("not a ZIP archive: {0}")]
    NotZip(String),
    #[error("corrupt ZIP entry {name}: {what}")]
    Corrupt { name: String, what: String },
    #[error("unsafe entry name {0:?} in the ZIP")]
    HostileName(String),
    #[error("unsupported ZIP entry {name}: {what}")]
    Unsupported { name: String, what: String },
    /// The series' files inflate to more than its FileSize allows (a ZIP bomb?).
    #[error("the ZIP inflates to more than {limit} bytes, beyond what the series' size allows ({why}); stopped")]
    TooLarge { limit: u64, why: String },
    /// Failure of the consumer (disk full, ...), not of the archive.
    #[error("{0}")]
    Sink(io::Error),
}

/// A local file header.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    zip64: bool,
}

/// Reads entries one after the other from a `BufRead`.
pub struct ZipStream<R: BufRead> {
    r: R,
    entries: usize,
    /// Output buffer reused for every entry.
    buf: Vec<u8>,
    /// The inflater, reset for every entry rather than built anew (its state and window are
    /// allocated once per archive, not once per file).
    inflater: Decompress,
}

/// A short read: the archive ended early, or the transport failed (its own error, e.g. the idle
/// timeout that fired, passed on as it is rather than called a short ZIP).
fn truncated(e: io::Error) -> ZipError {
    if e.kind() == io::ErrorKind::ConnectionAborted {
        return ZipError::Sink(e);
    }
    ZipError::Truncated(e.to_string())
}

impl<R: BufRead> ZipStream<R> {
    pub fn new(r: R) -> Self {
        ZipStream {
            r,
            entries: 0,
            buf: vec![0u8; 256 * 1024],
            inflater: Decompress::new(false),
        }
    }

    fn u16(&mut self) -> Result<u16, ZipError> {
        let mut b = [0u8; 2];
        self.r.read_exact(&mut b).map_err(truncated)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, ZipError> {
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b).map_err(truncated)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, ZipError> {
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b).map_err(truncated)?;
        Ok(u64::from_le_bytes(b))
    }

    /// The next entry's header, or None when the central directory starts.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ZipError> {
        if !self.at_local_header()? {
            return Ok(None);
        }
        self.local_header().map(Some)
    }

    /// Read the next signature: true for a local file header, false where the central
    /// directory (or its end) starts; anything else is not a ZIP or is corrupt.
    fn at_local_header(&mut self) -> Result<bool, ZipError> {
        let sig = match self.u32() {
            Ok(s) => s,
            Err(ZipError::Truncated(_)) if self.entries == 0 => {
                return Err(ZipError::NotZip(
                    "the response is empty or too short".into(),
                ))
            }
            Err(e) => return Err(e),
        };
        match sig {
            LOCAL_HEADER => Ok(true),
            CENTRAL_HEADER | END_OF_CENTRAL | ZIP64_END => Ok(false),
            _ if self.entries == 0 => Err(ZipError::NotZip(format!(
                "it starts with bytes {:02x?}",
                sig.to_le_bytes()
            ))),
            _ => Err(ZipError::Corrupt {
                name: "(between entries)".into(),
                what: format!("unexpected signature {sig:#010x}"),
            }),
        }
    }

    /// A local file header after its signature.
    fn local_header(&mut self) -> Result<Entry, ZipError> {
        let _version = self.u16()?;
        let flags = self.u16()?;
        let method = self.u16()?;
        let _time = self.u32()?;
        let crc = self.u32()?;
        let mut compressed = u64::from(self.u32()?);
        let mut size = u64::from(self.u32()?);
        let name_len = usize::from(self.u16()?);
        let extra_len = usize::from(self.u16()?);
        let mut name = vec![0u8; name_len];
        self.r.read_exact(&mut name).map_err(truncated)?;
        let mut extra = vec![0u8; extra_len];
        self.r.read_exact(&mut extra).map_err(truncated)?;
        let name = String::from_utf8(name)
            .map_err(|e| ZipError::HostileName(String::from_utf8_lossy(e.as_bytes()).into()))?;
        let zip64 = zip64_sizes(&extra, &mut size, &mut compressed);
        self.entries += 1;
        Ok(Entry {
            name,
            flags,
            method,
            crc,
            compressed,
            size,
            zip64,
        })
    }

    /// Stream the entry's content to `sink` in pieces; checks CRC-32 and size against the data
    /// descriptor (or the local header). Returns the uncompressed size.
    pub fn read_entry(
        &mut self,
        e: &Entry,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<u64, ZipError> {
        if e.flags & 1 != 0 {
            return Err(ZipError::Unsupported {
                name: e.name.clone(),
                what: "encrypted".into(),
            });
        }
        let mut crc = crc32fast::Hasher::new();
        let mut total = 0u64;
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.copy_entry(e, &mut buf, &mut crc, &mut total, sink);
        self.buf = buf;
        let compressed = result?;
        self.check_trailer(e, crc.finalize(), total, compressed)
    }

    fn copy_entry(
        &mut self,
        e: &Entry,
        buf: &mut [u8],
        crc: &mut crc32fast::Hasher,
        total: &mut u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<u64, ZipError> {
        match e.method {
            8 => self.inflate_entry(e, buf, crc, total, sink),
            0 if e.flags & 8 == 0 => {
                let mut left = e.compressed;
                while left > 0 {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.r.read(&mut buf[..want]).map_err(truncated)?;
                    if n == 0 {
                        return Err(ZipError::Truncated(format!("inside {}", e.name)));
                    }
                    crc.update(&buf[..n]);
                    *total += n as u64;
                    left -= n as u64;
                    sink(&buf[..n]).map_err(ZipError::Sink)?;
                }
                Ok(e.compressed)
            }
            m => Err(ZipError::Unsupported {
                name: e.name.clone(),
                what: format!("compression method {m}"),
            }),
        }
    }

    /// Inflate one DEFLATE entry straight from the reader's buffer. Output is handed on when the
    /// buffer is full or the entry ends, so a file smaller than the buffer reaches `sink` (and
    /// the disk) in one piece. Returns the compressed size.
    fn inflate_entry(
        &mut self,
        e: &Entry,
        buf: &mut [u8],
        crc: &mut crc32fast::Hasher,
        total: &mut u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<u64, ZipError> {
        let read_failed = |err: io::Error| match err.kind() {
            io::ErrorKind::UnexpectedEof => ZipError::Truncated(format!("inside {}", e.name)),
            _ => ZipError::Truncated(err.to_string()),
        };
        let corrupt = |err: flate2::DecompressError| ZipError::Corrupt {
            name: e.name.clone(),
            what: err.to_string(),
        };
        let z = &mut self.inflater;
        z.reset(false);
        let mut filled = 0;
        loop {
            let input = self.r.fill_buf().map_err(read_failed)?;
            let at_end = input.is_empty();
            let (in0, out0) = (z.total_in(), z.total_out());
            let status = z
                .decompress(input, &mut buf[filled..], FlushDecompress::None)
                .map_err(corrupt)?;
            let used = usize::try_from(z.total_in() - in0).expect("within the input");
            let made = usize::try_from(z.total_out() - out0).expect("within the buffer");
            self.r.consume(used);
            filled += made;
            let done = status == Status::StreamEnd;
            if filled > 0 && (done || filled == buf.len()) {
                crc.update(&buf[..filled]);
                *total += filled as u64;
                sink(&buf[..filled]).map_err(ZipError::Sink)?;
                filled = 0;
            }
            if done {
                return Ok(z.total_in());
            }
            if at_end && used == 0 && made == 0 {
                return Err(ZipError::Truncated(format!("inside {}", e.name)));
            }
        }
    }

    /// Compare what was read with the data descriptor (or the local header). Java writes 8-byte
    /// descriptor sizes for entries of 4 GiB or more even without a ZIP64 local header.
    fn check_trailer(
        &mut self,
        e: &Entry,
        got: u32,
        total: u64,
        compressed: u64,
    ) -> Result<u64, ZipError> {
        let (want_crc, want_size) = if e.flags & 8 != 0 {
            let mut first = self.u32()?;
            if first == DATA_DESCRIPTOR {
                first = self.u32()?;
            }
            let big = u64::from(u32::MAX);
            let (_c, s) = if e.zip64 || total >= big || compressed >= big {
                (self.u64()?, self.u64()?)
            } else {
                (u64::from(self.u32()?), u64::from(self.u32()?))
            };
            (first, s)
        } else {
            (e.crc, e.size)
        };
        if got != want_crc || total != want_size {
            return Err(ZipError::Corrupt {
                name: e.name.clone(),
                what: format!(
                    "CRC-32 {got:08x} and size {total}, but the archive records {want_crc:08x} and {want_size}"
                ),
            });
        }
        Ok(total)
    }

    /// After the last entry: read the central directory to the end and require the
    /// end-of-central-directory record, so a cut-off archive is never taken as complete.
    pub fn finish(mut self) -> Result<R, ZipError> {
        let mut tail = Vec::new();
        (&mut self.r)
            .take(64 * 1024 * 1024)
            .read_to_end(&mut tail)
            .map_err(truncated)?;
        // The end-of-central-directory record: 22 bytes plus its comment, at the very end.
        let eocd = END_OF_CENTRAL.to_le_bytes();
        let complete = tail.windows(4).rposition(|w| w == eocd).is_some_and(|p| {
            let comment = tail
                .get(p + 20..p + 22)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
            comment.is_some_and(|c| tail.len() == p + 22 + c)
        });
        if complete {
            Ok(self.r)
        } else {
            Err(ZipError::Truncated(
                "no complete end-of-central-directory record".into(),
            ))
        }
    }
}

/// ZIP64 extended information in a local header's extra field: the sizes that did not fit in
/// 32 bits replace their `u32::MAX` placeholders. True when the field is there.
fn zip64_sizes(extra: &[u8], size: &mut u64, compressed: &mut u64) -> bool {
    let mut zip64 = false;
    let mut i = 0;
    while i + 4 <= extra.len() {
        let id = u16::from_le_bytes([extra[i], extra[i + 1]]);
        let len = usize::from(u16::from_le_bytes([extra[i + 2], extra[i + 3]]));
        let body = &extra[(i + 4).min(extra.len())..(i + 4 + len).min(extra.len())];
        if id == 0x0001 {
            zip64 = true;
            let mut f = body
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
            if *size == u64::from(u32::MAX) {
                *size = f.next().unwrap_or(*size);
            }
            if *compressed == u64::from(u32::MAX) {
                *compressed = f.next().unwrap_or(*compressed);
            }
        }
        i += 4 + len;
    }
    zip64
}

/// Accept only a flat, plain file name (see [`is_plain_file_name`]).
pub fn check_name(name: &str) -> Result<(), ZipError> {
    if is_plain_file_name(name) {
        Ok(())
    } else {
        Err(ZipError::HostileName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Build a ZIP as Java's ZipOutputStream does: data descriptors, DEFLATE.
    fn java_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let offset = out.len() as u32;
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).unwrap();
            let comp = enc.finish().unwrap();
            let crc = crc32fast::hash(data);
            out.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
            out.extend_from_slice(&[20, 0, 8, 0, 8, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&[0u8; 12]);
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&comp);
            out.extend_from_slice(&DATA_DESCRIPTOR.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
            central.extend_from_slice(&[0u8; 38]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&central);
        out.extend_from_slice(&END_OF_CENTRAL.to_le_bytes());
        out.extend_from_slice(&[0u8; 18]);
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ZipError> {
        let mut z = ZipStream::new(io::BufReader::with_capacity(7, bytes));
        let mut out = Vec::new();
        while let Some(e) = z.next_entry()? {
            let mut data = Vec::new();
            z.read_entry(&e, &mut |b| {
                data.extend_from_slice(b);
                Ok(())
            })?;
            out.push((e.name.clone(), data));
        }
        z.finish()?;
        Ok(out)
    }

    #[test]
    fn reads_java_style_archives() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let zip = java_zip(&[("LICENSE", b"text"), ("1-1.dcm", &big), ("empty", b"")]);
        let got = read_all(&zip).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].1, big);
        assert_eq!(got[2].1, b"");
    }

    /// One inflater serves every entry: sizes around the output buffer's (256 KiB), an empty
    /// entry between them, and a corrupt stream after good ones.
    #[test]
    fn the_inflater_is_reset_between_entries() {
        let sizes = [0usize, 1, 262_143, 262_144, 262_145, 524_288, 0, 10_240];
        let data: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|i| ((i * 31 + k) % 253) as u8).collect())
            .collect();
        let names: Vec<String> = (0..sizes.len()).map(|k| format!("{k}.dcm")).collect();
        let entries: Vec<(&str, &[u8])> = names
            .iter()
            .zip(&data)
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let got = read_all(&java_zip(&entries)).unwrap();
        assert_eq!(got.len(), sizes.len());
        for ((name, bytes), want) in got.iter().zip(&data) {
            assert_eq!(bytes, want, "{name}");
        }
        // Garbage in the third entry's DEFLATE stream is corrupt, not truncated.
        let mut zip = java_zip(&entries[..3]);
        let third = zip
            .windows(5)
            .position(|w| w == b"2.dcm")
            .expect("third header");
        for b in &mut zip[third + 5..third + 25] {
            *b = 0xff;
        }
        assert!(matches!(read_all(&zip), Err(ZipError::Corrupt { .. })));
    }

    #[test]
    fn truncation_anywhere_is_an_error() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 13) as u8).collect();
        let zip = java_zip(&[("a.dcm", &data), ("b.dcm", &data)]);
        for cut in (0..zip.len()).step_by(97) {
            assert!(
                read_all(&zip[..cut]).is_err(),
                "cut at {cut} of {}",
                zip.len()
            );
        }
    }

    #[test]
    fn corruption_is_detected_by_crc() {
        let data = vec![42u8; 10_000];
        let mut zip = java_zip(&[("a.dcm", &data)]);
        // Change the recorded CRC in the data descriptor.
        let dd = zip
            .windows(4)
            .position(|w| w == DATA_DESCRIPTOR.to_le_bytes())
            .unwrap();
        zip[dd + 4] ^= 0xff;
        assert!(matches!(read_all(&zip), Err(ZipError::Corrupt { .. })));
    }

    #[test]
    fn not_a_zip() {
        assert!(matches!(
            read_all(b"<html>oops</html>"),
            Err(ZipError::NotZip(_))
        ));
        assert!(matches!(read_all(b""), Err(ZipError::NotZip(_))));
    }

    #[test]
    fn names() {
        for ok in ["1-01.dcm", "00000001.dcm", "LICENSE", "md5hashes.csv"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "C:\\x",
            "C:x",
            "a\\b.dcm",
            "x\0y",
            "sub/dir.dcm",
            "",
            "..",
            ".hidden",
            "CON",
            "nul.dcm",
            "a\n",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
