//! Every test, example and benchmark file is a target: the runtime crate (its examples),
//! the `suite` crate (tests and benches) and, for the trybuild cases, the `ui-tests`
//! crate list them by hand (they live beside those crates, not under them, so cargo
//! cannot discover them), and a file that is not listed would silently never build or
//! run. This fails naming such a file (shared modules that a listed target
//! declares with `mod name;` are fine).

use std::collections::BTreeSet;
use std::path::Path;

fn listed_paths(manifest: &str, section: &str) -> BTreeSet<String> {
    let mut listed = BTreeSet::new();
    let mut in_section = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with("[[") || line.starts_with('[') {
            in_section = line == format!("[[{section}]]");
            continue;
        }
        if let Some(path) = line.strip_prefix("path = ").filter(|_| in_section) {
            listed.insert(path.trim_matches('"').to_owned());
        }
    }
    listed
}

fn rust_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_test_example_and_bench_file_is_a_target() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The manifests sit one level under the workspace root, so their paths read alike.
    let manifest = [
        "Cargo.toml",
        "../runtime/Cargo.toml",
        "../ui-tests/Cargo.toml",
    ]
    .map(|m| std::fs::read_to_string(crate_dir.join(m)).unwrap())
    .join("\n");
    let mut missing = Vec::new();
    for (section, dir) in [
        ("test", "tests"),
        ("example", "examples"),
        ("bench", "benches"),
    ] {
        let listed = listed_paths(&manifest, section);
        let dir_path = crate_dir.join("..").join(dir);
        // A file a listed target declares as a module (`mod estimates;`) is built with it.
        let declared: String = listed
            .iter()
            .filter_map(|p| std::fs::read_to_string(crate_dir.join(p)).ok())
            .collect();
        for file in rust_files(&dir_path) {
            let path = format!("../{dir}/{file}");
            let module = format!("mod {};", file.trim_end_matches(".rs"));
            if !listed.contains(&path) && !declared.contains(&module) {
                missing.push(format!(
                    "{path} (add a [[{section}]] entry to suite/Cargo.toml, runtime/Cargo.toml (examples) or ui-tests/Cargo.toml)"
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files that would never build or run:\n  {}",
        missing.join("\n  ")
    );
}
