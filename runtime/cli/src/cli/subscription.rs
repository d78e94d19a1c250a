//! `harmonia subscription create|list|get|delete|dead-letters|redeliver`: a server's
//! subscriptions (`/api/v1/subscriptions`): which events they pick, where they send them,
//! and what they could not deliver.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{Remote, ServerArgs, encode};

#[derive(Subcommand)]
pub enum SubscriptionCommand {
    /// Make (or replace) a subscription: `harmonia subscription create alerts --type
    /// harmonia.execution.failed --webhook https://chat.example.com/hook --secret ...`.
    Create(Box<CreateArgs>),
    /// List the subscriptions with their delivery state.
    List,
    /// Show a subscription and its delivery state.
    Get { name: String },
    /// Remove a subscription, its state and its dead letters.
    Delete { name: String },
    /// The events a subscription could not deliver, with every attempt.
    DeadLetters {
        name: String,
        /// Only those after this event position.
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Try a dead letter once more (removed if it is delivered).
    Redeliver { name: String, seq: u64 },
}

#[derive(Args)]
pub struct CreateArgs {
    name: String,
    /// An event type pattern (`doc.*`, `*.failed`; repeatable): one must match. All types
    /// without one.
    #[arg(long = "type", value_name = "PATTERN")]
    types: Vec<String>,
    /// A pattern the event's source must match.
    #[arg(long, value_name = "PATTERN")]
    source: Option<String>,
    /// A pattern the event's subject must match.
    #[arg(long, value_name = "PATTERN")]
    subject: Option<String>,
    /// A `${...}` expression over `event` that must hold: `'${event.data.size > 0}'`.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// The delivered data, JSON whose strings may hold `${...}` over `event`.
    #[arg(long, value_name = "JSON")]
    transform: Option<String>,
    /// POST each event to this URL.
    #[arg(long, value_name = "URL", group = "destination")]
    webhook: Option<String>,
    /// Sign webhook bodies with this secret (`X-Harmonia-Signature: sha256=<hex HMAC>`).
    #[arg(long, env = "HARMONIA_WEBHOOK_SECRET", hide_env_values = true, requires = "webhook")]
    secret: Option<String>,
    /// How long a webhook attempt may take (`10s` by default).
    #[arg(long, value_name = "DURATION", requires = "webhook")]
    timeout: Option<String>,
    /// Start an execution of this workflow (`name` or `name@version`) per event, with the
    /// event's data as input.
    #[arg(long, value_name = "WORKFLOW", group = "destination")]
    workflow: Option<String>,
    /// Call an action of this plugin per event, with the event as input (with --action).
    #[arg(long, group = "destination", requires = "action")]
    plugin: Option<String>,
    #[arg(long, requires = "plugin")]
    action: Option<String>,
    /// Deliver nowhere: clients follow the subscription's stream (the default).
    #[arg(long, group = "destination")]
    stream: bool,
    /// Attempts in all before an event becomes a dead letter (8 by default).
    #[arg(long)]
    max_attempts: Option<u32>,
    /// The wait before the second attempt (`1s` by default); each next one is `--factor`
    /// times longer, up to `--max-delay`.
    #[arg(long, value_name = "DURATION")]
    delay: Option<String>,
    #[arg(long)]
    factor: Option<f64>,
    #[arg(long, value_name = "DURATION")]
    max_delay: Option<String>,
}

impl CreateArgs {
    /// The body of `PUT /api/v1/subscriptions/{name}`.
    fn body(self) -> anyhow::Result<Value> {
        let destination = if let Some(url) = self.webhook {
            let mut webhook = json!({ "url": url });
            for (name, value) in [("secret", self.secret), ("timeout", self.timeout)] {
                if let Some(value) = value {
                    webhook[name] = json!(value);
                }
            }
            json!({ "webhook": webhook })
        } else if let Some(workflow) = self.workflow {
            match workflow.split_once('@') {
                Some((name, version)) => json!({ "workflow": { "name": name, "version": version } }),
                None => json!({ "workflow": { "name": workflow } }),
            }
        } else if let (Some(plugin), Some(action)) = (self.plugin, self.action) {
            json!({ "plugin": { "plugin": plugin, "action": action } })
        } else {
            json!("stream")
        };
        let mut body = Map::new();
        body.insert("destination".into(), destination);
        if !self.types.is_empty() {
            body.insert("types".into(), json!(self.types));
        }
        for (name, value) in [("source", self.source), ("subject", self.subject), ("filter", self.filter)] {
            if let Some(value) = value {
                body.insert(name.into(), json!(value));
            }
        }
        if let Some(transform) = self.transform {
            let value =
                serde_json::from_str(&transform).map_err(|e| anyhow::anyhow!("--transform is not JSON: {e}"))?;
            body.insert("transform".into(), value);
        }
        let mut retry = Map::new();
        if let Some(n) = self.max_attempts {
            retry.insert("max_attempts".into(), json!(n));
        }
        if let Some(factor) = self.factor {
            retry.insert("factor".into(), json!(factor));
        }
        for (name, value) in [("delay", self.delay), ("max_delay", self.max_delay)] {
            if let Some(value) = value {
                retry.insert(name.into(), json!(value));
            }
        }
        if !retry.is_empty() {
            body.insert("retry".into(), Value::Object(retry));
        }
        Ok(Value::Object(body))
    }
}

pub async fn run(command: SubscriptionCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server)?;
    let path = |name: &str| format!("/api/v1/subscriptions/{}", encode(name));
    let answer = match command {
        SubscriptionCommand::Create(args) => {
            let target = path(&args.name);
            remote.put(&target, args.body()?).await?
        }
        SubscriptionCommand::List => remote.get("/api/v1/subscriptions").await?,
        SubscriptionCommand::Get { name } => remote.get(&path(&name)).await?,
        SubscriptionCommand::Delete { name } => remote.delete(&path(&name)).await?,
        SubscriptionCommand::DeadLetters { name, after, limit } => {
            remote.get(&format!("{}/dead-letters?after={after}&limit={limit}", path(&name))).await?
        }
        SubscriptionCommand::Redeliver { name, seq } => {
            remote.post(&format!("{}/dead-letters/{seq}/redeliver", path(&name)), json!({})).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}
