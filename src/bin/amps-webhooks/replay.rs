//! `replay`: POSTs recorded fixtures (`testing::Fixture` files) to a URL, as recorded or
//! re-signed with a fresh timestamp; prints one line per fixture.

use std::path::PathBuf;

use amps_webhooks::sender::{AttemptResult, Sender};
use amps_webhooks::testing::{Fixture, FixtureError};
use amps_webhooks::{Clock as _, Signer, SystemClock};
use clap::Args;
use serde_json::json;

use crate::failure::{Failure, usage};
use crate::input::{keys, timeout};

#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// The fixture files.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Where to POST (plain `http://` only).
    #[arg(long)]
    url: String,
    /// Re-sign each fixture with this secret and the current time (same id, body and header
    /// names), so a live receiver configured with it accepts the fixture; without it the
    /// recorded headers are sent as they are. Repeat it for several.
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// The per-request timeout in seconds (fractions allowed).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,
    /// Print one JSON object per fixture.
    #[arg(long)]
    json: bool,
}

/// Runs `replay`.
pub(crate) fn run(args: &ReplayArgs) -> Result<(), Failure> {
    let signer = if args.secrets.is_empty() {
        None
    } else {
        Some(
            Signer::try_with_keys(keys(&args.secrets)?)
                .map_err(|e| usage(format!("--secret: {e}")))?,
        )
    };
    let mut fixtures = Vec::with_capacity(args.files.len());
    for path in &args.files {
        // An unreadable file's error names it already; name it for the others too.
        let fixture = Fixture::load(path).map_err(|e| match e {
            FixtureError::Io { .. } => usage(e),
            other => usage(format!("{}: {other}", path.display())),
        })?;
        let fixture = match &signer {
            Some(signer) => fixture
                .resigned(signer, SystemClock.unix_seconds())
                .map_err(|e| usage(format!("{}: {e}", path.display())))?,
            None => fixture,
        };
        fixtures.push((path, fixture));
    }
    let sender = Sender::builder(Signer::with_keys(amps_webhooks::KeySet::new()))
        .timeout(timeout(args.timeout, "--timeout")?)
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    let mut failed = 0;
    for (path, fixture) in &fixtures {
        let result = runtime
            .block_on(fixture.replay_http(&sender, &args.url))
            .map_err(usage)?;
        if !result.is_success() {
            failed += 1;
        }
        if args.json {
            let (status, error) = match &result {
                AttemptResult::Response { status, .. } => (Some(*status), None),
                other => (None, Some(other.to_string())),
            };
            println!(
                "{}",
                json!({ "file": path.display().to_string(), "id": fixture.id(), "status": status, "error": error })
            );
        } else {
            println!(
                "{:<40} {} {}",
                result.to_string(),
                fixture.id().unwrap_or("-"),
                path.display()
            );
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure {
            code: 1,
            message: format!(
                "{failed} of {} fixtures were not answered 2xx",
                fixtures.len()
            ),
        })
    }
}
