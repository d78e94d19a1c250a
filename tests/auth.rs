//! Authentication, access control and the audit log, end to end: the real binary
//! (`harmonia token ...` and `harmonia serve` on an ephemeral port) driven with a real HTTP
//! client. Roles: viewer reads, operator also runs and controls executions, admin does
//! everything (tokens, audit log).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

use crate::support::{Launch, Server, create_token, expect, fill, harmonia, operations, probe, with};

/// `harmonia token ARGS --data DATA`.
fn token_cmd(data: &Path, args: &[&str]) -> Output {
    let mut full = vec!["token"];
    full.extend_from_slice(args);
    harmonia(&full, data).output().unwrap()
}

/// A workflows directory with `slow` (sleeps `ms`, 5 s by default) and `echo`.
fn workflows() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let slow = r#"
name: slow
version: 1
input:
  ms: { type: integer, default: 5000 }
tasks:
  wait: { component: core, action: sleep, input: { ms: "${input.ms}" } }
output: "${input.ms}"
"#;
    let echo = r#"
name: echo
version: 1
input:
  text: { type: string, default: hello }
tasks:
  say: { component: core, action: echo, input: { text: "${input.text}" } }
output: "${tasks.say.output.text}"
"#;
    std::fs::write(dir.path().join("slow.yaml"), slow).unwrap();
    std::fs::write(dir.path().join("echo.yaml"), echo).unwrap();
    dir
}

/// `harmonia serve` on `listen` with more flags.
fn serve(data: &Path, workflows: &Path, listen: &str, args: &[&str]) -> Server {
    Server::launch(Launch { listen, args, ..Launch::new(data, workflows) })
}

fn start_slow(http: &Client, server: &Server, token: Option<&str>) -> Response {
    with(http.post(server.url("/api/v1/workflows/slow/executions")), token).json(&json!({})).send().unwrap()
}

/// The audit log as admin: every entry.
fn audit(http: &Client, server: &Server, admin: Option<&str>) -> Vec<Value> {
    let body = expect(with(http.get(server.url("/api/v1/audit?limit=1000")), admin).send().unwrap(), 200, None);
    body["entries"].as_array().unwrap().clone()
}

#[test]
fn the_cli_creates_lists_and_revokes_tokens_and_shows_a_secret_once() {
    let data = tempfile::tempdir().unwrap();
    let secret = create_token(data.path(), "admin", "alice");
    assert!(secret.starts_with("hm_") && secret.len() == 67, "{secret}");
    let other = create_token(data.path(), "viewer", "dashboard");
    assert_ne!(secret, other);

    let list = token_cmd(data.path(), &["list"]);
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(rows[0][..2], ["alice", "admin"]);
    assert_eq!(rows[1][..2], ["dashboard", "viewer"]);
    assert!(rows[0][2].ends_with('Z'), "{list}");
    assert!(!list.contains(&secret[3..]) && !list.contains(&other[3..]), "{list}");

    // The secret is nowhere in the data directory, only its hash.
    let mut stack = vec![data.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(!bytes.windows(64).any(|w| w == &secret.as_bytes()[3..]), "secret in {}", path.display());
            }
        }
    }

    let again = token_cmd(data.path(), &["create", "--role", "viewer", "--name", "alice"]);
    assert!(!again.status.success() && again.stdout.is_empty());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let bad_role = token_cmd(data.path(), &["create", "--role", "root", "--name", "bob"]);
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("expected admin, operator or viewer"));
    let bad_name = token_cmd(data.path(), &["create", "--role", "viewer", "--name", "a/b"]);
    assert!(!bad_name.status.success());

    assert!(token_cmd(data.path(), &["revoke", "dashboard"]).status.success());
    let gone = token_cmd(data.path(), &["revoke", "dashboard"]);
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("no token named"));
    let list = String::from_utf8(token_cmd(data.path(), &["list"]).stdout).unwrap();
    assert_eq!(list.lines().count(), 1, "{list}");
}

