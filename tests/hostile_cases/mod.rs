//! The hostile-input table, shared by the verifier-level suite (tests/hostile.rs) and the
//! HTTP-level suite (tests/hostile_http.rs): each case is one attack or malformed request that
//! webhook verifiers are known to have got wrong, with the verifier's exact outcome.
//!
//! Requests are signed with a plain HMAC computed here, not with the crate's `Signer`, so that a
//! refusal shows the verifier refusing input even when its signature is right.
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use amps_webhooks::{
    DEFAULT_MAX_BODY_BYTES, MAX_ID_LEN, MAX_SIGNATURE_HEADER_LEN, MockClock, Secret, Verifier,
    VerifyError,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

// The spec's shared vector (tests/data/standard-webhooks.json, "spec-shared").
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
pub const TS: u64 = 1_614_265_330;
pub const BODY: &[u8] = br#"{"test": 2432232314}"#;
pub const RIGHT: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
pub const TOLERANCE: u64 = 300;

/// `v1,` + base64 of the HMAC of `id.timestamp.body`, from the raw bytes.
pub fn sign(id: &[u8], timestamp: &[u8], body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key()).unwrap();
    for part in [id, b".", timestamp, b".", body] {
        mac.update(part);
    }
    v1(&mac.finalize().into_bytes())
}

pub fn key() -> Vec<u8> {
    STANDARD.decode(&SECRET["whsec_".len()..]).unwrap()
}

pub fn v1(tag: &[u8]) -> Vec<u8> {
    format!("v1,{}", STANDARD.encode(tag)).into_bytes()
}

/// The same bytes as the canonical `encoded`, spelled with a non-zero trailing bit: the last
/// character before the padding moved one place up the alphabet. Lax decoders accept it.
pub fn non_canonical(encoded: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = encoded.trim_end_matches('=');
    assert!(
        data.len() < encoded.len(),
        "only padded base64 has trailing bits"
    );
    let mut bytes = encoded.as_bytes().to_vec();
    let last = &mut bytes[data.len() - 1];
    let index = ALPHABET.iter().position(|c| c == last).unwrap();
    *last = ALPHABET[index + 1];
    String::from_utf8(bytes).unwrap()
}

pub fn right_tag() -> Vec<u8> {
    STANDARD.decode(&RIGHT[3..]).unwrap()
}

/// A request as a receiver gets it: header pairs in order, and the raw body.
#[derive(Clone, Debug)]
pub struct Request {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    /// Rightly signed with the secret, whatever the id, timestamp and body are.
    pub fn signed(id: &[u8], timestamp: &[u8], body: &[u8]) -> Self {
        Self {
            headers: vec![
                ("webhook-id".into(), id.to_vec()),
                ("webhook-timestamp".into(), timestamp.to_vec()),
                ("webhook-signature".into(), sign(id, timestamp, body)),
            ],
            body: body.to_vec(),
        }
    }

    /// The spec vector, signed at `TS`.
    pub fn valid() -> Self {
        Self::signed(ID.as_bytes(), TS.to_string().as_bytes(), BODY)
    }

    /// Signed at `TS` with this id.
    pub fn id(id: impl AsRef<[u8]>) -> Self {
        Self::signed(id.as_ref(), TS.to_string().as_bytes(), BODY)
    }

    /// Signed over this timestamp text.
    pub fn timestamp(timestamp: impl AsRef<[u8]>) -> Self {
        Self::signed(ID.as_bytes(), timestamp.as_ref(), BODY)
    }

    /// Signed over this body.
    pub fn body(body: impl AsRef<[u8]>) -> Self {
        Self::signed(ID.as_bytes(), TS.to_string().as_bytes(), body.as_ref())
    }

    /// The valid request with this signature header instead.
    pub fn signature(value: impl AsRef<[u8]>) -> Self {
        Self::valid().set("webhook-signature", value)
    }

    pub fn set(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let slot = self.headers.iter_mut().find(|(n, _)| n == name).unwrap();
        slot.1 = value.as_ref().to_vec();
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| n != name);
        self
    }

    pub fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    pub fn rename(mut self, from: &str, to: &str) -> Self {
        for (name, _) in &mut self.headers {
            if name == from {
                *name = to.into();
            }
        }
        self
    }

    pub fn with_body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }
}

