//! The crate's floors: a module imports only from modules declared above it in `src/lib.rs`, so
//! no two modules import each other (ARCHITECTURE.md, "Floors").

use std::path::{Path, PathBuf};

/// The `.rs` files of module `name` (a file, or a folder of them), without their test modules.
fn sources(src: &Path, name: &str) -> Vec<(PathBuf, String)> {
    let dir = src.join(name);
    let mut paths = vec![src.join(format!("{name}.rs"))];
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.path() {
                p if p.is_dir() => stack.push(p),
                p if p.extension().is_some_and(|e| e == "rs") => paths.push(p),
                _ => {}
            }
        }
    }
    paths
        .into_iter()
        .filter(|p| p.exists() && !p.ends_with("tests.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            // Test modules may reach anywhere; doc comments may link anywhere.
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or("")
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (p, code)
        })
        .collect()
}

/// Every `crate::NAME` a piece of code mentions.
fn mentions(code: &str) -> Vec<&str> {
    code.match_indices("crate::")
        .map(|(at, _)| {
            let rest = &code[at + 7..];
            let end = rest
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn modules_import_only_from_modules_declared_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let order: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod ")))
        .filter_map(|l| l.strip_suffix(';'))
        .collect();
    assert!(order.len() > 20, "lib.rs lists the modules: {order:?}");
    let mut upward = Vec::new();
    for (floor, module) in order.iter().enumerate() {
        for (path, code) in sources(&src, module) {
            for used in mentions(&code) {
                let above = order.iter().position(|m| *m == used).is_none_or(|at| at <= floor);
                if !above {
                    upward.push(format!("{}: {module} imports {used}", path.display()));
                }
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "imports pointing up:\n{}", upward.join("\n"));
}
