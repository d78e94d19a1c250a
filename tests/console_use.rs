//! The console as people use it, in a real headless Chromium: signing in with a token,
//! the keyboard alone, both themes with readable contrast, a task's log lines and progress,
//! the history, sub-workflows and the live counts of executions.

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::console::{PARENT, chatty, chromium};
use crate::serve::post_workflow;
use crate::support::{Server, create_token, expect, repo};
use harmonia_webdriver::Browser;

/// Presses `key` (`Tab`, `Enter`) as a keyboard would, on whatever has the focus.
fn press(browser: &Browser, key: &str) {
    let (code, text) = match key {
        "Tab" => (9, ""),
        "Enter" => (13, "\r"),
        other => panic!("no key code for {other}"),
    };
    for kind in ["keyDown", "keyUp"] {
        let text = if kind == "keyDown" { text } else { "" };
        let event = json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code, "text": text });
        browser.devtools("Input.dispatchKeyEvent", event).unwrap();
    }
}

/// What has the focus, as `tag#data-task` or its text.
fn focused(browser: &Browser) -> String {
    let script = "const el = document.activeElement; \
                  return el.getAttribute('data-task') ? `task:${el.getAttribute('data-task')}` : `${el.tagName.toLowerCase()}:${el.textContent.trim().slice(0, 40)}`;";
    browser.run(script, json!([])).unwrap().as_str().unwrap().to_string()
}

/// Tabs until `wanted` has the focus; how many presses it took. Fails after 80.
fn tab_to(browser: &Browser, wanted: &str) -> usize {
    for presses in 1..=80 {
        press(browser, "Tab");
        if focused(browser) == wanted {
            return presses;
        }
    }
    panic!("{wanted} never got the focus by Tab (last: {})", focused(browser));
}

#[test]
fn signing_in_keeps_the_token_in_the_tab_and_shows_the_audit_log_to_admins_only() {
    let data = tempfile::tempdir().unwrap();
    let admin = create_token(data.path(), "admin", "alice");
    let viewer = create_token(data.path(), "viewer", "victor");
    let server = Server::start_with(data.path(), &repo().join("workflows"));
    let browser = chromium(1280, 800);
    browser.goto(&server.url("/")).unwrap();
    browser.wait_until("main h1", "el.textContent === 'Sign in'").unwrap();
    browser.screenshot("sign-in").unwrap();
    browser.find("input[name=token]").unwrap().fill("not-a-token").unwrap();
    browser.find("main form button[type=submit]").unwrap().click().unwrap();
    browser.wait_until("main p.error", "el.textContent === 'This token is not valid.'").unwrap();

    // A viewer: the pages, not the audit log.
    browser.find("input[name=token]").unwrap().fill(&viewer).unwrap();
    browser.find("main form button[type=submit]").unwrap().click().unwrap();
    browser.wait_until("main h1", "el.textContent === 'Workflows'").unwrap();
    browser.wait_until("#who", "el.textContent === 'victor (viewer)'").unwrap();
    assert_eq!(browser.run("return document.getElementById('audit-link').hidden", json!([])).unwrap(), true);
    let kept = browser.run("return [sessionStorage.getItem('harmonia-token'), location.href]", json!([])).unwrap();
    assert_eq!(kept[0], viewer.as_str(), "the token is kept in the tab's session");
    assert!(!kept[1].as_str().unwrap().contains(&viewer), "the token is never in the URL: {}", kept[1]);
    browser.find("#sign-out").unwrap().click().unwrap();
    browser.wait_until("main h1", "el.textContent === 'Sign in'").unwrap();
    assert_eq!(browser.run("return sessionStorage.getItem('harmonia-token')", json!([])).unwrap(), Value::Null);

    // An admin: the audit log too, which names who changed what (the tokens made above).
    browser.find("input[name=token]").unwrap().fill(&admin).unwrap();
    browser.find("main form button[type=submit]").unwrap().click().unwrap();
    browser.wait_until("#audit-link", "!el.hidden").unwrap();
    browser.find("#audit-link").unwrap().click().unwrap();
    browser.wait_until("main table", "el.textContent.includes('harmonia token create')").unwrap();
    browser.screenshot("audit-admin").unwrap();
}

