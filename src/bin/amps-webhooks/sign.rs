//! `sign`: signs a body and prints the three headers, one per line (ready for `curl -H`).

use amps_webhooks::{Clock as _, Signer, SystemClock};
use clap::Args;

use crate::failure::{Failure, usage};
use crate::input::{BodyArgs, keys, read_body};

#[derive(Args)]
pub(crate) struct SignArgs {
    /// The secret (`whsec_...`), or an ed25519 signing key (`whsk_...`, with the `ed25519`
    /// feature); repeat it to sign with several, as during a rotation.
    #[arg(
        long = "secret",
        visible_alias = "key",
        value_name = "S",
        required = true
    )]
    secrets: Vec<String>,
    /// The message id (`webhook-id`).
    #[arg(long)]
    id: String,
    /// Seconds since the Unix epoch (default: now).
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<u64>,
    #[command(flatten)]
    body: BodyArgs,
}

/// Runs `sign`.
pub(crate) fn run(args: &SignArgs) -> Result<(), Failure> {
    let signer =
        Signer::try_with_keys(keys(&args.secrets)?).map_err(|e| usage(format!("--secret: {e}")))?;
    let body = read_body(&args.body)?;
    let timestamp = args.timestamp.unwrap_or_else(|| SystemClock.unix_seconds());
    let signed = signer
        .sign(&args.id, timestamp, &body)
        .map_err(|e| usage(format!("--id: {e}")))?;
    for (name, value) in signed.webhook_headers() {
        println!("{name}: {value}");
    }
    Ok(())
}
