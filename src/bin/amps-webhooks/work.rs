//! `work`: drains a queue by forwarding each job to the app (its raw body with its original
//! signature headers, or re-signed now with `--resign-with`): a 2xx completes the job,
//! anything else or no answer is retried along the schedule, and the job is dead after the
//! last attempt. One line per attempt. The worker settings and the forwarding worker itself
//! are shared with `listen --enqueue --forward-to`.

use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::queue::{
    Attempt, AttemptOutcome, DEFAULT_CONCURRENCY, HandlerFailure, Job, Queue, WorkerReport,
};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::store::DEFAULT_LEASE;
use amps_webhooks::{Clock as _, Signer, SystemClock};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use bytes::Bytes;
use clap::Args;
use serde_json::json;

use crate::failure::{Failure, usage};
use crate::forward::{Forwarded, Forwarder};
use crate::input::{keys, parse_schedule, timeout};
use crate::shutdown::Shutdown;
use crate::stores::StoreUrl;

/// How a forwarding worker runs: shared by `work` and `listen --enqueue --forward-to`.
#[derive(Args)]
pub(crate) struct WorkerArgs {
    /// How many jobs are forwarded at once [default: 8].
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// The most attempts a job gets: the first N delays of the platform's schedule
    /// (`0s,5s,5m,30m,2h,5h,10h,10h`, then 10h each); with `--schedule`, the number of its
    /// delays, which must agree [default: 8].
    #[arg(long, value_name = "N")]
    max_attempts: Option<usize>,
    /// The delay before each attempt, comma-separated, with units (`0s,5s,5m`), each but 0
    /// jittered by plus or minus 20 % [default: the platform's].
    #[arg(long, value_name = "LIST")]
    schedule: Option<String>,
    /// Re-sign each job with this secret (`whsec_...`) and the current time before
    /// forwarding it, so that an app checking the timestamp's age accepts an old job; without
    /// it the job's original signature headers are sent.
    #[arg(long, value_name = "SECRET")]
    resign_with: Option<String>,
    /// How long the app may take to answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub(crate) forward_timeout: f64,
    /// How long a job taken is this worker's alone, in seconds, renewed every third of it
    /// while the app answers: a job of a worker that died is taken again once its lease runs
    /// out [default: 60].
    #[arg(long, value_name = "SECS")]
    lease: Option<f64>,
}

/// The most attempts of `--max-attempts` beyond the platform's eight: each after 10 h.
const LAST_PLATFORM_DELAY: Duration = Duration::from_secs(10 * 3600);

impl WorkerArgs {
    /// Whether any option of the worker was given (they need a worker to apply to).
    pub(crate) fn any_given(&self) -> bool {
        self.concurrency.is_some()
            || self.max_attempts.is_some()
            || self.schedule.is_some()
            || self.resign_with.is_some()
            || self.lease.is_some()
    }

    /// The schedule of `--max-attempts` and `--schedule`, checked together.
    fn schedule(&self) -> Result<RetrySchedule, Failure> {
        if self.max_attempts == Some(0) {
            return Err(usage("--max-attempts 0: a job gets at least 1 attempt"));
        }
        match (&self.schedule, self.max_attempts) {
            (Some(list), max) => {
                let schedule = parse_schedule(list)?;
                match max {
                    Some(max) if max != schedule.attempts() => Err(usage(format!(
                        "--max-attempts {max} disagrees with --schedule {list:?}, which makes {} attempts: give one of them, or make them agree",
                        schedule.attempts()
                    ))),
                    _ => Ok(schedule),
                }
            }
            (None, None) => Ok(RetrySchedule::platform()),
            (None, Some(max)) => {
                let platform = RetrySchedule::platform();
                let delays = (0..max).map(|n| {
                    platform
                        .delays()
                        .get(n)
                        .copied()
                        .unwrap_or(LAST_PLATFORM_DELAY)
                });
                RetrySchedule::fixed(delays)
                    .map_err(|e| usage(format!("--max-attempts {max}: {e}")))
            }
        }
    }