#[test]
fn a_workflow_is_started_and_a_task_opened_with_the_keyboard_alone() {
    let server = Server::start();
    let browser = chromium(1280, 800);
    browser.goto(&server.url("/#/workflows/merge")).unwrap();
    browser.find("svg [data-task=notify]").unwrap();
    // The first stop is the link past the navigation.
    press(&browser, "Tab");
    assert_eq!(focused(&browser), "a:Skip to content");
    tab_to(&browser, "button:Start");
    press(&browser, "Enter");
    browser.wait_until("[data-task=notify]", "el.getAttribute('class').includes('s-succeeded')").unwrap();
    // Each task of the graph is a stop of its own; Enter opens it.
    browser.run("document.activeElement.blur()", json!([])).unwrap();
    tab_to(&browser, "task:invoice");
    press(&browser, "Enter");
    browser.wait_until("section[aria-label=Task] h2", "el.textContent === 'invoice'").unwrap();
    browser
        .wait_until("section[aria-label=Task]", "el.textContent.includes('Output') && el.textContent.includes('Input')")
        .unwrap();
    let outline = browser.run("return getComputedStyle(document.activeElement).outlineStyle", json!([])).unwrap();
    assert_ne!(outline, "none", "the focused task shows it has the focus");
    browser.screenshot("keyboard-task-open").unwrap();
}

/// Every piece of text on the page whose colour against what is behind it is under 4.5:1
/// (WCAG AA for normal text): its text, both colours and the ratio.
const LOW_CONTRAST: &str = r#"
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const behind = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
  }
  return rgb(getComputedStyle(document.body).backgroundColor);
};
const low = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!n.textContent.trim() || !el || el.closest('svg') || !el.getClientRects().length) continue;
  const fg = rgb(getComputedStyle(el).color).slice(0, 3);
  const bg = behind(el);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  if (ratio < 4.5) low.push({ text: n.textContent.trim().slice(0, 30), fg: fg.join(','), bg: bg.join(','), ratio: ratio.toFixed(2) });
}
return { low, background: lum(rgb(getComputedStyle(document.body).backgroundColor)) };
"#;

#[test]
fn both_themes_follow_the_system_and_keep_text_readable() {
    let server = Server::start();
    let http = Client::new();
    // A page with every status colour: succeeded, failed, skipped and cancelled tasks.
    let url = server.url("/api/v1/workflows/terminate/executions?wait=30s");
    let done = expect(http.post(url).json(&json!({ "input": { "amount": 500 } })).send().unwrap(), 200, None);
    let id = done["id"].as_str().unwrap().to_string();
    let browser = chromium(1280, 800);
    for theme in ["light", "dark"] {
        let media = json!({ "features": [{ "name": "prefers-color-scheme", "value": theme }] });
        browser.devtools("Emulation.setEmulatedMedia", media).unwrap();
        for (page, ready) in [
            (format!("/#/executions/{id}"), "section[aria-label=History] tbody tr"),
            ("/#/executions".to_string(), "[data-count=failed]"),
            ("/#/plugins".to_string(), "section[aria-label=core]"),
            ("/#/workflows".to_string(), "main table a"),
        ] {
            browser.goto(&server.url(&page)).unwrap();
            browser.find(ready).unwrap();
            browser.find("main h1").unwrap();
            let found = browser.run(LOW_CONTRAST, json!([])).unwrap();
            assert_eq!(found["low"], json!([]), "{theme} theme, {page}: text under 4.5:1");
            let background = found["background"].as_f64().unwrap();
            let dark = background < 0.05;
            assert_eq!(dark, theme == "dark", "{theme} theme, {page}: background luminance {background}");
        }
        browser.goto(&server.url(&format!("/#/executions/{id}"))).unwrap();
        browser.wait_until("[data-task=too_much]", "el.getAttribute('class').includes('s-failed')").unwrap();
        browser.screenshot(&format!("theme-{theme}")).unwrap();
    }
}

