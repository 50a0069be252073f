//! The capture: a middleware around the receiver that copies each request's headers and the
//! body bytes the receiver reads (as it reads them: no second read of the body), then,
//! once the request is answered, records what became of it with the [`Recorder`].

use std::sync::{Arc, Mutex, PoisonError};

use amps_webhooks::integrations::Delivery;
use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::BytesMut;
use http_body_util::BodyExt as _;
use tokio::sync::oneshot;

use super::record::{Capture, Entry, Forward, Recorder, header_lines};

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
    /// The receiver's body limit: the most bytes copied in advance.
    pub(crate) max_body_bytes: usize,
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
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let headers = header_lines(request.headers());
    // A copy of the bytes as the receiver reads them: a chunk points into the connection's
    // read buffer, which would otherwise stay held (and be allocated anew for the next
    // request) while the entry is kept. Sized by the body's exact length when known, within
    // the receiver's limit.
    let expected = request.body().size_hint().exact().unwrap_or(0);
    let copy = Arc::new(Mutex::new(BytesMut::with_capacity(
        usize::try_from(expected).map_or(state.max_body_bytes, |n| n.min(state.max_body_bytes)),
    )));
    let tee = Arc::clone(&copy);
    let request = request.map(|body| {
        Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                tee.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(data);
            }
            frame
        }))
    });
    let response = next.run(request).await;
    let body = std::mem::take(&mut *copy.lock().unwrap_or_else(PoisonError::into_inner)).freeze();
    let delivery = response.extensions().get::<Delivery>().cloned();
    let parsed_type = match &delivery {
        Some(delivery) if delivery.event_type().is_some() => None,
        _ => (state.readers.event_type)(&response),
    };
    let capture = Capture {
        received_at,
        method,
        path,
        headers,
        body,
        delivery,
        parsed_type,
        status: response.status().as_u16(),
        forward: (state.readers.forward)(&response),
        replay_of: ticket.as_ref().map(|ticket| ticket.of),
    };
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
