//! `ergon`: extracts text from documents.
//!
//! Reads plain text and Markdown (returned as written, not rendered) and any other UTF-8
//! text file through `std::fs`. The plugin sees only the directories its manifest grants;
//! the host mounts them at their real absolute paths and sets `PWD` to the directory
//! Harmonia runs in, so a relative `document_path` is read relative to that.

use std::io::{ErrorKind as Io, Read};
use std::path::{Path, PathBuf};

use harmonia_sdk::prelude::*;

/// Documents larger than this are refused rather than read into the instance's memory.
const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;

/// The plugin.
pub struct Ergon;

impl Plugin for Ergon {
    fn info() -> PluginInfo {
        PluginInfo::new("ergon", env!("CARGO_PKG_VERSION"), "Extracts text from documents").capability("fs-read")
    }

    fn actions() -> Actions {
        Actions::new()
            .action(
                "extract_text_from_document",
                "Reads a UTF-8 text or Markdown document and returns its text with counts",
                extract_text_from_document,
            )
            .input_schema(json!({
                "type": "object",
                "required": ["document_path"],
                "properties": { "document_path": { "type": "string" } }
            }))
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "text": { "type": "string" },
                    "characters": { "type": "integer" },
                    "words": { "type": "integer" },
                    "lines": { "type": "integer" },
                    "path": { "type": "string" },
                    "format": { "enum": ["text", "markdown"] }
                }
            }))
    }
}

harmonia_sdk::export!(Ergon);

/// Input of `extract_text_from_document`.
#[derive(Debug, Deserialize)]
pub struct Input {
    /// Absolute, or relative to the directory Harmonia runs in.
    pub document_path: String,
}

/// Output of `extract_text_from_document`.
#[derive(Debug, PartialEq, Serialize)]
pub struct Output {
    /// The document's text (a leading byte-order mark removed).
    pub text: String,
    /// Unicode scalar values in `text`.
    pub characters: usize,
    /// Whitespace-separated words in `text`.
    pub words: usize,
    /// Lines in `text`.
    pub lines: usize,
    /// The path that was read, after resolving a relative one.
    pub path: String,
    /// `markdown` for `.md`/`.markdown` files, `text` otherwise.
    pub format: &'static str,
}