#[test]
fn a_tasks_log_lines_and_progress_the_history_sub_workflows_and_counts_show_on_their_pages() {
    let server = Server::start();
    let http = Client::new();
    for yaml in [&chatty(3), PARENT] {
        assert_eq!(post_workflow(&server, "application/yaml", yaml).0, 201);
    }
    let url = server.url("/api/v1/workflows/parent/executions?wait=60s");
    let done = expect(http.post(url).json(&json!({})).send().unwrap(), 200, None);
    let parent = done["id"].as_str().unwrap().to_string();
    let browser = chromium(1280, 800);

    // The parent links to its two sub-workflows, and each back to it.
    browser.goto(&server.url(&format!("/#/executions/{parent}"))).unwrap();
    browser.wait_until("section[aria-label=Sub-workflows]", "el.querySelectorAll('a').length === 2").unwrap();
    browser.find("section[aria-label=Sub-workflows] a").unwrap().click().unwrap();
    browser.wait_until("main h1", &format!("el.textContent.startsWith('Execution {parent}/')")).unwrap();
    browser
        .wait_until("main", &format!("[...el.querySelectorAll('a')].some((a) => a.textContent === '{parent}')"))
        .unwrap();

    // A task's log lines and progress, as the plugin reported them.
    browser.find("[data-task=talk]").unwrap().click().unwrap();
    browser
        .wait_until("section[aria-label=Task] pre.logs", "el.textContent.split('hello from the plugin').length === 4")
        .unwrap();
    browser.wait_until("section[aria-label=Task] progress", "el.value === 50").unwrap();
    browser
        .wait_until(
            "section[aria-label=Task]",
            "el.textContent.includes('half way') && el.textContent.includes('WARN')",
        )
        .unwrap();
    // The history, newest first.
    browser.wait_until("section[aria-label=History] tbody tr", "el.textContent.includes('completed')").unwrap();
    let types = browser
        .run("return [...document.querySelectorAll('section[aria-label=History] tbody tr td:nth-child(3)')].map((td) => td.textContent)", json!([]))
        .unwrap();
    let types: Vec<&str> = types.as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"completed"), "{types:?}");
    assert_eq!(types.last(), Some(&"started"), "{types:?}");
    assert!(types.contains(&"call_started") && types.contains(&"task_succeeded"), "{types:?}");
    browser.screenshot("task-logs").unwrap();

    // The counts on the executions page follow new executions.
    browser.goto(&server.url("/#/executions")).unwrap();
    browser.wait_until("[data-count=completed]", "el.textContent.trim() === 'completed 3'").unwrap();
    let url = server.url("/api/v1/workflows/chatty/executions?wait=30s");
    expect(http.post(url).json(&json!({})).send().unwrap(), 200, None);
    browser.wait_until("[data-count=completed]", "el.textContent.trim() === 'completed 4'").unwrap();
    browser.find("[data-count=completed]").unwrap().click().unwrap();
    browser.wait_until("table[aria-label=Executions] tbody", "el.querySelectorAll('tr').length === 4").unwrap();
}

/// A workflow of `layers` x `width` echo tasks, each after two of the layer before.
fn layered(name: &str, layers: usize, width: usize) -> String {
    let mut yaml = format!("name: {name}\nversion: 1\ntasks:\n");
    for layer in 0..layers {
        for i in 0..width {
            let after = match layer {
                0 => String::new(),
                _ => format!(", depends_on: [t{}_{i}, t{}_{}]", layer - 1, layer - 1, (i + 1) % width),
            };
            yaml.push_str(&format!(
                "  t{layer}_{i}: {{ component: core, action: echo, input: {{ n: {i} }}{after} }}\n"
            ));
        }
    }
    yaml
}

#[test]
fn a_large_execution_is_laid_out_aside_and_its_layout_kept_for_the_tab() {
    let server = Server::start();
    let http = Client::new();
    // Over the size laid out by the page itself: a worker lays it out.
    assert_eq!(post_workflow(&server, "application/yaml", &layered("wide", 20, 12)).0, 201);
    let url = server.url("/api/v1/workflows/wide/executions?wait=60s");
    let done = expect(http.post(url).json(&json!({})).send().unwrap(), 200, None);
    assert_eq!(done["status"], "completed");
    let id = done["id"].as_str().unwrap().to_string();
    let browser = chromium(1280, 800);
    // Left at once for another page: the execution's page, read meanwhile, never shows.
    browser.goto(&server.url(&format!("/#/executions/{id}"))).unwrap();
    browser.run("location.hash = '#/plugins'", json!([])).unwrap();
    browser.wait_until("main h1", "el.textContent === 'Plugins'").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    browser.wait_until("main h1", "el.textContent === 'Plugins'").unwrap();
    browser.goto(&server.url(&format!("/#/executions/{id}"))).unwrap();
    browser
        .wait_until("svg[aria-label='Workflow graph']", "el.querySelectorAll('[data-task].s-succeeded').length === 240")
        .unwrap();
    // Every arrow: one per dependency.
    let arrows = browser
        .run("return document.querySelectorAll('svg[aria-label=\"Workflow graph\"] polyline').length", json!([]));
    assert_eq!(arrows.unwrap(), 19 * 12 * 2);
    // The list of 240 tasks starts folded, and opens complete.
    browser.wait_until("details.part", "!el.open").unwrap();
    browser.find("details.part summary").unwrap().click().unwrap();
    browser.wait_until("table.tasks tbody", "el.querySelectorAll('tr').length === 240").unwrap();
    browser.screenshot("large-execution").unwrap();
    // The layout is kept for the tab: drawn again from it after a reload.
    let kept = "return Object.keys(sessionStorage).filter((k) => k.startsWith('harmonia-layout:')).length";
    assert_eq!(browser.run(kept, json!([])).unwrap(), 1);
    browser.run("location.reload()", json!([])).unwrap();
    browser
        .wait_until("svg[aria-label='Workflow graph']", "el.querySelectorAll('[data-task].s-succeeded').length === 240")
        .unwrap();
}
