//! Incremental JSON array reading: split `[{...},{...}]` into elements as bytes arrive, so a
//! 400 MB response is never held whole. Each element is then parsed by serde_json.

/// Splits a JSON document that is a top-level array into its element texts. An empty body is
/// an empty array (NBIA's "no rows"); a single top-level object is one element.
#[derive(Default)]
pub struct ArraySplitter {
    state: State,
    buf: Vec<u8>,
    depth: u32,
    in_str: bool,
    esc: bool,
    /// The element's closing brace was scanned (it is complete even at a chunk's end).
    closed: bool,
}

#[derive(Default, PartialEq, Eq, Debug)]
enum State {
    #[default]
    Start,
    /// Inside the array, between elements.
    Between,
    /// Inside an element.
    Element,
    /// A lone object instead of an array.
    Object,
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("the response is not JSON: {0}")]
    NotJson(String),
    #[error("the JSON response ended early (truncated?)")]
    Truncated,
    #[error("unexpected data after the JSON array")]
    Trailing,
    #[error("one element of the JSON response is over {} MiB; refusing to hold it in memory", MAX_ELEMENT >> 20)]
    TooLarge,
}

/// The largest element held in memory (one row of an answer is a few KiB).
pub const MAX_ELEMENT: usize = 16 << 20;
/// Where elements go. A closure taking each element's bytes is one.
pub trait Elements<E> {
    /// One complete element's text.
    fn element(&mut self, text: &[u8]) -> Result<(), E>;

    /// The rest of a chunk from the first byte of an element: a reader that can tell where
    /// the element ends may take it here, without the splitter scanning it first. It returns
    /// the element's length when it took the element (a complete, valid JSON value starting at
    /// `rest[0]`), None to leave it to the splitter (which then hands it to `element`).
    fn element_at(&mut self, _rest: &[u8]) -> Result<Option<usize>, E> {
        Ok(None)
    }
}

impl<E, F: FnMut(&[u8]) -> Result<(), E>> Elements<E> for F {
    fn element(&mut self, text: &[u8]) -> Result<(), E> {
        self(text)
    }
}

