//! A real headless Chromium driven over the W3C WebDriver protocol by Debian's `chromedriver`
//! (both installed by `scripts/install-browser.sh`): a small blocking client, enough to open
//! pages, find, click, type, read, run scripts and take screenshots. The console's browser
//! tests and the `console` benchmark drive the page through it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long [`Browser::wait`] and [`Browser::find`] wait.
const WAIT: Duration = Duration::from_secs(20);

/// What went wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start chromedriver (install it with scripts/install-browser.sh): {0}")]
    Driver(std::io::Error),
    #[error("chromedriver did not answer on port {port} within 20 s")]
    DriverSilent { port: u16 },
    #[error("chromedriver gave no session: {answer}")]
    NoSession { answer: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("WebDriver {method} {path}: {cause}")]
    Http { method: String, path: String, cause: reqwest::Error },
    /// The driver or the page answered with an error (a script that threw, an element gone).
    #[error("WebDriver {method} {path}: {error}: {message}")]
    WebDriver { method: String, path: String, error: String, message: String },
    #[error("waited {} s for {what} (screenshot {})", .waited.as_secs(), .screenshot.as_deref().map_or("not taken".into(), |p| p.display().to_string()))]
    Timeout { what: String, waited: Duration, screenshot: Option<PathBuf> },
    #[error("cannot save the screenshot {path}: {cause}", path = .path.display())]
    Screenshot { path: PathBuf, cause: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The chromedriver process, killed (and waited for) when dropped, also when no session
/// could be made.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A chromedriver process and one browser session; both end when it is dropped.
pub struct Browser {
    base: String,
    session: String,
    http: Client,
    /// Where [`Browser::screenshot`] saves its PNGs.
    screenshots: PathBuf,
    // Dropped after the session is deleted (fields drop after `Drop::drop`).
    driver: Driver,
}

/// The user and system CPU time of `root` and its descendants, with that of the children
/// they collected, in clock ticks (0 without /proc).
fn cpu_ticks(root: u32) -> u64 {
    // Each process: its parent and its ticks, from `pid (comm) state ppid ... utime stime`.
    let mut processes: Vec<(u32, u32, u64)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        // utime, stime, and cutime, cstime: the children it collected keep counting.
        processes.push((pid, number(1) as u32, number(11) + number(12) + number(13) + number(14)));
    }
    let mut tree = vec![root];
    let mut ticks = 0;
    while let Some(pid) = tree.pop() {
        for &(child, parent, t) in &processes {
            if child == pid {
                ticks += t;
            }
            if parent == pid {
                tree.push(child);
            }
        }
    }
    ticks
}

