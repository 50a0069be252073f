//! What several subcommands read: the keys of `--secret`, a body from a file or standard
//! input, a timeout in seconds, a retry schedule.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use amps_webhooks::KeySet;
use amps_webhooks::retry::RetrySchedule;
use clap::Args;

use crate::failure::{Failure, usage};

#[derive(Args)]
pub(crate) struct BodyArgs {
    /// Read the body from this file instead of standard input.
    #[arg(long, value_name = "F")]
    body_file: Option<PathBuf>,
}

/// The body: the `--body-file`, else standard input.
pub(crate) fn read_body(args: &BodyArgs) -> Result<Vec<u8>, Failure> {
    match &args.body_file {
        Some(path) => {
            std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
        }
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
            Ok(body)
        }
    }
}

/// The keys of the `--secret` flags.
pub(crate) fn keys(secrets: &[String]) -> Result<KeySet, Failure> {
    KeySet::parse(secrets).map_err(|e| usage(format!("--secret: {e}")))
}

/// `secs` seconds as the value of `flag`: a positive, finite number.
pub(crate) fn timeout(secs: f64, flag: &str) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            usage(format!(
                "{flag} {secs}: expected a positive number of seconds"
            ))
        })
}

/// `0s,5s,5m,30m` into delays. An item with whitespace inside (`0s 5s`) is refused: humantime
/// would add its parts up into one delay, where a comma was meant.
pub(crate) fn parse_schedule(list: &str) -> Result<RetrySchedule, Failure> {
    let delays = list
        .split(',')
        .map(|item| {
            let item = item.trim();
            if item.contains(char::is_whitespace) {
                return Err(usage(format!(
                    "--schedule {item:?}: one delay per item; separate the delays with commas (e.g. 0s,5s,5m,30m)"
                )));
            }
            humantime::parse_duration(item)
                .map_err(|e| usage(format!("--schedule {item:?}: {e} (e.g. 0s,5s,5m,30m)")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    RetrySchedule::fixed(delays).map_err(|e| usage(format!("--schedule: {e}")))
}
