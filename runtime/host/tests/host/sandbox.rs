//! A plugin gets only what its manifest grants: files, environment, secrets, HTTP hosts.

use std::sync::{Arc, Mutex};

use harmonia_host::{Host, TaskCall};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Dir;

async fn output(host: &Host, plugin: &str, action: &str, input: Value) -> Result<Value, harmonia_host::Failure> {
    host.invoke(TaskCall::new(plugin, action, input)).await.expect("call runs").output
}

#[tokio::test]
async fn files_only_with_a_dir_grant() {
    let docs = tempfile::tempdir().unwrap();
    let file = docs.path().join("note.txt");
    std::fs::write(&file, "hello from the host").unwrap();
    let path = file.to_string_lossy().into_owned();

    let dir = Dir::new();
    dir.add_bundled("core").add_bundled("ergon");
    let host = dir.host().await;
    let err = output(&host, "core", "read_file", json!({"path": path})).await.unwrap_err();
    assert_eq!(err.kind, "fatal", "{err}");
    let err = output(&host, "ergon", "extract_text_from_document", json!({"document_path": path})).await.unwrap_err();
    assert!(err.message.contains("note.txt"), "{err}");

    let grant = format!("[[dirs]]\nhost = {:?}\n", docs.path());
    dir.write("core.toml", grant.as_bytes()).write("ergon.toml", grant.as_bytes());
    let host = dir.host().await;
    let read = output(&host, "core", "read_file", json!({"path": path})).await.unwrap();
    assert_eq!(read["content"], "hello from the host");
    let text = output(&host, "ergon", "extract_text_from_document", json!({"document_path": path})).await.unwrap();
    assert_eq!(text["text"], "hello from the host");
    assert_eq!(text["words"], 4);
    // Only that directory: its parent stays out of reach.
    let outside = docs.path().parent().unwrap().to_string_lossy().into_owned();
    assert!(output(&host, "core", "read_file", json!({"path": format!("{outside}/x")})).await.is_err());
}

#[tokio::test]
async fn relative_paths_resolve_from_the_granted_working_directory() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("docs")).unwrap();
    std::fs::write(work.path().join("docs/plan.md"), "# Plan\n\nShip it today.\n").unwrap();
    let dir = Dir::new();
    dir.add_bundled("ergon").write("ergon.toml", b"[[dirs]]\nhost = \".\"\n");
    let mut config = dir.config();
    config.work_dir = work.path().to_path_buf();
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    let text =
        output(&host, "ergon", "extract_text_from_document", json!({"document_path": "docs/plan.md"})).await.unwrap();
    assert_eq!(text["text"], "# Plan\n\nShip it today.\n");
    assert_eq!(text["lines"], 3);
}

#[tokio::test]
async fn environment_only_as_granted() {
    let path_var = std::env::var("PATH").expect("PATH is set");
    let dir = Dir::new();
    dir.add_bundled("core");
    let host = dir.host().await;
    assert_eq!(output(&host, "core", "env", json!({"name": "PATH"})).await.unwrap()["value"], Value::Null);
    dir.write("core.toml", b"env = [\"PATH\"]\n");
    let host = dir.host().await;
    assert_eq!(output(&host, "core", "env", json!({"name": "PATH"})).await.unwrap()["value"], json!(path_var));
    assert_eq!(output(&host, "core", "env", json!({"name": "HOME"})).await.unwrap()["value"], Value::Null);
}

#[tokio::test]
async fn secrets_only_as_granted() {
    let dir = Dir::new();
    dir.add_bundled("core");
    let host_with = |manifest: &'static [u8]| {
        dir.write("core.toml", manifest);
        let mut config = dir.config();
        config.secrets.insert("api_token".into(), "s3cret".into());
        config.secrets.insert("other".into(), "nope".into());
        async move {
            let host = Host::new(config).unwrap();
            host.load_all().await.unwrap();
            host
        }
    };
    let host = host_with(b"").await;
    assert_eq!(output(&host, "core", "secret", json!({"name": "api_token"})).await.unwrap()["value"], Value::Null);
    let host = host_with(b"secrets = [\"api_token\"]\n").await;
    assert_eq!(output(&host, "core", "secret", json!({"name": "api_token"})).await.unwrap()["value"], "s3cret");
    assert_eq!(output(&host, "core", "secret", json!({"name": "other"})).await.unwrap()["value"], Value::Null);
}

