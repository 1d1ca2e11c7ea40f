//! Deterministic hashing helpers that seed every generated value (UIDs, sizes, tokens, orders).
//!
//! Stable across runs and platforms (no `std` `RandomState`), so the data set is reproducible.

/// SplitMix64 finaliser: a well-mixed 64-bit value from any seed.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a string, then [`mix`]: a stable (across runs and platforms) string hash.
pub(crate) fn hstr(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    mix(h)
}

/// `n` decimal digits derived from `seed`, first digit non-zero.
pub(crate) fn digits(seed: u64, n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut s = seed;
    while out.len() < n {
        s = mix(s);
        let chunk = format!("{:018}", s % 1_000_000_000_000_000_000);
        out.push_str(&chunk);
    }
    out.truncate(n);
    if out.starts_with('0') {
        out.replace_range(0..1, &(1 + seed % 9).to_string());
    }
    out
}