    /// The settings, checked.
    pub(crate) fn plan(&self) -> Result<WorkerPlan, Failure> {
        if self.concurrency == Some(0) {
            return Err(usage("--concurrency 0: at least 1 job at a time"));
        }
        let signer = match &self.resign_with {
            Some(secret) => Some(
                Signer::try_with_keys(keys(std::slice::from_ref(secret))?)
                    .map_err(|e| usage(format!("--resign-with: {e}")))?,
            ),
            None => None,
        };
        let lease = match self.lease {
            Some(secs) => lease(secs)?,
            None => DEFAULT_LEASE,
        };
        Ok(WorkerPlan {
            concurrency: self.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            schedule: self.schedule()?,
            signer,
            forward_timeout: timeout(self.forward_timeout, "--forward-timeout")?,
            lease,
        })
    }
}

/// A worker's checked settings.
pub(crate) struct WorkerPlan {
    concurrency: usize,
    schedule: RetrySchedule,
    signer: Option<Signer>,
    pub(crate) forward_timeout: Duration,
    lease: Duration,
}

/// The shortest `--lease`: renewed every third of it, a lease much shorter than a second would
/// keep the store busy renewing and be lost to the first slow answer.
const MIN_LEASE: Duration = Duration::from_secs(1);

/// `--lease SECS`, checked: at least [`MIN_LEASE`].
fn lease(secs: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|lease| *lease >= MIN_LEASE)
        .ok_or_else(|| usage(format!("--lease {secs}: expected at least 1 second")))
}

#[derive(Args)]
pub(crate) struct WorkArgs {
    /// The queue: `redis://HOST:PORT`, `postgres://USER@HOST:PORT/DB` or `sqlite://PATH`.
    #[arg(long, value_name = "redis://HOST:PORT|postgres://...|sqlite://PATH")]
    store: String,
    /// The queue's namespace (`listen --enqueue` fills `listen`).
    #[arg(long, default_value = "listen")]
    namespace: String,
    /// Where to POST each job (plain `http://`).
    #[arg(long, value_name = "URL")]
    forward_to: String,
    #[command(flatten)]
    worker: WorkerArgs,
    /// Exit 0 once nothing is pending or running, instead of running until SIGINT or SIGTERM.
    #[arg(long)]
    drain: bool,
    /// Print one JSON object per attempt.
    #[arg(long)]
    json: bool,
    /// Serve the metrics in the Prometheus text format at `http://ADDR:PORT/metrics` (port 0
    /// picks a free one); its URL is printed first (`{"metrics": URL}` with `--json`).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<std::net::SocketAddr>,
}

/// Runs `work`.
pub(crate) fn run(args: &WorkArgs) -> Result<(), Failure> {
    let store = StoreUrl::parse(&args.store)?.shared("work")?;
    let plan = args.worker.plan()?;
    let forwarder = Forwarder::new(&args.forward_to, plan.forward_timeout, "--forward-to")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        // First, so that the recorder is installed before anything records.
        if let Some(addr) = args.metrics {
            let url = crate::metrics::serve(addr, crate::metrics::install()?).await?;
            if args.json {
                println!("{}", json!({ "metrics": url }));
            } else {
                println!("metrics on {url}");
            }
        }
        let backend = store.queue_backend().await?;
        let queue =
            Queue::new(backend, &args.namespace).map_err(|e| usage(format!("--namespace: {e}")))?;
        let shutdown = Shutdown::on_signals();
        eprintln!(
            "working on {} (namespace {}), forwarding to {}",
            store.shown(),
            args.namespace,
            args.forward_to
        );
        let report = forward_jobs(
            queue,
            forwarder,
            &plan,
            args.drain,
            args.json,
            shutdown.requested(),
        )
        .await
        .map_err(|e| store.unreachable(&e))?;
        eprintln!(
            "worker stopped: {} done, {} retried, {} dead, {} fenced, {} released",
            report.done, report.retried, report.dead, report.fenced, report.released
        );
        Ok(())
    })
}

/// Why the app did not take a job: what the forward came to.
#[derive(Debug)]
pub(crate) struct NotTaken(Forwarded);

