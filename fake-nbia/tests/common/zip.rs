//! A strict streaming ZIP reader for the downloads: it checks the framing Java's ZipOutputStream
//! writes (bit 3, DEFLATE, zero CRC/sizes in local headers, signed data descriptors), then the
//! central directory and EOCD; plus md5hashes.csv helpers.

use flate2::{Decompress, FlushDecompress, Status};
use md5::{Digest, Md5};

fn u16le(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}
fn u32le(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[derive(Debug)]
pub struct Zip {
    /// (name, inflated bytes) in ZIP order
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// central directory present and consistent with the local entries
    pub complete: bool,
}

impl Zip {
    pub fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect()
    }
    pub fn get(&self, name: &str) -> &[u8] {
        &self
            .entries
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .unwrap_or_else(|| panic!("no entry {name}"))
            .1
    }
}

/// Read a ZIP the streaming way (local header, inflate to the end of the DEFLATE stream, signed
/// data descriptor), checking the Java ZipOutputStream framing, then the central directory + EOCD.
pub fn parse_zip(b: &[u8]) -> Zip {
    let mut pos = 0;
    let mut entries = Vec::new();
    let mut offsets = Vec::new();
    while pos + 30 <= b.len() && u32le(b, pos) == 0x0403_4b50 {
        assert_eq!(u16le(b, pos + 6) & 0x08, 0x08, "bit 3 set");
        assert_eq!(u16le(b, pos + 8), 8, "DEFLATE");
        assert_eq!(
            &b[pos + 14..pos + 26],
            &[0; 12],
            "crc/sizes zero in local header"
        );
        let (nl, xl) = (u16le(b, pos + 26), u16le(b, pos + 28));
        let name = b[pos + 30..pos + 30 + nl].to_vec();
        let data = pos + 30 + nl + xl;
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 16);
        let ok = loop {
            out.reserve(1 << 16);
            let before = d.total_in() as usize;
            match d.decompress_vec(&b[data + before..], &mut out, FlushDecompress::None) {
                Ok(Status::StreamEnd) => break true,
                Ok(_) if d.total_in() as usize == before && out.len() < out.capacity() => {
                    break false
                }
                Ok(_) => {}
                Err(_) => break false,
            }
        };
        if !ok {
            return Zip {
                entries,
                complete: false,
            };
        }
        let dd = data + d.total_in() as usize;
        if dd + 16 > b.len() {
            return Zip {
                entries,
                complete: false,
            };
        }
        assert_eq!(u32le(b, dd), 0x0807_4b50, "data descriptor signature");
        assert_eq!(u32le(b, dd + 4), crc32fast::hash(&out), "crc");
        assert_eq!(u32le(b, dd + 8) as u64, d.total_in(), "compressed size");
        assert_eq!(u32le(b, dd + 12) as usize, out.len(), "size");
        offsets.push(pos as u32);
        entries.push((name, out));
        pos = dd + 16;
    }
    if pos + 22 > b.len() || u32le(b, pos) != 0x0201_4b50 && u32le(b, pos) != 0x0605_4b50 {
        return Zip {
            entries,
            complete: false,
        };
    }
    let cd = pos;
    let mut k = 0;
    while u32le(b, pos) == 0x0201_4b50 {
        let nl = u16le(b, pos + 28);
        let name = &b[pos + 46..pos + 46 + nl];
        assert_eq!(name, &entries[k].0[..]);
        assert_eq!(u32le(b, pos + 42), offsets[k]);
        assert_eq!(u32le(b, pos + 16), crc32fast::hash(&entries[k].1));
        pos += 46 + nl;
        k += 1;
    }
    assert_eq!(k, entries.len());
    assert_eq!(u32le(b, pos), 0x0605_4b50, "EOCD");
    assert_eq!(u16le(b, pos + 10), k);
    assert_eq!(u32le(b, pos + 12) as usize, pos - cd);
    assert_eq!(u32le(b, pos + 16) as usize, cd);
    assert_eq!(pos + 22, b.len(), "nothing after EOCD");
    Zip {
        entries,
        complete: true,
    }
}

/// Lower-case hex MD5.
pub fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", Md5::digest(b))
}

/// md5hashes.csv → (name, hash as served), checking its format.
pub fn md5_rows(csv: &[u8]) -> Vec<(String, String)> {
    let t = std::str::from_utf8(csv).unwrap();
    assert!(t.starts_with("Filename,MD5Hash\n"), "{t}");
    assert!(t.ends_with('\n') && !t.contains('\r') && !t.contains('"'));
    t.lines()
        .skip(1)
        .map(|l| {
            let (n, h) = l.split_once(',').unwrap();
            assert_eq!(h.len(), 32);
            (n.to_string(), h.to_string())
        })
        .collect()
}
