//! The load driver the throughput scenarios share: a closed loop of clients, each starting
//! its next job as soon as its previous one ends.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// What a run of jobs gave.
pub struct Run<T = ()> {
    pub seconds: f64,
    /// Start-to-end latency of each job, in ms, sorted.
    pub latencies_ms: Vec<f64>,
    /// What each job returned, in no particular order.
    pub outputs: Vec<T>,
}

/// Jobs `0..count` by `clients` (one task per client) in a closed loop. `job(client, i)` does
/// job `i` and checks what it gave; the first error ends the run.
pub async fn run<C, T, F, Fut>(clients: Vec<C>, count: usize, job: F) -> anyhow::Result<Run<T>>
where
    C: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(C, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let (next, job) = (next.clone(), job.clone());
            tokio::spawn(async move {
                let (mut latencies, mut outputs) = (Vec::new(), Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok((latencies, outputs));
                    }
                    let began = Instant::now();
                    outputs.push(job(client.clone(), i).await?);
                    latencies.push(began.elapsed().as_secs_f64() * 1e3);
                }
            })
        })
        .collect();
    let (mut latencies_ms, mut outputs) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for task in tasks {
        let (latencies, outs) = task.await??;
        latencies_ms.extend(latencies);
        outputs.extend(outs);
    }
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(latencies_ms.len() == count, "{} of {count} jobs ran", latencies_ms.len());
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Run { seconds, latencies_ms, outputs })
}
