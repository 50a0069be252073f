//! The whole path on PostgreSQL: receive (verify a signed delivery), enqueue (one atomic
//! dedup + store; a redelivery is a duplicate), work (a `Worker` whose transactional handler
//! writes its business row in the transaction that marks the job done: exactly one row per
//! event, whatever the redeliveries, failures and crashes).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1/test cargo run --example queue_postgres
//! --features queue,postgres`. It migrates the jobs table, enqueues three signed events (and
//! one of them again), drains the queue and prints the business rows.
//!
//! `queue_postgres work --schema S --table T --namespace N --business B [--drain]` runs only
//! the worker, until killed (or, with `--drain`, until nothing is pending or running): the
//! worker process of the end-to-end test (tests/queue_postgres_e2e.rs). Its handler fails the
//! first attempt of one job in five (after writing its row, which the rollback takes back).

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use amps_webhooks::queue::{Job, PostgresQueue, Queue};
use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::store::sqlx::{self, Postgres, Transaction};
use amps_webhooks::{Signer, Verifier};

type BoxError = Box<dyn Error + Send + Sync>;

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

/// One job in five fails its first attempt, after its write (rolled back with the
/// transaction): the retry must write it once.
fn fails_first(job: &Job) -> bool {
    job.attempt() == 1 && job.key().bytes().map(u32::from).sum::<u32>() % 5 == 0
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
    let report = jobs
        .worker()
        .concurrency(8)
        .lease(Duration::from_secs(3))
        .schedule(RetrySchedule::fixed([
            Duration::ZERO,
            Duration::from_millis(200),
            Duration::from_millis(200),
            Duration::from_millis(200),
        ])?)
        .poll(Duration::from_millis(500))
        .drain(config.drain)
        .build()
        .run(handler, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    println!(
        "done {} retried {} dead {} fenced {} released {}",
        report.done, report.retried, report.dead, report.fenced, report.released
    );
    Ok(())
}

/// The demo: receive three signed events (and one again), then drain.
async fn demo(config: &Config, queue: &PostgresQueue) -> Result<(), BoxError> {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signer = Signer::new(secret.parse()?);
    let verifier = Verifier::new(secret.parse()?);
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
    let working = args.peek().map(String::as_str) == Some("work");
    if working {
        args.next();
    }
    let config = Config::from_args(args)?;
    let queue = config.queue().await?;
    if working {
        return work(&config, &queue).await;
    }
    // Once, at start-up: the jobs table (or put `queue.migration_sql()` in your migrations),
    // and the business table.
    queue.migrate().await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, event_key text NOT NULL, event_type text)",
        config.business_table()
    ))
    .execute(queue.pool())
    .await?;
    demo(&config, &queue).await
}