fn extract_text_from_document(_: &Context, input: Input) -> Result<Output, TaskError> {
    if input.document_path.trim().is_empty() {
        return Err(TaskError::invalid_input("document_path is empty"));
    }
    let path = resolve(&input.document_path, std::env::var("PWD").ok().as_deref());
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
    let size = file.metadata().map_err(|e| io_error(&path, e))?.len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(TaskError::invalid_input(format_args!(
            "document `{shown}` is {size} bytes; at most {MAX_DOCUMENT_BYTES} are read"
        ))
        .with_code("too-large"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(|e| io_error(&path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        TaskError::invalid_input(format_args!(
            "document `{shown}` is not UTF-8 text (invalid byte at offset {}); only text and Markdown files are supported",
            e.utf8_error().valid_up_to()
        ))
        .with_code("not-utf8")
    })?;
    Ok(describe_text(text, shown))
}

/// Joins a relative path onto `pwd` (the directory Harmonia runs in), if known.
fn resolve(document_path: &str, pwd: Option<&str>) -> PathBuf {
    let path = Path::new(document_path);
    match pwd {
        Some(pwd) if path.is_relative() && !pwd.is_empty() => Path::new(pwd).join(path),
        _ => path.to_path_buf(),
    }
}

/// A missing file is the caller's mistake (invalid input); a denied one is the
/// configuration's (fatal, code `forbidden`); anything else is fatal too.
fn io_error(path: &Path, err: std::io::Error) -> TaskError {
    // WASI's "capabilities insufficient" errno.
    const ENOTCAPABLE: i32 = 76;
    let shown = path.display();
    let message = err.to_string();
    let denied = err.kind() == Io::PermissionDenied
        || err.raw_os_error() == Some(ENOTCAPABLE)
        || message.contains("pre-opened")
        // Outside every granted directory WASI reports "not found": tell the two apart.
        || (err.kind() == Io::NotFound && !sandbox::may_read(path));
    if denied {
        return TaskError::fatal(format_args!(
            "access to `{shown}` denied: it is outside the directories granted to ergon ({}); grant its directory in ergon's manifest",
            sandbox::granted()
        ))
        .with_code("forbidden");
    }
    match err.kind() {
        Io::NotFound => {
            TaskError::invalid_input(format_args!("document `{shown}` not found: {message}")).with_code("not-found")
        }
        Io::IsADirectory | Io::NotADirectory | Io::InvalidInput | Io::InvalidFilename => {
            TaskError::invalid_input(format_args!("document `{shown}` is not a readable file: {message}"))
                .with_code("not-a-file")
        }
        _ => TaskError::fatal(format_args!("cannot read document `{shown}`: {message}")).with_code("io-error"),
    }
}

/// The directories the host granted (WASI preopens).
#[cfg(target_arch = "wasm32")]
mod sandbox {
    use std::path::{Component, Path, PathBuf};

    fn preopens() -> Vec<String> {
        wasip2::filesystem::preopens::get_directories().into_iter().map(|(_, path)| path).collect()
    }

    /// Whether `path` may lie inside a granted directory: nothing can when none is
    /// granted; a relative path cannot be judged otherwise and is assumed to.
    pub fn may_read(path: &Path) -> bool {
        let dirs = preopens();
        if path.is_relative() {
            return !dirs.is_empty();
        }
        let path = normalize(path);
        dirs.iter().any(|dir| path.starts_with(normalize(Path::new(dir))))
    }

    /// The granted directories, for messages.
    pub fn granted() -> String {
        let dirs = preopens();
        if dirs.is_empty() {
            "none are granted".to_owned()
        } else {
            format!("granted: {}", dirs.join(", "))
        }
    }

    /// Resolves `.` and `..` without touching the file system.
    fn normalize(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for part in path.components() {
            match part {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }
}

/// Outside a component (unit tests) there is no sandbox.
#[cfg(not(target_arch = "wasm32"))]
mod sandbox {
    pub fn may_read(_: &std::path::Path) -> bool {
        true
    }
    pub fn granted() -> String {
        "no sandbox".to_owned()
    }
}

fn describe_text(text: String, path: String) -> Output {
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    };
    let lower = path.to_ascii_lowercase();
    let format = if lower.ends_with(".md") || lower.ends_with(".markdown") { "markdown" } else { "text" };
    Output {
        characters: text.chars().count(),
        words: text.split_whitespace().count(),
        lines: text.lines().count(),
        text,
        path,
        format,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harmonia_sdk::testing;

    #[test]
    fn relative_paths_join_pwd() {
        assert_eq!(resolve("docs/a.txt", Some("/srv/h")), PathBuf::from("/srv/h/docs/a.txt"));
        assert_eq!(resolve("/abs/a.txt", Some("/srv/h")), PathBuf::from("/abs/a.txt"));
        assert_eq!(resolve("a.txt", None), PathBuf::from("a.txt"));
        assert_eq!(resolve("a.txt", Some("")), PathBuf::from("a.txt"));
    }

    #[test]
    fn counts_and_format() {
        let out = describe_text("\u{feff}# Title\n\nHello wörld\n".to_owned(), "/x/README.MD".to_owned());
        assert_eq!(out.text, "# Title\n\nHello wörld\n");
        assert_eq!((out.characters, out.words, out.lines, out.format), (21, 4, 3, "markdown"));
        assert_eq!(describe_text(String::new(), "a.txt".to_owned()).format, "text");
    }

    #[test]
    fn reads_a_real_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let out = testing::call::<Ergon>("extract_text_from_document", json!({ "document_path": path })).unwrap();
        assert!(out["text"].as_str().unwrap().contains("name = \"ergon\""));
        assert_eq!(out["path"], path);
    }

    #[test]
    fn missing_file_is_invalid_input_naming_the_path() {
        let err = testing::call::<Ergon>("extract_text_from_document", json!({ "document_path": "/no/such/doc.txt" }))
            .unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::InvalidInput, Some("not-found")));
        assert!(err.message().contains("/no/such/doc.txt"), "{err}");
    }

    #[test]
    fn binary_file_is_invalid_input() {
        let path = std::env::temp_dir().join(format!("ergon-test-{}.bin", std::process::id()));
        std::fs::write(&path, [b'o', b'k', 0xff, 0xfe]).unwrap();
        let err = testing::call::<Ergon>("extract_text_from_document", json!({ "document_path": path })).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((err.kind(), err.code()), (ErrorKind::InvalidInput, Some("not-utf8")));
        assert!(err.message().contains("offset 2"), "{err}");
    }

    #[test]
    fn denied_access_is_fatal() {
        let err = io_error(Path::new("/secret"), std::io::Error::from(Io::PermissionDenied));
        assert_eq!((err.kind(), err.code()), (ErrorKind::Fatal, Some("forbidden")));
        assert!(err.message().contains("/secret"));
    }
}
