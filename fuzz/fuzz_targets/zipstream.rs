//! The streaming ZIP reader on arbitrary bytes: it must never panic, hang or allocate without
//! bound, and an entry it accepts has a plain name and a CRC-checked content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcia::download::names::is_plain_file_name;
use tcia::download::zipstream::{check_name, ZipStream};

fuzz_target!(|data: &[u8]| {
    let mut z = ZipStream::new(std::io::BufReader::with_capacity(64, data));
    let mut total = 0u64;
    for _ in 0..10_000 {
        let Ok(Some(e)) = z.next_entry() else {
            return;
        };
        let named_ok = check_name(&e.name).is_ok();
        if named_ok {
            assert!(is_plain_file_name(&e.name), "{:?}", e.name);
        }
        let mut got = 0u64;
        let read = z.read_entry(&e, &mut |b| {
            got += b.len() as u64;
            // Deflate can expand ~1000x; the input is small, so this bounds any run.
            if got > (64 << 20) {
                return Err(std::io::Error::other("too large"));
            }
            Ok(())
        });
        match read {
            Ok(n) => {
                assert_eq!(n, got, "the reported size is what was delivered");
                total += n;
            }
            Err(_) => return,
        }
        assert!(total <= (1 << 40));
    }
    let _ = z.finish();
});