impl std::fmt::Display for NotTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            self.0
                .failure()
                .as_deref()
                .unwrap_or("the app did not take it"),
        )
    }
}

/// Runs a worker on `queue` that forwards each job with `forwarder`, printing one line per
/// attempt, until `shutdown` (or, with `drain`, until nothing is pending or running).
///
/// The store's outages are waited out by the worker; only a configuration the store refuses
/// ends it with an error.
pub(crate) async fn forward_jobs(
    queue: Queue,
    forwarder: Forwarder,
    plan: &WorkerPlan,
    drain: bool,
    json: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<WorkerReport, amps_webhooks::store::StoreError> {
    let forwarder = Arc::new(forwarder);
    let signer = plan.signer.clone().map(Arc::new);
    let worker = queue
        .worker()
        .concurrency(plan.concurrency)
        .lease(plan.lease)
        .schedule(plan.schedule.clone())
        .drain(drain)
        .on_attempt(move |attempt| println!("{}", describe(attempt, json)))
        .build();
    let handler = move |job: Job| {
        let forwarder = Arc::clone(&forwarder);
        let signer = signer.clone();
        async move {
            let headers = job_headers(&job, signer.as_deref());
            let forwarded = forwarder
                .exchange(&headers, Bytes::copy_from_slice(job.body()))
                .await;
            match forwarded.status {
                Some(200..=299) => Ok(forwarded),
                _ => Err(NotTaken(forwarded)),
            }
        }
    };
    worker.run(handler, shutdown).await
}

/// The headers a job is forwarded with: its own signature headers, or a new signature of the
/// same id and body at the current time; and `content-type: application/json`.
fn job_headers(job: &Job, signer: Option<&Signer>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut add = |name: &str, value: &str| {
        // The headers were verified on receipt: valid HTTP, so none is skipped here.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    };
    let resigned = signer.and_then(|signer| {
        signer
            .sign(job.webhook_id(), SystemClock.unix_seconds(), job.body())
            .ok()
    });
    match &resigned {
        Some(signed) => {
            for (name, value) in signed.webhook_headers() {
                add(name, value);
            }
        }
        None => {
            for (name, value) in job.headers() {
                add(name, value);
            }
        }
    }
    headers
}

/// The line of one attempt: readable, or one JSON object with `id`, `key`, `type`,
/// `attempt`, `status`, `outcome`, `error`, `latency_ms` and `retry_in_s`.
fn describe(attempt: &Attempt<'_, Forwarded, NotTaken>, json: bool) -> String {
    let job = attempt.job;
    let (forwarded, error) = match &attempt.result {
        Ok(forwarded) => (Some(*forwarded), None),
        Err(HandlerFailure::Error(not_taken)) => (Some(&not_taken.0), Some(not_taken.to_string())),
        Err(other) => (None, Some(other.to_string())),
    };
    let status = forwarded.and_then(|forwarded| forwarded.status);
    let latency = forwarded.map_or(attempt.elapsed, |forwarded| forwarded.latency);
    let retry_in = match attempt.outcome {
        AttemptOutcome::Retry { after } => Some(after),
        _ => None,
    };
    if json {
        return json!({
            "id": job.webhook_id(),
            "key": job.key(),
            "type": job.event_type(),
            "attempt": job.attempt(),
            "status": status,
            "outcome": attempt.outcome.as_str(),
            "error": error,
            "latency_ms": latency.as_millis(),
            "retry_in_s": retry_in.map(|after| after.as_secs_f64()),
        })
        .to_string();
    }
    let status = status.map_or_else(|| "-".to_owned(), |status| status.to_string());
    let mut line = format!(
        "{:<8} attempt {} {status} {} key={} in {} ms",
        attempt.outcome.as_str(),
        job.attempt(),
        job.webhook_id(),
        job.key(),
        latency.as_millis()
    );
    match (error, retry_in) {
        (Some(error), Some(after)) => line.push_str(&format!(
            "  ({error}; retry in {})",
            humantime::format_duration(Duration::from_secs(after.as_secs()))
        )),
        (Some(error), None) => line.push_str(&format!("  ({error})")),
        (None, _) => {}
    }
    line
}
