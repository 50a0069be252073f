//! The whole path on SQLite, with nothing to run: receive (the library's `enqueue_route`
//! verifies each delivery, enqueues it and answers 200 at once; a redelivery is a duplicate),
//! then work (a `Worker` whose transactional handler writes its business row in the
//! transaction that marks the job done: exactly one row per event, whatever the
//! redeliveries, failures and crashes). Receiver and workers share one database file.
//!
//! Run: `cargo run --example queue_sqlite --features queue,sqlite,axum`. In one process, on a
//! fresh file in the temporary directory, it receives three signed events over HTTP (one of
//! them twice), drains the queue and prints the business rows.
//!
//! The end-to-end test (tests/queue_sqlite_e2e.rs) runs the parts as processes it can kill:
//! - `queue_sqlite receive --file PATH [--namespace N]`: creates the jobs table and the
//!   business table `orders` when missing, and serves the receiver on a free loopback port,
//!   printed as `listening on ADDR`;
//! - `queue_sqlite work --file PATH [--namespace N] [--drain]`: the worker, until killed or
//!   (with `--drain`) until nothing is pending or running. It prints its settings first, then
//!   one line per attempt that did not complete its job; its handler fails the first attempt
//!   of each event whose key ends in a multiple of 5 (after writing its row, which the
//!   rollback takes back).

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::integrations::axum::enqueue_route;
use amps_webhooks::queue::{Attempt, AttemptOutcome, Job, Queue, SqliteQueue, TransactionalError};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::store::sqlx::{self, Sqlite, Transaction};
use amps_webhooks::{Signer, Verifier};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type BoxError = Box<dyn Error + Send + Sync>;

/// The secret the example signs and verifies with.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// How long a done job is kept (a redelivery within it is a duplicate).
const RETENTION: Duration = Duration::from_secs(72 * 3600);
/// The worker's concurrency: at most this many jobs run at a kill.
const CONCURRENCY: usize = 8;
/// The worker's lease: a killed worker's jobs are taken over this long after.
const LEASE: Duration = Duration::from_secs(3);

/// Where the parts run.
struct Config {
    file: PathBuf,
    namespace: String,
    drain: bool,
}

impl Config {
    fn from_args(mut args: impl Iterator<Item = String>) -> Result<Self, BoxError> {
        let mut config = Self {
            file: std::env::temp_dir().join(format!("queue_sqlite-{}.db", std::process::id())),
            namespace: "orders".to_owned(),
            drain: false,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--file" => config.file = value()?.into(),
                "--namespace" => config.namespace = value()?,
                "--drain" => config.drain = true,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        Ok(config)
    }

    /// The queue on the file (the file and the jobs table created when missing).
    async fn queue(&self) -> Result<(SqliteQueue, Queue), BoxError> {
        let backend = SqliteQueue::builder(&self.file).connect().await?;
        let queue = Queue::new(Arc::new(backend.clone()), &self.namespace)?;
        Ok((backend, queue.with_retention(RETENTION)))
    }
}

/// Receive: the business table (once, at start-up), then the route that verifies,
/// enqueues and answers.
async fn receiver(config: &Config) -> Result<axum::Router, BoxError> {
    let (backend, queue) = config.queue().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, event_key TEXT NOT NULL, \
         event_type TEXT)",
    )
    .execute(backend.pool())
    .await?;
    let verifier = Verifier::new(SECRET.parse()?);
    Ok(axum::Router::new().route("/webhooks", enqueue_route(verifier, queue)))
}

