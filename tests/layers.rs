//! The module graph, read from the source: every module of `src/` sits in one layer and imports
//! only its own layer or lower ones, and no modules import each other, directly or in a loop
//! (in `src/` and in `fake-nbia/src/`). See "Layout" in README.md.
//!
//! An import is any path that names a module of the crate: `use crate::a::b`, `super::x`,
//! `self::x`, a child module's name inside its parent, or a grouped `use a::{b, c::d}`. Test
//! modules (from `#[cfg(test)]` on) are not read: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers of `src/`, top (0) to bottom (5): a module may import modules of its own layer or a
/// higher number, never a lower one. The longest matching prefix decides.
const LAYERS: &[(&str, u8)] = &[
    ("crate", 1),
    ("dispatch", 1),
    ("commands", 2),
    ("context", 3),
    ("config", 3),
    ("cli", 3),
    ("api", 4),
    ("download", 4),
    ("output", 4),
    ("progress", 4),
    ("index", 4),
    ("printer", 5),
    ("env", 5),
    ("error", 5),
    ("secret", 5),
    ("dates", 5),
    ("text", 5),
    ("uid", 5),
    ("fsutil", 5),
    ("stream", 5),
    ("html", 5),
];

const LAYER_NAMES: [&str; 6] = [
    "binary",
    "dispatch",
    "commands",
    "context/config/cli",
    "services",
    "leaves",
];

type Module = Vec<String>;

fn module_name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// Every `.rs` file under `root` with its module path (`lib.rs` is the crate root).
fn modules(root: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read src dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(root).expect("under root");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let file = parts.pop().expect("file name");
            match file.as_str() {
                "lib.rs" if parts.is_empty() => {}
                "main.rs" if parts.is_empty() => continue, // the binary: a crate of its own
                "mod.rs" => {}
                f => parts.push(f.trim_end_matches(".rs").to_string()),
            }
            out.insert(parts, p);
        }
    }
    out
}

