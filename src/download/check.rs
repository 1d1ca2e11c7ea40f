//! Re-checking a published series against its completion record: missing, extra and corrupt
//! files (used by `tcia verify`, and by `download --verify` / `sync --verify` before skipping).

use std::fs;
use std::io;

use super::state::{Record, State};
use crate::fsutil::md5_of;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing {
        uid: String,
        path: String,
    },
    Corrupt {
        uid: String,
        path: String,
        detail: String,
    },
    Extra {
        uid: String,
        path: String,
    },
    /// A file or folder in the download directory that no completion record covers.
    Untracked {
        path: String,
    },
    /// A completion record that cannot be read or parsed.
    BadRecord {
        path: String,
    },
}

impl Problem {
    pub fn describe(&self) -> String {
        match self {
            Problem::Missing { path, .. } => format!("missing {path}"),
            Problem::Corrupt { path, detail, .. } => format!("corrupt {path}: {detail}"),
            Problem::Extra { path, .. } => format!("extra {path}"),
            Problem::Untracked { path } => format!("untracked {path} (no completion record)"),
            Problem::BadRecord { path } => format!("unreadable completion record {path}"),
        }
    }

    /// `kind<TAB>series<TAB>path`, for stdout.
    pub fn line(&self) -> String {
        match self {
            Problem::Missing { uid, path } => format!("missing\t{uid}\t{path}"),
            Problem::Corrupt { uid, path, .. } => format!("corrupt\t{uid}\t{path}"),
            Problem::Extra { uid, path } => format!("extra\t{uid}\t{path}"),
            Problem::Untracked { path } => format!("untracked\t-\t{path}"),
            Problem::BadRecord { path } => format!("bad-record\t-\t{path}"),
        }
    }
}

/// The problem, if any, with one recorded file given its content's (MD5, size).
fn compare(
    r: &Record,
    f: &super::state::FileRec,
    got: io::Result<(String, u64)>,
) -> Option<Problem> {
    let uid = r.uid.clone();
    let path = format!("{}/{}", r.path, f.name);
    match got {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(Problem::Missing { uid, path }),
        Err(e) => Some(Problem::Corrupt {
            uid,
            path,
            detail: e.to_string(),
        }),
        Ok((md5, size)) if size == f.size && (f.md5.is_empty() || f.md5 == *md5) => None,
        Ok((md5, size)) => Some(Problem::Corrupt {
            uid,
            path,
            detail: format!(
                "{size} bytes, MD5 {md5}; recorded {} bytes, MD5 {}",
                f.size, f.md5
            ),
        }),
    }
}

/// Every problem with one published series.
pub fn check_record(st: &State, r: &Record) -> Vec<Problem> {
    let base = st.data_path(r);
    let mut out = Vec::new();
    let rel = |name: &str| format!("{}/{name}", r.path);
    if r.zip {
        let file = match fs::File::open(&base) {
            Ok(f) => f,
            Err(_) => {
                return vec![Problem::Missing {
                    uid: r.uid.clone(),
                    path: r.path.clone(),
                }]
            }
        };
        let mut archive = match zip::ZipArchive::new(file) {
            Ok(a) => a,
            Err(e) => {
                return vec![Problem::Corrupt {
                    uid: r.uid.clone(),
                    path: r.path.clone(),
                    detail: e.to_string(),
                }]
            }
        };
        for f in &r.files {
            let content = archive
                .by_name(&f.name)
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()));
            out.extend(compare(r, f, content.and_then(md5_of)));
        }
        return out;
    }
    for f in &r.files {
        out.extend(compare(
            r,
            f,
            fs::File::open(base.join(&f.name)).and_then(md5_of),
        ));
    }
    if let Ok(rd) = fs::read_dir(&base) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !r.files.iter().any(|f| f.name == name) {
                out.push(Problem::Extra {
                    uid: r.uid.clone(),
                    path: rel(&name),
                });
            }
        }
    }
    out
}
