//! Borrowed rows: one JSON object of a response read in place, its keys and plain values kept
//! as slices of the response's bytes, so the hot path (hundreds of MB of getSeries) neither
//! builds a map nor allocates per cell. Anything unusual (escapes, floats, nested values,
//! duplicate keys, deep nesting, invalid JSON) is handed to serde_json, so every value renders
//! exactly as the owned [`Row`] path renders it.

use std::borrow::Cow;
use std::io;

use serde_json::{Map, Value};

/// The owned row (`output::Row`): a map in the server's key order.
type Row = Map<String, Value>;

/// One row: keys in the server's order, no key twice.
#[derive(Clone, Debug, Default)]
pub struct RowRef<'a> {
    fields: Vec<(Cow<'a, str>, CellRef<'a>)>,
}

/// A value of a row.
#[derive(Clone, Debug)]
pub enum CellRef<'a> {
    /// A string with nothing JSON would escape: the same text in JSON (quoted) and in cells.
    Str(Cow<'a, str>),
    /// A canonical integer, `true` or `false`: the same text in JSON and in cells.
    Lit(Cow<'a, str>),
    Null,
    /// Everything else, as serde_json reads it (boxed: rows move often, these are rare).
    Value(Box<Value>),
}

/// A value as one text cell: strings as-is, numbers and booleans printed, null empty, nested
/// values as compact JSON.
pub fn cell(v: Option<&Value>) -> Cow<'_, str> {
    match v {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(Value::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::Number(n)) => Cow::Owned(n.to_string()),
        Some(other) => Cow::Owned(other.to_string()),
    }
}

/// Nesting deeper than this inside a row goes to serde_json whole (its recursion limit applies).
const MAX_NESTED: u32 = 100;
/// The longest integer that fits both i64 and u64 whatever its digits.
const MAX_INT_DIGITS: usize = 18;

impl<'a> RowRef<'a> {
    /// An owned row (the slow path, and rows a transform rewrote).
    pub fn from_map(row: Row) -> RowRef<'static> {
        RowRef {
            fields: row
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), CellRef::Value(Box::new(v))))
                .collect(),
        }
    }

    /// A row from its keys and values, in order (name each key once). Keys that JSON would
    /// escape are owned (a borrowed key is written without escaping).
    pub fn from_fields(mut fields: Vec<(Cow<'a, str>, CellRef<'a>)>) -> RowRef<'a> {
        for (k, _) in &mut fields {
            if let Cow::Borrowed(b) = k {
                if needs_escape(b.as_bytes()) {
                    *k = Cow::Owned(b.to_string());
                }
            }
        }
        RowRef { fields }
    }

    /// The same row as an owned map, equal to what serde_json reads from its text.
    pub fn to_row(&self) -> Row {
        self.fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_value()))
            .collect()
    }

    /// The same row, owning its text.
    pub fn into_static(self) -> RowRef<'static> {
        RowRef {
            fields: self
                .fields
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_static()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(k, _)| k.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &CellRef<'a>)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The value of the `i`th key.
    pub fn value_at(&self, i: usize) -> &CellRef<'a> {
        &self.fields[i].1
    }

    pub fn get(&self, key: &str) -> Option<&CellRef<'a>> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Compact JSON, byte for byte what serde_json writes for [`to_row`](Self::to_row);
    /// `fields`: only these keys, in this order (absent keys stay absent; name each once).
    pub fn write_json(&self, out: &mut Vec<u8>, fields: Option<&[String]>) -> io::Result<()> {
        out.push(b'{');
        let mut first = true;
        let mut one = |out: &mut Vec<u8>, k: &Cow<'_, str>, v: &CellRef<'_>| -> io::Result<()> {
            if !first {
                out.push(b',');
            }
            first = false;
            match k {
                // Borrowed keys come from the reader, which lends only plain strings.
                Cow::Borrowed(k) => plain_json_str(out, k),
                Cow::Owned(k) => write_json_str(out, k)?,
            }
            out.push(b':');
            v.write_json(out)
        };
        match fields {
            None => {
                for (k, v) in &self.fields {
                    one(out, k, v)?;
                }
            }
            Some(fields) => {
                for f in fields {
                    if let Some((k, v)) = self.fields.iter().find(|(k, _)| k == f) {
                        one(out, k, v)?;
                    }
                }
            }
        }
        out.push(b'}');
        Ok(())
    }
}

