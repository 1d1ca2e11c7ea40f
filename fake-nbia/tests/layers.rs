//! The module graph of `fake-nbia/src` has no import cycles, and no module refers back to the
//! crate root (README.md, "Source layout"). A module depends on another when its non-test code
//! names it in a `crate::` path (`use crate::x`, `crate::x::y`, `use crate::{x, y::z}`); `super::`
//! or a `crate::` path to a root item counts as a dependency on `lib`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The source without its `#[cfg(test)]` tail and without comment lines.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first path segments of a `{a, b::c, d::{e, f}}` group.
fn group_heads(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut heads) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(ident(group[start..i].trim()));
                start = i + 1;
            }
            _ => {}
        }
    }
    heads.push(ident(group[start..].trim()));
    heads.into_iter().filter(|h| !h.is_empty()).collect()
}

/// The module names (or `lib`) that `crate::` / `super::` paths in `code` refer to.
fn referenced(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut heads: Vec<&str> = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(j, _)| j);
            heads.extend(group_heads(&group[..end]));
        } else {
            heads.push(ident(rest));
        }
    }
    let mut out: BTreeSet<String> = heads
        .into_iter()
        .map(|h| if modules.contains(h) { h } else { "lib" })
        .map(str::to_string)
        .collect();
    if code.contains("super::") {
        out.insert("lib".to_string());
    }
    out
}

fn graph(src: &Path) -> Graph {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        // main.rs is the binary, a separate crate that uses the library by name
        if p.extension().is_some_and(|x| x == "rs") && name != "main" {
            files.insert(name, code(&std::fs::read_to_string(&p).unwrap()));
        }
    }
    let modules: BTreeSet<String> = files.keys().filter(|m| *m != "lib").cloned().collect();
    let mut g = Graph::new();
    for (m, text) in &files {
        let mut deps = referenced(text, &modules);
        if m == "lib" {
            // the root uses its modules by their bare names (`app::App`, `faults::...`)
            for other in &modules {
                if text.contains(&format!("{other}::")) {
                    deps.insert(other.clone());
                }
            }
        }
        deps.remove(m);
        g.insert(m.clone(), deps);
    }
    g
}

/// A cycle as a path `a -> b -> ... -> a`, if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(g: &Graph, m: &str, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> bool {
        if let Some(i) = path.iter().position(|p| p == m) {
            path.drain(..i);
            path.push(m.to_string());
            return true;
        }
        if done.contains(m) {
            return false;
        }
        path.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            if visit(g, d, path, done) {
                return true;
            }
        }
        path.pop();
        done.insert(m.to_string());
        false
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        let mut path = Vec::new();
        if visit(g, m, &mut path, &mut done) {
            return Some(path);
        }
    }
    None
}

#[test]
fn module_graph_has_no_cycles() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let dump: Vec<String> = g
        .iter()
        .map(|(m, d)| {
            format!(
                "{m} -> {}",
                d.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    let dump = dump.join("\n");
    // the scanner sees the layering (so an empty graph cannot pass)
    assert!(
        g["routes"].contains("request") && g["images"].contains("data"),
        "{dump}"
    );
    assert!(g["lib"].contains("handler"), "{dump}");
    let into_root: Vec<&String> = g
        .iter()
        .filter(|(_, d)| d.contains("lib"))
        .map(|(m, _)| m)
        .collect();
    assert!(
        into_root.is_empty(),
        "modules referring to the crate root: {into_root:?}\n{dump}"
    );
    assert_eq!(find_cycle(&g), None, "{dump}");
}

#[test]
fn cycle_finder_finds_cycles() {
    let modules: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    assert_eq!(
        referenced(
            "use crate::{a::X, b::{Y, Z}};\nlet _ = crate::c::f();",
            &modules
        ),
        ["a", "b", "c"].map(String::from).into()
    );
    assert_eq!(
        referenced("use super::*; crate::ROOT", &modules),
        ["lib".to_string()].into()
    );
    let edge = |a: &str, b: &str| (a.to_string(), [b.to_string()].into());
    let g: Graph = [edge("a", "b"), edge("b", "c"), edge("c", "a")].into();
    assert_eq!(
        find_cycle(&g),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
    let g: Graph = [edge("a", "b"), edge("b", "c")].into();
    assert_eq!(find_cycle(&g), None);
}
