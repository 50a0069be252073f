//! What several subcommands read: the keys of `--secret` (or `AMPS_WEBHOOKS_SECRET`), a
//! body from a file or standard input, a timeout in seconds, a retry schedule.

use std::io::{IsTerminal as _, Read as _};
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

impl BodyArgs {
    /// The `--body-file`, when given.
    pub(crate) fn file(&self) -> Option<&std::path::Path> {
        self.body_file.as_deref()
    }
}

/// The body: the `--body-file`, else standard input (saying so first when it is a terminal,
/// where the tool would otherwise seem to hang).
pub(crate) fn read_body(args: &BodyArgs) -> Result<Vec<u8>, Failure> {
    match &args.body_file {
        Some(path) => {
            std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("reading the body from stdin; end with Ctrl-D, or use --body-file");
            }
            let mut body = Vec::new();
            stdin
                .lock()
                .read_to_end(&mut body)
                .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
            Ok(body)
        }
    }
}

/// The environment variable read for the keys when no `--secret` is given.
pub(crate) const SECRET_ENV: &str = "AMPS_WEBHOOKS_SECRET";

/// The keys of the `--secret` flags.
pub(crate) fn keys(secrets: &[String]) -> Result<KeySet, Failure> {
    KeySet::parse(secrets).map_err(|e| usage(format!("--secret: {e}")))
}

/// The keys of the `--secret` (or `--key`) flags, else of `AMPS_WEBHOOKS_SECRET`: one or more
/// keys separated by spaces or commas (so that a script need not put a secret on the command
/// line). Neither: a usage error that names both.
pub(crate) fn keys_or_env(secrets: &[String], flag: &str) -> Result<KeySet, Failure> {
    if !secrets.is_empty() {
        return keys(secrets);
    }
    let text = std::env::var(SECRET_ENV).unwrap_or_default();
    let from_env = split_keys(&text);
    if from_env.is_empty() {
        return Err(usage(format!(
            "no key: give {flag} S (repeat it for several) or set {SECRET_ENV} (keys separated by spaces or commas)"
        )));
    }
    KeySet::parse(from_env).map_err(|e| usage(format!("{SECRET_ENV}: {e}")))
}

/// The keys of `AMPS_WEBHOOKS_SECRET`'s text: separated by spaces (any whitespace) or commas.
fn split_keys(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|key| !key.is_empty())
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_split_on_spaces_and_commas() {
        assert_eq!(
            split_keys(" whsec_a, whsec_b\twhsec_c,,\n"),
            ["whsec_a", "whsec_b", "whsec_c"]
        );
        assert!(split_keys(" , ").is_empty());
    }
}
