//! Hashes the sources that compute results (src/numerics, src/experiments) into WGF_SOURCE_HASH, which is part of
//! every cache key: an edit to the numerics can never leave stale results that look current, even if nobody
//! bumps a kind's VERSION.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const HASHED: &[&str] = &["src/numerics", "src/experiments"];

fn main() {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in HASHED {
        println!("cargo:rerun-if-changed={dir}");
        collect(Path::new(dir), &mut files);
    }
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("build.rs: cannot read {}: {e}", f.display()));
        h.update(f.to_string_lossy().replace('\\', "/").as_bytes());
        h.update(b"\0");
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let hex: String = h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=WGF_SOURCE_HASH={hex}");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}