impl<'a> CellRef<'a> {
    /// A string value, borrowed when JSON writes it without escapes.
    pub fn string(s: &'a str) -> CellRef<'a> {
        if needs_escape(s.as_bytes()) {
            CellRef::Value(Box::new(Value::String(s.to_string())))
        } else {
            CellRef::Str(Cow::Borrowed(s))
        }
    }

    /// An integer value.
    pub fn int(i: i64) -> CellRef<'static> {
        CellRef::Lit(Cow::Owned(i.to_string()))
    }

    /// A boolean value.
    pub fn boolean(b: bool) -> CellRef<'static> {
        CellRef::Lit(Cow::Borrowed(if b { "true" } else { "false" }))
    }

    /// The text of a string value (None for other values).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            CellRef::Str(s) => Some(s),
            CellRef::Value(v) => v.as_str(),
            _ => None,
        }
    }
}

impl CellRef<'_> {
    /// The value as one text cell, as [`cell`] renders the owned value.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            CellRef::Str(s) | CellRef::Lit(s) => Cow::Borrowed(s),
            CellRef::Null => Cow::Borrowed(""),
            CellRef::Value(v) => cell(Some(v)),
        }
    }

    fn write_json(&self, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            CellRef::Str(s) => plain_json_str(out, s),
            CellRef::Lit(s) => out.extend_from_slice(s.as_bytes()),
            CellRef::Null => out.extend_from_slice(b"null"),
            CellRef::Value(v) => serde_json::to_writer(out, v)?,
        }
        Ok(())
    }

    fn to_value(&self) -> Value {
        match self {
            CellRef::Str(s) => Value::String(s.to_string()),
            CellRef::Lit(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            CellRef::Null => Value::Null,
            CellRef::Value(v) => (**v).clone(),
        }
    }

    fn into_static(self) -> CellRef<'static> {
        match self {
            CellRef::Str(s) => CellRef::Str(Cow::Owned(s.into_owned())),
            CellRef::Lit(s) => CellRef::Lit(Cow::Owned(s.into_owned())),
            CellRef::Null => CellRef::Null,
            CellRef::Value(v) => CellRef::Value(v),
        }
    }
}

/// A JSON string as serde_json writes it: as-is unless it holds a quote, a backslash or a
/// control character.
fn write_json_str(out: &mut Vec<u8>, s: &str) -> io::Result<()> {
    if needs_escape(s.as_bytes()) {
        serde_json::to_writer(out, s)?;
    } else {
        plain_json_str(out, s);
    }
    Ok(())
}

fn plain_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Any byte serde_json escapes (computed without branches, so it vectorises).
fn needs_escape(b: &[u8]) -> bool {
    b.iter().fold(false, |acc, &c| {
        acc | (c < 0x20) | (c == b'"') | (c == b'\\')
    })
}

/// Reads rows in place. It remembers the last row's key order, so telling that a row has no
/// key twice usually costs one comparison a key.
#[derive(Default)]
pub struct RowParser {
    order: Vec<String>,
    /// The tokens of the row being read, reused.
    toks: Vec<(Tok, Tok)>,
}