#[derive(Debug)]
pub enum Expect {
    /// Verified; its body parses as JSON.
    Accepted,
    /// Verified (the body is any bytes), but parsing it gives `ParseError::InvalidJson`.
    AcceptedNotJson,
    /// Refused with this HTTP status and this error.
    Refused(u16, VerifyError),
}

pub struct Case {
    pub name: &'static str,
    pub request: Request,
    pub now: u64,
    pub expect: Expect,
}

pub fn case(name: &'static str, request: Request, expect: Expect) -> Case {
    Case {
        name,
        request,
        now: TS,
        expect,
    }
}

impl Case {
    pub fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }
}

pub use Expect::{Accepted, AcceptedNotJson, Refused};

pub fn no_match(candidates: usize) -> Expect {
    Refused(401, VerifyError::NoMatchingSignature { candidates })
}

pub fn invalid_timestamp() -> Expect {
    Refused(400, VerifyError::InvalidTimestamp)
}

pub fn invalid_id() -> Expect {
    Refused(
        400,
        VerifyError::InvalidId {
            max_len: amps_webhooks::MAX_ID_LEN,
        },
    )
}

pub fn too_new(ahead: u64) -> Expect {
    Refused(
        401,
        VerifyError::TimestampTooNew {
            ahead,
            tolerance: TOLERANCE,
        },
    )
}

pub fn too_old(age: u64) -> Expect {
    Refused(
        401,
        VerifyError::TimestampTooOld {
            age,
            tolerance: TOLERANCE,
        },
    )
}