/// An element of the page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width` x `height`, whose screenshots
    /// go in `screenshots` (created when the first is taken).
    pub fn start(width: u32, height: u32, screenshots: impl Into<PathBuf>) -> Result<Browser, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(Error::Driver)?;
        let driver = Driver(driver);
        let base = format!("http://127.0.0.1:{port}");
        let http = Client::builder().timeout(Duration::from_secs(60)).build().map_err(Error::Client)?;
        let ready = Instant::now();
        while http.get(format!("{base}/status")).send().is_err() {
            if ready.elapsed() > WAIT {
                return Err(Error::DriverSilent { port });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            format!("--window-size={width},{height}"),
        ];
        // More arguments for Chromium, for a look inside, e.g. a trace of a benchmark's run:
        // `--trace-startup=toplevel,blink --trace-startup-format=json --trace-startup-file=F`.
        if let Ok(more) = std::env::var("HARMONIA_BROWSER_ARGS") {
            args.extend(more.split_whitespace().map(String::from));
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args } } } });
        let http_error = |cause| Error::Http { method: "POST".into(), path: "/session".into(), cause };
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .map_err(http_error)?
            .json()
            .map_err(http_error)?;
        let Some(session) = answer["value"]["sessionId"].as_str() else {
            return Err(Error::NoSession { answer: answer.to_string() });
        };
        Ok(Browser { base, session: session.to_string(), http, screenshots: screenshots.into(), driver })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let http_error = |cause| Error::Http { method: method.into(), path: path.into(), cause };
        let answer: Value = request.send().map_err(http_error)?.json().map_err(http_error)?;
        if let Some(error) = answer["value"].get("error") {
            return Err(Error::WebDriver {
                method: method.into(),
                path: path.into(),
                error: error.as_str().unwrap_or_default().to_string(),
                message: answer["value"]["message"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(answer["value"].clone())
    }

    /// Opens `url`, once the page has loaded (its `load` event).
    pub fn goto(&self, url: &str) -> Result<(), Error> {
        self.call("POST", "/url", Some(json!({ "url": url }))).map(drop)
    }

    /// Waits until the browser is idle: its processes (chromedriver's descendants) used less
    /// than 10% of a core over 250 ms, or `longest` passed. A fresh Chromium loads its own
    /// pages in its first second; a benchmark that times a page waits for that first.
    /// Returns how long it waited. Reads /proc: on other systems it returns after 250 ms.
    pub fn settle(&self, longest: Duration) -> Duration {
        let began = Instant::now();
        let mut last = cpu_ticks(self.driver.0.id());
        while began.elapsed() < longest {
            std::thread::sleep(Duration::from_millis(250));
            let now = cpu_ticks(self.driver.0.id());
            // Linux's clock ticks are 10 ms: 10% of 250 ms is 2.5 ticks.
            if now.saturating_sub(last) <= 2 {
                break;
            }
            last = now;
        }
        began.elapsed()
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns its value.
    pub fn run(&self, script: &str, args: Value) -> Result<Value, Error> {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// Sends a Chrome DevTools Protocol command (`Page.addScriptToEvaluateOnNewDocument`,
    /// `Profiler.start`, ...) through chromedriver, and returns its result.
    pub fn devtools(&self, command: &str, params: Value) -> Result<Value, Error> {
        self.call("POST", "/goog/cdp/execute", Some(json!({ "cmd": command, "params": params })))
    }

    /// The first element matching `css`, waiting up to 20 s for it to appear.
    pub fn find(&self, css: &str) -> Result<Element<'_>, Error> {
        self.wait(&format!("an element {css}"), || Ok(self.try_find(css)))
    }

    fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let answer: Value =
            self.http.post(url).json(&json!({ "using": "css selector", "value": css })).send().ok()?.json().ok()?;
        let id = answer["value"][ELEMENT].as_str()?;
        Some(Element { browser: self, id: id.to_string() })
    }

    /// Waits up to 20 s for `ready` to give something; an error from it ends the wait.
    pub fn wait<T>(&self, what: &str, ready: impl FnMut() -> Result<Option<T>, Error>) -> Result<T, Error> {
        self.wait_up_to(WAIT, what, ready)
    }

    /// Waits up to `limit` for `ready` to give something, asking every 100 ms. When the
    /// time is up, the error names the screenshot it took (`timeout.png`).
    pub fn wait_up_to<T>(
        &self,
        limit: Duration,
        what: &str,
        mut ready: impl FnMut() -> Result<Option<T>, Error>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        loop {
            if let Some(found) = ready()? {
                return Ok(found);
            }
            if started.elapsed() > limit {
                let screenshot = self.screenshot("timeout").ok();
                return Err(Error::Timeout { what: what.to_string(), waited: limit, screenshot });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page's `document.querySelector(css)` exists and `test(el)` (a JS
    /// expression over `el`) is true.
    pub fn wait_until(&self, css: &str, test: &str) -> Result<(), Error> {
        let script = format!("const el = document.querySelector(arguments[0]); return !!el && !!({test});");
        self.wait(&format!("{css} with {test}"), || Ok(self.run(&script, json!([css]))?.as_bool().filter(|b| *b)))
            .map(drop)
    }

    /// Saves a PNG of the page as `<name>.png` in the screenshot directory; its path.
    pub fn screenshot(&self, name: &str) -> Result<PathBuf, Error> {
        use base64::Engine;
        let data = self.call("GET", "/screenshot", None)?;
        let png =
            base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default()).unwrap_or_default();
        let path = self.screenshots.join(format!("{name}.png"));
        let saved = |path: &Path| {
            std::fs::create_dir_all(&self.screenshots)?;
            std::fs::write(path, png)
        };
        saved(&path).map_err(|cause| Error::Screenshot { path: path.clone(), cause })?;
        Ok(path)
    }
}

impl Element<'_> {
    pub fn click(&self) -> Result<(), Error> {
        self.browser.call("POST", &format!("/element/{}/click", self.id), Some(json!({}))).map(drop)
    }

    /// Replaces the field's value with `text`.
    pub fn fill(&self, text: &str) -> Result<(), Error> {
        self.browser.call("POST", &format!("/element/{}/clear", self.id), Some(json!({})))?;
        self.browser.call("POST", &format!("/element/{}/value", self.id), Some(json!({ "text": text }))).map(drop)
    }

    pub fn text(&self) -> Result<String, Error> {
        let text = self.browser.call("GET", &format!("/element/{}/text", self.id), None)?;
        Ok(text.as_str().unwrap_or_default().to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send();
    }
}
