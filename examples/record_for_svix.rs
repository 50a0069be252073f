//! Records every request the reference sender makes, for the official Svix library to check
//! (`tests/svix/verify_with_svix.py`, run by `.ci/run` right after this, while the timestamps
//! are within Svix's 5-minute tolerance):
//!
//! ```sh
//! cargo run --example record_for_svix --features testing,axum,memory -- target/svix-recorded
//! ```
//!
//! A local axum endpoint writes each request it receives (headers and raw body) as a
//! `testing::Fixture` JSON file into the directory, and fails the first attempt of some
//! messages so that retries, re-signed with fresh timestamps, are recorded too. The messages
//! cover each header style, a key rotation (two `v1,` entries) and the Amps payloads of
//! tests/data/amps/. (Not a body that is not UTF-8: the Svix library decodes the body as
//! UTF-8 before checking it; tests/vectors.rs covers those bodies.)

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amps_webhooks::retry::RetrySchedule;
use amps_webhooks::sender::{HeaderStyle, Sender};
use amps_webhooks::testing::Fixture;
use amps_webhooks::{Clock as _, KeySet, Signer, SystemClock};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// The secret the script verifies with (the first of the rotation).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The second secret of the rotation case.
const NEXT_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

struct Recorder {
    dir: PathBuf,
    count: AtomicUsize,
    /// Message ids whose first attempt is answered 500.
    fail_first: Mutex<Vec<String>>,
}

async fn record(
    State(recorder): State<Arc<Recorder>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let n = recorder.count.fetch_add(1, Ordering::SeqCst);
    let fixture = Fixture::record(&pairs, &body, SystemClock.unix_seconds())
        .with_description(format!("request {n} made by the reference sender"));
    if let Err(error) = fixture.save(recorder.dir.join(format!("request-{n:03}.json"))) {
        eprintln!("{error}");
        return StatusCode::INSUFFICIENT_STORAGE;
    }
    let id = fixture.id().unwrap_or_default().to_owned();
    let mut failing = recorder
        .fail_first
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(at) = failing.iter().position(|f| *f == id) {
        failing.remove(at);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/svix-recorded".to_owned()),
    );
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let recorder = Arc::new(Recorder {
        dir: dir.clone(),
        count: AtomicUsize::new(0),
        fail_first: Mutex::new(vec![
            "msg_webhook_0".to_owned(),
            "msg_svix_1".to_owned(),
            "msg_both_2".to_owned(),
            "msg_rotation".to_owned(),
        ]),
    });
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(Arc::clone(&recorder));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let schedule = RetrySchedule::fixed([Duration::ZERO, Duration::from_millis(50)])?;
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/amps"))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "json"));
    files.sort();
    for file in &files {
        payloads.push(std::fs::read(file)?);
    }

    let mut delivered = 0;
    let mut sent = 0;
    for (style, name) in [
        (HeaderStyle::Webhook, "webhook"),
        (HeaderStyle::Svix, "svix"),
        (HeaderStyle::Both, "both"),
    ] {
        let sender = Sender::builder(Signer::new(SECRET.parse()?))
            .schedule(schedule.clone())
            .header_style(style)
            .timeout(Duration::from_secs(5))
            .build();
        for (n, body) in payloads.iter().enumerate() {
            let report = sender
                .send(&url, &format!("msg_{name}_{n}"), body.clone())
                .await?;
            sent += 1;
            delivered += usize::from(report.is_delivered());
        }
    }
    let rotation = Sender::builder(Signer::with_keys(KeySet::parse([SECRET, NEXT_SECRET])?))
        .schedule(schedule)
        .build();
    let report = rotation
        .send(&url, "msg_rotation", payloads[0].clone())
        .await?;
    sent += 1;
    delivered += usize::from(report.is_delivered());

    let recorded = recorder.count.load(Ordering::SeqCst);
    println!(
        "{sent} messages, {delivered} delivered, {recorded} requests recorded in {}",
        dir.display()
    );
    if delivered != sent {
        return Err("not every message was delivered".into());
    }
    Ok(())
}
