//! How the verifier reads request headers without tying the core to one HTTP crate: a small
//! trait that `http::HeaderMap` (feature `http`), slices and vectors of `(name, value)` pairs
//! implement, and that a framework integration implements for its own map.

// Untrusted input flows through this module: no indexing, unchecked arithmetic, unwrap or
// expect that could panic on it (tests may).
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

/// What a header lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderLookup<'a> {
    /// No header of that name.
    Missing,
    /// Exactly one header of that name, with its value.
    One(&'a [u8]),
    /// The header is present more than once.
    Repeated,
}

/// A read-only view of request headers.
///
/// Implement it for your framework's header map: `lookup` is given a lowercase ASCII name and
/// must match it regardless of letter case.
///
/// ```
/// use amps_webhooks::{HeaderLookup, Headers};
///
/// let headers = [("Webhook-Id", "msg_1"), ("content-type", "application/json")];
/// assert_eq!(headers.lookup("webhook-id"), HeaderLookup::One(b"msg_1"));
/// assert_eq!(headers.lookup("webhook-timestamp"), HeaderLookup::Missing);
/// ```
pub trait Headers {
    /// Finds the header `name` (lowercase ASCII), in any letter case.
    fn lookup(&self, name: &str) -> HeaderLookup<'_>;
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for [(N, V)] {
    fn lookup(&self, name: &str) -> HeaderLookup<'_> {
        let mut found = self
            .iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref());
        match (found.next(), found.next()) {
            (None, _) => HeaderLookup::Missing,
            (Some(value), None) => HeaderLookup::One(value),
            (Some(_), Some(_)) => HeaderLookup::Repeated,
        }
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>, const LEN: usize> Headers for [(N, V); LEN] {
    fn lookup(&self, name: &str) -> HeaderLookup<'_> {
        self.as_slice().lookup(name)
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(N, V)> {
    fn lookup(&self, name: &str) -> HeaderLookup<'_> {
        self.as_slice().lookup(name)
    }
}

#[cfg(feature = "http")]
impl Headers for http::HeaderMap {
    fn lookup(&self, name: &str) -> HeaderLookup<'_> {
        use http::HeaderName;
        // Prebuilt names skip parsing the name on every request; HeaderMap stores names in
        // lowercase, so a lowercase lookup is case-insensitive.
        static KNOWN: [HeaderName; 6] = [
            HeaderName::from_static("webhook-id"),
            HeaderName::from_static("webhook-timestamp"),
            HeaderName::from_static("webhook-signature"),
            HeaderName::from_static("svix-id"),
            HeaderName::from_static("svix-timestamp"),
            HeaderName::from_static("svix-signature"),
        ];
        let all = match KNOWN.iter().find(|known| known.as_str() == name) {
            Some(known) => self.get_all(known),
            None => self.get_all(name),
        };
        let mut found = all.iter();
        match (found.next(), found.next()) {
            (None, _) => HeaderLookup::Missing,
            (Some(value), None) => HeaderLookup::One(value.as_bytes()),
            (Some(_), Some(_)) => HeaderLookup::Repeated,
        }
    }
}

impl<H: Headers + ?Sized> Headers for &H {
    fn lookup(&self, name: &str) -> HeaderLookup<'_> {
        (**self).lookup(name)
    }
}

/// The three Standard Webhooks headers, each with its `svix-` twin.
pub(crate) const ID: (&str, &str) = ("webhook-id", "svix-id");
pub(crate) const TIMESTAMP: (&str, &str) = ("webhook-timestamp", "svix-timestamp");
pub(crate) const SIGNATURE: (&str, &str) = ("webhook-signature", "svix-signature");

/// The value of the `webhook-` header, or of its `svix-` twin when the first is absent.
pub(crate) fn lookup_either<'a, H: Headers + ?Sized>(
    headers: &'a H,
    (standard, svix): (&str, &str),
) -> HeaderLookup<'a> {
    match headers.lookup(standard) {
        HeaderLookup::Missing => headers.lookup(svix),
        found => found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_match_any_case_and_report_repeats() {
        let headers = vec![
            ("SVIX-ID".to_string(), b"a".to_vec()),
            ("webhook-signature".to_string(), b"x".to_vec()),
            ("Webhook-Signature".to_string(), b"y".to_vec()),
        ];
        assert_eq!(lookup_either(&headers, ID), HeaderLookup::One(b"a"));
        assert_eq!(lookup_either(&headers, SIGNATURE), HeaderLookup::Repeated);
        assert_eq!(lookup_either(&headers, TIMESTAMP), HeaderLookup::Missing);
    }

    #[cfg(feature = "http")]
    #[test]
    fn http_header_map_is_case_insensitive() {
        let mut map = http::HeaderMap::new();
        map.insert("Svix-Timestamp", http::HeaderValue::from_static("12"));
        map.append("webhook-id", http::HeaderValue::from_static("a"));
        map.append("WEBHOOK-ID", http::HeaderValue::from_static("b"));
        assert_eq!(lookup_either(&map, TIMESTAMP), HeaderLookup::One(b"12"));
        assert_eq!(lookup_either(&map, ID), HeaderLookup::Repeated);
    }
}
