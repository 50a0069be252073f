//! The capture: a middleware around the receiver that copies each request's headers and the
//! body bytes the receiver reads (no second buffer, no copy of a single-chunk body), then,
//! once the request is answered, records what became of it with the [`Recorder`].

use std::sync::{Arc, Mutex, PoisonError};

use amps_webhooks::integrations::{Delivery, Outcome};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use tokio::sync::oneshot;

use super::record::{Capture, Entry, Forward, Recorder};

/// What the listener's own response extensions say beyond the [`Delivery`]: the type the
/// handler parsed, and the app's answer when forwarding.
#[derive(Clone, Copy)]
pub(crate) struct Readers {
    pub(crate) event_type: fn(&Response) -> Option<String>,
    pub(crate) forward: fn(&Response) -> Option<Forward>,
}

/// The capture's state: where entries go, and how to read the response.
#[derive(Clone)]
pub(crate) struct CaptureState {
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) readers: Readers,
}

/// Put in a replayed request's extensions: the entry it replays, and where to hand the new
/// entry.
#[derive(Clone)]
pub(crate) struct ReplayTicket {
    pub(crate) of: u64,
    pub(crate) reply: Arc<Mutex<Option<oneshot::Sender<Arc<Entry>>>>>,
}

/// The middleware: runs the request through the receiver, then records it.
pub(crate) async fn capture(
    State(state): State<CaptureState>,
    mut request: Request,
    next: Next,
) -> Response {
    let received_at = jiff::Timestamp::now();
    let ticket = request.extensions_mut().remove::<ReplayTicket>();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers = header_list(request.headers());
    let timestamp = timestamp_header(request.headers());
    let chunks: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let tee = Arc::clone(&chunks);
    let request = request.map(|body| {
        Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                tee.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(data.clone());
            }
            frame
        }))
    });
    let response = next.run(request).await;
    let body = join(std::mem::take(
        &mut *chunks.lock().unwrap_or_else(PoisonError::into_inner),
    ));
    let status = response.status().as_u16();
    let mut capture = Capture {
        received_at,
        method,
        path,
        id: None,
        event_type: (state.readers.event_type)(&response),
        key: None,
        outcome: Outcome::Rejected.as_str(),
        status,
        reason: None,
        timestamp,
        headers,
        body,
        forward: (state.readers.forward)(&response),
        replay_of: ticket.as_ref().map(|ticket| ticket.of),
    };
    match response.extensions().get::<Delivery>() {
        Some(delivery) => {
            capture.id = delivery.id().map(str::to_owned);
            capture.event_type = delivery
                .event_type()
                .map(str::to_owned)
                .or(capture.event_type);
            capture.key = delivery.key().map(str::to_owned);
            capture.outcome = delivery.outcome().as_str();
            capture.status = delivery.status();
            capture.reason = delivery.reason().map(str::to_owned);
        }
        None => {
            capture.reason = Some(format!(
                "no webhook route for {} {}",
                capture.method, capture.path
            ));
        }
    }
    let entry = state.recorder.record(capture);
    if let Some(ticket) = ticket {
        let reply = ticket
            .reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(reply) = reply {
            // The replay's caller may have gone; the entry is recorded all the same.
            let _ = reply.send(entry);
        }
    }
    response
}

/// The headers in the order received, values as text (a byte outside UTF-8 shown as U+FFFD).
fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The one `webhook-timestamp` (else `svix-timestamp`) header, when it is a number of seconds.
fn timestamp_header(headers: &HeaderMap) -> Option<u64> {
    ["webhook-timestamp", "svix-timestamp"]
        .iter()
        .find_map(|name| {
            let mut values = headers.get_all(*name).iter();
            let value = values.next()?;
            if values.next().is_some() {
                return None;
            }
            value.to_str().ok()?.trim().parse().ok()
        })
}

/// The body from its chunks: the one chunk as it is, else the chunks joined.
fn join(chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.into_iter().next().unwrap_or_default(),
        _ => {
            let mut body = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for chunk in chunks {
                body.extend_from_slice(&chunk);
            }
            body.freeze()
        }
    }
}