#[test]
fn each_role_may_do_what_it_should_and_no_more() {
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let admin = create_token(data.path(), "admin", "root");
    let operator = create_token(data.path(), "operator", "ops");
    let viewer = create_token(data.path(), "viewer", "dash");
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    assert!(server.stderr().contains("auth: 3 tokens"), "{}", server.stderr());
    let http = Client::new();
    let (a, o, v) = (Some(admin.as_str()), Some(operator.as_str()), Some(viewer.as_str()));

    // Open to probes, closed to everything else without a known token.
    expect(http.get(server.url("/health")).send().unwrap(), 200, None);
    expect(http.post(server.url("/health")).send().unwrap(), 401, Some("unauthorized"));
    expect(http.get(server.url("/api/v1/workflows")).send().unwrap(), 401, Some("unauthorized"));
    let wrong = format!("hm_{}", "0".repeat(64));
    expect(with(http.get(server.url("/api/v1/workflows")), Some(&wrong)).send().unwrap(), 401, Some("unauthorized"));
    expect(
        http.get(server.url("/api/v1/workflows")).header("authorization", "Basic cm9vdA==").send().unwrap(),
        401,
        Some("unauthorized"),
    );
    expect(start_slow(&http, &server, None), 401, Some("unauthorized"));
    expect(start_slow(&http, &server, Some(&wrong)), 401, Some("unauthorized"));
    for token in [v, o, a] {
        let body = expect(with(http.get(server.url("/api/v1/workflows")), token).send().unwrap(), 200, None);
        assert_eq!(body["workflows"].as_array().unwrap().len(), 2, "{body}");
    }

    // Starting an execution: operator and admin.
    let refused = expect(start_slow(&http, &server, v), 403, Some("forbidden"));
    assert!(refused["error"]["message"].as_str().unwrap().contains("operator"), "{refused}");
    let id = expect(start_slow(&http, &server, o), 201, None)["id"].as_str().unwrap().to_string();
    let admins = expect(start_slow(&http, &server, a), 201, None)["id"].as_str().unwrap().to_string();
    for token in [v, o, a] {
        let exec =
            expect(with(http.get(server.url(&format!("/api/v1/executions/{id}"))), token).send().unwrap(), 200, None);
        assert_eq!(exec["id"], id.as_str());
    }

    // Controlling one: operator and admin.
    let pause = |token: Option<&str>| {
        with(http.post(server.url(&format!("/api/v1/executions/{id}/pause"))), token).send().unwrap()
    };
    expect(pause(v), 403, Some("forbidden"));
    expect(pause(None), 401, Some("unauthorized"));
    let paused = expect(pause(o), 202, None);
    assert_eq!(paused["id"], id.as_str());
    for (run, token) in [(&id, o), (&admins, a)] {
        let cancel = with(http.post(server.url(&format!("/api/v1/executions/{run}/cancel"))), token).send().unwrap();
        expect(cancel, 202, None);
    }

    // The audit log and the tokens: admin only.
    for path in ["/api/v1/audit", "/api/v1/tokens"] {
        expect(with(http.get(server.url(path)), v).send().unwrap(), 403, Some("forbidden"));
        expect(with(http.get(server.url(path)), o).send().unwrap(), 403, Some("forbidden"));
        expect(http.get(server.url(path)).send().unwrap(), 401, Some("unauthorized"));
        expect(with(http.get(server.url(path)), a).send().unwrap(), 200, None);
    }
    let listed = expect(with(http.get(server.url("/api/v1/tokens")), a).send().unwrap(), 200, None);
    let names: Vec<&str> = listed["tokens"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dash", "ops", "root"]);
    let text = listed.to_string();
    assert!(!text.contains(&admin[3..]) && !text.contains("sha256") && !text.contains("hm_"), "{text}");

    // Tokens through the API (the CLI cannot write beside the server): seen at once.
    let create = |token: Option<&str>, body: Value| {
        with(http.post(server.url("/api/v1/tokens")), token).json(&body).send().unwrap()
    };
    expect(create(o, json!({"name": "ci", "role": "operator"})), 403, Some("forbidden"));
    expect(create(v, json!({"name": "ci", "role": "operator"})), 403, Some("forbidden"));
    expect(create(a, json!({"name": "root", "role": "viewer"})), 409, Some("exists"));
    expect(create(a, json!({"name": "ci", "role": "root"})), 400, Some("bad_request"));
    expect(create(a, json!({"name": "a b", "role": "viewer"})), 400, Some("invalid_name"));
    let made = expect(create(a, json!({"name": "ci", "role": "operator"})), 201, None);
    assert_eq!((made["name"].as_str(), made["role"].as_str()), (Some("ci"), Some("operator")));
    let ci = made["token"].as_str().unwrap().to_string();
    let ci_run = expect(start_slow(&http, &server, Some(&ci)), 201, None)["id"].as_str().unwrap().to_string();
    expect(
        with(http.post(server.url(&format!("/api/v1/executions/{ci_run}/cancel"))), Some(&ci)).send().unwrap(),
        202,
        None,
    );

    let cli = token_cmd(data.path(), &["create", "--role", "viewer", "--name", "late"]);
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(!cli.status.success() && stderr.contains("in use") && stderr.contains("POST /api/v1/tokens"), "{stderr}");
    let listed = String::from_utf8(token_cmd(data.path(), &["list"]).stdout).unwrap();
    assert!(listed.lines().any(|l| l.starts_with("ci\toperator\t")), "listed beside the server: {listed}");
    assert!(!listed.contains(&ci[3..]));

    let revoke = |token: Option<&str>, name: &str| {
        with(http.delete(server.url(&format!("/api/v1/tokens/{name}"))), token).send().unwrap()
    };
    expect(revoke(o, "ci"), 403, Some("forbidden"));
    expect(revoke(a, "nobody"), 404, Some("unknown_token"));
    expect(revoke(a, "ci"), 200, None);
    expect(with(http.get(server.url("/api/v1/workflows")), Some(&ci)).send().unwrap(), 401, Some("unauthorized"));

    // Other changes are admin-only, whatever the route: refused before it is looked up.
    let removal = with(http.delete(server.url("/api/v1/workflows/echo")), o).send().unwrap();
    expect(removal, 403, Some("forbidden"));
    let definition = "name: added\nversion: 1\ntasks:\n  say: { component: core, action: echo, input: { text: hi } }\n";
    let publish = |token: Option<&str>| {
        let request = http.post(server.url("/api/v1/workflows")).header("content-type", "application/yaml");
        with(request, token).body(definition).send().unwrap()
    };
    expect(publish(v), 403, Some("forbidden"));
    expect(publish(o), 403, Some("forbidden"));
    // What the route makes of it is its own business: the admin gets past the guard.
    let status = publish(a).status().as_u16();
    assert!(status != 401 && status != 403, "{status}");

    // The refused start created nothing: three executions in all, no more.
    let list = harmonia(&["exec", "list"], data.path()).output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert_eq!(list.lines().count(), 3, "{list}");
    let entries = audit(&http, &server, a);
    let refused_start =
        entries.iter().find(|e| e["who"] == "dash" && e["path"] == "/api/v1/workflows/slow/executions").unwrap();
    assert_eq!((refused_start["status"].as_u64(), refused_start["result"].as_str()), (Some(403), Some("forbidden")));
    server.stop();
}

#[test]
fn the_audit_log_records_every_change_durably_and_only_admins_read_it() {
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let admin = create_token(data.path(), "admin", "root");
    let viewer = create_token(data.path(), "viewer", "dash");
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    let http = Client::new();
    let (a, v) = (Some(admin.as_str()), Some(viewer.as_str()));
    let echo = |token: Option<&str>, body: Value| {
        with(http.post(server.url("/api/v1/workflows/echo/executions?wait=10s")), token).json(&body).send().unwrap()
    };

    let done = expect(echo(a, json!({"input": {"text": "audited"}})), 200, None);
    assert_eq!(done["output"], "audited", "{done}");
    expect(echo(v, json!({})), 403, Some("forbidden"));
    expect(echo(None, json!({})), 401, Some("unauthorized"));
    expect(echo(Some("hm_guess"), json!({})), 401, Some("unauthorized"));
    expect(
        with(http.post(server.url("/api/v1/workflows/nope/executions")), a).json(&json!({})).send().unwrap(),
        404,
        Some("unknown_workflow"),
    );
    expect(echo(a, json!({"input": {"text": 3}})), 400, Some("invalid_input"));
    // Reads are not recorded.
    expect(with(http.get(server.url("/api/v1/workflows")), v).send().unwrap(), 200, None);
    expect(with(http.get(server.url("/api/v1/audit")), v).send().unwrap(), 403, Some("forbidden"));

    let entries = audit(&http, &server, a);
    let summary: Vec<(String, String, String, u64, String)> = entries
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("who"), s("method"), s("path"), e["status"].as_u64().unwrap(), s("result"))
        })
        .collect();
    let path = "/api/v1/workflows/echo/executions?wait=10s".to_string();
    let cli =
        |name: &str| ("cli".to_string(), "CLI".to_string(), "harmonia token create".to_string(), 201, name.to_string());
    let expected = vec![
        cli("ok"),
        cli("ok"),
        ("root".into(), "POST".into(), path.clone(), 200, "ok".into()),
        ("dash".into(), "POST".into(), path.clone(), 403, "forbidden".into()),
        ("unauthenticated".into(), "POST".into(), path.clone(), 401, "unauthorized".into()),
        ("unauthenticated".into(), "POST".into(), path.clone(), 401, "unauthorized".into()),
        ("root".into(), "POST".into(), "/api/v1/workflows/nope/executions".into(), 404, "unknown_workflow".into()),
        ("root".into(), "POST".into(), path.clone(), 400, "invalid_input".into()),
    ];
    assert_eq!(summary, expected);
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(entries[0]["details"], json!({ "token": "root", "role": "admin" }), "the CLI's tokens are recorded");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(entries.iter().all(|e| e["at"].as_u64().is_some_and(|at| at <= now && now - at < 120_000)));
    // Neither secrets nor bodies (queries are kept: `?force=true` says what a DELETE did).
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&admin[3..]) && !text.contains("hm_") && !text.contains("audited"), "{text}");

    // Pages, oldest first.
    let page = expect(with(http.get(server.url("/api/v1/audit?limit=4")), a).send().unwrap(), 200, None);
    assert_eq!(page["entries"].as_array().unwrap().len(), 4);
    assert_eq!(page["next"], 4);
    let rest = expect(with(http.get(server.url("/api/v1/audit?after=4&limit=10")), a).send().unwrap(), 200, None);
    let rest_seqs: Vec<u64> = rest["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!((rest_seqs, rest["next"].clone()), (vec![5, 6, 7, 8], Value::Null));
    expect(with(http.get(server.url("/api/v1/audit?after=x")), a).send().unwrap(), 400, Some("bad_request"));

    // Durable: the same log after a restart, continued from where it was.
    server.stop();
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    assert_eq!(audit(&http, &server, a), entries);
    let again =
        with(http.post(server.url("/api/v1/workflows/echo/executions?wait=10s")), a).json(&json!({})).send().unwrap();
    expect(again, 200, None);
    let after = audit(&http, &server, a);
    assert_eq!(after.len(), 9);
    assert_eq!((after[8]["seq"].as_u64(), after[8]["who"].as_str()), (Some(9), Some("root")));
    server.stop();
}

