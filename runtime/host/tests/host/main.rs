//! The component host with real components: the bundled plugins built from `plugins/`, and
//! WAT fixtures for misbehaving ones. One test binary, so wasmtime is linked once.

mod adapters;
mod embed;
mod lang_c;
mod lang_js;
mod lang_python;
mod limits;
mod loading;
mod reuse;
mod sandbox;
mod support;
mod wat;
