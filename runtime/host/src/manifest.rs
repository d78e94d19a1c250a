//! The `<plugin>.toml` manifest beside a `.wasm`: what the plugin is granted and its limits.
//!
//! With no manifest a plugin gets the defaults: no files, no network, no environment, no
//! secrets, 64 MiB of memory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::HostError;

/// Default memory limit per instance.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// Default per-call timeout when neither the caller nor the manifest gives one.
pub const DEFAULT_TIMEOUT_MS: u64 = 5 * 60 * 1000;

/// A plugin's grants and limits, read from `<name>.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Linear memory limit per instance, in MiB (default 64).
    pub memory_mb: Option<u64>,
    /// Default timeout of one call in milliseconds, when the task gives none.
    pub timeout_ms: Option<u64>,
    /// Instructions budget per call (needs `fuel` enabled in the host config).
    pub fuel: Option<u64>,
    /// How many calls of this plugin may run at once.
    pub max_concurrency: Option<u32>,
    /// How many calls one instance may serve (default 1: a fresh instance for every call).
    /// Above 1, a warm instance is kept after a call that ended without a trap and used
    /// again: much faster for large guests (Python, JavaScript), but memory and globals
    /// left by one call are seen by the next calls of the same plugin. Never shared
    /// between plugins.
    pub reuse_instance: Option<u32>,
    /// Hosts the plugin may reach over wasi:http: `host`, `host:port`, `*.domain`, `host:*`,
    /// optionally prefixed with `http://` or `https://`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Environment variables of the host passed through to the plugin, by name.
    #[serde(default)]
    pub env: Vec<String>,
    /// Secrets the plugin may read with `secret(name)`.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Directories of the host made visible inside the sandbox.
    #[serde(default)]
    pub dirs: Vec<DirGrant>,
    /// Lower the host's limits of what one call may produce (never raise them): bytes of
    /// output, log lines, events.
    pub max_output_bytes: Option<usize>,
    pub max_log_lines: Option<u32>,
    pub max_events: Option<u32>,
    /// Lowers the host's `max_kv_bytes` for this plugin.
    pub max_kv_bytes: Option<u64>,
}

/// One directory granted to a plugin.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// The directory on the host; a relative path is taken from the host's working directory.
    pub host: PathBuf,
    /// Where the plugin sees it; by default the same absolute path as on the host.
    pub guest: Option<String>,
    /// Whether the plugin may write (default: read-only).
    #[serde(default)]
    pub writable: bool,
}

/// `path` taken from `work_dir` if relative, canonical where it exists.
pub(crate) fn resolve(work_dir: &Path, path: &Path) -> PathBuf {
    let joined = work_dir.join(path);
    std::fs::canonicalize(&joined).unwrap_or(joined)
}

/// A directory grant resolved against the host's working directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedDir {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