#[test]
fn without_tokens_loopback_is_open_until_the_first_token() {
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    assert!(server.stderr().contains("auth: none (loopback only)"), "{}", server.stderr());
    let http = Client::new();
    expect(http.get(server.url("/api/v1/workflows")).send().unwrap(), 200, None);
    let run = http.post(server.url("/api/v1/workflows/echo/executions?wait=10s")).json(&json!({})).send().unwrap();
    assert_eq!(expect(run, 200, None)["output"], "hello");
    let entries = audit(&http, &server, None);
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0]["who"].as_str(), entries[0]["status"].as_u64()), (Some("anonymous"), Some(200)));

    // The first token closes the server at once.
    let made = expect(
        http.post(server.url("/api/v1/tokens")).json(&json!({"name": "first", "role": "admin"})).send().unwrap(),
        201,
        None,
    );
    let first = made["token"].as_str().unwrap().to_string();
    expect(http.get(server.url("/api/v1/workflows")).send().unwrap(), 401, Some("unauthorized"));
    expect(with(http.get(server.url("/api/v1/workflows")), Some(&first)).send().unwrap(), 200, None);
    let entries = audit(&http, &server, Some(&first));
    assert_eq!(entries[1]["path"], "/api/v1/tokens");
    assert_eq!(entries[1]["who"], "anonymous");
    server.stop();
}

