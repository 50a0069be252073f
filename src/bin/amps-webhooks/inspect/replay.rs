//! Replay: a recorded request sent through the listener's receiver again (the same stack as a
//! delivery: verification, deduplication, the handler, forwarding, the terminal line and the
//! capture), as recorded, so that the checks fire as they did, or re-signed with the current
//! time under the listener's HMAC secrets. The replay is a new entry.

use std::fmt;
use std::sync::{Arc, Mutex};

use amps_webhooks::testing::Fixture;
use amps_webhooks::{Clock as _, SystemClock};
use axum::body::Body;
use axum::extract::Request;
use http_body_util::BodyExt as _;
use tokio::sync::oneshot;
use tower_service::Service;

use super::Inspector;
use super::capture::ReplayTicket;
use super::record::Entry;

/// Why a replay did not run.
#[derive(Debug)]
pub(crate) enum ReplayError {
    /// No entry of that number is kept.
    Unknown(u64),
    /// A re-signed replay, but the listener has no HMAC secret.
    NoSecret,
    /// A re-signed replay of a request without a usable `webhook-id`.
    CannotSign(String),
    /// The request could not be rebuilt or run.
    Broken(String),
}

impl ReplayError {
    /// The status the API answers with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Unknown(_) => 404,
            Self::NoSecret | Self::CannotSign(_) => 409,
            Self::Broken(_) => 500,
        }
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(seq) => write!(f, "no request #{seq} is kept"),
            Self::NoSecret => f.write_str(
                "cannot re-sign: the listener has no HMAC secret (whsec_...) to sign with; replay it as recorded",
            ),
            Self::CannotSign(why) => write!(f, "cannot re-sign request: {why}"),
            Self::Broken(why) => write!(f, "the replay could not run: {why}"),
        }
    }
}

/// Replays entry `seq`, re-signed now when `resign`; the new entry.
pub(crate) async fn replay(
    inspector: &Inspector,
    seq: u64,
    resign: bool,
) -> Result<Arc<Entry>, ReplayError> {
    let entry = inspector
        .recorder
        .get(seq)
        .ok_or(ReplayError::Unknown(seq))?;
    let recorded = Fixture::record(&entry.capture.header_list(), &entry.capture.body, 0);
    let fixture = if resign {
        let signer = inspector.signer.as_ref().ok_or(ReplayError::NoSecret)?;
        recorded
            .resigned(signer, SystemClock.unix_seconds())
            .map_err(|e| ReplayError::CannotSign(e.to_string()))?
    } else {
        recorded
    };
    let mut app = inspector
        .app
        .get()
        .cloned()
        .ok_or_else(|| ReplayError::Broken("the receiver is not started".to_owned()))?;
    let mut request = Request::builder()
        .method(entry.capture.method.as_str())
        .uri(entry.capture.path());
    for (name, value) in fixture.headers() {
        request = request.header(name, value);
    }
    let (reply, new_entry) = oneshot::channel();
    let mut request = request
        .body(Body::from(fixture.body().to_vec()))
        .map_err(|e| ReplayError::Broken(e.to_string()))?;
    request.extensions_mut().insert(ReplayTicket {
        of: seq,
        reply: Arc::new(Mutex::new(Some(reply))),
    });
    // A `Router` is always ready and never fails (its error is `Infallible`).
    let ready = std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut app, cx)).await;
    let response = match ready {
        Ok(()) => Service::<Request>::call(&mut app, request).await,
        Err(never) => Err(never),
    };
    let Ok(response) = response;
    // The answer goes nowhere; read it so that the request runs to its end.
    let _ = response.into_body().collect().await;
    new_entry
        .await
        .map_err(|_| ReplayError::Broken("the replay was not recorded".to_owned()))
}
