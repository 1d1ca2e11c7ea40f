//! Compact storage for plans of many series: each distinct text is stored once for the life of
//! the process and named by a 4-byte [`Sym`], groups of four symbols are stored once the same
//! way, and [`Positions`] finds an item of a list by a key the list already holds (no copy of
//! the key). A plan of 300,000 series holds its collection, licence and equipment names once,
//! not 300,000 times.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{LazyLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A stored text; 0 is "none".
pub type Sym = u32;

/// Texts are copied into leaked chunks of this size (longer ones get their own allocation).
const CHUNK: usize = 256 * 1024;

/// A stable 64-bit hash (std's SipHash with fixed keys).
pub fn hash_of(s: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

struct Texts {
    /// Sym → text; entry 0 is unused.
    list: Vec<&'static str>,
    /// Hash → the first text with that hash; later texts with the same hash are in `spill`.
    by_hash: HashMap<u64, Sym>,
    spill: HashMap<&'static str, Sym>,
    /// The unused end of the current chunk.
    free: &'static mut [u8],
}

impl Texts {
    fn find(&self, h: u64, s: &str) -> Option<Sym> {
        match self.by_hash.get(&h) {
            Some(&x) if self.list[x as usize] == s => Some(x),
            Some(_) => self.spill.get(s).copied(),
            None => None,
        }
    }

    fn insert(&mut self, h: u64, s: &str) -> Sym {
        let stored = self.store(s);
        let x = Sym::try_from(self.list.len()).expect("fewer than 2^32 distinct texts");
        assert!(x < SYM_LIMIT, "fewer than 2^31 distinct texts");
        self.list.push(stored);
        if let std::collections::hash_map::Entry::Vacant(e) = self.by_hash.entry(h) {
            e.insert(x);
        } else {
            self.spill.insert(stored, x);
        }
        x
    }

    /// A copy of `s` that lives as long as the process.
    fn store(&mut self, s: &str) -> &'static str {
        if s.len() > CHUNK / 16 {
            return Box::leak(s.to_owned().into_boxed_str());
        }
        if self.free.len() < s.len() {
            // Zeroed pages cost no memory until written.
            self.free = Box::leak(vec![0u8; CHUNK].into_boxed_slice());
        }
        let (used, rest) = std::mem::take(&mut self.free).split_at_mut(s.len());
        self.free = rest;
        used.copy_from_slice(s.as_bytes());
        let used: &'static [u8] = used;
        std::str::from_utf8(used).expect("a copy of a str")
    }
}

/// Symbols at or above this are not texts (callers may use them as markers).
pub const SYM_LIMIT: Sym = 1 << 31;

static TEXTS: LazyLock<RwLock<Texts>> = LazyLock::new(|| {
    RwLock::new(Texts {
        list: vec![""],
        by_hash: HashMap::new(),
        spill: HashMap::new(),
        free: &mut [],
    })
});

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// The symbol of a text, storing it on first sight (never 0).
pub fn intern(s: &str) -> Sym {
    let h = hash_of(s);
    if let Some(x) = read(&TEXTS).find(h, s) {
        return x;
    }
    let mut t = write(&TEXTS);
    match t.find(h, s) {
        Some(x) => x,
        None => t.insert(h, s),
    }
}

/// The text of a symbol from [`intern`] ("" for 0).
pub fn text(x: Sym) -> &'static str {
    read(&TEXTS).list.get(x as usize).copied().unwrap_or("")
}

/// Four symbols.
pub type Quad = [Sym; 4];

struct Quads {
    list: Vec<Quad>,
    index: HashMap<Quad, u32>,
}

static QUADS: LazyLock<RwLock<Quads>> = LazyLock::new(|| {
    RwLock::new(Quads {
        list: vec![[0; 4]],
        index: HashMap::from([([0; 4], 0)]),
    })
});

/// The id of four symbols, storing them on first sight; `[0; 4]` is 0.
pub fn quad(q: Quad) -> u32 {
    if let Some(&id) = read(&QUADS).index.get(&q) {
        return id;
    }
    let mut g = write(&QUADS);
    if let Some(&id) = g.index.get(&q) {
        return id;
    }
    let id = u32::try_from(g.list.len()).expect("fewer than 2^32 distinct groups");
    g.list.push(q);
    g.index.insert(q, id);
    id
}