impl RowParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The element as a row, or None when it is anything but a plain object this reader is
    /// sure of: then serde_json must read it (and report what is wrong with it).
    pub fn parse<'a>(&mut self, bytes: &'a [u8]) -> Option<RowRef<'a>> {
        let (row, n) = self.parse_prefix(bytes)?;
        let rest = &bytes[n..];
        rest.iter()
            .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .then_some(row)
    }

    /// The object at the start of `bytes` (which may go on beyond it) and its length; None as
    /// for [`parse`](Self::parse), and when `bytes` ends before the object does.
    pub fn parse_prefix<'a>(&mut self, bytes: &'a [u8]) -> Option<(RowRef<'a>, usize)> {
        self.toks.clear();
        let mut r = Reader { b: bytes, i: 0 };
        r.object(&mut self.toks)?;
        // JSON text is UTF-8: checked once for the whole object; tokens start and end at ASCII
        // bytes, so every token is text of its own.
        let text = std::str::from_utf8(&bytes[..r.i]).ok()?;
        let mut fields = Vec::with_capacity(self.toks.len());
        for (k, v) in self.toks.drain(..) {
            fields.push((k.key(text)?, v.cell(text)?));
        }
        let row = RowRef { fields };
        self.check_unique(&row).then_some((row, r.i))
    }

    /// No key twice. Keys found in order in the remembered key order are distinct; others are
    /// compared with every earlier key of the row.
    fn check_unique(&mut self, row: &RowRef<'_>) -> bool {
        let (mut next, mut misses) = (0, 0);
        for (i, (k, _)) in row.fields.iter().enumerate() {
            if let Some(j) = self.order[next..].iter().position(|o| o == k) {
                next += j + 1;
                continue;
            }
            misses += 1;
            if row.fields[..i].iter().any(|(e, _)| e == k) {
                return false;
            }
        }
        if misses * 4 > row.fields.len() {
            self.order = row.keys().map(str::to_string).collect();
        }
        true
    }
}

/// A key or value as read: byte ranges of the object's text, or a value serde_json read.
enum Tok {
    Str(usize, usize),
    Lit(usize, usize),
    Null,
    Value(Box<Value>),
}

impl Tok {
    fn key(self, text: &str) -> Option<Cow<'_, str>> {
        match self {
            Tok::Str(s, e) => Some(Cow::Borrowed(text.get(s..e)?)),
            Tok::Value(v) => match *v {
                Value::String(s) => Some(Cow::Owned(s)),
                _ => None,
            },
            _ => None,
        }
    }

    fn cell(self, text: &str) -> Option<CellRef<'_>> {
        Some(match self {
            Tok::Str(s, e) => CellRef::Str(Cow::Borrowed(text.get(s..e)?)),
            Tok::Lit(s, e) => CellRef::Lit(Cow::Borrowed(text.get(s..e)?)),
            Tok::Null => CellRef::Null,
            Tok::Value(v) => CellRef::Value(v),
        })
    }
}

