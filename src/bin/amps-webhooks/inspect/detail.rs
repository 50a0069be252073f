//! A request's detail, worked out when it is asked for (not on the receiver's path): each
//! signature entry's verdict, whether the timestamp is within the tolerance, the parser's full
//! message for a signed body that is not a valid event, the body as pretty JSON, text or hex,
//! and the request as a curl command. Nothing here holds or shows a key.

use std::fmt::Write as _;

use base64::Engine as _;

use amps_webhooks::{AmpsEvent, KeySet, MockClock, Verifier, VerifyError};
use serde_json::{Value, json};

use super::record::{Entry, body_field};

/// What the verifier is configured with, to judge a recorded request again.
#[derive(Clone)]
pub(crate) struct Judge {
    pub(crate) keys: KeySet,
    pub(crate) tolerance_s: u64,
    pub(crate) max_body_bytes: usize,
}

/// One entry of the signature header and whether it matched a configured key.
pub(crate) struct Verdict {
    pub(crate) entry: String,
    /// None when it could not be checked (see `note`).
    pub(crate) matched: Option<bool>,
    pub(crate) note: Option<String>,
}

/// The detail of one entry.
pub(crate) struct Detail {
    pub(crate) signatures: Vec<Verdict>,
    pub(crate) within_tolerance: Option<bool>,
    pub(crate) parse_error: Option<String>,
}

impl Judge {
    /// Judges `entry` again at its own timestamp: every signature entry alone, then the
    /// body as an event when the signature holds.
    pub(crate) fn detail(&self, entry: &Entry) -> Detail {
        let c = &entry.capture;
        let within_tolerance = entry
            .timestamp_skew_s()
            .map(|skew| skew.unsigned_abs() <= self.tolerance_s);
        let Some(timestamp) = c.timestamp() else {
            return Detail {
                signatures: Vec::new(),
                within_tolerance,
                parse_error: None,
            };
        };
        let verifier = Verifier::builder()
            .keys(self.keys.clone())
            .clock(MockClock::at_unix(timestamp))
            .max_body_bytes(self.max_body_bytes)
            .build();
        let Ok(verifier) = verifier else {
            return Detail {
                signatures: Vec::new(),
                within_tolerance,
                parse_error: None,
            };
        };
        let listed = c.header_list();
        let signature_at = listed
            .iter()
            .position(|(name, _)| name == "webhook-signature")
            .or_else(|| listed.iter().position(|(name, _)| name == "svix-signature"));
        let signatures = signature_at.map_or_else(Vec::new, |at| {
            listed[at]
                .1
                .split_ascii_whitespace()
                .map(|one| {
                    let mut headers = listed.clone();
                    headers[at].1 = one.to_owned();
                    let (matched, note) = match verifier.verify(&headers, &c.body) {
                        Ok(_) => (Some(true), None),
                        Err(VerifyError::NoMatchingSignature { .. }) => (Some(false), None),
                        Err(error) => (None, Some(error.to_string())),
                    };
                    Verdict {
                        entry: one.to_owned(),
                        matched,
                        note,
                    }
                })
                .collect()
        });
        let parse_error = verifier
            .verify(&listed, &c.body)
            .ok()
            .and_then(|verified| verified.parse::<AmpsEvent>().err())
            .map(|error| chain(&error));
        Detail {
            signatures,
            within_tolerance,
            parse_error,
        }
    }
}

impl Detail {
    /// The entry's JSON with the detail's fields added.
    pub(crate) fn json(&self, entry: &Entry) -> Value {
        let mut json = entry.json();
        json["signatures"] = self
            .signatures
            .iter()
            .map(|v| json!({ "entry": v.entry, "matched": v.matched, "note": v.note }))
            .collect();
        json["within_tolerance"] = Value::from(self.within_tolerance);
        json["parse_error"] = Value::from(self.parse_error.clone());
        if let Some(forward) = &entry.capture.forward {
            let (name, body) = body_field(&forward.body);
            json["forward"][name] = body;
        }
        json
    }
}

/// An error and its sources, `: `-separated: the parser's full message.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// How a body is shown: pretty JSON (fields in the order sent), text, or a hex dump.
pub(crate) fn body_view(body: &[u8]) -> (&'static str, String) {
    if body.is_empty() {
        return ("empty", String::new());
    }
    let mut pretty = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut serializer = serde_json::Serializer::pretty(&mut pretty);
    if serde_transcode::transcode(&mut deserializer, &mut serializer).is_ok()
        && deserializer.end().is_ok()
        && let Ok(text) = String::from_utf8(pretty)
    {
        return ("json", text);
    }
    match std::str::from_utf8(body) {
        Ok(text) => ("text", text.to_owned()),
        Err(_) => ("hex", hex_dump(body)),
    }
}

/// 16 bytes a line: the offset, the bytes in hex, and the printable ones as ASCII.
fn hex_dump(body: &[u8]) -> String {
    let mut out = String::with_capacity(body.len() * 4 + 16);
    for (line, bytes) in body.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", line * 16);
        for i in 0..16 {
            match bytes.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(bytes.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

/// The request as a curl command against `url`: its headers (less those curl sets) and its
/// body (a body that is not UTF-8 through `base64 -d`).
pub(crate) fn curl(entry: &Entry, url: &str) -> String {
    let quote = |text: &str| {
        shlex::try_quote(text).map_or_else(|_| "''".to_owned(), |quoted| quoted.into_owned())
    };
    let mut command = format!("curl -X {} {}", entry.capture.method, quote(url));
    for (name, value) in &entry.capture.header_list() {
        if matches!(
            name.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        let _ = write!(command, " \\\n  -H {}", quote(&format!("{name}: {value}")));
    }
    match std::str::from_utf8(&entry.capture.body) {
        Ok(text) if !text.contains('\0') => {
            let _ = write!(command, " \\\n  --data-binary {}", quote(text));
        }
        _ => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&entry.capture.body);
            command = format!(
                "printf %s {} | base64 -d | {command} \\\n  --data-binary @-",
                quote(&encoded)
            );
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_field_order() {
        assert_eq!(
            body_view(br#"{"b":1,"a":[true]}"#),
            (
                "json",
                "{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}".to_owned()
            )
        );
        assert_eq!(body_view(b"{\"a\":1} x").0, "text");
        assert_eq!(
            body_view(b"\xffA"),
            ("hex", format!("00000000  ff 41 {} .A\n", "   ".repeat(14)))
        );
    }
}
