//! `GET /metrics`: Prometheus text, through the `metrics` facade and its Prometheus
//! exporter. What is measured, and where:
//! - `harmonia_executions{state}`: executions running or paused in this process (drivers);
//! - `harmonia_executions_finished_total{state}`: completed, failed, cancelled;
//! - `harmonia_task_duration_seconds{plugin,action}`: plugin call latency (histogram);
//! - `harmonia_plugin_calls_total{plugin,action,result}`: calls, `ok` or the error kind;
//! - `harmonia_store_commit_group_size`: commits written per disk write (histogram);
//! - `harmonia_event_stream_clients`: open event streams.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use serde_json::json;

use super::table::Op;

/// The process's recorder, installed once (a process has one `metrics` recorder).
pub(crate) fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = [
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            5.0, 10.0, 30.0,
        ];
        let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full("harmonia_store_commit_group_size".into()), &sizes))
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (tests): then this one only renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub(super) fn ops() -> Vec<Op> {
    vec![Op::get("/metrics", "getMetrics", "Prometheus metrics", render)
        .describe("Executions by state, task latency per plugin and action, plugin calls and failures, commit group sizes, event stream clients.")
        .ok_as(200, "Prometheus text", json!({ "text/plain": { "schema": { "type": "string" } } }))]
}

async fn render() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render())
}