/// A one-response-per-connection HTTP server on 127.0.0.1 that records request lines.
async fn local_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => len += n,
                }
            }
            let request = String::from_utf8_lossy(&buf[..len]).to_string();
            log.lock().unwrap().push(request.lines().next().unwrap_or_default().to_string());
            let body = "hello over http";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-test: yes\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (port, seen)
}

#[tokio::test]
async fn http_only_to_allowed_hosts() {
    let (port, seen) = local_server().await;
    let url = format!("http://127.0.0.1:{port}/hello?x=1");
    let dir = Dir::new();
    dir.add_bundled("http");
    let host = dir.host().await;
    let err = output(&host, "http", "request", json!({"url": url})).await.unwrap_err();
    assert_eq!(err.kind, "fatal", "{err}");
    assert_eq!(err.code.as_deref(), Some("forbidden"), "{err}");
    assert!(seen.lock().unwrap().is_empty(), "a denied request must not reach the server");

    dir.write("http.toml", format!("allowed_hosts = [\"127.0.0.1:{port}\"]\n").as_bytes());
    let host = dir.host().await;
    let response = output(&host, "http", "request", json!({"url": url})).await.unwrap();
    assert_eq!(response["status"], 200);
    assert_eq!(response["body"], "hello over http");
    assert_eq!(response["headers"]["x-test"], "yes");
    assert_eq!(seen.lock().unwrap().as_slice(), ["GET /hello?x=1 HTTP/1.1"]);
    // Another port on the same host is still out of bounds.
    let other = format!("http://127.0.0.1:{}/", if port == 65535 { 1 } else { port + 1 });
    let err = output(&host, "http", "request", json!({"url": other})).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("forbidden"), "{err}");
}

#[tokio::test]
async fn no_grant_exposes_a_protected_directory_or_the_compile_cache() {
    // A manifest that grants the directory holding the data directory (as the bundled
    // ergon's granted the working directory) could read other plugins' kv data from
    // RocksDB's files: such a plugin is refused, naming the grant; a sibling grant is fine.
    let root = tempfile::tempdir().unwrap();
    let (data, documents) = (root.path().join("data"), root.path().join("documents"));
    std::fs::create_dir_all(data.join("state")).unwrap();
    std::fs::create_dir_all(&documents).unwrap();
    let dir = Dir::new();
    dir.add_bundled("core")
        .write("core.toml", format!("[[dirs]]\nhost = {:?}\n", root.path()).as_bytes())
        .write("ergon.wasm", &crate::support::bundled("ergon"))
        .write("ergon.toml", format!("[[dirs]]\nhost = {:?}\n", documents).as_bytes());
    let mut config = dir.config();
    config.protected = vec![data.clone()];
    let cache = config.cache_dir.clone().unwrap();
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    let refused = host.failures().into_iter().find(|f| f.file.ends_with("core.wasm")).expect("core is refused");
    assert!(
        refused.reason.contains("would expose") && refused.reason.contains(&data.display().to_string()),
        "{}",
        refused.reason
    );
    assert!(host.plugin("ergon").is_some(), "a grant beside the data directory loads");

    // Inside it, and the compile cache itself, are refused the same way.
    for granted in [data.join("state"), cache] {
        dir.write("core.toml", format!("[[dirs]]\nhost = {granted:?}\n").as_bytes());
        let mut config = dir.config();
        config.protected = vec![data.clone()];
        let host = Host::new(config).unwrap();
        host.load_all().await.unwrap();
        assert!(host.plugin("core").is_none(), "a grant of {} was accepted", granted.display());
    }
}
