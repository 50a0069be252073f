//! `sign`: signs a body and prints the three headers, one per line (ready for `curl -H`), or a
//! runnable `curl` command, or the headers as one JSON object (`--format`).

use amps_webhooks::{Clock as _, Signer, SystemClock};
use clap::{Args, ValueEnum};

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
    /// What to print: the headers, one per line; a `curl` command that POSTs the body with
    /// them to `--url`; or the headers as one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Headers)]
    format: Format,
    /// Where the `curl` command POSTs (with `--format curl`).
    #[arg(long, default_value = "http://127.0.0.1:8080/webhooks")]
    url: String,
    #[command(flatten)]
    body: BodyArgs,
}

/// The output of `sign`.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// `name: value`, one header per line.
    Headers,
    /// A runnable `curl` command with the headers and the body.
    Curl,
    /// `{"webhook-id": ..., "webhook-timestamp": ..., "webhook-signature": ...}`.
    Json,
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
    let headers = signed.webhook_headers();
    match args.format {
        Format::Headers => {
            for (name, value) in headers {
                println!("{name}: {value}");
            }
        }
        Format::Json => {
            // In the order of the headers (serde_json's map would sort them).
            let text = |text: &str| serde_json::Value::from(text).to_string();
            let members: Vec<String> = headers
                .iter()
                .map(|(name, value)| format!("{}:{}", text(name), text(value)))
                .collect();
            println!("{{{}}}", members.join(","));
        }
        Format::Curl => println!("{}", curl(args, &headers, &body)?),
    }
    Ok(())
}

/// `curl` POSTing the body with the headers, on one line: the body inline when it came from standard input
/// (it must then be text), `@FILE` when it came from `--body-file` (any bytes).
fn curl(args: &SignArgs, headers: &[(&str, &str)], body: &[u8]) -> Result<String, Failure> {
    let quote = |text: &str, what: &str| {
        shlex::try_quote(text)
            .map(|quoted| quoted.into_owned())
            .map_err(|e| usage(format!("--format curl: {what}: {e}")))
    };
    let mut command = format!("curl --fail-with-body -sS {}", quote(&args.url, "--url")?);
    for (name, value) in headers {
        command.push_str(&format!(
            " -H {}",
            quote(&format!("{name}: {value}"), "a header")?
        ));
    }
    command.push_str(" -H 'content-type: application/json'");
    let data = match args.body.file() {
        Some(path) => {
            let path = path
                .to_str()
                .ok_or_else(|| usage("--format curl: the --body-file path is not UTF-8"))?;
            quote(&format!("@{path}"), "the --body-file path")?
        }
        None => {
            let text = std::str::from_utf8(body).map_err(|_| {
                usage("--format curl: the body is not UTF-8 text; give it with --body-file")
            })?;
            quote(text, "the body")?
        }
    };
    command.push_str(&format!(" --data-binary {data}"));
    Ok(command)
}
