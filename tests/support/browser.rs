//! A real headless Chromium for the console's tests, driven over the W3C WebDriver protocol
//! by Debian's `chromedriver` (both installed by `scripts/install-browser.sh`): a small
//! client over the test's HTTP client, enough to open pages, find, click, type, read and
//! take screenshots (saved under `target/console-screenshots/`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; both end when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: Client,
}

/// An element of the page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width` x `height`.
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (run scripts/install-browser.sh)");
        let base = format!("http://127.0.0.1:{port}");
        let http = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let ready = Instant::now();
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(ready.elapsed() < Duration::from_secs(20), "chromedriver did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            format!("--window-size={width},{height}"),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args } } } });
        let answer: Value = http.post(format!("{base}/session")).json(&capabilities).send().unwrap().json().unwrap();
        let session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_string();
        Browser { driver, base, session, http }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let answer: Value = request.send().unwrap().json().unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns its value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// The first element matching `css`, waiting up to 20 s for it to appear.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.wait(&format!("an element {css}"), || self.try_find(css)).unwrap()
    }

    fn try_find(&self, css: &str) -> Option<Option<Element<'_>>> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let answer: Value =
            self.http.post(url).json(&json!({ "using": "css selector", "value": css })).send().ok()?.json().ok()?;
        let id = answer["value"][ELEMENT].as_str()?;
        Some(Some(Element { browser: self, id: id.to_string() }))
    }

    /// Waits up to 20 s for `ready` to give something.
    pub fn wait<T>(&self, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = ready() {
                return found;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let shot = self.screenshot("timeout");
                panic!("waited 20 s for {what} (screenshot {})", shot.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page's `document.querySelector(css)` exists and `test(el)` (a JS
    /// expression over `el`) is true.
    pub fn wait_until(&self, css: &str, test: &str) {
        let script = format!("const el = document.querySelector(arguments[0]); return !!el && !!({test});");
        self.wait(&format!("{css} with {test}"), || self.run(&script, json!([css])).as_bool().filter(|b| *b));
    }

    /// Saves a PNG of the page as `target/console-screenshots/<name>.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let data = self.call("GET", "/screenshot", None);
        let png =
            base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default()).unwrap_or_default();
        let dir = crate::support::repo().join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Element<'_> {
    pub fn click(&self) {
        self.browser.call("POST", &format!("/element/{}/click", self.id), Some(json!({})));
    }

    /// Replaces the field's value with `text`.
    pub fn fill(&self, text: &str) {
        self.browser.call("POST", &format!("/element/{}/clear", self.id), Some(json!({})));
        self.browser.call("POST", &format!("/element/{}/value", self.id), Some(json!({ "text": text })));
    }

    pub fn text(&self) -> String {
        self.browser.call("GET", &format!("/element/{}/text", self.id), None).as_str().unwrap_or_default().to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