#[test]
fn a_public_address_needs_a_token_or_insecure() {
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let out = harmonia(&["serve", "--listen", "0.0.0.0:0"], data.path())
        .arg("--workflows")
        .arg(flows.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0")
            && stderr.contains("harmonia token create")
            && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(!data.path().join("state").exists(), "a refused start creates nothing");

    // --insecure: open, as asked.
    let insecure = serve(data.path(), flows.path(), "0.0.0.0:0", &["--insecure"]);
    assert!(insecure.stderr().contains("auth: none (--insecure"), "{}", insecure.stderr());
    expect(Client::new().get(insecure.url("/api/v1/workflows")).send().unwrap(), 200, None);
    insecure.stop();

    // A store without tokens is refused too.
    let out = harmonia(&["serve", "--listen", "0.0.0.0:0"], data.path())
        .arg("--workflows")
        .arg(flows.path())
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("refusing to listen"));

    let admin = create_token(data.path(), "admin", "root");
    let server = serve(data.path(), flows.path(), "0.0.0.0:0", &[]);
    assert!(server.stderr().contains("auth: 1 tokens"), "{}", server.stderr());
    let http = Client::new();
    expect(http.get(server.url("/health")).send().unwrap(), 200, None);
    expect(http.get(server.url("/api/v1/workflows")).send().unwrap(), 401, Some("unauthorized"));
    expect(with(http.get(server.url("/api/v1/workflows")), Some(&admin)).send().unwrap(), 200, None);

    // Revoking the last token does not open a public server: nobody gets in until restarted
    // with a new token.
    expect(with(http.delete(server.url("/api/v1/tokens/root")), Some(&admin)).send().unwrap(), 200, None);
    expect(http.get(server.url("/api/v1/workflows")).send().unwrap(), 401, Some("unauthorized"));
    expect(with(http.get(server.url("/api/v1/workflows")), Some(&admin)).send().unwrap(), 401, Some("unauthorized"));
    server.stop();
}

