//! The core's layers, as its `lib.rs` states them, read from its source: every file's
//! references to another file of the crate (`use crate::…`, `use super::…` and paths such as
//! `crate::domain::key::Mode` in code), outside comments and test modules.
//!
//! * Each layer uses only the layers before it: domain → policy → commands → api, over the base
//!   modules (the one `Error`, the clock, randomness and time). The edge's read port
//!   (`store.rs`) belongs with policy, whose gate reads through it.
//! * No files import each other in a loop, within a layer either.
//!
//! One exception, named here: the one `Error` carries two domain types in its variants (a
//! canary's `Mode`, a portal session's `Refusal`), so the error module names them while the
//! domain returns `Error`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The only references from a base module to a layer after it, and why (see the module doc).
const ALLOWED_UPWARD: [(&str, &str); 3] = [
    ("error/mod.rs", "domain/key.rs"),      // Error::CanaryKeyUsed { mode: Mode }
    ("error/mod.rs", "domain/portal.rs"),   // Error::Portal(Refusal)
    ("error/table.rs", "domain/portal.rs"), // each Refusal's status, type and code
];

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

/// The code of a file: no test module, no comment.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths that `text` names after `root` (`crate::` or `super::`), braces expanded:
/// `crate::domain::{key::Mode, digest}` gives `domain::key::Mode` and `domain::digest`.
fn paths_after(text: &str, root: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(root) {
        // Not the tail of another name (`my_crate::`).
        let before = rest[..at].chars().next_back();
        rest = &rest[at + root.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let (found, _) = path_items(rest, "");
        out.extend(found);
    }
    out
}

/// The path(s) at the start of `s`, prefixed with `prefix`, and what follows them.
fn path_items<'a>(s: &'a str, prefix: &str) -> (Vec<String>, &'a str) {
    let ident_len = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    if ident_len == 0 {
        if let Some(inner) = s.strip_prefix('{') {
            let mut out = Vec::new();
            let mut rest = inner.trim_start();
            loop {
                if let Some(after) = rest.strip_prefix('}') {
                    return (out, after);
                }
                let (found, after) = path_items(rest, prefix);
                out.extend(found);
                rest = after.trim_start();
                // Skip an `as name`, then the comma.
                if let Some(after) = rest.strip_prefix("as ") {
                    let n = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
                    rest = after[n..].trim_start();
                }
                rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
                if rest.is_empty() {
                    return (out, rest);
                }
            }
        }
        return (if prefix.is_empty() { vec![] } else { vec![prefix.trim_end_matches("::").to_owned()] }, s);
    }
    let path = format!("{prefix}{}", &s[..ident_len]);
    let rest = &s[ident_len..];
    match rest.strip_prefix("::") {
        Some(after) => path_items(after, &format!("{path}::")),
        None => (vec![path], rest),
    }
}

/// The crate's files and, for each, the files its code refers to.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let by_module: BTreeMap<String, String> = all.iter().map(|f| (module_of(f), f.clone())).collect();
    // The file a path names: its longest prefix that is a module. `crate::Error` and
    // `crate::ErrorType` are lib.rs's re-exports of the error module's.
    let resolve = |path: &str| -> Option<String> {
        if path == "Error" || path == "ErrorType" {
            return Some("error/mod.rs".into());
        }
        let segments: Vec<&str> = path.split("::").collect();
        (1..=segments.len()).rev().find_map(|n| by_module.get(&segments[..n].join("::")).cloned())
    };
    let mut edges = BTreeMap::new();
    for file in &all {
        let text = code(&fs::read_to_string(src().join(file)).unwrap());
        let module = module_of(file);
        // `super::` from `a::b` is `a`; from a folder's mod.rs it would leave the folder.
        let parent = module.rsplit_once("::").map_or(String::new(), |(p, _)| p.to_owned());
        let mut targets: BTreeSet<String> =
            paths_after(&text, "crate::").iter().filter_map(|p| resolve(p)).collect();
        for p in paths_after(&text, "super::") {
            let full = if parent.is_empty() { p } else { format!("{parent}::{p}") };
            targets.extend(resolve(&full));
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

#[test]
fn the_reader_finds_what_a_file_names() {
    let found = paths_after(
        "use crate::domain::{key::{Mode, KeyType as T}, digest};\nlet m = crate::Error::X; my_crate::no",
        "crate::",
    );
    assert_eq!(found, ["domain::key::Mode", "domain::key::KeyType", "domain::digest", "Error::X"]);
    let edges = graph();
    // Known references, each of another kind: a `use`, a path in code, `super::`.
    assert!(edges["domain/key_format.rs"].contains("domain/key.rs"));
    assert!(edges["commands/authority.rs"].contains("domain/leak.rs"));
    assert!(edges["error/table.rs"].contains("error/mod.rs"));
    assert!(edges["domain/key.rs"].contains("error/mod.rs"));
}

#[test]
fn each_layer_uses_only_the_layers_before_it() {
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        if from == "lib.rs" {
            continue;
        }
        for to in targets {
            if layer(&to) > layer(&from) && !ALLOWED_UPWARD.contains(&(from.as_str(), to.as_str())) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "references to a later layer: {wrong:#?}");
}

#[test]
fn no_files_import_each_other_in_a_loop() {
    let mut edges = graph();
    for (from, to) in ALLOWED_UPWARD {
        edges.get_mut(from).unwrap().remove(to);
    }
    // Depth-first search; a file met again while it is still on the path closes a loop.
    fn visit<'a>(
        file: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
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
    let (mut done, mut loops) = (BTreeSet::new(), Vec::new());
    for file in edges.keys() {
        visit(file, &edges, &mut Vec::new(), &mut done, &mut loops);
    }
    assert!(loops.is_empty(), "files that import each other in a loop: {loops:#?}");
}
