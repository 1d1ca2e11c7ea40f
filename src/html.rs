//! HTML from servers: collection descriptions turned into readable plain text, and error pages
//! recognised by their body and summarised by their title.

/// Strip tags, turn block ends and `<br>` into line breaks, decode entities, tidy whitespace.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt..];
        let Some(gt) = after.find('>') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = after[1..gt].trim().to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        match name {
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "ul" | "ol"
            | "table" => out.push('\n'),
            _ => {}
        }
        if name == "li" && !tag.starts_with('/') {
            out.push_str("- ");
        }
        rest = &after[gt + 1..];
    }
    out.push_str(rest);
    let decoded = html_escape::decode_html_entities(&out).replace('\u{a0}', " ");
    // Collapse runs of spaces within lines and of blank lines.
    let mut lines: Vec<String> = Vec::new();
    for l in decoded.lines() {
        let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
        if l.is_empty() && lines.last().is_none_or(|p| p.is_empty()) {
            continue;
        }
        lines.push(l);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// Whether a body is an HTML page (however it was labelled).
pub fn looks_like_html(t: &str) -> bool {
    let head = t
        .trim_start()
        .get(..64)
        .unwrap_or(t.trim_start())
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

/// The `<title>` (or first `<h1>`) of an HTML page, whitespace tidied.
pub fn html_title(t: &str) -> Option<String> {
    let lower = t.to_ascii_lowercase();
    let (open, close) = if let Some(i) = lower.find("<title>") {
        (i + 7, lower[i..].find("</title>").map(|j| i + j)?)
    } else {
        let i = lower.find("<h1>")?;
        (i + 4, lower[i..].find("</h1>").map(|j| i + j)?)
    };
    let title = t
        .get(open..close)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_titles() {
        use super::{html_title, looks_like_html};
        let page = "<html><head><title>502 Bad Gateway</title></head><body>x</body></html>";
        assert_eq!(html_title(page).as_deref(), Some("502 Bad Gateway"));
        assert!(looks_like_html(page));
        assert!(!looks_like_html("[{\"a\": 1}]"));
    }

    #[test]
    fn strips_and_decodes() {
        let html = "<p>The <b>TCGA-BLCA</b> data&nbsp;set &amp; more.</p><p>See <a href=\"https://x\">here</a>.<br/>Line</p><ul><li>one</li><li>two</li></ul>";
        assert_eq!(
            super::to_text(html),
            "The TCGA-BLCA data set & more.\n\nSee here.\nLine\n\n- one\n\n- two"
        );
    }
}