#[test]
fn over_the_websocket_a_viewer_may_watch_but_not_start_or_control() {
    use tungstenite::Message;
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let viewer = create_token(data.path(), "viewer", "dash");
    let operator = create_token(data.path(), "operator", "ops");
    let admin = create_token(data.path(), "admin", "root");
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    let connect = |token: Option<&str>| {
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(
            server.url("/api/v1/ws").replace("http://", "ws://"),
        )
        .unwrap();
        if let Some(token) = token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        tungstenite::connect(request)
    };
    assert!(connect(None).is_err(), "no token: the upgrade is refused (401)");
    let ask = |socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
               request: Value|
     -> Value {
        socket.send(Message::Text(request.to_string().into())).unwrap();
        loop {
            if let Message::Text(text) = socket.read().unwrap() {
                return serde_json::from_str(&text).unwrap();
            }
        }
    };
    let (mut watcher, _) = connect(Some(&viewer)).unwrap();
    assert_eq!(ask(&mut watcher, json!({"op": "subscribe", "id": "w"}))["op"], "subscribed");
    let refused = ask(&mut watcher, json!({"op": "start", "workflow": "echo", "ref": 1}));
    assert_eq!(
        (refused["op"].as_str(), refused["error"]["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{refused}"
    );
    let (mut ops, _) = connect(Some(&operator)).unwrap();
    let started = ask(&mut ops, json!({"op": "start", "workflow": "echo", "ref": 2}));
    assert_eq!(started["op"], "started", "{started}");
    // The viewer sees the operator's execution run.
    let seen = loop {
        if let Message::Text(text) = watcher.read().unwrap() {
            break serde_json::from_str::<Value>(&text).unwrap();
        }
    };
    assert_eq!((seen["op"].as_str(), seen["execution"].as_str()), (Some("event"), started["id"].as_str()), "{seen}");
    let audit = audit(&Client::new(), &server, Some(&admin));
    assert!(audit.iter().any(|e| e["who"] == "dash" && e["result"] == "forbidden"), "{audit:?}");
    assert!(audit.iter().any(|e| e["who"] == "ops" && e["result"] == "ok"), "{audit:?}");
}

/// Each role's rank: a token may do what needs its rank or less.
fn rank(role: &str) -> u8 {
    match role {
        "none" | "signature" => 0, // a webhook's handler checks its signature
        "viewer" => 1,
        "operator" => 2,
        "admin" => 3,
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn every_route_refuses_the_roles_below_its_own_and_every_change_is_audited() {
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let tokens = [("dash", "viewer"), ("ops", "operator"), ("root", "admin")]
        .map(|(name, role)| (name, role, create_token(data.path(), role, name)));
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    let http = Client::new();
    let admin = Some(tokens[2].2.as_str());
    expect(http.get(server.url("/api/v1/openapi.json")).send().unwrap(), 401, Some("unauthorized"));
    let doc = expect(with(http.get(server.url("/api/v1/openapi.json")), admin).send().unwrap(), 200, None);
    let ops = operations(&doc);
    // The roles the document claims are the ones a user is promised.
    let role_of = |method: &str, path: &str| {
        let op = ops
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .unwrap_or_else(|| panic!("{method} {path} not documented"));
        op.2["x-required-role"].as_str().unwrap().to_string()
    };
    for (method, path, role) in [
        ("GET", "/health", "none"),
        ("GET", "/api/v1/executions", "viewer"),
        ("GET", "/api/v1/events/stream", "viewer"),
        ("POST", "/api/v1/workflows/{name}/executions", "operator"),
        ("POST", "/api/v1/executions/{id}/cancel", "operator"),
        ("POST", "/api/v1/executions/{id}/vars", "operator"),
        ("POST", "/api/v1/workflows", "admin"),
        ("DELETE", "/api/v1/workflows/{name}", "admin"),
        ("GET", "/api/v1/audit", "admin"),
        ("POST", "/api/v1/tokens", "admin"),
    ] {
        assert_eq!(role_of(method, path), role, "{method} {path}");
    }

    // Every operation, by every caller: refused below its role (401 without a token, 403
    // with a lesser one), let through at or above it.
    let mut changes = Vec::new();
    // Refused requests without a token are recorded one by one up to 20 a second (past
    // that they are counted: audit::REFUSALS_PER_SECOND); keep under it to see each one.
    let mut refused_this_second = (Instant::now(), 0);
    for (method, path, op) in &ops {
        let needed = op["x-required-role"].as_str().unwrap();
        let callers = [(None, "unauthenticated", "none")]
            .into_iter()
            .chain(tokens.iter().map(|(name, role, secret)| (Some(secret.as_str()), *name, *role)));
        for (token, who, role) in callers {
            if token.is_none() && method != "GET" {
                if refused_this_second.1 == 15 {
                    std::thread::sleep(Duration::from_millis(1200).saturating_sub(refused_this_second.0.elapsed()));
                    refused_this_second = (Instant::now(), 0);
                }
                refused_this_second.1 += 1;
            }
            let status = probe(&http, &server, method, path, token).status().as_u16();
            let expected = match (rank(role) >= rank(needed), token) {
                (true, _) => None,
                (false, None) => Some(401),
                (false, Some(_)) => Some(403),
            };
            match expected {
                Some(refused) => assert_eq!(status, refused, "{who} ({role}) on {method} {path} (needs {needed})"),
                None => assert!(
                    status != 401 && status != 403,
                    "{who} ({role}) on {method} {path} (needs {needed}): {status}"
                ),
            }
            if method != "GET" {
                changes.push((who, method.clone(), fill(path, "nosuch"), status));
            }
        }
    }

    // Every request that may change something is in the audit log: who, what, the result.
    let entries = audit(&http, &server, admin);
    for (who, method, path, status) in &changes {
        let found = entries
            .iter()
            .any(|e| e["who"] == *who && e["method"] == *method && e["path"] == *path && e["status"] == *status);
        assert!(found, "no audit entry for {who} {method} {path} -> {status}");
    }
    assert!(entries.iter().all(|e| e["method"] != "GET"), "reads are not audited");
    server.stop();
}

/// A server without tokens (`./dev serve`) serves the clients on its machine, not the web
/// pages their browsers show: a rebound host name, a foreign `Origin` (on a request or a
/// WebSocket handshake) and a `text/plain` body are refused; tools that send none of these
/// (curl, the CLI) and the server's own origin go through. With tokens, none of it applies.
#[test]
fn without_tokens_web_pages_cannot_use_the_server_through_a_browser() {
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    let http = Client::new();
    let own = server.base().to_string();
    let port = own.rsplit(':').next().unwrap().to_string();
    let workflow = "name: page\nversion: 1\ntasks:\n  a: { component: core, action: echo, input: {} }\n";
    let post = |headers: &[(&str, &str)], body: &str| {
        let mut request = http.post(server.url("/api/v1/workflows")).body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().unwrap()
    };

    // DNS rebinding: the page's own name, resolved to 127.0.0.1.
    let rebound = format!("rebound.evil.example:{port}");
    let body = expect(
        http.get(server.url("/api/v1/executions")).header("host", &rebound).send().unwrap(),
        403,
        Some("forbidden_host"),
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("rebound.evil.example"), "{body}");
    // A cross-site POST (a form or fetch from another site) carries its Origin.
    let yaml = [("content-type", "application/yaml")];
    let body = expect(post(&[yaml[0], ("origin", "https://evil.example")], workflow), 403, Some("cross_origin"));
    assert!(body["error"]["message"].as_str().unwrap().contains("https://evil.example"), "{body}");
    expect(post(&[yaml[0], ("origin", "null")], workflow), 403, Some("cross_origin"));
    // text/plain needs no preflight: not a workflow body any more.
    expect(post(&[("content-type", "text/plain")], workflow), 415, Some("unsupported_media_type"));
    assert_eq!(http.get(server.url("/api/v1/workflows/page")).send().unwrap().status(), 404, "nothing was stored");

    // A WebSocket handshake from another site's page.
    let ws = |origin: Option<&str>| {
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(
            server.url("/api/v1/ws").replace("http://", "ws://"),
        )
        .unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        tungstenite::connect(request).map(drop)
    };
    match ws(Some("https://evil.example")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign origin's WebSocket must be refused, got {other:?}"),
    }
    ws(Some(&own)).expect("the server's own origin");
    ws(None).expect("a client that is not a browser");

    // Its own origin, loopback names and plain tools are served.
    expect(post(&[yaml[0], ("origin", own.as_str())], workflow), 201, None);
    expect(
        http.get(server.url("/api/v1/workflows/page")).header("host", format!("localhost:{port}")).send().unwrap(),
        200,
        None,
    );
    drop(server);

    // With a token, a browser cannot act on its own: the checks are not needed, and a
    // proxy's host name works.
    let admin = create_token(data.path(), "admin", "root");
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    let request = http.get(server.url("/api/v1/workflows/page")).header("host", "harmonia.internal");
    expect(with(request, Some(&admin)).send().unwrap(), 200, None);
}

/// What the audit log keeps is bounded and says what was done: a flood of refused requests
/// to a 60,000-character path is recorded briefly (paths cut, refusals past 20 a second
/// counted into one entry), and the entries of tokens made by the CLI or the API, queries
/// and WebSocket refusals say what they were.
#[test]
fn the_audit_log_is_bounded_and_complete() {
    use tungstenite::Message;
    let data = tempfile::tempdir().unwrap();
    let flows = workflows();
    let admin = create_token(data.path(), "admin", "root");
    let viewer = create_token(data.path(), "viewer", "dash");
    let server = serve(data.path(), flows.path(), "127.0.0.1:0", &[]);
    let http = Client::new();

    // 300 refused POSTs, each to a 60,000-character path: 121 MB of log before.
    let long = format!("/api/v1/{}", "x".repeat(60_000));
    let flood = std::time::Instant::now();
    for _ in 0..300 {
        assert_eq!(http.post(server.url(&long)).send().unwrap().status(), 401);
    }
    // At most 20 recorded one by one in each second the flood lasted.
    let seconds = flood.elapsed().as_secs() + 1;
    // The next entry after the second is over, whatever it is, writes the count first.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let made = with(http.post(server.url("/api/v1/tokens")), Some(&admin))
        .json(&json!({ "name": "after", "role": "viewer" }))
        .send()
        .unwrap();
    expect(made, 201, None);
    let entries = audit(&http, &server, Some(&admin));
    let refused: Vec<&Value> = entries.iter().filter(|e| e["who"] == "unauthenticated").collect();
    let counted: u64 = refused
        .iter()
        .filter(|e| e["result"] == "refusals_counted")
        .map(|e| e["details"]["count"].as_u64().unwrap())
        .sum();
    let one_by_one = refused.iter().filter(|e| e["result"] == "unauthorized").count() as u64;
    assert_eq!(one_by_one + counted, 300, "every refusal is recorded or counted: {refused:?}");
    assert!(one_by_one <= 20 * seconds, "{one_by_one} refusals recorded one by one in {seconds} s");
    assert!(counted > 0 || seconds > 15, "a flood of 300 in {seconds} s was recorded one by one");
    let cut = refused.iter().find(|e| e["path_bytes"] == 60_008).expect("a cut path");
    assert_eq!(cut["path"].as_str().unwrap().len(), 512 + 3);
    let page = with(http.get(server.url("/api/v1/audit?limit=1000")), Some(&admin)).send().unwrap().bytes().unwrap();
    assert!(page.len() < 200_000, "the audit page is {} bytes", page.len());

    // The CLI's token, the API's token with its name and role, a query kept.
    let cli = entries
        .iter()
        .find(|e| e["path"] == "harmonia token create" && e["details"]["token"] == "dash")
        .expect("the CLI's token");
    assert_eq!((cli["who"].as_str(), cli["details"]["role"].as_str()), (Some("cli"), Some("viewer")));
    let made = with(http.post(server.url("/api/v1/tokens")), Some(&admin))
        .json(&json!({ "name": "ci", "role": "operator" }))
        .send()
        .unwrap();
    expect(made, 201, None);
    expect(with(http.delete(server.url("/api/v1/workflows/echo?force=true")), Some(&admin)).send().unwrap(), 200, None);
    let entries = audit(&http, &server, Some(&admin));
    let token = entries.iter().find(|e| e["path"] == "/api/v1/tokens" && e["details"]["token"] == "ci").unwrap();
    assert_eq!(token["status"], 201);
    assert_eq!(token["details"], json!({ "token": "ci", "role": "operator" }));
    assert!(entries.iter().any(|e| e["path"] == "/api/v1/workflows/echo?force=true"), "the query is kept");

    // A viewer's start over the WebSocket is refused: 403, as over HTTP.
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(
        server.url("/api/v1/ws").replace("http://", "ws://"),
    )
    .unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {viewer}").parse().unwrap());
    let (mut socket, _) = tungstenite::connect(request).unwrap();
    socket.send(Message::Text(json!({ "op": "start", "workflow": "slow" }).to_string().into())).unwrap();
    while !matches!(socket.read().unwrap(), Message::Text(_)) {}
    let entries = audit(&http, &server, Some(&admin));
    let ws = entries.iter().find(|e| e["method"] == "WS").unwrap();
    assert_eq!((ws["status"].as_u64(), ws["result"].as_str()), (Some(403), Some("forbidden")), "{ws}");
}
