//! Shared helpers for the integration tests: the known-answer vectors from tests/data.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use serde_json::Value;

/// One signed request from the vectors file.
pub struct Vector {
    pub name: String,
    pub secret: String,
    pub id: String,
    pub timestamp: u64,
    pub body: Vec<u8>,
    pub signature_header: String,
    pub expect: Option<String>,
}

fn body_of(v: &Value) -> Vec<u8> {
    if let Some(text) = v["payload"].as_str() {
        return text.as_bytes().to_vec();
    }
    if let Some(repeat) = v.get("payload_repeat") {
        let byte = repeat["byte"].as_str().unwrap().as_bytes()[0];
        return vec![byte; usize::try_from(repeat["count"].as_u64().unwrap()).unwrap()];
    }
    base64::engine::general_purpose::STANDARD
        .decode(v["payload_base64"].as_str().unwrap())
        .unwrap()
}

fn vector(v: &Value) -> Vector {
    Vector {
        name: v["name"].as_str().unwrap().to_owned(),
        secret: v["secret"].as_str().unwrap().to_owned(),
        id: v["id"].as_str().unwrap().to_owned(),
        timestamp: v["timestamp"].as_u64().unwrap(),
        body: body_of(v),
        signature_header: v
            .get("signature_header")
            .or_else(|| v.get("signature"))
            .and_then(Value::as_str)
            .unwrap()
            .to_owned(),
        expect: v.get("expect").and_then(Value::as_str).map(str::to_owned),
    }
}

pub fn vectors_file() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/standard-webhooks.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The `valid` and the `invalid` vectors.
pub fn vectors() -> (Vec<Vector>, Vec<Vector>) {
    let file = vectors_file();
    let list = |key: &str| file[key].as_array().unwrap().iter().map(vector).collect();
    (list("valid"), list("invalid"))
}

impl Vector {
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("webhook-id".into(), self.id.clone()),
            ("webhook-timestamp".into(), self.timestamp.to_string()),
            ("webhook-signature".into(), self.signature_header.clone()),
        ]
    }
}
