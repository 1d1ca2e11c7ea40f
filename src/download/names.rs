//! Names on disk: path components made from server metadata, and ZIP entry names, checked so
//! that no name from outside escapes or misleads the download directory on any platform.

/// `CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`, `LPT1`-`LPT9` (upper-case stem).
pub fn is_reserved_windows_name(stem_upper: &str) -> bool {
    matches!(stem_upper, "CON" | "PRN" | "AUX" | "NUL")
        || ((stem_upper.starts_with("COM") || stem_upper.starts_with("LPT"))
            && stem_upper.len() == 4
            && stem_upper.as_bytes()[3].is_ascii_digit())
}

/// One path component, safe on Linux, macOS and Windows: separators and reserved characters
/// replaced by `_`, control characters dropped, no leading dot, no trailing dots or spaces, no
/// reserved device names, at most 120 bytes, never empty, `.` or `..`.
pub fn sanitize_component(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    out = out.trim().trim_end_matches(['.', ' ']).to_string();
    while out.len() > 120 {
        out.pop();
    }
    out = out.trim_end_matches(['.', ' ']).to_string();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        return "NA".to_string();
    }
    // Never hidden, never `.tcia`: a leading dot becomes `_`.
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    let stem = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    if is_reserved_windows_name(&stem) {
        out.insert(0, '_');
    }
    out
}

/// A ZIP entry name tcia accepts: a flat, plain file name: no directories, no absolute paths,
/// no `..`, no drive letters, no backslashes, no control characters, no leading dot, no names
/// Windows reserves.
pub fn is_plain_file_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 || name == "." || name == ".." {
        return false;
    }
    if name.contains(['/', '\\', ':']) || name.chars().any(|c| c.is_control()) {
        return false;
    }
    if name.starts_with('.') || name.ends_with(['.', ' ']) {
        return false;
    }
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    !is_reserved_windows_name(&stem)
}

/// Whether a top-level name is tcia's own (`.tcia`, `LICENSES`, `metadata*.csv`,
/// `failed-series*.txt`), case-insensitively: no series may be published there.
pub fn is_reserved_top_level(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == ".tcia"
        || n == "licenses"
        || (n.starts_with("metadata") && n.ends_with(".csv"))
        || (n.starts_with("failed-series") && n.ends_with(".txt"))
}
