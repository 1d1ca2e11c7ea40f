//! The one rule for DICOM UIDs (digits and dots: they name files and directories), UID
//! arguments (`-` reads stdin) and shared-cart names.

use std::io::BufRead;

use crate::error::usage;

/// A DICOM UID as tcia accepts it anywhere (arguments, files, manifests, server rows): digits
/// and dots, not starting with a dot, at most 128 characters.
pub fn is_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && !s.starts_with('.')
}

/// The usage error for a value that is not a UID; `what` names the flag or argument.
pub fn not_a_uid(what: &str, value: &str) -> anyhow::Error {
    usage(format!(
        "{what}'{value}' is not a series instance UID (digits and dots, e.g. 1.3.6.1.4.1.14519.5.2.1.1)"
    ))
}

/// Why a series may be unknown, in every per-UID command's warning.
pub const UNKNOWN_SERIES_WHY: &str =
    "not on this server, or not accessible with this login and API (NLST series need --server nlst)";

/// The one warning for a series UID the server does not know.
pub fn unknown_series(uid: &str) -> String {
    format!("unknown series {uid}: {UNKNOWN_SERIES_WHY}")
}

/// Expand UID arguments: `-` reads `stdin`, one per line; blanks and `#` lines skipped;
/// duplicates removed, first-seen order kept; every value must be a UID.
pub fn read_uid_args(args: &[String], stdin: &mut dyn BufRead) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |u: &str| {
        let u = u.trim().trim_matches('"');
        if !u.is_empty() && !u.starts_with('#') && seen.insert(u.to_string()) {
            out.push(u.to_string());
        }
    };
    for a in args {
        if a == "-" {
            for line in stdin.lines() {
                push(&line?);
            }
        } else {
            push(a);
        }
    }
    if let Some(bad) = out.iter().find(|u| !is_uid(u)) {
        return Err(not_a_uid("", bad));
    }
    Ok(out)
}

/// All of stdin, read on a blocking thread: the runtime's Ctrl-C handler stays free to end the
/// process (exit 130) while the read waits. On a terminal, say how to end the input.
pub async fn read_stdin(from_terminal: bool) -> anyhow::Result<String> {
    let bytes = read_stdin_bytes(from_terminal).await?;
    String::from_utf8(bytes).map_err(|e| {
        usage(format!(
            "stdin is not UTF-8 text (byte {} is invalid); UIDs are plain text",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// As [`read_stdin`], the bytes as they are.
pub async fn read_stdin_bytes(from_terminal: bool) -> anyhow::Result<Vec<u8>> {
    if from_terminal {
        eprintln!("tcia: reading UIDs from the terminal; end with Ctrl-D");
    }
    tokio::task::spawn_blocking(|| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map(|_| bytes)
    })
    .await?
    .map_err(|e| anyhow::anyhow!("reading UIDs from stdin: {e}"))
}

/// As [`read_uid_args`], reading stdin (when an argument is `-`) with [`read_stdin`].
pub async fn uid_args(args: &[String], stdin_tty: bool) -> anyhow::Result<Vec<String>> {
    let text = if args.iter().any(|a| a == "-") {
        read_stdin(stdin_tty).await?
    } else {
        String::new()
    };
    read_uid_args(args, &mut std::io::Cursor::new(text))
}

/// `--name` takes a cart name or the portal URL with `?saved-cart=NAME`.
pub fn cart_name(s: &str) -> anyhow::Result<String> {
    let s = s.trim();
    if s.contains("saved-cart=") {
        let url = url::Url::parse(s)
            .map_err(|e| usage(format!("--name: cannot read the cart URL '{s}': {e}")))?;
        return url
            .query_pairs()
            .find(|(k, _)| k == "saved-cart")
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| usage(format!("--name: no saved-cart=NAME in '{s}'")));
    }
    if s.is_empty() {
        return Err(usage("--name: the cart name is empty"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids() {
        assert!(is_uid("1.3.6.1.4.1.14519.5.2.1.1"));
        assert!(is_uid("1"));
        for bad in ["", ".1", "..", "1.2a", "1/2", &"1".repeat(129)] {
            assert!(!is_uid(bad), "{bad}");
        }
    }

    #[test]
    fn uid_args_read_stdin_and_dedupe() {
        let mut stdin = std::io::Cursor::new("1.2\n# note\n\n\"1.3\"\n1.2\n");
        let got = read_uid_args(&["1.1".into(), "-".into()], &mut stdin).unwrap();
        assert_eq!(got, ["1.1", "1.2", "1.3"]);
        let mut none = std::io::Cursor::new("");
        assert!(read_uid_args(&[".1".into()], &mut none).is_err());
    }

    #[test]
    fn cart_names() {
        assert_eq!(cart_name("nbia-1").unwrap(), "nbia-1");
        assert_eq!(
            cart_name("https://nbia.cancerimagingarchive.net/nbia-search/?saved-cart=nbia-49121659384603347").unwrap(),
            "nbia-49121659384603347"
        );
        assert!(cart_name("https://x/?saved-cart=").is_err());
    }
}
