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

    /// Finds the three webhook headers, each under its `webhook-` name or, when that is
    /// missing, its `svix-` name. The verifier reads the headers through this method.
    ///
    /// The provided method calls [`lookup`](Self::lookup) up to six times; a map that can do
    /// better (one pass over its entries, say) overrides it, with the same answers.
    fn webhook_headers(&self) -> WebhookHeaders<'_> {
        WebhookHeaders {
            id: lookup_either(self, ID),
            timestamp: lookup_either(self, TIMESTAMP),
            signature: lookup_either(self, SIGNATURE),
        }
    }
}

/// The three webhook headers of a request, as [`Headers::webhook_headers`] found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookHeaders<'a> {
    /// `webhook-id`, else `svix-id`.
    pub id: HeaderLookup<'a>,
    /// `webhook-timestamp`, else `svix-timestamp`.
    pub timestamp: HeaderLookup<'a>,
    /// `webhook-signature`, else `svix-signature`.
    pub signature: HeaderLookup<'a>,
}

impl<'a> WebhookHeaders<'a> {
    /// Collects the headers from one pass over `(name, value)` pairs whose names are already
    /// lowercase (as `http::HeaderMap` stores them): each of the six names found is recorded,
    /// and a name seen twice is [`HeaderLookup::Repeated`].
    pub fn from_lowercase_pairs<I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        // Slots: the three `webhook-` names, then the three `svix-` names.
        let mut slots = [HeaderLookup::Missing; 6];
        for (name, value) in pairs {
            let slot = match name {
                "webhook-id" => 0,
                "webhook-timestamp" => 1,
                "webhook-signature" => 2,
                "svix-id" => 3,
                "svix-timestamp" => 4,
                "svix-signature" => 5,
                _ => continue,
            };
            if let Some(found) = slots.get_mut(slot) {
                *found = match *found {
                    HeaderLookup::Missing => HeaderLookup::One(value),
                    _ => HeaderLookup::Repeated,
                };
            }
        }
        let [
            id,
            timestamp,
            signature,
            svix_id,
            svix_timestamp,
            svix_signature,
        ] = slots;
        let either = |standard, svix| match standard {
            HeaderLookup::Missing => svix,
            found => found,
        };
        Self {
            id: either(id, svix_id),
            timestamp: either(timestamp, svix_timestamp),
            signature: either(signature, svix_signature),
        }
    }
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

    fn webhook_headers(&self) -> WebhookHeaders<'_> {
        // One pass over the entries beats hashing three names: a request has few headers,
        // and hyper stops at 100.
        WebhookHeaders::from_lowercase_pairs(
            self.iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
        )
    }
}

impl<H: Headers + ?Sized> Headers for &H {
    fn lookup(&self, name: &str) -> HeaderLookup<'_> {
        (**self).lookup(name)
    }

    fn webhook_headers(&self) -> WebhookHeaders<'_> {
        (**self).webhook_headers()
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

    /// A map that only implements `lookup`, so that `webhook_headers` is the provided method.
    #[cfg(feature = "http")]
    struct LookupOnly<'a>(&'a http::HeaderMap);

    #[cfg(feature = "http")]
    impl Headers for LookupOnly<'_> {
        fn lookup(&self, name: &str) -> HeaderLookup<'_> {
            self.0.lookup(name)
        }
    }

    #[cfg(feature = "http")]
    #[test]
    fn header_map_single_pass_answers_as_the_lookups_do() {
        let names = [
            "webhook-id",
            "Webhook-Timestamp",
            "WEBHOOK-SIGNATURE",
            "svix-id",
            "svix-timestamp",
            "Svix-Signature",
            "content-type",
            "webhook-idx",
        ];
        // Every multiset of up to two copies of each name, taken as bits of a counter.
        for mask in 0u32..3u32.pow(names.len() as u32) {
            let mut map = http::HeaderMap::new();
            let mut rest = mask;
            for (index, name) in names.iter().enumerate() {
                for copy in 0..rest % 3 {
                    let value = format!("{index}-{copy}");
                    map.append(
                        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        http::HeaderValue::from_str(&value).unwrap(),
                    );
                }
                rest /= 3;
            }
            let provided = LookupOnly(&map);
            assert_eq!(map.webhook_headers(), provided.webhook_headers(), "{map:?}");
            let by_reference: &dyn Headers = &&map;
            assert_eq!(
                by_reference.webhook_headers(),
                provided.webhook_headers(),
                "{map:?}"
            );
        }
    }

    #[test]
    fn pairs_use_the_provided_method() {
        let headers = [
            ("Svix-Id", "a"),
            ("webhook-timestamp", "1"),
            ("svix-timestamp", "2"),
            ("webhook-signature", "x"),
            ("Webhook-Signature", "y"),
        ];
        assert_eq!(
            headers.webhook_headers(),
            WebhookHeaders {
                id: HeaderLookup::One(b"a"),
                timestamp: HeaderLookup::One(b"1"),
                signature: HeaderLookup::Repeated,
            }
        );
    }
}
