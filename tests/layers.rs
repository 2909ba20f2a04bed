//! The runtime's modules depend one way, bottom to top, as the README's architecture
//! section lists them: a module that reaches up into one above it fails here, naming the
//! file and the line.

use std::path::Path;

/// Bottom to top. `proto`, `error` and `limits` are leaves everything may use.
const LAYERS: &[&str] = &[
    "sync",
    "proto",
    "error",
    "limits",
    "contract",
    "room",
    "streams",
    "rpc",
    "streaming",
    "endpoint",
    "discovery",
    "participant",
    "typed",
    "bridge",
    "livekit_endpoint",
    "sfu",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    // This test belongs to the `suite` package; the runtime's sources sit beside it.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" {
            continue;
        }
        let own = rank(&module)
            .unwrap_or_else(|| panic!("{module} (src/{}) is not in LAYERS", relative.display()));
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (at, _) in code.match_indices("crate::") {
                let used: String = code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some(theirs) = rank(&used) {
                    if theirs > own {
                        violations.push(format!(
                            "src/{}:{}: {module} uses {used}, which is above it",
                            relative.display(),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
