//! The module dependency directions of ARCHITECTURE.md, checked on the source: every
//! `crate::<module>` path outside a module's own unit tests must be one the table allows, and
//! the server's folders import only downwards (api → core, edge; core → edge; edge → neither).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may import (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("engine", &["model"]),
    ("store", &["model"]),
    ("metrics", &["model"]),
    ("client", &["model"]),
    ("present", &["model"]),
    ("config", &["model", "engine"]),
    ("server", &["model", "engine", "store", "config", "metrics"]),
    ("tui", &["model", "client", "present"]),
    ("sim", &["model", "client", "engine"]),
];

const MODULES: &[&str] = &[
    "model", "engine", "store", "metrics", "client", "present", "config", "server", "tui", "sim",
    "cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files of a module: `src/<m>.rs` and everything under `src/<m>/`, except unit-test
/// files (`tests.rs`, `tests/`), which may build fixtures from any layer.
fn files_of(module: &str) -> Vec<PathBuf> {
    let mut files = vec![src().join(format!("{module}.rs"))];
    let mut dirs = vec![src().join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name == "tests" || name == "tests.rs" {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.retain(|f| f.exists());
    files
}

/// Source text before the first `#[cfg(test)]` (inline unit tests may use any layer).
fn production_text(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The modules a text names as `crate::<module>`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if MODULES.contains(&name.as_str()) {
            found.insert(name);
        }
    }
    found
}

#[test]
fn each_module_imports_only_what_the_table_allows() {
    let mut violations = Vec::new();
    for (module, allowed) in ALLOWED {
        for file in files_of(module) {
            for used in crate_paths(&production_text(&file)) {
                if used != *module && !allowed.contains(&used.as_str()) {
                    violations.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against ARCHITECTURE.md:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_cli_uses_only_the_consoles_entry_point() {
    let mut violations = Vec::new();
    for file in files_of("cli") {
        let text = production_text(&file);
        for (at, _) in text.match_indices("crate::tui::") {
            let item: String = text[at + "crate::tui::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if item != "run" && item != "TuiArgs" {
                violations.push(format!("{} uses crate::tui::{item}", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The server's layer of a file under `src/server/`: `api`, `core` or `edge`.
fn server_layer_files(layer: &str) -> Vec<PathBuf> {
    files_of(&format!("server/{layer}"))
}

#[test]
fn the_servers_layers_import_only_downwards() {
    let forbidden: &[(&str, &[&str])] = &[("core", &["api"]), ("edge", &["api", "core"])];
    let mut violations = Vec::new();
    for (layer, above) in forbidden {
        for file in server_layer_files(layer) {
            let text = production_text(&file);
            for other in *above {
                let needles = [
                    format!("crate::server::{other}"),
                    format!("super::{other}::"),
                ];
                if needles.iter().any(|n| text.contains(n.as_str())) {
                    violations.push(format!("{} ({layer}) uses server::{other}", file.display()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_checks_see_the_source() {
    // Guards the checks above against passing on an empty tree (a moved source directory).
    assert!(files_of("server").len() > 20, "src/server/ not found");
    assert!(crate_paths(&production_text(&src().join("server.rs"))).contains("model"));
}