/// A cursor over one element's bytes.
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    /// Text between two positions, for serde_json.
    fn text(&self, start: usize, end: usize) -> Option<&'a str> {
        std::str::from_utf8(self.b.get(start..end)?).ok()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn object(&mut self, toks: &mut Vec<(Tok, Tok)>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let key = self.string()?;
            self.eat(b':')?;
            self.ws();
            let value = self.value()?;
            toks.push((key, value));
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self) -> Option<Tok> {
        let rest = &self.b[self.i..];
        let lit = |word: &'static str| rest.starts_with(word.as_bytes()).then_some(word.len());
        let len = match *rest.first()? {
            b'"' => {
                self.i += 1;
                return self.string();
            }
            b't' => lit("true")?,
            b'f' => lit("false")?,
            b'n' => {
                self.i += lit("null")?;
                return Some(Tok::Null);
            }
            b'-' | b'0'..=b'9' => return self.number(),
            b'{' | b'[' => return self.nested(),
            _ => return None,
        };
        self.i += len;
        Some(Tok::Lit(self.i - len, self.i))
    }

    /// After the opening quote: a plain string is a range; one with escapes is decoded by
    /// serde_json; a raw control character is not JSON.
    fn string(&mut self) -> Option<Tok> {
        let (b, start) = (self.b, self.i);
        let mut i = start;
        // 16 bytes at a time (vectorised) while none ends the string or is a control character.
        while let Some(block) = b.get(i..i + 16) {
            let block: &[u8; 16] = block.try_into().ok()?;
            let stop = block.iter().fold(false, |acc, &c| {
                acc | (c == b'"') | (c == b'\\') | (c < 0x20)
            });
            if stop {
                break;
            }
            i += 16;
        }
        loop {
            match *b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some(Tok::Str(start, i));
                }
                b'\\' => break,
                0..=0x1f => return None,
                _ => i += 1,
            }
        }
        let close = string_end(b, i)?;
        self.i = close + 1;
        let decoded: String = serde_json::from_str(self.text(start - 1, close + 1)?).ok()?;
        Some(Tok::Value(Box::new(Value::String(decoded))))
    }

    /// A canonical integer short enough to be exact either way is kept as text; any other
    /// number is read by serde_json (which rejects what is not a JSON number).
    fn number(&mut self) -> Option<Tok> {
        let b = self.b;
        let start = self.i;
        let mut i = start + usize::from(b[start] == b'-');
        let digits = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - digits;
        let plain = !matches!(b.get(i), Some(b'.' | b'e' | b'E'));
        let canonical = n > 0 && n <= MAX_INT_DIGITS && (b[digits] != b'0' || n == 1);
        if plain && canonical && &b[start..i] != b"-0" {
            self.i = i;
            return Some(Tok::Lit(start, i));
        }
        while i < b.len() && matches!(b[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
            i += 1;
        }
        if i == b.len() {
            return None; // the number may go on in the next chunk
        }
        let v: Value = serde_json::from_str(self.text(start, i)?).ok()?;
        self.i = i;
        v.is_number().then(|| Tok::Value(Box::new(v)))
    }

    /// An array or object value, read whole by serde_json.
    fn nested(&mut self) -> Option<Tok> {
        let b = self.b;
        let start = self.i;
        let (mut depth, mut i) = (0u32, start);
        while i < b.len() {
            match b[i] {
                b'"' => i = string_end(b, i + 1)?,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if depth > MAX_NESTED {
                return None;
            }
            i += 1;
        }
        let v: Value = serde_json::from_str(self.text(start, i + 1)?).ok()?;
        self.i = i + 1;
        Some(Tok::Value(Box::new(v)))
    }
}

/// The index of the quote that closes a string whose body starts at or before `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some(i);
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the owned path makes of an element: serde_json's map.
    fn owned(b: &[u8]) -> Option<Row> {
        match serde_json::from_slice::<Value>(b) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        }
    }

    /// The borrowed reading, where it reads the element at all, equals serde_json's: keys,
    /// values, JSON text and cell text; and it never accepts what serde_json rejects.
    fn same(p: &mut RowParser, doc: &[u8]) -> bool {
        let Some(row) = p.parse(doc) else {
            return false;
        };
        let m = owned(doc).unwrap_or_else(|| panic!("accepted invalid {:?}", doc));
        assert_eq!(row.to_row(), m, "{}", String::from_utf8_lossy(doc));
        let mut text = Vec::new();
        row.write_json(&mut text, None).unwrap();
        assert_eq!(text, serde_json::to_vec(&m).unwrap());
        for (k, v) in row.iter() {
            assert_eq!(v.text(), cell(m.get(k)), "{k}");
        }
        true
    }

    #[test]
    fn plain_rows_are_read_in_place_and_equal_serde() {
        let mut p = RowParser::new();
        for doc in [
            r#"{"a":"x","b":1,"c":-5,"d":true,"e":false,"f":null}"#,
            "{}",
            " {\t\"a\" :\r\n \"x\" , \"b\":[] } ",
            "{\"a\":\"é日本 \u{7f}\",\"b\":\"PET/CT\"}",
            r#"{"a":0,"b":123456789012345678,"c":-123456789012345678}"#,
            r#"{"a":[1,{"b":"}]\""}],"c":{"d":[]}}"#,
        ] {
            assert!(same(&mut p, doc.as_bytes()), "{doc}");
        }
    }

    #[test]
    fn escapes_floats_and_odd_numbers_equal_serde() {
        let mut p = RowParser::new();
        for doc in [
            r#"{"a":"q\"b\\s\/ \u00e9 \ud83d\ude00 \n\t","k\u0041y":1}"#,
            r#"{"n":-0,"o":1.0,"p":1e5,"q":1E+2,"r":-1.5e-3,"s":0.1,"t":1.50}"#,
            r#"{"u":1234567890123456789,"v":18446744073709551615,"w":18446744073709551616}"#,
            r#"{"x":-9223372036854775808,"y":-9223372036854775809,"z":1e300}"#,
        ] {
            same(&mut p, doc.as_bytes());
        }
    }

    #[test]
    fn duplicate_keys_go_to_serde() {
        let mut p = RowParser::new();
        assert!(same(&mut p, br#"{"a":1,"b":2,"c":3}"#));
        assert!(p.parse(br#"{"a":1,"b":2,"a":3}"#).is_none());
        assert!(p.parse(br#"{"c":1,"b":2,"c":3}"#).is_none());
        assert!(p.parse(br#"{"x":1,"x":2}"#).is_none());
        assert!(same(&mut p, br#"{"c":1,"a":2,"b":3}"#));
        assert!(same(&mut p, br#"{"a":1,"c":3}"#));
    }

    #[test]
    fn never_accepts_what_serde_rejects() {
        let mut p = RowParser::new();
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(130), "]".repeat(130));
        let bad: Vec<&[u8]> = vec![
            br#"{"a":01}"#,
            b"{\"a\":\"x\x01\"}",
            br#"{"a":1,}"#,
            br#"{"a"}"#,
            br#"{"a":tru}"#,
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\x"}"#,
            b"{\"a\":\"\xff\"}",
            br#"{"a":1} x"#,
            br#"{"a":-}"#,
            br#"{"a":1.}"#,
            br#"{"a":[1,]}"#,
            br#"{"a":1e400}"#,
            br#"{"a":1"#,
            deep.as_bytes(),
            b"5",
            br#""s""#,
        ];
        for doc in bad {
            assert!(p.parse(doc).is_none(), "{}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn rows_built_from_fields_write_as_serde_does() {
        let row = RowRef::from_fields(vec![
            (Cow::Borrowed("a\"b"), CellRef::string("q\"x\n")),
            (Cow::Borrowed("n"), CellRef::int(-12)),
            (Cow::Borrowed("f"), CellRef::boolean(false)),
            (Cow::Borrowed("s"), CellRef::string("plain")),
        ]);
        let mut text = Vec::new();
        row.write_json(&mut text, None).unwrap();
        let m = row.to_row();
        assert_eq!(text, serde_json::to_vec(&m).unwrap());
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"{"a\"b":"q\"x\n","n":-12,"f":false,"s":"plain"}"#
        );
        assert_eq!(row.get("s").and_then(CellRef::as_str), Some("plain"));
        assert_eq!(row.get("a\"b").and_then(CellRef::as_str), Some("q\"x\n"));
        assert_eq!(row.get("n").and_then(CellRef::as_str), None);
    }

    #[test]
    fn projection_keeps_field_order_and_absent_keys_absent() {
        let mut p = RowParser::new();
        let row = p.parse(br#"{"b":1,"a":"x","c":2}"#).unwrap();
        let mut text = Vec::new();
        let fields = ["c".to_string(), "z".to_string(), "a".to_string()];
        row.write_json(&mut text, Some(&fields)).unwrap();
        assert_eq!(text, br#"{"c":2,"a":"x"}"#);
    }
}
