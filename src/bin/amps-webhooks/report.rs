//! The line `listen` prints for each request: readable (`processed   200 msg_1 type=... key=...`)
//! or, with `--json`, one object (`id`, `type`, `key`, `outcome`, `status`, `reason`, and
//! `forward` when forwarding), from the [`Delivery`] of the deduplicating layer or of the
//! enqueueing route.

use amps_webhooks::integrations::{Delivery, Outcome};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::forward::Forwarded;

/// The type of the event as `AmpsEvent` read it, put in the response's extensions by the
/// handler: a bare body (no `type` or `event` field) shows its type only by its shape, so the
/// [`Delivery`] record, which holds the envelope's type, has none for it.
#[derive(Debug, Clone)]
pub(crate) struct ParsedType(pub(crate) String);

/// The status `--respond` made the handler answer, put in the response's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Responded(pub(crate) u16);

/// How the lines are printed: as JSON or not, and whether they carry a `forward` field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) json: bool,
    pub(crate) forwarding: bool,
}

/// One request's line, before printing.
pub(crate) struct Line<'a> {
    pub(crate) id: Option<&'a str>,
    pub(crate) event_type: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
    pub(crate) outcome: &'a str,
    pub(crate) status: u16,
    pub(crate) reason: Option<&'a str>,
    pub(crate) forward: Option<&'a Forwarded>,
    /// The status `listen --respond` answered, when given.
    pub(crate) respond: Option<u16>,
}

impl Line<'_> {
    /// The line as `style` prints it.
    pub(crate) fn render(&self, style: Style) -> String {
        if style.json {
            let mut object = json!({
                "id": self.id,
                "type": self.event_type,
                "key": self.key,
                "outcome": self.outcome,
                "status": self.status,
                "reason": self.reason,
            });
            if style.forwarding {
                object["forward"] = self
                    .forward
                    .map_or(serde_json::Value::Null, Forwarded::json);
            }
            if let Some(status) = self.respond {
                object["respond"] = status.into();
            }
            return object.to_string();
        }
        let mut line = format!(
            "{:<11} {} {}",
            self.outcome,
            self.status,
            self.id.unwrap_or("-")
        );
        if let Some(event_type) = self.event_type {
            line.push_str(&format!(" type={event_type}"));
        }
        if let Some(key) = self.key {
            line.push_str(&format!(" key={key}"));
        }
        if let Some(forward) = self.forward {
            line.push(' ');
            line.push_str(&forward.text());
        }
        let respond = self.respond.map(|status| format!("--respond {status}"));
        let notes: Vec<&str> = self.reason.into_iter().chain(respond.as_deref()).collect();
        if !notes.is_empty() {
            line.push_str(&format!("  ({})", notes.join("; ")));
        }
        line
    }
}

/// Prints one line for the request once it is answered (a middleware around the route).
pub(crate) async fn report(request: Request, next: Next, style: Style) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let line = match response.extensions().get::<Delivery>() {
        Some(delivery) => {
            let parsed = response.extensions().get::<ParsedType>();
            let forward = response.extensions().get::<Forwarded>();
            // The app's failure says more than "the handler answered 502".
            let failure = forward.and_then(Forwarded::failure);
            let reason = match delivery.outcome() {
                Outcome::Failed => failure.as_deref().or(delivery.reason()),
                _ => delivery.reason(),
            };
            Line {
                id: delivery.id(),
                event_type: delivery.event_type().or(parsed.map(|p| p.0.as_str())),
                key: delivery.key(),
                outcome: delivery.outcome().as_str(),
                status: delivery.status(),
                reason,
                forward,
                respond: response.extensions().get::<Responded>().map(|r| r.0),
            }
            .render(style)
        }
        None => {
            let reason = format!("no webhook route for {method} {path}");
            Line {
                id: None,
                event_type: None,
                key: None,
                outcome: Outcome::Rejected.as_str(),
                status,
                reason: Some(&reason),
                forward: None,
                respond: None,
            }
            .render(style)
        }
    };
    println!("{line}");
    response
}