impl Manifest {
    /// Reads the manifest at `path`; an error names the file, and the line and column.
    pub fn load(path: &Path) -> Result<Manifest, HostError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HostError::Manifest { file: path.to_path_buf(), message: e.to_string() })?;
        Self::parse(&text).map_err(|message| HostError::Manifest { file: path.to_path_buf(), message })
    }

    /// Parses manifest text; the error says where and what is wrong.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let position = e.span().map(|span| line_column(text, span.start));
            match position {
                Some((line, column)) => format!("line {line}, column {column}: {}", e.message()),
                None => e.message().to_string(),
            }
        })?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), String> {
        if self.memory_mb == Some(0) || self.memory_mb.is_some_and(|mb| mb > 4096) {
            return Err("memory_mb must be between 1 and 4096".into());
        }
        if self.max_concurrency == Some(0) {
            return Err("max_concurrency must be at least 1".into());
        }
        if self.reuse_instance == Some(0) {
            return Err("reuse_instance must be at least 1 (1: a fresh instance for every call)".into());
        }
        if self.timeout_ms == Some(0) {
            return Err("timeout_ms must be at least 1".into());
        }
        for pattern in &self.allowed_hosts {
            HostPattern::parse(pattern)?;
        }
        Ok(())
    }

    /// The memory limit in bytes.
    pub fn memory_limit_bytes(&self) -> u64 {
        self.memory_mb.unwrap_or(DEFAULT_MEMORY_MB) * 1024 * 1024
    }

    /// Directory grants with absolute host paths, relative ones taken from `work_dir`.
    pub fn resolved_dirs(&self, work_dir: &Path) -> Vec<ResolvedDir> {
        self.dirs
            .iter()
            .map(|d| {
                let host = resolve(work_dir, &d.host);
                let guest = d.guest.clone().unwrap_or_else(|| host.to_string_lossy().into_owned());
                ResolvedDir { host, guest, writable: d.writable }
            })
            .collect()
    }

    /// The compiled host patterns (validated when the manifest was parsed).
    pub fn host_patterns(&self) -> Vec<HostPattern> {
        self.allowed_hosts.iter().filter_map(|p| HostPattern::parse(p).ok()).collect()
    }

    /// What the manifest grants, in the words `plugin list` shows.
    pub fn grants(&self, work_dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for d in self.resolved_dirs(work_dir) {
            let mode = if d.writable { "rw" } else { "ro" };
            out.push(format!("fs-{mode}:{}", d.host.display()));
        }
        out.extend(self.allowed_hosts.iter().map(|h| format!("http:{h}")));
        out.extend(self.env.iter().map(|e| format!("env:{e}")));
        out.extend(self.secrets.iter().map(|s| format!("secret:{s}")));
        out
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// One entry of `allowed_hosts`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl HostPattern {
    /// Parses `[scheme://]host[:port]` where host may start with `*.` (or be `*`) and
    /// port may be `*`. Without a port, any port matches.
    pub fn parse(pattern: &str) -> Result<HostPattern, String> {
        let bad = |why: &str| format!("allowed_hosts entry {pattern:?}: {why}");
        let (scheme, rest) = match pattern.split_once("://") {
            Some((s, rest)) if s == "http" || s == "https" => (Some(s.to_string()), rest),
            Some(_) => return Err(bad("scheme must be http or https")),
            None => (None, pattern),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, "*")) => (h, None),
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad("port must be a number or *"))?)),
            None => (rest, None),
        };
        if host.is_empty() || host.contains('/') || host[1..].contains('*') {
            return Err(bad("expected host, host:port, *.domain or host:*"));
        }
        Ok(HostPattern { scheme, host: host.to_ascii_lowercase(), port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this pattern.
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let host_ok = match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == self.host,
        };
        host_ok && self.scheme.as_deref().is_none_or(|s| s == scheme) && self.port.is_none_or(|p| p == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(
            r#"
            memory_mb = 128
            timeout_ms = 1000
            max_concurrency = 4
            reuse_instance = 100
            allowed_hosts = ["api.example.com", "127.0.0.1:*"]
            env = ["LANG"]
            secrets = ["TOKEN"]
            [[dirs]]
            host = "."
            "#,
        )
        .unwrap();
        assert_eq!(m.memory_limit_bytes(), 128 << 20);
        assert_eq!(m.reuse_instance, Some(100));
        assert_eq!(m.dirs.len(), 1);
        assert!(!m.dirs[0].writable);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = Manifest::parse("memory_mb = 1\nallowed_host = []\n").unwrap_err();
        assert!(err.starts_with("line 2, column 1"), "{err}");
        assert!(err.contains("allowed_host"), "{err}");
    }

    #[test]
    fn host_patterns_match_as_documented() {
        let p = HostPattern::parse("127.0.0.1:*").unwrap();
        assert!(p.matches("http", "127.0.0.1", 8080));
        assert!(!p.matches("http", "127.0.0.2", 8080));
        let p = HostPattern::parse("*.example.com").unwrap();
        assert!(p.matches("https", "api.example.com", 443));
        assert!(!p.matches("https", "example.com", 443));
        assert!(!p.matches("https", "evil-example.com", 443));
        let p = HostPattern::parse("https://api.example.com:8443").unwrap();
        assert!(p.matches("https", "API.example.com", 8443));
        assert!(!p.matches("http", "api.example.com", 8443));
        assert!(!p.matches("https", "api.example.com", 443));
        assert!(HostPattern::parse("ftp://x").is_err());
        assert!(HostPattern::parse("a.*.com").is_err());
    }
}
