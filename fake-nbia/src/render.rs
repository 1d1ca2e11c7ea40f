//! Row tables and their streamed rendering as JSON / CSV / XML / HTML, plus small response helpers.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

/// One cell. `Null` is omitted in JSON/XML, `""` in quoted CSV, `&nbsp;` in HTML.
#[derive(Clone, Debug)]
pub enum Val {
    S(String),
    I(i64),
    B(bool),
    Null,
}

impl Val {
    pub fn opt(v: &Option<String>) -> Val {
        v.as_ref().map_or(Val::Null, |s| Val::S(s.clone()))
    }
    pub fn s(v: &str) -> Val {
        Val::S(v.to_string())
    }
}

pub type Row = Vec<Val>;
pub type Rows = Box<dyn Iterator<Item = Row> + Send>;

/// A result set: fixed column names and a (possibly lazy) row iterator.
pub struct Table {
    pub cols: Vec<&'static str>,
    pub rows: Rows,
}

impl Table {
    pub fn new(cols: &[&'static str], rows: impl Iterator<Item = Row> + Send + 'static) -> Table {
        Table {
            cols: cols.to_vec(),
            rows: Box::new(rows),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fmt {
    Json,
    Csv,
    Xml,
    Html,
    Bad,
}

fn fmt_of(f: Option<&str>) -> Fmt {
    match f.map(|s| s.to_ascii_lowercase()) {
        None => Fmt::Json,
        Some(s) => match s.as_str() {
            "json" | "" => Fmt::Json,
            "csv" | "csvquoted" => Fmt::Csv,
            "xml" => Fmt::Xml,
            "html" => Fmt::Html,
            _ => Fmt::Bad,
        },
    }
}

pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn xml_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn plain(v: &Val) -> Option<String> {
    match v {
        Val::S(s) => Some(s.clone()),
        Val::I(n) => Some(n.to_string()),
        Val::B(b) => Some(b.to_string()),
        Val::Null => None,
    }
}

/// Render one row in `fmt`; `first` = no row precedes it.
fn write_row(out: &mut String, fmt: Fmt, cols: &[&'static str], row: &Row, first: bool) {
    match fmt {
        Fmt::Json => json_row(out, cols, row, first),
        Fmt::Csv => csv_row(out, cols, row),
        Fmt::Xml => xml_row(out, cols, row),
        Fmt::Html => html_row(out, row),
        Fmt::Bad => {}
    }
}

/// A JSON object of the non-null cells, preceded by `,` unless it is the first row.
fn json_row(out: &mut String, cols: &[&'static str], row: &Row, first: bool) {
    use std::fmt::Write;
    if !first {
        out.push(',');
    }
    out.push('{');
    let mut any = false;
    for (c, v) in cols.iter().zip(row) {
        if matches!(v, Val::Null) {
            continue;
        }
        if any {
            out.push(',');
        }
        any = true;
        json_str(out, c);
        out.push(':');
        match v {
            Val::S(s) => json_str(out, s),
            Val::I(n) => {
                let _ = write!(out, "{n}");
            }
            Val::B(b) => {
                let _ = write!(out, "{b}");
            }
            Val::Null => {}
        }
    }
    out.push('}');
}

/// One CSV line: the bare value for a single column, else every cell quoted.
fn csv_row(out: &mut String, cols: &[&'static str], row: &Row) {
    if cols.len() == 1 {
        out.push_str(&plain(&row[0]).unwrap_or_default());
        out.push('\n');
        return;
    }
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(&plain(v).unwrap_or_default().replace('"', "\"\""));
        out.push('"');
    }
    out.push('\n');
}

/// A `<Row>` element with one typed child element per non-null cell.
fn xml_row(out: &mut String, cols: &[&'static str], row: &Row) {
    use std::fmt::Write;
    out.push_str("<Row>");
    for (c, v) in cols.iter().zip(row) {
        let ty = match v {
            Val::S(_) => "java.lang.String",
            Val::I(_) => "java.lang.Integer",
            Val::B(_) => "java.lang.Boolean",
            Val::Null => continue,
        };
        let _ = write!(out, "<{c} type='{ty}'>");
        xml_escape(out, &plain(v).unwrap_or_default());
        let _ = write!(out, "</{c}>");
    }
    out.push_str("</Row>");
}

/// An HTML table row, `&nbsp;` for null cells.
fn html_row(out: &mut String, row: &Row) {
    out.push_str("<TR>");
    for v in row {
        out.push_str("<TD>");
        match plain(v) {
            Some(s) => out.push_str(&s),
            None => out.push_str("&nbsp;"),
        }
        out.push_str("</TD>");
    }
    out.push_str("</TR>");
}

fn prefix(fmt: Fmt, cols: &[&'static str]) -> String {
    match fmt {
        Fmt::Json => "[".to_string(),
        Fmt::Csv if cols.len() == 1 => format!("{}\n", cols[0]),
        Fmt::Csv => {
            let h: Vec<String> = cols
                .iter()
                .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
                .collect();
            format!("{}\n", h.join(","))
        }
        Fmt::Xml => {
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><Results>".to_string()
        }
        Fmt::Html => {
            let mut s = String::from("<P ALIGN='center'><TABLE BORDER=1><TR>");
            for c in cols {
                s.push_str(&format!("<TH>{c}</TH>"));
            }
            s.push_str("</TR>");
            s
        }
        Fmt::Bad => String::new(),
    }
}

fn suffix(fmt: Fmt) -> &'static str {
    match fmt {
        Fmt::Json => "]",
        Fmt::Xml => "</Results>",
        Fmt::Html => "</TABLE></P>",
        _ => "",
    }
}

const CHUNK: usize = 64 * 1024;

/// Pulls rows and yields rendered chunks of about 64 KiB.
struct Chunker {
    fmt: Fmt,
    cols: Vec<&'static str>,
    rows: Rows,
    pending: Option<Row>,
    started: bool,
    first: bool,
    done: bool,
}

impl Iterator for Chunker {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut out = String::with_capacity(CHUNK + 2048);
        if !self.started {
            self.started = true;
            out.push_str(&prefix(self.fmt, &self.cols));
        }
        while out.len() < CHUNK {
            let row = match self.pending.take() {
                Some(r) => Some(r),
                None => self.rows.next(),
            };
            match row {
                Some(r) => {
                    write_row(&mut out, self.fmt, &self.cols, &r, self.first);
                    self.first = false;
                }
                None => {
                    out.push_str(suffix(self.fmt));
                    self.done = true;
                    break;
                }
            }
        }
        Some(Bytes::from(out))
    }
}

/// 200 with an empty body and no Content-Type ("no rows").
pub fn empty() -> Response {
    Response::new(Body::empty())
}

/// A response with the given status, content type and body.
pub fn text(code: u16, content_type: Option<&str>, body: impl Into<String>) -> Response {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
    }
    r
}

/// A bare status with an empty body.
pub fn status(code: u16) -> Response {
    text(code, None, "")
}

/// Missing-parameter error: a plain sentence labelled application/json.
pub fn bad_param(msg: &str) -> Response {
    text(400, Some("application/json"), msg)
}

/// The uncaught-exception page.
pub fn server_error(msg: &str) -> Response {
    text(
        500,
        Some("text/plain"),
        format!("Server was not able to process your request\n{msg}"),
    )
}

/// A compact JSON value (already shaped by the caller).
pub fn json_value(v: &serde_json::Value) -> Response {
    text(
        200,
        Some("application/json"),
        serde_json::to_string(v).unwrap(),
    )
}

/// Render a table in the requested `format`: empty → 200 empty body; unknown format with data → 500.
/// Small bodies get a Content-Length; large ones are streamed in 64 KiB chunks.
pub fn table(t: Table, format: Option<&str>) -> Response {
    let mut rows = t.rows;
    let Some(first) = rows.next() else {
        return empty();
    };
    let fmt = fmt_of(format);
    if fmt == Fmt::Bad {
        return text(
            500,
            Some("text/plain"),
            "Server was not able to process your request",
        );
    }
    let ct = match fmt {
        Fmt::Json => "application/json",
        Fmt::Csv => "text/csv",
        Fmt::Xml => "application/xml",
        _ => "text/html",
    };
    let mut chunker = Chunker {
        fmt,
        cols: t.cols,
        rows,
        pending: Some(first),
        started: false,
        first: true,
        done: false,
    };
    let head = chunker.next().unwrap_or_default();
    let body = if chunker.done {
        Body::from(head)
    } else {
        let stream = futures_util::stream::iter(
            std::iter::once(head)
                .chain(chunker)
                .map(Ok::<Bytes, std::io::Error>),
        );
        Body::from_stream(stream)
    };
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(fmt: Fmt, cols: &[&'static str], rows: Vec<Row>) -> String {
        let c = Chunker {
            fmt,
            cols: cols.to_vec(),
            rows: Box::new(rows.into_iter()),
            pending: None,
            started: false,
            first: true,
            done: false,
        };
        c.map(|b| String::from_utf8(b.to_vec()).unwrap()).collect()
    }

    #[test]
    fn json_omits_nulls() {
        let s = render(
            Fmt::Json,
            &["A", "B"],
            vec![
                vec![Val::Null, Val::I(3)],
                vec![Val::s("x\"y"), Val::B(true)],
            ],
        );
        assert_eq!(s, r#"[{"B":3},{"A":"x\"y","B":true}]"#);
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            render(Fmt::Csv, &["M"], vec![vec![Val::Null], vec![Val::s("CT")]]),
            "M\n\nCT\n"
        );
        assert_eq!(
            render(
                Fmt::Csv,
                &["A", "B"],
                vec![vec![Val::s("a,\"b\""), Val::Null]]
            ),
            "\"A\",\"B\"\n\"a,\"\"b\"\"\",\"\"\n"
        );
    }
}
