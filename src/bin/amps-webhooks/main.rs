//! `amps-webhooks`: sign and verify webhook requests from the command line, receive them on a
//! local port (`listen`: answered, forwarded to an app, or enqueued), drain a queue into an
//! app (`work`), look into a queue (`inbox`), deliver them with retries (`send`), or replay
//! recorded fixtures (`replay`).
//!
//! Exit codes: 0 success, 1 a request was rejected (for `send`: the schedule ran out without a
//! 2xx; for `replay`: a request was not answered 2xx), 2 a usage or configuration error (or,
//! for `listen`, `work` and `inbox`, a port that cannot be bound or a store that cannot be
//! reached), 3 for `send` when the endpoint answered 410 Gone.
//!
//! One module per subcommand (`sign`, `verify`, `listen`, `work`, `inbox`, `send`, `replay`),
//! each with its arguments; `input` reads what several share (keys, bodies, durations,
//! schedules), `failure` holds the failure type and its exit codes, `stores` turns `--store`
//! URLs into stores and queues, `forward` posts to the app, `enqueue` is `listen --enqueue`'s
//! route, `report` prints `listen`'s lines, `shutdown` waits for SIGINT or SIGTERM; `inspect` is `listen`'s web inspector.
//!
#![doc = include_str!("../../docs/cli.md")]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod failure;
mod forward;
mod inbox;
mod input;
mod inspect;
mod listen;
mod metrics;
mod replay;
mod report;
mod send;
mod shutdown;
mod sign;
mod stores;
mod verify;
mod work;

/// Sign and verify Standard Webhooks (Svix) requests, for Amps platform webhooks and any
/// other Standard Webhooks sender.
#[derive(Parser)]
#[command(name = "amps-webhooks", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign a body and print the three headers, one per line (ready for `curl -H`).
    Sign(sign::SignArgs),
    /// Verify a request; print the event as one JSON object.
    Verify(verify::VerifyArgs),
    /// Receive webhooks on a local port: verify, deduplicate, and print one line per request.
    Listen(listen::ListenArgs),
    /// Deliver a signed Amps event to a URL once and show the answer (`--retry`: along the
    /// platform's schedule; `--schedule`: any); print each attempt. Exits 0 when delivered, 1
    /// when not, 3 on 410 Gone.
    Send(send::SendArgs),
    /// POST recorded fixtures (`testing::Fixture` JSON files) to a URL, as recorded, or
    /// re-signed with a fresh timestamp under `--secret`. Exits 0 when every one got a 2xx.
    Replay(replay::ReplayArgs),
    /// Drain a queue (`listen --enqueue` fills it): POST each job to the app, retry what it
    /// does not take along a schedule, dead-letter it after the last attempt; print each
    /// attempt. Runs until SIGINT or SIGTERM, or with `--drain` until nothing is left.
    Work(work::WorkArgs),
    /// Look into a queue: `stats`, the `dead` jobs, `redrive` them.
    Inbox(inbox::InboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sign(args) => sign::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Listen(args) => listen::run(&args),
        Command::Send(args) => send::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Work(args) => work::run(&args),
        Command::Inbox(args) => inbox::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
