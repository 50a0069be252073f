//! `inbox`: what an operator asks of a queue: `stats` (how many jobs in each state, the age of
//! the oldest pending one), `dead` (the dead jobs and their last errors) and `redrive` (dead
//! jobs back to pending).

use std::time::SystemTime;

use amps_webhooks::queue::{Queue, Redrive};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::failure::{Failure, usage};
use crate::stores::StoreUrl;

#[derive(Args)]
pub(crate) struct InboxArgs {
    #[command(subcommand)]
    command: InboxCommand,
}

#[derive(Subcommand)]
enum InboxCommand {
    /// How many jobs are pending, running, dead and done, and the age of the oldest pending
    /// one in whole seconds.
    Stats {
        #[command(flatten)]
        queue: QueueArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The dead jobs, the most recently dead first, with their last error.
    Dead {
        #[command(flatten)]
        queue: QueueArgs,
        /// The most jobs printed.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// Print one JSON object per job.
        #[arg(long)]
        json: bool,
    },
    /// Put dead jobs back, pending with their attempts reset: the one of a key, or all.
    /// Prints how many went back.
    Redrive {
        #[command(flatten)]
        queue: QueueArgs,
        /// The idempotency key of the dead job to put back.
        #[arg(
            long,
            value_name = "K",
            conflicts_with = "all",
            required_unless_present = "all"
        )]
        key: Option<String>,
        /// Every dead job of the namespace.
        #[arg(long)]
        all: bool,
        /// Print `{"redriven": N}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct QueueArgs {
    /// The queue: `redis://HOST:PORT`, `postgres://USER@HOST:PORT/DB` or `sqlite://PATH`.
    #[arg(long, value_name = "redis://HOST:PORT|postgres://...|sqlite://PATH")]
    store: String,
    /// The queue's namespace.
    #[arg(long, default_value = "listen")]
    namespace: String,
}

/// Runs `inbox`.
pub(crate) fn run(args: &InboxArgs) -> Result<(), Failure> {
    let queue_args = match &args.command {
        InboxCommand::Stats { queue, .. }
        | InboxCommand::Dead { queue, .. }
        | InboxCommand::Redrive { queue, .. } => queue,
    };
    let store = StoreUrl::parse(&queue_args.store)?.shared("inbox")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let backend = store.queue_backend().await?;
        let queue = Queue::new(backend, &queue_args.namespace)
            .map_err(|e| usage(format!("--namespace: {e}")))?;
        let unreachable = |error| store.unreachable(&error);
        match &args.command {
            InboxCommand::Stats { json, .. } => {
                let stats = queue.stats().await.map_err(unreachable)?;
                let age = stats.oldest_pending_age.map(|age| age.as_secs());
                if *json {
                    println!(
                        "{}",
                        json!({
                            "pending": stats.pending,
                            "running": stats.running,
                            "dead": stats.dead,
                            "done": stats.done,
                            "oldest_pending_age_s": age,
                        })
                    );
                } else {
                    let age = age.map_or_else(|| "-".to_owned(), |age| age.to_string());
                    println!("pending              {}", stats.pending);
                    println!("running              {}", stats.running);
                    println!("dead                 {}", stats.dead);
                    println!("done                 {}", stats.done);
                    println!("oldest_pending_age_s {age}");
                }
            }
            InboxCommand::Dead { limit, json, .. } => {
                for job in queue.dead(*limit).await.map_err(unreachable)? {
                    if *json {
                        println!(
                            "{}",
                            json!({
                                "id": job.webhook_id,
                                "key": job.key,
                                "type": job.event_type,
                                "attempts": job.attempts,
                                "last_error": job.last_error,
                                "received_at": rfc3339(job.received_at),
                            })
                        );
                    } else {
                        println!(
                            "{} key={} type={} attempts={}  ({})",
                            job.webhook_id,
                            job.key,
                            job.event_type.as_deref().unwrap_or("-"),
                            job.attempts,
                            job.last_error.as_deref().unwrap_or("no error recorded")
                        );
                    }
                }
            }
            InboxCommand::Redrive { key, json, .. } => {
                let which = key.as_deref().map_or(Redrive::All, Redrive::Key);
                let moved = queue.redrive(which).await.map_err(unreachable)?;
                if *json {
                    println!("{}", json!({ "redriven": moved }));
                } else {
                    println!(
                        "{moved} dead job{} back to pending",
                        if moved == 1 { "" } else { "s" }
                    );
                }
            }
        }
        Ok(())
    })
}

/// `time` in RFC 3339, to the second.
fn rfc3339(time: SystemTime) -> Option<String> {
    jiff::Timestamp::try_from(time)
        .ok()
        .map(|at| at.round(jiff::Unit::Second).unwrap_or(at).to_string())
}
