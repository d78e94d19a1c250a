//! A task's literal input checked against its action's input schema, with line and column.

use harmonia_model::{PluginCatalog, check_plugins, parse_workflow};
use serde_json::{Value, json};

/// `mail.send` publishes a schema; `mail.any` takes anything.
struct Mail;

impl PluginCatalog for Mail {
    fn check(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn input_schema(&self, _: &str, action: &str) -> Option<Value> {
        (action == "send").then(|| {
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["to", "subject"],
                "properties": {
                    "to": { "type": "array", "items": { "type": "string" } },
                    "subject": { "type": "string" },
                    "priority": { "enum": ["low", "high"] },
                    "retries": { "type": "integer" },
                    "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                    "body": { "anyOf": [{ "type": "string" }, { "type": "object" }] }
                }
            })
        })
    }
}

fn errors(tasks: &str) -> String {
    let text = format!("name: m\nversion: 1\ntasks:\n{tasks}");
    let wf = parse_workflow(&text, None).unwrap();
    match check_plugins(&wf, &Mail) {
        Ok(()) => String::new(),
        Err(d) => d.to_string(),
    }
}

#[test]
fn unknown_and_mistyped_fields_of_a_literal_input_are_reported_where_they_are() {
    let got = errors(
        "  a:\n    component: mail\n    action: send\n    input:\n      to: [ops@example.com, 7]\n      subjet: hello\n      priority: urgent\n      retries: \"3\"\n      headers: { x-id: 12 }\n",
    );
    let expected = [
        "8:7: task `a`: `input` has no `subject`, which mail.send requires",
        "8:11: task `a`: `input.to.1` must be a string, got an integer (7)",
        "9:15: task `a`: `input.subjet` is not a field of mail.send's input (its fields: body, headers, priority, retries, subject, to) (hint: did you mean `subject`?)",
        "10:17: task `a`: `input.priority` must be one of \"low\", \"high\", got \"urgent\"",
        "11:16: task `a`: `input.retries` must be an integer, got a string (\"3\")",
        "12:24: task `a`: `input.headers.x-id` must be a string, got an integer (12)",
    ];
    assert_eq!(got, expected.join("\n"));
}

#[test]
fn what_is_only_known_at_run_time_is_not_judged() {
    // Expressions, interpolated text for a string, composed schemas, and actions without a
    // schema pass; so does a whole input given as one expression.
    let ok = [
        "  a: { component: mail, action: send, input: { to: \"${input.to}\", subject: \"hi ${input.name}\", retries: \"${1 + 1}\", body: 42 } }\n",
        "  a: { component: mail, action: send, input: \"${input.mail}\" }\n",
        "  a: { component: mail, action: any, input: { whatever: [1, 2] } }\n",
    ];
    for tasks in ok {
        assert_eq!(errors(tasks), "", "{tasks}");
    }
    // Interpolated text is a string all the same.
    let got = errors("  a: { component: mail, action: send, input: { to: [a], subject: s, retries: \"n${1}\" } }\n");
    assert_eq!(got, "4:78: task `a`: `input.retries` must be an integer, got a string");
}
