//! `amps-webhooks`: sign and verify webhook requests from the command line, receive them on a
//! local port (`listen`), deliver them with retries (`send`), or replay recorded fixtures
//! (`replay`).
//!
//! Exit codes: 0 success, 1 a request was rejected (for `send`: the schedule ran out without a
//! 2xx; for `replay`: a request was not answered 2xx), 2 a usage or configuration error (or,
//! for `listen`, a port that cannot be bound or a store that cannot be reached), 3 for `send`
//! when the endpoint answered 410 Gone.
//!
//! One module per subcommand (`sign`, `verify`, `listen`, `send`, `replay`), each with its
//! arguments; `inspect` is `listen`'s web inspector; `input` reads what several share (keys,
//! bodies, durations), `failure` holds the failure type and its exit codes.
//!
#![doc = include_str!("../../docs/cli.md")]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod failure;
mod input;
mod inspect;
mod listen;
mod replay;
mod send;
mod sign;
mod verify;

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
    /// Deliver a signed Amps event to a URL, retrying along a schedule as the platform does;
    /// print each attempt. Exits 0 when delivered, 1 when the schedule ran out, 3 on 410 Gone.
    Send(send::SendArgs),
    /// POST recorded fixtures (`testing::Fixture` JSON files) to a URL, as recorded, or
    /// re-signed with a fresh timestamp under `--secret`. Exits 0 when every one got a 2xx.
    Replay(replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sign(args) => sign::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Listen(args) => listen::run(&args),
        Command::Send(args) => send::run(&args),
        Command::Replay(args) => replay::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
