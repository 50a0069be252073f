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
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use http_body_util::{BodyStream, StreamBody};
use tokio::sync::oneshot;
use tokio_stream::StreamExt as _;

use super::record::{Capture, Entry, Forward, Made, Recorder, header_lines};
use crate::forward::Forwarded;
use crate::report::ParsedType;

/// How much of the app's answer is kept.
const FORWARD_HEAD_BYTES: usize = 1024;

/// The capture's state: where entries go, and how to read the response.
#[derive(Clone)]
pub(crate) struct CaptureState {
    pub(crate) recorder: Arc<Recorder>,
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
    let outcome = match response.extensions().get::<Delivery>() {
        Some(delivery) => Made::Delivery(delivery.clone()),
        None => Made::Nothing,
    };
    let parsed_type = match &outcome {
        Made::Delivery(delivery) if delivery.event_type().is_some() => None,
        _ => response
            .extensions()
            .get::<ParsedType>()
            .map(|parsed| parsed.0.clone()),
    };
    let status = response.status().as_u16();
    let forwarded = response.extensions().get::<Forwarded>().cloned();
    let (response, forward) = match forwarded {
        Some(forwarded) => {
            let (response, head) = answer_head(response).await;
            let forward = Forward {
                status: forwarded.status,
                latency: forwarded.latency,
                body: head,
                failure: forwarded.failure(),
            };
            (response, Some(forward))
        }
        None => (response, None),
    };
    let capture = Capture {
        received_at,
        method,
        path,
        headers,
        body,
        outcome,
        parsed_type,
        status,
        forward,
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

/// The first KiB of the app's answer, read from the response, which goes on whole to the
/// sender: the frames read are put back in front of the rest.
async fn answer_head(response: Response) -> (Response, Bytes) {
    let (parts, mut body) = response.into_parts();
    let mut read = Vec::new();
    let mut head = BytesMut::new();
    while head.len() < FORWARD_HEAD_BYTES {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Ok(frame) = &frame
            && let Some(data) = frame.data_ref()
        {
            let room = FORWARD_HEAD_BYTES - head.len();
            head.extend_from_slice(&data[..data.len().min(room)]);
        }
        let failed = frame.is_err();
        read.push(frame);
        if failed {
            break;
        }
    }
    let rest = BodyStream::new(body);
    let whole = tokio_stream::iter(read).chain(rest);
    (
        Response::from_parts(parts, Body::new(StreamBody::new(whole))),
        head.freeze(),
    )
}