/// The symbols of a [`quad`] id.
pub fn unquad(id: u32) -> Quad {
    read(&QUADS)
        .list
        .get(id as usize)
        .copied()
        .unwrap_or_default()
}

/// Positions in a list, found by a key each item holds: a hash → position table, with keys
/// compared on every hit so that equal hashes cannot confuse two items.
#[derive(Default)]
pub struct Positions {
    first: HashMap<u64, u32>,
    more: HashMap<u64, Vec<u32>>,
}

impl Positions {
    pub fn with_capacity(n: usize) -> Positions {
        Positions {
            first: HashMap::with_capacity(n),
            more: HashMap::new(),
        }
    }

    /// The position of `key`, where `key_at(p)` is the key of the item at `p`.
    pub fn find<K: AsRef<str>>(&self, key: &str, key_at: impl Fn(u32) -> K) -> Option<u32> {
        let h = hash_of(key);
        let p = *self.first.get(&h)?;
        if key_at(p).as_ref() == key {
            return Some(p);
        }
        self.more
            .get(&h)?
            .iter()
            .copied()
            .find(|&p| key_at(p).as_ref() == key)
    }

    /// Remember `key` at `pos` (the caller has checked it is not there yet).
    pub fn insert(&mut self, key: &str, pos: u32) {
        let h = hash_of(key);
        if let std::collections::hash_map::Entry::Vacant(e) = self.first.entry(h) {
            e.insert(pos);
        } else {
            self.more.entry(h).or_default().push(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_stored_once() {
        let a = intern("Bulk-Synthetic");
        let b = intern(&String::from("Bulk-Synthetic"));
        assert_eq!(a, b);
        assert_ne!(a, 0);
        assert_ne!(intern("CT"), a);
        assert_eq!(text(a), "Bulk-Synthetic");
        assert_eq!(text(0), "");
        let e = intern("");
        assert_ne!(e, 0, "the empty text is a text, not none");
        assert_eq!(text(e), "");
        let long = "x".repeat(CHUNK);
        assert_eq!(text(intern(&long)), long);
        // Many texts, across chunks: each keeps its own symbol and text.
        let syms: Vec<Sym> = (0..20_000).map(|i| intern(&format!("v{i:08}"))).collect();
        for (i, s) in syms.iter().enumerate() {
            assert_eq!(text(*s), format!("v{i:08}"));
        }
    }

    #[test]
    fn equal_hashes_are_told_apart() {
        // Force two texts under one hash: the second lands in the spill table.
        let mut t = Texts {
            list: vec![""],
            by_hash: HashMap::new(),
            spill: HashMap::new(),
            free: &mut [],
        };
        let a = t.insert(7, "a");
        assert_eq!(t.find(7, "a"), Some(a));
        assert_eq!(t.find(7, "b"), None);
        let b = t.insert(7, "b");
        assert_ne!(a, b);
        assert_eq!(t.find(7, "b"), Some(b));
        assert_eq!(t.find(7, "a"), Some(a));
    }

    #[test]
    fn quads_are_stored_once() {
        assert_eq!(quad([0; 4]), 0);
        let q = [intern("a"), 0, intern("b"), 5];
        let id = quad(q);
        assert_eq!(quad(q), id);
        assert_ne!(id, 0);
        assert_eq!(unquad(id), q);
        assert_eq!(unquad(0), [0; 4]);
    }

    #[test]
    fn positions_find_by_key() {
        let items = ["1.2.3", "1.2.4", "1.2.5"];
        let mut p = Positions::with_capacity(3);
        for (i, s) in items.iter().enumerate() {
            assert_eq!(p.find(s, |i| items[i as usize]), None);
            p.insert(s, i as u32);
        }
        assert_eq!(p.find("1.2.4", |i| items[i as usize]), Some(1));
        assert_eq!(p.find("1.2.6", |i| items[i as usize]), None);
        // Same hash, other key (as if two keys collided): both found.
        let mut q = Positions::default();
        q.first.insert(hash_of("x"), 0);
        q.more.insert(hash_of("x"), vec![1]);
        let keys = ["y", "x"];
        assert_eq!(q.find("x", |i| keys[i as usize]), Some(1));
    }
}
