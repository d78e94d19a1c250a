//! Finds the console's graph layout libraries, which `scripts/build-console.sh` (run by
//! the set-up) installs from the npm registry into `target/console/vendor/`, and hands them
//! to the crate to embed. Without them the crate still builds: the console then says how
//! to get them, instead of drawing graphs.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { manifest.join("../..").join(t) })
        .unwrap_or_else(|| manifest.join("../../target"));
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for library in ["dagre.esm.js", "d3-dag.esm.js"] {
        let vendored = target.join("console/vendor").join(library);
        println!("cargo:rerun-if-changed={}", vendored.display());
        let script = std::fs::read(&vendored).unwrap_or_else(|_| {
            println!("cargo:warning=the console's graph library is missing ({}): run scripts/setup.sh", vendored.display());
            b"throw new Error('the graph layout library was not built: run scripts/setup.sh (scripts/build-console.sh)');\n"
                .to_vec()
        });
        std::fs::write(out_dir.join(library), script).expect("write to OUT_DIR");
    }
}
