//! `harmonia-c`: the two steps of a C plugin build that need the component-model tools.
//!
//! ```text
//! harmonia-c bindings <wit-dir> <out-dir> [--world adapter]
//!     C bindings for the world (wit-bindgen-c): <world>.h, <world>.c and
//!     <world>_component_type.o, the object that carries the world's type into the link.
//! harmonia-c component <core.wasm> -o <out.wasm>
//!     Turns the module clang linked into a component; a module that imports WASI
//!     preview 1 (wasi-libc) gets the preview-1 reactor adapter.
//! ```
//!
//! One small binary built from crates.io in about a minute, instead of `cargo install`ing
//! wit-bindgen-cli and wasm-tools (about 14 minutes together on two cores).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

const USAGE: &str = "usage:
  harmonia-c bindings <wit-dir> <out-dir> [--world <name>]
  harmonia-c component <core.wasm> -o <out.wasm>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harmonia-c: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => bail!("no command given\n{USAGE}"),
    };
    let mut positional = Vec::new();
    let mut world = "adapter".to_string();
    let mut output: Option<PathBuf> = None;
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--world" => world = it.next().context("--world needs a name")?.clone(),
            "-o" | "--output" => output = Some(it.next().context("-o needs a path")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            a if a.starts_with('-') => bail!("unknown option `{a}`\n{USAGE}"),
            a => positional.push(PathBuf::from(a)),
        }
    }
    match (command, positional.as_slice(), output) {
        ("bindings", [wit, out], None) => bindings(wit, out, &world),
        ("component", [module], Some(out)) => component(module, &out),
        ("-h" | "--help" | "help", [], None) => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("bad arguments\n{USAGE}"),
    }
}

/// Writes the C bindings of `world` from the WIT package in `wit` into `out`.
fn bindings(wit: &Path, out: &Path, world: &str) -> Result<()> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_path(wit)?;
    let world = resolve.select_world(&[package], Some(world))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        // Leave unchanged files alone so that make-like tools and caches see no change.
        if std::fs::read(&path).ok().as_deref() != Some(contents) {
            std::fs::write(&path, contents)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// Encodes the core module at `module` (with its component-type section) as a component.
fn component(module: &Path, out: &Path) -> Result<()> {
    let bytes =
        std::fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.module(&bytes)?.validate(true);
    if imports_module(&bytes, WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME)? {
        encoder.adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?;
    }
    let component = encoder
        .encode()
        .with_context(|| format!("cannot make a component of {}", module.display()))?;
    let tmp = out.with_extension("wasm.tmp");
    std::fs::write(&tmp, component).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// Whether the core module imports anything from the module called `name`.
fn imports_module(bytes: &[u8], name: &str) -> Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::ImportSection(section) = payload? {
            for import in section.into_imports() {
                if import?.module == name {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}