/// Signature headers: truncation, versions, base64 spellings, lengths, entry counts.
pub fn signature_cases() -> Vec<Case> {
    let tag = right_tag();
    let wrong = |i: u8| v1(&[i; 32]);
    let join = |entries: &[Vec<u8>]| entries.join(&b' ');
    // 170 well-formed wrong entries of 48 bytes (47 + a space) fill just under 8 KiB.
    let wrong_entries: Vec<Vec<u8>> = (0..170).map(wrong).collect();
    let full_of_wrong = join(&wrong_entries);
    let mut right_last = wrong_entries[..169].to_vec();
    right_last.push(RIGHT.into());
    let right_last = join(&right_last);
    let junk_under_limit = b"x ".repeat(MAX_SIGNATURE_HEADER_LEN / 2);
    let mut right_then_junk = format!("{RIGHT} ").into_bytes();
    right_then_junk.resize(MAX_SIGNATURE_HEADER_LEN + 1, b'x');
    let url_safe = RIGHT.replace('+', "-").replace('/', "_");
    let unpadded = RIGHT.trim_end_matches('=');
    // The same 32 bytes spelled with non-zero trailing bits: a lax decoder accepts it.
    let non_canonical = format!("v1,{}", non_canonical(&RIGHT[3..]));
    let mut longer = tag.clone();
    longer.push(0);

    vec![
        case("the right signature", Request::valid(), Accepted),
        // Prefixes of the right entry: a comparison over the shorter length would accept them.
        case("prefix v1,", Request::signature("v1,"), no_match(0)),
        case("prefix v1,g", Request::signature("v1,g"), no_match(0)),
        case("prefix v1,g0hM", Request::signature("v1,g0hM"), no_match(0)),
        case(
            "prefix of 20 base64 characters",
            Request::signature(&RIGHT[..23]),
            no_match(0),
        ),
        case(
            "all but the last character",
            Request::signature(&RIGHT[..RIGHT.len() - 1]),
            no_match(0),
        ),
        case("prefix v1", Request::signature("v1"), no_match(0)),
        case("empty header", Request::signature(""), no_match(0)),
        case(
            "the right tag truncated to 31 bytes",
            Request::signature(v1(&tag[..31])),
            no_match(0),
        ),
        case(
            "the right tag truncated to 16 bytes",
            Request::signature(v1(&tag[..16])),
            no_match(0),
        ),
        case(
            "the right tag truncated to 1 byte",
            Request::signature(v1(&tag[..1])),
            no_match(0),
        ),
        // Versions and case.
        case(
            "V1 in upper case",
            Request::signature(RIGHT.replacen("v1", "V1", 1)),
            no_match(0),
        ),
        case(
            "v1a carrying the HMAC",
            Request::signature(RIGHT.replacen("v1", "v1a", 1)),
            no_match(0),
        ),
        case(
            "v2 carrying the HMAC",
            Request::signature(RIGHT.replacen("v1", "v2", 1)),
            no_match(0),
        ),
        case(
            "v1 with a semicolon",
            Request::signature(RIGHT.replacen(',', ";", 1)),
            no_match(0),
        ),
        case(
            "v1 with two commas",
            Request::signature(RIGHT.replacen(',', ",,", 1)),
            no_match(0),
        ),
        case(
            "a tab before the entry",
            Request::signature(format!("\t{RIGHT}")),
            no_match(0),
        ),
        case(
            "a newline after the entry",
            Request::signature(format!("{RIGHT}\n")),
            no_match(0),
        ),
        // Spaces only separate entries; the entry itself is still exact.
        case(
            "spaces around the entry",
            Request::signature(format!("  {RIGHT}  ")),
            Accepted,
        ),
        case(
            "an unknown version before the right entry",
            Request::signature(format!("v2,AAAA v1a,{} {RIGHT}", &RIGHT[3..])),
            Accepted,
        ),
        // Base64 spellings: only canonical, padded, standard.
        case(
            "URL-safe alphabet",
            Request::signature(url_safe),
            no_match(0),
        ),
        case("unpadded", Request::signature(unpadded), no_match(0)),
        case(
            "non-canonical trailing bits",
            Request::signature(non_canonical),
            no_match(0),
        ),
        case(
            "extra padding",
            Request::signature(format!("{RIGHT}=")),
            no_match(0),
        ),
        case(
            "a space inside the base64",
            Request::signature(RIGHT.replacen("9SsE", "9S sE", 1)),
            no_match(0),
        ),
        case(
            "padding in the middle",
            Request::signature(RIGHT.replacen("9SsE", "9S=E", 1)),
            no_match(0),
        ),
        case(
            "not base64 at all",
            Request::signature("v1,!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"),
            no_match(0),
        ),
        case(
            "bytes that are not UTF-8",
            Request::signature(b"v1,\xff\xfe\x00"),
            no_match(0),
        ),
        // Decoded lengths other than 32.
        case(
            "33 bytes: the right tag and one more",
            Request::signature(v1(&longer)),
            no_match(0),
        ),
        case(
            "64 bytes: the right tag twice",
            Request::signature(v1(&[tag.as_slice(), &tag].concat())),
            no_match(0),
        ),
        case(
            "20 bytes (a SHA-1 length)",
            Request::signature(v1(&[7; 20])),
            no_match(0),
        ),
        // Wrong tags of the right shape are compared, and counted.
        case("one wrong tag", Request::signature(wrong(0)), no_match(1)),
        case(
            "the right tag with its first byte flipped",
            Request::signature(v1(&[&[tag[0] ^ 1], &tag[1..]].concat())),
            no_match(1),
        ),
        case(
            "the right tag with its last byte flipped",
            Request::signature(v1(&[&tag[..31], &[tag[31] ^ 0x80]].concat())),
            no_match(1),
        ),
        // Size: bounded work per request.
        case(
            "170 wrong tags, just under 8 KiB",
            Request::signature(&full_of_wrong),
            no_match(170),
        ),
        case(
            "169 wrong tags then the right one",
            Request::signature(&right_last),
            Accepted,
        ),
        case(
            "4096 junk entries, exactly 8 KiB",
            Request::signature(&junk_under_limit),
            no_match(0),
        ),
        case(
            "2048 empty v1, entries",
            Request::signature("v1, ".repeat(2048)),
            no_match(0),
        ),
        case(
            "8 KiB of spaces",
            Request::signature(" ".repeat(MAX_SIGNATURE_HEADER_LEN)),
            no_match(0),
        ),
        case(
            "the right entry then junk, one byte over 8 KiB",
            Request::signature(&right_then_junk),
            Refused(
                400,
                VerifyError::SignatureHeaderTooLong {
                    limit: MAX_SIGNATURE_HEADER_LEN,
                },
            ),
        ),
        case(
            "1400 entries, 67 200 bytes",
            Request::signature(format!("{RIGHT} ").repeat(1400)),
            Refused(
                400,
                VerifyError::SignatureHeaderTooLong {
                    limit: MAX_SIGNATURE_HEADER_LEN,
                },
            ),
        ),
    ]
}

