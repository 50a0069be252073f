//! Secret parsing on arbitrary text and bytes: a key is accepted exactly when, with the
//! whitespace around it trimmed, it is `whsec_` (or nothing) followed by canonical padded base64
//! of 24 to 64 bytes; every refusal is the exact `KeyError` (quotes and inner whitespace named
//! first), and nothing about the key shows in `Debug`.
#![no_main]

use amps_webhooks::{KeyError, KeySet, MAX_SECRET_BYTES, MIN_SECRET_BYTES, Secret};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;

fn expected(given: &str) -> Result<(), KeyError> {
    let text = given.trim();
    if let Some(quote) = ['"', '\'']
        .into_iter()
        .find(|&q| text.starts_with(q) || text.ends_with(q))
    {
        return Err(KeyError::Quoted { quote });
    }
    if let Some((at, _)) = text.char_indices().find(|(_, c)| c.is_whitespace()) {
        let leading = given.len() - given.trim_start().len();
        return Err(KeyError::InnerWhitespace {
            position: leading + at,
        });
    }
    for found in ["whsk_", "whpk_"] {
        if text.starts_with(found) {
            return Err(KeyError::WrongKind { found });
        }
    }
    let encoded = text.strip_prefix("whsec_").unwrap_or(text);
    if encoded.is_empty() {
        return Err(KeyError::Empty);
    }
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| KeyError::InvalidBase64)?;
    // Canonical: the one spelling of those bytes.
    assert_eq!(
        STANDARD.encode(&bytes),
        encoded,
        "non-canonical base64 decoded"
    );
    by_length(bytes.len())
}

fn by_length(len: usize) -> Result<(), KeyError> {
    match len {
        0 => Err(KeyError::Empty),
        len if len < MIN_SECRET_BYTES => Err(KeyError::TooShort { len }),
        len if len > MAX_SECRET_BYTES => Err(KeyError::TooLong { len }),
        _ => Ok(()),
    }
}

fuzz_target!(|data: &[u8]| {
    let from_bytes = Secret::from_bytes(data);
    assert_eq!(
        from_bytes.as_ref().map(|_| ()).map_err(Clone::clone),
        by_length(data.len())
    );

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Secret::parse(text);
    assert_eq!(
        parsed.as_ref().map(|_| ()).map_err(Clone::clone),
        expected(text)
    );
    if let Ok(secret) = parsed {
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }
    if let Ok(keys) = KeySet::parse(text.split(' ')) {
        assert_eq!(keys.len(), text.split(' ').count());
        assert!(!format!("{keys:?}").contains(text));
    }
});