/// The source without comments, string literals and test modules.
fn code_of(text: &str) -> String {
    // The first `#[cfg(test)]` whose next line opens a module (`mod`, `pub mod`, `pub(crate) mod`).
    let cut = text
        .match_indices("#[cfg(test)]")
        .find(|(i, m)| {
            let next = text[i + m.len()..]
                .trim_start()
                .lines()
                .next()
                .unwrap_or("");
            next.starts_with("mod ") || next.contains(" mod ")
        })
        .map_or(text.len(), |(i, _)| i);
    let text = &text[..cut];
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // a char literal ('"', '\n'); lifetimes ('a) have no closing quote
            let end = text[i + 1..].find('\'').map_or(b.len(), |e| i + 1 + e + 1);
            i = end;
        } else {
            let ch = text[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Expand `use` trees: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or("").trim().to_string()];
    };
    let prefix = tree[..open].trim().trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.to_string()
            } else if prefix.is_empty() {
                p
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

/// Every path in the code that may name a module: expanded `use` trees and `a::b` paths.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    // use statements
    while let Some(pos) = find_word(rest, "use") {
        let after = &rest[pos + 3..];
        let end = after.find(';').unwrap_or(after.len());
        out.extend(expand(&after[..end]));
        rest = &after[end..];
    }
    // other paths: identifier sequences joined by `::`
    let b = code.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if is_ident(b[i]) && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b':')) {
            let start = i;
            let mut j = i;
            loop {
                while j < b.len() && is_ident(b[j]) {
                    j += 1;
                }
                if b[j..].starts_with(b"::") && j + 2 < b.len() && is_ident(b[j + 2]) {
                    j += 2;
                } else {
                    break;
                }
            }
            if code[start..j].contains("::") {
                out.push(code[start..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn find_word(s: &str, w: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = s[from..].find(w) {
        let at = from + p;
        let before = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let after = b.get(at + w.len()).is_none_or(|c| c.is_ascii_whitespace());
        if before && after {
            return Some(at);
        }
        from = at + w.len();
    }
    None
}

/// The module a path lands in, if it names one of the crate's modules.
fn resolve(
    path: &str,
    here: &Module,
    known: &BTreeSet<Module>,
    crate_name: &str,
) -> Option<Module> {
    let segs: Vec<&str> = path.split("::").map(str::trim).collect();
    let mut cur: Module;
    let mut i = 0;
    match segs[0] {
        "crate" => {
            cur = Vec::new();
            i = 1;
        }
        s if s == crate_name => {
            cur = Vec::new();
            i = 1;
        }
        "self" => {
            cur = here.clone();
            i = 1;
        }
        "super" => {
            cur = here.clone();
            while segs.get(i) == Some(&"super") {
                cur.pop();
                i += 1;
            }
        }
        first => {
            // A child module named from its parent.
            let mut child = here.clone();
            child.push(first.to_string());
            if !known.contains(&child) {
                return None;
            }
            cur = here.clone();
        }
    }
    while let Some(s) = segs.get(i) {
        let mut next = cur.clone();
        next.push(s.to_string());
        if known.contains(&next) {
            cur = next;
            i += 1;
        } else {
            break;
        }
    }
    Some(cur)
}

/// Module → the modules it imports.
fn graph(root: &Path, crate_name: &str) -> BTreeMap<Module, BTreeSet<Module>> {
    let mods = modules(root);
    let known: BTreeSet<Module> = mods.keys().cloned().collect();
    let mut g = BTreeMap::new();
    for (m, file) in &mods {
        let text = std::fs::read_to_string(file).expect("read source");
        let mut deps = BTreeSet::new();
        for p in paths(&code_of(&text)) {
            if let Some(t) = resolve(&p, m, &known, crate_name) {
                if &t != m {
                    deps.insert(t);
                }
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

/// Import loops: each strongly connected set of two or more modules (Tarjan).
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on: BTreeSet<&'a Module>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a Module) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let Some((w, _)) = g.get_key_value(w) else {
                continue;
            };
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("low");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("low");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(module_name(w));
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn layer_of(m: &Module) -> Option<u8> {
    let name = module_name(m);
    LAYERS
        .iter()
        .filter(|(p, _)| name == *p || name.starts_with(&format!("{p}::")))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, l)| *l)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_module_has_a_layer_and_imports_only_down() {
    let g = graph(&manifest_dir().join("src"), "tcia");
    let mut problems = Vec::new();
    for (m, deps) in &g {
        let Some(lm) = layer_of(m) else {
            problems.push(format!(
                "{} has no layer: add it to LAYERS in tests/layers.rs and to README's Layout",
                module_name(m)
            ));
            continue;
        };
        for d in deps {
            let Some(ld) = layer_of(d) else { continue };
            if ld < lm {
                problems.push(format!(
                    "{} ({}) imports {} ({}): imports must go down",
                    module_name(m),
                    LAYER_NAMES[lm as usize],
                    module_name(d),
                    LAYER_NAMES[ld as usize]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_readme_layout_names_every_module() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).expect("README.md");
    let start = readme
        .find("## Layout of the code")
        .expect("a Layout section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut missing = Vec::new();
    for (m, file) in modules(&manifest_dir().join("src")) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let shown = match name.as_str() {
            "mod.rs" if m.len() == 1 => format!("{}/", m[0]),
            _ => name.clone(),
        };
        if !section.contains(&shown) {
            missing.push(module_name(&m));
        }
    }
    assert!(
        missing.is_empty(),
        "README's Layout section does not list: {missing:?}"
    );
}

#[test]
fn no_import_loops_in_tcia() {
    let g = graph(&manifest_dir().join("src"), "tcia");
    assert!(g.len() > 20, "read too few modules: {}", g.len());
    let c = cycles(&g);
    assert!(c.is_empty(), "import loops: {c:?}");
}

#[test]
fn no_import_loops_in_fake_nbia() {
    let g = graph(&manifest_dir().join("fake-nbia/src"), "fake_nbia");
    assert!(g.len() > 5, "read too few modules: {}", g.len());
    let c = cycles(&g);
    assert!(c.is_empty(), "import loops: {c:?}");
}

/// The checker itself: a made-up crate with a loop and an upward import is caught.
#[test]
fn the_checker_sees_loops_and_groups() {
    let dir = std::env::temp_dir().join(format!("tcia-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("download")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod download; pub mod cli;\n").unwrap();
    std::fs::write(
        dir.join("download/mod.rs"),
        "mod engine;\nuse engine::run;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("download/engine.rs"),
        "use crate::{cli::Args, download::Thing};\n// use crate::nothing;\nfn f() { let s = \"crate::cli\"; }\n",
    )
    .unwrap();
    std::fs::write(dir.join("cli.rs"), "").unwrap();
    let g = graph(&dir, "x");
    let engine: Module = vec!["download".into(), "engine".into()];
    let deps: Vec<String> = g[&engine].iter().map(|m| module_name(m)).collect();
    assert_eq!(deps, ["cli", "download"]);
    assert_eq!(cycles(&g), vec![vec!["download", "download::engine"]]);
    assert_eq!(layer_of(&vec!["cli".into()]), Some(3));
    assert!(layer_of(&engine) > layer_of(&vec!["cli".into()]));
    let _ = std::fs::remove_dir_all(&dir);
}