/// Timestamps: only plain digits, at most 19 of them, within the tolerance both ways.
pub fn timestamp_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [
        "+1614265330",
        "-1614265330",
        "-1",
        " 1614265330",
        "1614265330 ",
        "1614265330\n",
        "1614265330.0",
        "1614265330.9",
        "1.7e9",
        "1614265330e0",
        "+T",
        "T.9",
        ".9",
        "0x60377C32",
        "1_614_265_330",
        "1,614,265,330",
        "١٦١٤٢٦٥٣٣٠",
        "１６１４２６５３３０",
        "",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999",
        "000000000000000000001614265330",
        "2021-02-25T15:02:10Z",
        "NaN",
    ]
    .into_iter()
    .map(|text| case(text, Request::timestamp(text), invalid_timestamp()))
    .collect();
    cases.extend([
        case(
            "timestamp i64::MAX",
            Request::timestamp(i64::MAX.to_string()),
            too_new(i64::MAX as u64 - TS),
        ),
        case(
            "timestamp 19 nines",
            Request::timestamp("9999999999999999999"),
            too_new(9_999_999_999_999_999_999 - TS),
        ),
        case("timestamp 0", Request::timestamp("0"), too_old(TS)),
        case(
            "timestamp 0 with a clock at the end of time",
            Request::timestamp("0"),
            too_old(u64::MAX / 1_000_000_000),
        )
        .at(u64::MAX),
        case(
            "a fresh timestamp with a clock at the epoch",
            Request::valid(),
            too_new(TS),
        )
        .at(0),
        case("301 s old", Request::valid(), too_old(301)).at(TS + 301),
        case("300 s old", Request::valid(), Accepted).at(TS + 300),
        case("301 s ahead", Request::valid(), too_new(301)).at(TS - 301),
        case("300 s ahead", Request::valid(), Accepted).at(TS - 300),
        // The signed text is the header's bytes: a leading zero changes what was signed.
        case(
            "a leading zero with the signature of the plain number",
            Request::valid().set("webhook-timestamp", format!("0{TS}")),
            no_match(1),
        ),
        // Checked before the signature: a stale request with junk for a signature says stale.
        case(
            "stale and unsigned",
            Request::signature("junk"),
            too_old(10_000),
        )
        .at(TS + 10_000),
    ]);
    cases
}

/// Headers: missing, empty, repeated, both spellings; ids.
pub fn header_cases() -> Vec<Case> {
    let missing = |name| Refused(400, VerifyError::MissingHeader { name });
    let repeated = |name| Refused(400, VerifyError::RepeatedHeader { name });
    let svix = Request::valid()
        .rename("webhook-id", "svix-id")
        .rename("webhook-timestamp", "SVIX-Timestamp")
        .rename("webhook-signature", "Svix-Signature");
    let mut cases = vec![
        case(
            "no headers",
            Request::valid()
                .without("webhook-id")
                .without("webhook-timestamp")
                .without("webhook-signature"),
            missing("webhook-id"),
        ),
        case(
            "no id",
            Request::valid().without("webhook-id"),
            missing("webhook-id"),
        ),
        case(
            "no timestamp",
            Request::valid().without("webhook-timestamp"),
            missing("webhook-timestamp"),
        ),
        case(
            "no signature",
            Request::valid().without("webhook-signature"),
            missing("webhook-signature"),
        ),
        case("empty id", Request::id(""), invalid_id()),
        case(
            "empty timestamp",
            Request::timestamp(""),
            invalid_timestamp(),
        ),
        case(
            "id twice",
            Request::valid().with("webhook-id", ID),
            repeated("webhook-id"),
        ),
        case(
            "id twice, in two letter cases",
            Request::valid().with("Webhook-ID", "other"),
            repeated("webhook-id"),
        ),
        case(
            "timestamp twice",
            Request::valid().with("webhook-timestamp", TS.to_string()),
            repeated("webhook-timestamp"),
        ),
        case(
            "signature twice",
            Request::valid().with("WEBHOOK-SIGNATURE", RIGHT),
            repeated("webhook-signature"),
        ),
        case("svix spellings in mixed case", svix.clone(), Accepted),
        case(
            "svix id twice",
            svix.clone().with("svix-id", ID),
            repeated("webhook-id"),
        ),
        // With both spellings the `webhook-` one is the one checked, and so the one signed.
        case(
            "both spellings, the webhook- one signed",
            Request::valid().with("svix-id", "msg_other"),
            Accepted,
        ),
        case(
            "both spellings, the svix- one signed",
            Request::id("msg_other")
                .with("svix-id", "msg_other")
                .set("webhook-id", ID),
            no_match(1),
        ),
        case(
            "header name with a trailing space",
            Request::valid().rename("webhook-id", "webhook-id "),
            missing("webhook-id"),
        ),
        case(
            "the longest id",
            Request::id("m".repeat(MAX_ID_LEN)),
            Accepted,
        ),
    ];
    // Ids are signed rightly here: the refusal is about the id itself.
    for (name, id) in [
        ("id with a dot", b"msg.1".to_vec()),
        ("id that is a dot", b".".to_vec()),
        (
            "id smuggling a timestamp",
            format!("msg_1.{TS}").into_bytes(),
        ),
        ("id with a space", b"msg 1".to_vec()),
        ("id with a tab", b"msg\t1".to_vec()),
        ("id with a newline", b"msg\n1".to_vec()),
        ("id with CR LF", b"msg\r\nX-Injected: 1".to_vec()),
        ("id with NUL", b"msg\x001".to_vec()),
        ("id with DEL", b"msg\x7f".to_vec()),
        ("id with an escape", b"msg\x1b[31m".to_vec()),
        ("id not ASCII", "msg_é".as_bytes().to_vec()),
        ("id not UTF-8", b"msg\xff".to_vec()),
        ("id one byte too long", vec![b'm'; MAX_ID_LEN + 1]),
        ("id of 64 KiB", vec![b'm'; 64 * 1024]),
    ] {
        cases.push(case(name, Request::id(id), invalid_id()));
    }
    cases
}

