//! The core's layers, as its `lib.rs` states them, read from its source: every file's
//! references to another file of the crate by name (`use crate::…`, `use super::…` and paths
//! such as `crate::domain::key::Mode` in code), outside comments and test modules.
//!
//! * Each layer names only the layers before it: domain → policy → commands → api, over the base
//!   modules (the one `Error`, the clock, randomness and time). The edge's read port
//!   (`store.rs`) comes with policy, whose gate reads through it.
//! * No files name each other in a loop, within a layer either.
//!
//! What it reads is names. A method called on a value does not name the file that defines it
//! (the authority's `impl` is spread over the commands' files, which call each other's methods
//! on it), so such a call is not seen, in either check. Forms of a name the reader cannot
//! follow (a glob from `crate` or `super`, `crate` renamed) fail the test rather than pass it.
//!
//! The one `Error` names nothing of the layers: a canary's variant carries whether its key is
//! live rather than its `Mode`, and a portal session's refusals are errors themselves
//! (`PortalRefusal`, which the domain's portal names `Refusal`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as a path relative to `src/`.
fn files(dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The module path of a file: `domain/key.rs` → `domain::key`, `domain/mod.rs` → `domain`.
fn module_of(file: &str) -> String {
    let stem = file.strip_suffix(".rs").unwrap();
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" { String::new() } else { stem.replace('/', "::") }
}

/// The code of a file: without its test modules (each `#[cfg(test)] mod name { … }`, up to its
/// matching brace, or `#[cfg(test)] mod name;`) and without comments.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]\nmod ") {
        out.push_str(&rest[..at]);
        let block = &rest[at..];
        let (open, semi) = (block.find('{'), block.find(';'));
        if semi.is_some_and(|s| open.is_none_or(|o| s < o)) {
            rest = &block[semi.unwrap() + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = block.len();
        for (i, c) in block.char_indices().skip(open.unwrap()) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &block[end..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths that `text` names after `root` (`crate::` or `super::`), braces expanded:
/// `crate::domain::{key::Mode, digest}` gives `domain::key::Mode` and `domain::digest`. A chain
/// `super::super::x` is one path, `super::x` after `root` `super::`.
fn paths_after(text: &str, root: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(root) {
        // Not the tail of another name (`my_crate::`), nor a link of a chain already read.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + root.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let (found, after) = path_items(rest, "");
        assert!(
            !found.is_empty(),
            "a name after `{root}` this reader cannot follow: {:?}",
            &rest[..rest.len().min(40)]
        );
        out.extend(found);
        rest = after;
    }
    out
}

/// The path(s) at the start of `s`, prefixed with `prefix`, and what follows them.
fn path_items<'a>(s: &'a str, prefix: &str) -> (Vec<String>, &'a str) {
    let ident_len = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    if ident_len == 0 {
        let Some(inner) = s.strip_prefix('{') else {
            // A glob (`crate::*`) or anything else: nothing this reader can follow.
            return (vec![], s);
        };
        let mut out = Vec::new();
        let mut rest = inner.trim_start();
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                return (out, after);
            }
            if let Some(after) = rest.strip_prefix("self")
                && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
            {
                out.push(prefix.trim_end_matches("::").to_owned());
                rest = after;
            }
            let (found, after) = path_items(rest, prefix);
            // Each item must be read, or the loop would not move on.
            if found.is_empty() && after.len() == rest.len() && !after.starts_with([',', '}']) {
                panic!("a name in braces this reader cannot follow: {:?}", &rest[..rest.len().min(40)]);
            }
            out.extend(found);
            rest = after.trim_start();
            // Skip an `as name`, then the comma.
            if let Some(after) = rest.strip_prefix("as ") {
                let n = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
                rest = after[n..].trim_start();
            }
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
            assert!(!rest.is_empty(), "unclosed braces after `{prefix}`");
        }
    }
    let path = format!("{prefix}{}", &s[..ident_len]);
    let rest = &s[ident_len..];
    match rest.strip_prefix("::") {
        Some(after) => path_items(after, &format!("{path}::")),
        None => (vec![path], rest),
    }
}

/// The crate's files and, for each, the files its code names.
fn graph() -> Graph {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let by_module: BTreeMap<String, String> = all.iter().map(|f| (module_of(f), f.clone())).collect();
    // The file a path names: its longest prefix that is a module. `crate::Error` and
    // `crate::ErrorType` are lib.rs's re-exports of the error module's; any other path that
    // names no module fails the test (a new re-export would hide what it names).
    let resolve = |path: &str, from: &str| -> String {
        let segments: Vec<&str> = path.split("::").collect();
        if matches!(segments[0], "Error" | "ErrorType") {
            return "error/mod.rs".into();
        }
        (1..=segments.len())
            .rev()
            .find_map(|n| by_module.get(&segments[..n].join("::")).cloned())
            .unwrap_or_else(|| panic!("{from}: `crate::{path}` names no module of the crate"))
    };
    let mut edges = Graph::new();
    for file in &all {
        let text = code(&fs::read_to_string(src().join(file)).unwrap());
        for renamed in ["crate as ", "extern crate self"] {
            assert!(!text.contains(renamed), "{file}: `{renamed}`: this reader follows only `crate::`");
        }
        let module = module_of(file);
        let mut targets: BTreeSet<String> =
            paths_after(&text, "crate::").iter().map(|p| resolve(p, file)).collect();
        for p in paths_after(&text, "super::") {
            // `super::` from `a::b` is `a`; each further `super::` goes one module up.
            let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
            base.pop();
            let mut rest = p.as_str();
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
            let full = base.into_iter().chain(rest.split("::")).collect::<Vec<_>>().join("::");
            targets.insert(resolve(&full, file));
        }
        targets.remove(file);
        targets.remove("lib.rs");
        edges.insert(file.clone(), targets);
    }
    edges
}

/// 0 for the base modules, then domain 1, policy 2 (with the read port), commands 3, api 4.
fn layer(file: &str) -> u8 {
    match file.split('/').next().unwrap().trim_end_matches(".rs") {
        "error" | "clock" | "rng" | "time" => 0,
        "domain" => 1,
        "policy" | "store" => 2,
        "commands" => 3,
        "api" => 4,
        other => panic!("{file}: a module outside the layers ({other}); place it in lib.rs's list and here"),
    }
}

/// Each reference from a file to a later layer's.
fn upward(edges: &Graph) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, targets) in edges {
        for to in targets {
            if layer(to) > layer(from) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    wrong
}

/// Every loop of files naming each other, as a depth-first search finds them: a file met again
/// while it is still on the path closes one.
fn loops(edges: &Graph) -> Vec<String> {
    fn visit<'a>(
        file: &'a str,
        edges: &'a Graph,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        loops: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|f| *f == file) {
            loops.push(format!("{} -> {file}", path[at..].join(" -> ")));
            return;
        }
        if !done.insert(file) {
            return;
        }
        path.push(file);
        for next in edges.get(file).into_iter().flatten() {
            visit(next, edges, path, done, loops);
        }
        path.pop();
    }
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for file in edges.keys() {
        visit(file, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn edges_of(pairs: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in pairs {
        g.entry(a.to_string()).or_default().insert(b.to_string());
        g.entry(b.to_string()).or_default();
    }
    g
}

#[test]
fn the_reader_finds_what_a_file_names() {
    let found = paths_after(
        "use crate::domain::{self, key::{Mode, KeyType as T}, digest};\nlet m = crate::Error::X; my_crate::no",
        "crate::",
    );
    assert_eq!(found, ["domain", "domain::key::Mode", "domain::key::KeyType", "domain::digest", "Error::X"]);
    assert_eq!(
        paths_after("super::super::api::object::K; super::x", "super::"),
        ["super::api::object::K", "x"]
    );
    // Test modules are left out wherever they are, and what follows one is read.
    let text = code(
        "use crate::a;\n#[cfg(test)]\nmod tests {\n fn f() { crate::b; }\n}\nfn g() { crate::c; }\n#[cfg(test)]\nmod t;\n",
    );
    assert_eq!(paths_after(&text, "crate::"), ["a", "c"]);
    // Forms it cannot follow fail rather than pass.
    for bad in ["use crate::*;", "use crate::{key::*, digest};"] {
        assert!(std::panic::catch_unwind(|| paths_after(bad, "crate::")).is_err(), "{bad}");
    }

    let edges = graph();
    // Known references, each of another kind: a `use`, a path in code only, `super::`, `crate::Error`.
    assert!(edges["domain/key_format.rs"].contains("domain/key.rs"));
    assert!(edges["domain/keystate.rs"].contains("time.rs"));
    assert!(edges["error/table.rs"].contains("error/mod.rs"));
    assert!(edges["domain/key.rs"].contains("error/mod.rs"));
    // Not a reading that found almost nothing.
    let total: usize = edges.values().map(BTreeSet::len).sum();
    assert!(edges.len() > 50 && total > 200, "{} files, {total} references", edges.len());
}

#[test]
fn the_checks_find_what_they_look_for() {
    let g = edges_of(&[
        ("domain/a.rs", "policy/b.rs"),
        ("policy/b.rs", "domain/a.rs"),
        ("api/c.rs", "domain/a.rs"),
    ]);
    assert_eq!(upward(&g), ["domain/a.rs -> policy/b.rs"]);
    assert_eq!(loops(&g), ["domain/a.rs -> policy/b.rs -> domain/a.rs"]);
    assert!(loops(&edges_of(&[("api/c.rs", "domain/a.rs"), ("domain/a.rs", "error/mod.rs")])).is_empty());
}

#[test]
fn each_layer_names_only_the_layers_before_it() {
    let mut edges = graph();
    edges.remove("lib.rs");
    let wrong = upward(&edges);
    assert!(wrong.is_empty(), "references to a later layer: {wrong:#?}");
}

#[test]
fn no_files_name_each_other_in_a_loop() {
    let found = loops(&graph());
    assert!(found.is_empty(), "files that name each other in a loop: {found:#?}");
}
