//! The JSON array splitter on arbitrary bytes, fed in chunks whose sizes come from the input:
//! it must never panic, the chunking must not change what it yields, and for a document that
//! serde_json accepts as an array it yields exactly that array's elements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcia::stream::{ArraySplitter, SplitError};

fn split(data: &[u8], sizes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut s = ArraySplitter::new();
    let mut out = Vec::new();
    let mut rest = data;
    let mut k = 0;
    while !rest.is_empty() {
        let n = (usize::from(sizes.get(k % sizes.len().max(1)).copied().unwrap_or(7)) + 1)
            .min(rest.len());
        k += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        s.feed(chunk, |e| -> Result<(), SplitError> {
            out.push(e.to_vec());
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    }
    s.finish(|e| -> Result<(), SplitError> {
        out.push(e.to_vec());
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(out)
}

fuzz_target!(|input: &[u8]| {
    let (sizes, data) = input.split_at(input.len().min(4));
    let whole = split(data, &[255]);
    let chunked = split(data, sizes);
    assert_eq!(whole.is_ok(), chunked.is_ok(), "chunking changed the verdict");
    if let (Ok(a), Ok(b)) = (&whole, &chunked) {
        assert_eq!(a, b, "chunking changed the elements");
    }
    if let Ok(serde_json::Value::Array(items)) = serde_json::from_slice::<serde_json::Value>(data) {
        let got = whole.expect("a valid JSON array is split");
        assert_eq!(got.len(), items.len(), "one element per array item");
        for (g, want) in got.iter().zip(&items) {
            let parsed: serde_json::Value =
                serde_json::from_slice(g).expect("each element is valid JSON");
            assert_eq!(&parsed, want);
        }
    }
});