/// Bodies: any bytes verify; only JSON parses.
pub fn body_cases() -> Vec<Case> {
    let limit = DEFAULT_MAX_BODY_BYTES;
    vec![
        case(
            "body not UTF-8",
            Request::body(b"{\"a\":\"\xff\xfe\"}"),
            AcceptedNotJson,
        ),
        case(
            "body of random bytes",
            Request::body([0x00, 0xff, 0x80, 0xc3, 0x28]),
            AcceptedNotJson,
        ),
        case(
            "body with a UTF-8 BOM",
            Request::body(b"\xef\xbb\xbf{\"test\": 1}"),
            AcceptedNotJson,
        ),
        case(
            "body with a UTF-16 BOM",
            Request::body(b"\xff\xfe{\x00}\x00"),
            AcceptedNotJson,
        ),
        case("empty body", Request::body(""), AcceptedNotJson),
        case("body of spaces", Request::body("   "), AcceptedNotJson),
        case(
            "body truncated JSON",
            Request::body("{\"test\": 24322"),
            AcceptedNotJson,
        ),
        case(
            "body with trailing junk",
            Request::body("{\"test\": 1}}"),
            AcceptedNotJson,
        ),
        case(
            "body nested 100 000 deep",
            Request::body("[".repeat(100_000)),
            AcceptedNotJson,
        ),
        case(
            "body one byte changed",
            Request::valid().with_body(br#"{"test": 2432232315}"#),
            no_match(1),
        ),
        case(
            "body re-serialized",
            Request::valid().with_body(br#"{"test":2432232314}"#),
            no_match(1),
        ),
        case(
            "body with a byte appended",
            Request::valid().with_body(br#"{"test": 2432232314} "#),
            no_match(1),
        ),
        case(
            "body one byte over the limit",
            Request::body(vec![b' '; limit + 1]),
            Refused(
                413,
                VerifyError::BodyTooLarge {
                    limit,
                    len: limit + 1,
                },
            ),
        ),
        case(
            "body at the limit",
            Request::body(vec![b' '; limit]),
            AcceptedNotJson,
        ),
    ]
}

pub fn verifier_at(now: u64) -> Verifier {
    Verifier::builder()
        .secret(Secret::parse(SECRET).unwrap())
        .clock(MockClock::at_unix(now))
        .build()
        .unwrap()
}

/// Every case of the four tables, in order.
pub fn all_cases() -> Vec<Case> {
    let mut cases = signature_cases();
    cases.extend(timestamp_cases());
    cases.extend(header_cases());
    cases.extend(body_cases());
    cases
}