/// The receiver on a free loopback port, until killed.
async fn receive(config: &Config) -> Result<(), BoxError> {
    let app = receiver(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The business effect, in the job's transaction: one row per event.
async fn apply(
    job: &Job,
    mut tx: Transaction<'static, Sqlite>,
) -> Result<Transaction<'static, Sqlite>, BoxError> {
    let event = job.parse::<serde_json::Value>()?;
    sqlx::query("INSERT INTO orders (event_key, event_type) VALUES (?1, ?2)")
        .bind(event.idempotency_key().to_owned())
        .bind(event.event_type().map(str::to_owned))
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The failure the end-to-end test asks for: the first attempt of each event whose key ends
/// in a multiple of 5 fails, after its write (rolled back with the transaction).
fn fails_first(job: &Job) -> bool {
    let number = job
        .key()
        .rsplit(['-', '_'])
        .next()
        .and_then(|n| n.parse::<u64>().ok());
    job.attempt() == 1 && number.is_some_and(|n| n.is_multiple_of(5))
}

/// The line of an attempt that did not complete its job (`retry evt-5 attempt 1: ...`).
fn report(attempt: &Attempt<'_, (), TransactionalError<BoxError>>) {
    if attempt.outcome != AttemptOutcome::Done {
        let error = attempt.result.as_ref().err().map(ToString::to_string);
        println!(
            "{} {} attempt {}: {}",
            attempt.outcome,
            attempt.job.key(),
            attempt.job.attempt(),
            error.unwrap_or_default()
        );
    }
}

/// Work: the transactional handler, until drained (or killed).
async fn work(config: &Config) -> Result<(), BoxError> {
    let (backend, queue) = config.queue().await?;
    let handler = backend.transactional(&config.namespace, RETENTION, |job, tx| async move {
        let tx = apply(&job, tx).await?;
        if fails_first(&job) {
            return Err(BoxError::from(
                "the first attempt of this job fails on purpose",
            ));
        }
        Ok(tx)
    });
    println!("working: concurrency {CONCURRENCY}, lease {LEASE:?}");
    let report = queue
        .worker()
        .concurrency(CONCURRENCY)
        .lease(LEASE)
        .schedule(RetrySchedule::fixed([
            Duration::ZERO,
            Duration::from_millis(200),
            Duration::from_millis(200),
            Duration::from_millis(200),
        ])?)
        .drain(config.drain)
        .on_attempt(report)
        .build()
        .run(handler, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    println!("stopped: {report:?}");
    Ok(())
}

/// The whole path in one process: three events over HTTP (the second twice), then drained.
async fn demo(config: &Config) -> Result<(), BoxError> {
    println!("queue file: {}", config.file.display());
    let app = receiver(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app).into_future());

    // Enqueue: each POST answered 200 as soon as its job is stored.
    let signer = Signer::new(SECRET.parse()?);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    for i in [1, 2, 3, 2] {
        let body = format!(r#"{{"type":"order.paid","eventId":"evt-{i}","data":{{"order":{i}}}}}"#);
        let signed = signer.sign(&format!("msg_{i}"), now, body.as_bytes())?;
        let mut request = hyper::Request::post(&url);
        for (name, value) in signed.webhook_headers() {
            request = request.header(name, value);
        }
        let response = client
            .request(request.body(Full::new(Bytes::from(body)))?)
            .await?;
        let answer = http_body_util::BodyExt::collect(response.into_body()).await?;
        println!("evt-{i}: {}", String::from_utf8_lossy(&answer.to_bytes()));
    }
    work(&Config {
        file: config.file.clone(),
        namespace: config.namespace.clone(),
        drain: true,
    })
    .await?;
    let (backend, _) = config.queue().await?;
    let rows: Vec<(String,)> = sqlx::query_as("SELECT event_key FROM orders ORDER BY id")
        .fetch_all(backend.pool())
        .await?;
    println!(
        "business rows: {:?}",
        rows.into_iter().map(|(key,)| key).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1).peekable();
    let part = args.next_if(|arg| arg == "receive" || arg == "work");
    let config = Config::from_args(args)?;
    match part.as_deref() {
        Some("receive") => receive(&config).await,
        Some(_) => work(&config).await,
        None => demo(&config).await,
    }
}
