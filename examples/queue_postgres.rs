//! The whole path on PostgreSQL: receive (verify a signed delivery), enqueue (one atomic
//! dedup + store; a redelivery is a duplicate), work (a `Worker` whose transactional handler
//! writes its business row in the transaction that marks the job done: exactly one row per
//! event, whatever the redeliveries, failures and crashes).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1/test cargo run --example queue_postgres
//! --features queue,postgres,axum`. It migrates the jobs table, enqueues three signed events (and
//! one of them again), drains the queue and prints the business rows.
//!
//! The end-to-end test (tests/queue_postgres_e2e.rs) runs the parts as processes it can kill,
//! with the same flags (`--schema S --table T --namespace N --business B`):
//! - `queue_postgres receive ...`: migrates the jobs table, creates the business table when
//!   missing, and serves the library's `enqueue_route` (verify, enqueue, answer 200 at once) on
//!   a free loopback port, printed as `listening on ADDR`;
//! - `queue_postgres work ... [--drain]`: the worker, until killed or (with `--drain`) until
//!   nothing is pending or running. It prints its settings first, then one line per attempt
//!   that did not complete its job; its handler fails the first attempt of each event whose
//!   key ends in a multiple of 5 (after writing its row, which the rollback takes back).

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::integrations::axum::enqueue_route;
use amps_webhooks::queue::{
    Attempt, AttemptOutcome, Job, PostgresQueue, Queue, TransactionalError,
};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::store::sqlx::{self, Postgres, Transaction};
use amps_webhooks::{Signer, Verifier};

type BoxError = Box<dyn Error + Send + Sync>;

/// The secret the example signs and verifies with.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The worker's concurrency: at most this many jobs run at a kill.
const CONCURRENCY: usize = 8;
/// The worker's lease: a killed worker's jobs are taken over this long after.
const LEASE: Duration = Duration::from_secs(3);

/// What the worker runs against.
#[derive(Clone)]
struct Config {
    url: String,
    schema: Option<String>,
    table: String,
    namespace: String,
    business: String,
    drain: bool,
}

impl Config {
    fn from_args(mut args: impl Iterator<Item = String>) -> Result<Self, BoxError> {
        let mut config = Self {
            url: std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
            schema: None,
            table: amps_webhooks::queue::DEFAULT_POSTGRES_QUEUE_TABLE.to_owned(),
            namespace: "orders".to_owned(),
            business: "queued_orders".to_owned(),
            drain: false,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--schema" => config.schema = Some(value()?),
                "--table" => config.table = value()?,
                "--namespace" => config.namespace = value()?,
                "--business" => config.business = value()?,
                "--drain" => config.drain = true,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        Ok(config)
    }

    /// The business table, qualified like the jobs table.
    fn business_table(&self) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", self.business),
            None => format!("\"{}\"", self.business),
        }
    }

    async fn queue(&self) -> Result<PostgresQueue, BoxError> {
        let mut builder = PostgresQueue::builder(self.url.as_str()).table(self.table.as_str());
        if let Some(schema) = &self.schema {
            builder = builder.schema(schema.as_str());
        }
        Ok(builder.connect().await?)
    }
}

/// The business effect, in the job's transaction: one row per event.
async fn apply(
    business: &str,
    job: &Job,
    mut tx: Transaction<'static, Postgres>,
) -> Result<Transaction<'static, Postgres>, BoxError> {
    let event = job.parse::<serde_json::Value>()?;
    sqlx::query(&format!(
        "INSERT INTO {business} (event_key, event_type) VALUES ($1, $2)"
    ))
    .bind(event.idempotency_key())
    .bind(event.event_type())
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// The failure the end-to-end test asks for: the first attempt of each event whose key ends
/// in a multiple of 5 fails, after its write (rolled back with the transaction): the retry
/// must write it once.
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

/// Runs the worker with the transactional handler until drained (or killed).
async fn work(config: &Config, queue: &PostgresQueue) -> Result<(), BoxError> {
    let retention = Duration::from_secs(72 * 3600);
    let jobs = Queue::new(Arc::new(queue.clone()), &config.namespace)?.with_retention(retention);
    let business: Arc<str> = config.business_table().into();
    let handler = queue.transactional(&config.namespace, retention, move |job, tx| {
        let business = Arc::clone(&business);
        async move {
            let tx = apply(&business, &job, tx).await?;
            if fails_first(&job) {
                return Err(BoxError::from(
                    "the first attempt of this job fails on purpose",
                ));
            }
            Ok(tx)
        }
    });
    println!("working: concurrency {CONCURRENCY}, lease {LEASE:?}");
    let report = jobs
        .worker()
        .concurrency(CONCURRENCY)
        .lease(LEASE)
        .schedule(RetrySchedule::fixed([
            Duration::ZERO,
            Duration::from_millis(200),
            Duration::from_millis(200),
            Duration::from_millis(200),
        ])?)
        .poll(Duration::from_millis(500))
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

/// Once, at start-up: the jobs table (or put `queue.migration_sql()` in your migrations), and
/// the business table.
async fn migrate(config: &Config, queue: &PostgresQueue) -> Result<(), BoxError> {
    queue.migrate().await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, event_key text NOT NULL, event_type text)",
        config.business_table()
    ))
    .execute(queue.pool())
    .await?;
    Ok(())
}

/// The receiver on a free loopback port, until killed: the library's route verifies each
/// delivery, enqueues it (a redelivery is a duplicate) and answers 200 at once.
async fn receive(config: &Config, queue: &PostgresQueue) -> Result<(), BoxError> {
    migrate(config, queue).await?;
    let jobs = Queue::new(Arc::new(queue.clone()), &config.namespace)?;
    let app = axum::Router::new().route(
        "/webhooks",
        enqueue_route(Verifier::new(SECRET.parse()?), jobs),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The demo: receive three signed events (and one again), then drain.
async fn demo(config: &Config, queue: &PostgresQueue) -> Result<(), BoxError> {
    migrate(config, queue).await?;
    let signer = Signer::new(SECRET.parse()?);
    let verifier = Verifier::new(SECRET.parse()?);
    let jobs = Queue::new(Arc::new(queue.clone()), &config.namespace)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    for (i, redelivery) in [(1, false), (2, false), (3, false), (2, true)] {
        let body =
            format!(r#"{{"type":"order.paid","eventId":"evt_{now}_{i}","data":{{"order":{i}}}}}"#);
        let signed = signer.sign(&format!("msg_{now}_{i}"), now, body.as_bytes())?;
        let headers = signed.webhook_headers();
        // 1. Receive: verify and parse (what a route does with each request).
        let event = verifier
            .verify(&headers, body.as_bytes())?
            .parse::<serde_json::Value>()?;
        // 2. Enqueue: dedup and store in one statement; answer the sender 200 now.
        let answer = jobs.enqueue(&event, &headers).await?;
        println!(
            "evt_{now}_{i}{}: {answer:?}",
            if redelivery { " (again)" } else { "" }
        );
    }
    // 3. Work: drain the queue with the transactional handler.
    work(
        &Config {
            drain: true,
            ..config.clone()
        },
        queue,
    )
    .await?;
    let rows: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT event_key FROM {} WHERE event_key LIKE $1 ORDER BY id",
        config.business_table()
    ))
    .bind(format!("evt_{now}_%"))
    .fetch_all(queue.pool())
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
    let queue = config.queue().await?;
    match part.as_deref() {
        Some("receive") => receive(&config, &queue).await,
        Some(_) => work(&config, &queue).await,
        None => demo(&config, &queue).await,
    }
}
