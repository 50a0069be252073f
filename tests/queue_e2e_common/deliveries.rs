//! The signed deliveries of the end-to-end tests, POSTed over real HTTP with every answer
//! asserted.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use amps_webhooks::{Clock as _, Secret, Signer, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{EVENTS, SECRET, body, key, redelivered};

/// The signed deliveries of the events to a receiver's URL, over one pooled HTTP client.
pub struct Deliveries {
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    signer: Signer,
}

impl Deliveries {
    /// Deliveries to the library's enqueue route at `url` (`listen --enqueue` serves it too).
    pub fn new(url: String) -> Self {
        Self {
            url,
            client: Client::builder(TokioExecutor::new()).build_http(),
            signer: Signer::new(SECRET.parse::<Secret>().unwrap()),
        }
    }

    /// POSTs event `n`, signed now as `msg_N` (a retry keeps its id): the status and body.
    pub async fn post(&self, n: usize) -> (u16, String) {
        let body = body(n);
        let signed = self
            .signer
            .sign(&format!("msg_{n}"), SystemClock.unix_seconds(), &body)
            .unwrap();
        let mut request = hyper::Request::post(&self.url);
        for (name, value) in signed.webhook_headers() {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&answer).into_owned())
    }

    /// Delivers event `n` and asserts that it was stored.
    pub async fn first(&self, n: usize) {
        assert_eq!(
            self.post(n).await,
            (200, r#"{"queued":true}"#.to_owned()),
            "{}",
            key(n)
        );
    }

    /// Delivers event `n` again and asserts that it was a duplicate.
    pub async fn again(&self, n: usize) {
        let duplicate = r#"{"status":"duplicate"}"#.to_owned();
        assert_eq!(self.post(n).await, (200, duplicate), "{} again", key(n));
    }

    /// Every event once and 30 % of them again at once after, 16 at a time; answers how many
    /// were delivered again.
    pub async fn send_all(self: Arc<Self>) -> usize {
        let lanes: Vec<_> = (0..16)
            .map(|lane| {
                let this = Arc::clone(&self);
                tokio::spawn(async move {
                    let mut again = 0;
                    for n in (lane..EVENTS).step_by(16) {
                        this.first(n).await;
                        if redelivered(n) {
                            this.again(n).await;
                            again += 1;
                        }
                    }
                    again
                })
            })
            .collect();
        let mut again = 0;
        for lane in lanes {
            again += lane.await.unwrap();
        }
        assert_eq!(again, EVENTS * 3 / 10);
        again
    }
}