impl ArraySplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next chunk; `on_elem` gets each complete element's bytes.
    pub fn feed<E: From<SplitError>>(
        &mut self,
        chunk: &[u8],
        mut on_elem: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.feed_to(chunk, &mut on_elem)
    }

    /// Feed the next chunk to `on_elem`, which may take whole elements itself
    /// ([`Elements::element_at`]).
    pub fn feed_to<E: From<SplitError>>(
        &mut self,
        chunk: &[u8],
        on_elem: &mut impl Elements<E>,
    ) -> Result<(), E> {
        let mut i = 0;
        while i < chunk.len() {
            let c = chunk[i];
            match self.state {
                State::Start => {
                    self.start(c, &chunk[i..])?;
                    i += 1;
                }
                State::Between => {
                    if c == b']' {
                        self.state = State::Done;
                    } else if !(c.is_ascii_whitespace() || c == b',') {
                        if let Some(n) = on_elem.element_at(&chunk[i..])? {
                            i += n;
                            continue;
                        }
                        self.state = State::Element;
                        continue; // re-read this byte as the element's first
                    }
                    i += 1;
                }
                State::Element | State::Object => {
                    let start = i;
                    i = self.scan(chunk, i)?;
                    if self.buf.is_empty() && i < chunk.len() && self.complete() {
                        // The whole element lies in this chunk: no copy.
                        if i - start > MAX_ELEMENT {
                            return Err(SplitError::TooLarge.into());
                        }
                        self.closed = false;
                        self.emit(&chunk[start..i], on_elem)?;
                    } else {
                        self.buf.extend_from_slice(&chunk[start..i]);
                        // The memory cap, checked once per scanned piece (not in the scan loop).
                        if self.buf.len() > MAX_ELEMENT {
                            return Err(SplitError::TooLarge.into());
                        }
                        self.emit_if_complete(i < chunk.len(), on_elem)?;
                    }
                }
                State::Done => {
                    if !c.is_ascii_whitespace() {
                        return Err(SplitError::Trailing.into());
                    }
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// The document's first significant byte: `[`, or `{` for a lone object.
    fn start(&mut self, c: u8, rest: &[u8]) -> Result<(), SplitError> {
        if c == b'[' {
            self.state = State::Between;
        } else if c == b'{' {
            self.state = State::Object;
            self.buf.push(c);
            self.depth = 1;
        } else if !(c == 0xEF || c == 0xBB || c == 0xBF || c.is_ascii_whitespace()) {
            // (whitespace and a UTF-8 byte-order mark are skipped)
            let shown = String::from_utf8_lossy(&rest[..rest.len().min(80)]).into_owned();
            return Err(SplitError::NotJson(shown));
        }
        Ok(())
    }

    /// Inside an element: skip over bytes that cannot end it (the fast path), tracking strings
    /// and nesting. Returns where the element ends in `chunk`, or the chunk's end.
    fn scan(&mut self, chunk: &[u8], mut i: usize) -> Result<usize, SplitError> {
        while i < chunk.len() {
            let b = chunk[i];
            if self.in_str {
                if self.esc {
                    self.esc = false;
                } else if b == b'\\' {
                    self.esc = true;
                } else if b == b'"' {
                    self.in_str = false;
                } else {
                    // Most bytes are inside strings: jump to the next quote or escape.
                    match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        Some(n) => i += n,
                        None => i = chunk.len(),
                    }
                    continue;
                }
            } else {
                match b {
                    b'"' => self.in_str = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' if self.depth > 0 => {
                        self.depth -= 1;
                        if self.depth == 0 && self.state == State::Element && b == b'}' {
                            self.closed = true;
                            return Ok(i + 1);
                        }
                    }
                    b',' | b']' if self.depth == 0 => {
                        if self.state == State::Object {
                            // A lone object is the whole document.
                            return Err(SplitError::Trailing);
                        }
                        return Ok(i);
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        Ok(i)
    }

    /// At depth 0 of an element, outside strings.
    fn complete(&self) -> bool {
        self.state == State::Element && self.depth == 0 && !self.in_str
    }

    /// Hand over the buffered element once it is complete (`ended`: the scan stopped before the
    /// chunk's end, at the element's last byte or at a separator).
    fn emit_if_complete<E: From<SplitError>>(
        &mut self,
        ended: bool,
        on_elem: &mut impl Elements<E>,
    ) -> Result<(), E> {
        if self.complete() {
            // Complete at a separator, or after the brace that closed it, also at a chunk's
            // end; a stray `}` at depth 0 completes nothing (else where the element ends would
            // depend on how the bytes were chunked: found by fuzzing).
            let done = ended || self.closed;
            self.closed = false;
            if done && !self.buf.is_empty() {
                let buf = std::mem::take(&mut self.buf);
                let res = self.emit(&buf, on_elem);
                self.buf = buf;
                self.buf.clear();
                res?;
            }
        }
        Ok(())
    }

    /// One complete element's text (surrounding whitespace trimmed) to `on_elem`.
    fn emit<E>(&mut self, text: &[u8], on_elem: &mut impl Elements<E>) -> Result<(), E> {
        self.state = State::Between;
        let text = trim_ascii(text);
        if text.is_empty() {
            return Ok(());
        }
        on_elem.element(text)
    }

    /// Call at the end of the body.
    pub fn finish<E: From<SplitError>>(
        &mut self,
        mut on_elem: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.finish_to(&mut on_elem)
    }

    /// [`finish`](Self::finish) for an [`Elements`].
    pub fn finish_to<E: From<SplitError>>(
        &mut self,
        on_elem: &mut impl Elements<E>,
    ) -> Result<(), E> {
        match self.state {
            State::Start | State::Done => Ok(()),
            State::Object if self.depth == 0 && !self.in_str => {
                let text = std::mem::take(&mut self.buf);
                on_elem.element(trim_ascii(&text))?;
                self.state = State::Done;
                Ok(())
            }
            _ => Err(SplitError::Truncated.into()),
        }
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |p| p + 1);
    &b[s..e]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_in_chunks(doc: &str, size: usize) -> Result<Vec<String>, SplitError> {
        let mut s = ArraySplitter::new();
        let mut out = Vec::new();
        for chunk in doc.as_bytes().chunks(size) {
            s.feed(chunk, |e| -> Result<(), SplitError> {
                out.push(String::from_utf8(e.to_vec()).unwrap());
                Ok(())
            })?;
        }
        s.finish(|e| -> Result<(), SplitError> {
            out.push(String::from_utf8(e.to_vec()).unwrap());
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn splits_at_every_chunk_size() {
        let doc = r#" [ {"a":"x,]}\"y","b":[1,{"c":2}]}, {} ,{"d":"\\"}, 5, "s" ] "#;
        for size in 1..doc.len() {
            let got = split_in_chunks(doc, size).unwrap();
            assert_eq!(
                got,
                vec![
                    r#"{"a":"x,]}\"y","b":[1,{"c":2}]}"#,
                    "{}",
                    r#"{"d":"\\"}"#,
                    "5",
                    r#""s""#
                ],
                "chunk {size}"
            );
        }
    }

    #[test]
    fn empty_body_and_empty_array() {
        assert!(split_in_chunks("", 4).unwrap().is_empty());
        assert!(split_in_chunks("[]", 4).unwrap().is_empty());
        assert!(split_in_chunks("\n[ ]\n", 1).unwrap().is_empty());
    }

    #[test]
    fn single_object_is_one_row() {
        assert_eq!(
            split_in_chunks(r#"{"a":1}"#, 3).unwrap(),
            vec![r#"{"a":1}"#]
        );
    }

    #[test]
    fn stray_braces_split_the_same_at_every_chunk_size() {
        for doc in ["[+}}\u{c8}}}S]", "[[:\r\t\t[}}}}}y}}[]}}]", "[{}}}, 1}]"] {
            let whole = split_in_chunks(doc, doc.len());
            for size in 1..doc.len() {
                let got = split_in_chunks(doc, size);
                assert_eq!(
                    format!("{got:?}"),
                    format!("{whole:?}"),
                    "{doc:?} in chunks of {size}"
                );
            }
        }
    }

    #[test]
    fn one_huge_element_is_refused_not_buffered() {
        let mut s = ArraySplitter::new();
        let piece = vec![b'x'; 1 << 20];
        s.feed(b"[{\"a\":\"", |_| -> Result<(), SplitError> { Ok(()) })
            .unwrap();
        let mut result = Ok(());
        for _ in 0..20 {
            result = s.feed(&piece, |_| -> Result<(), SplitError> { Ok(()) });
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(SplitError::TooLarge)), "{result:?}");
        assert!(s.buf.len() <= MAX_ELEMENT + (1 << 20));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            split_in_chunks("[{\"a\":1}", 3),
            Err(SplitError::Truncated)
        ));
        assert!(matches!(
            split_in_chunks("A parameter, X is required", 3),
            Err(SplitError::NotJson(_))
        ));
        assert!(matches!(
            split_in_chunks("[] x", 3),
            Err(SplitError::Trailing)
        ));
    }
}
