//! JSON and NDJSON: the server's objects as they came, streamed row by row.

use std::io::{self, Write};

use super::row::{Row, RowSink};
use super::rowref::RowRef;

pub struct JsonSink {
    out: Box<dyn Write>,
    fields: Option<Vec<String>>,
    ndjson: bool,
    rows: u64,
    /// One row's text, reused.
    buf: Vec<u8>,
}

impl JsonSink {
    pub fn new(out: Box<dyn Write>, fields: Option<Vec<String>>, ndjson: bool) -> Self {
        // A field named twice is one key, where it first appears.
        let fields = fields.map(|f| {
            let mut seen = std::collections::HashSet::new();
            f.into_iter().filter(|k| seen.insert(k.clone())).collect()
        });
        JsonSink {
            out,
            fields,
            ndjson,
            rows: 0,
            buf: Vec::with_capacity(4096),
        }
    }
}

impl RowSink for JsonSink {
    fn row(&mut self, row: Row) -> io::Result<()> {
        self.row_ref(RowRef::from_map(row))
    }

    fn row_ref(&mut self, row: RowRef<'_>) -> io::Result<()> {
        self.buf.clear();
        if !self.ndjson {
            self.buf
                .extend_from_slice(if self.rows == 0 { b"[\n" } else { b",\n" });
        }
        row.write_json(&mut self.buf, self.fields.as_deref())?;
        if self.ndjson {
            self.buf.push(b'\n');
        }
        self.out.write_all(&self.buf)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.ndjson {
            self.out
                .write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub struct Shared(pub Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn rows(s: &str) -> Vec<Row> {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn json_array_keeps_key_order_and_absent_keys() {
        let buf = Shared::default();
        let mut s = JsonSink::new(Box::new(buf.clone()), None, false);
        for r in rows(r#"[{"b":1,"a":"x"},{}]"#) {
            s.row(r).unwrap();
        }
        s.finish().unwrap();
        assert_eq!(
            String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(),
            "[\n{\"b\":1,\"a\":\"x\"},\n{}\n]\n"
        );
    }

    #[test]
    fn empty_is_brackets_or_nothing() {
        let buf = Shared::default();
        JsonSink::new(Box::new(buf.clone()), None, false)
            .finish()
            .unwrap();
        assert_eq!(&*buf.0.lock().unwrap(), b"[]\n");
        let buf = Shared::default();
        JsonSink::new(Box::new(buf.clone()), None, true)
            .finish()
            .unwrap();
        assert!(buf.0.lock().unwrap().is_empty());
    }

    #[test]
    fn ndjson_with_fields() {
        let buf = Shared::default();
        let mut s = JsonSink::new(
            Box::new(buf.clone()),
            Some(vec!["a".into(), "c".into(), "a".into()]),
            true,
        );
        for r in rows(r#"[{"b":1,"a":"x","c":2},{"b":2}]"#) {
            s.row(r).unwrap();
        }
        s.finish().unwrap();
        assert_eq!(
            String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(),
            "{\"a\":\"x\",\"c\":2}\n{}\n"
        );
    }
}
