//! Every error code keygate can answer has its stable anchor in `docs/errors.md`, which is where
//! `doc_url` in every error body points (`ERROR_DOC_URL` + `#code`).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literal right after `marker` at each place it occurs.
fn literals_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .filter_map(|(i, _)| {
            let rest = text[i + marker.len()..].trim_start();
            let rest = rest.strip_prefix('"')?;
            let end = rest.find('"')?;
            Some(rest[..end].to_owned())
        })
        .collect()
}

/// The codes in the error table (`wire_table!` in `src/error/table.rs`: each row is `pattern => status,
/// type, "code", message`) and of every `invalid_param("…", …)`, in the core and in the worker.
fn codes() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let error = std::fs::read_to_string(root.join("src/error/table.rs")).unwrap();
    let table = error.split("wire_table! {").nth(1).expect("the error table");
    let mut codes = BTreeSet::new();
    for line in table.lines() {
        let Some(row) = line.split("=> ").nth(1) else { continue };
        if let Some(code) = row.split(", ").nth(2).and_then(|c| c.strip_prefix('"')) {
            codes.insert(code.trim_end_matches([',', '"']).to_owned());
        }
    }
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("../../src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        codes.extend(literals_after(&text, "invalid_param("));
    }
    codes.retain(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    codes
}

#[test]
fn every_error_code_has_its_anchor_in_docs_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("../../docs/errors.md")).unwrap();
    let codes = codes();
    assert!(codes.len() > 40, "found only {codes:?}");
    for must in ["api_key_invalid", "path_not_canonical", "parameter_unknown", "admin_token_missing"] {
        assert!(codes.contains(must), "{must} was not found in the sources");
    }
    let missing: Vec<&String> =
        codes.iter().filter(|c| !page.contains(&format!("<a name=\"{c}\"></a>"))).collect();
    assert!(missing.is_empty(), "docs/errors.md has no anchor for {missing:?}");
}

#[test]
fn doc_urls_point_at_the_errors_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["../../src/config.rs", "../../wrangler.toml", "../../wrangler.edge.toml"] {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        assert!(text.contains("/docs/errors.md\""), "{f} does not point doc_url at docs/errors.md");
    }
}
