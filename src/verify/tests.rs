//! The builder's checks of the tolerance, the tolerance at its edges, and the clock reading a
//! verified request keeps.

use super::*;

fn builder() -> VerifierBuilder {
    let secret = Secret::from_bytes(&[7; 32]).unwrap();
    Verifier::builder().secret(secret)
}

fn tolerance_of(builder: VerifierBuilder) -> Result<Duration, BuildError> {
    builder.build().map(|verifier| verifier.tolerance())
}

#[test]
fn tolerance_is_whole_seconds_from_one_to_a_day() {
    assert_eq!(tolerance_of(builder()), Ok(DEFAULT_TOLERANCE));
    for secs in [1, 300, 86_400] {
        let tolerance = Duration::from_secs(secs);
        assert_eq!(tolerance_of(builder().tolerance(tolerance)), Ok(tolerance));
    }
}

#[test]
fn zero_and_sub_second_tolerances_are_refused() {
    for tolerance in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_millis(999),
    ] {
        assert_eq!(
            tolerance_of(builder().tolerance(tolerance)),
            Err(BuildError::ToleranceTooShort { tolerance })
        );
        assert_eq!(
            tolerance_of(builder().dangerous_tolerance(tolerance)),
            Err(BuildError::ToleranceTooShort { tolerance })
        );
    }
}

#[test]
fn a_fraction_of_a_second_is_refused_not_truncated() {
    for tolerance in [
        Duration::from_millis(1_500),
        Duration::from_nanos(300_000_000_001),
        Duration::new(86_400, 1),
    ] {
        assert_eq!(
            tolerance_of(builder().tolerance(tolerance)),
            Err(BuildError::ToleranceNotWholeSeconds { tolerance })
        );
    }
    let tolerance = Duration::new(100_000, 500);
    assert_eq!(
        tolerance_of(builder().dangerous_tolerance(tolerance)),
        Err(BuildError::ToleranceNotWholeSeconds { tolerance })
    );
}

#[test]
fn over_a_day_needs_the_dangerous_setter() {
    let max = Duration::from_secs(86_400);
    for tolerance in [Duration::from_secs(86_401), Duration::from_secs(u64::MAX)] {
        assert_eq!(
            tolerance_of(builder().tolerance(tolerance)),
            Err(BuildError::ToleranceTooLong { tolerance, max })
        );
        assert_eq!(
            tolerance_of(builder().dangerous_tolerance(tolerance)),
            Ok(tolerance)
        );
        // The last setter called decides.
        assert_eq!(
            tolerance_of(
                builder()
                    .dangerous_tolerance(tolerance)
                    .tolerance(tolerance)
            ),
            Err(BuildError::ToleranceTooLong { tolerance, max })
        );
    }
    assert_eq!(
        BuildError::ToleranceTooLong {
            tolerance: Duration::from_secs(86_401),
            max
        }
        .to_string(),
        "a tolerance of 86401 s is over 86400 s and lets a captured request be replayed for that long; use dangerous_tolerance() if it must be so"
    );
}

#[test]
fn no_keys_is_refused_before_the_tolerance() {
    assert_eq!(
        Verifier::builder()
            .tolerance(Duration::ZERO)
            .build()
            .map(|_| ()),
        Err(BuildError::NoKeys)
    );
}

#[test]
fn a_wide_tolerance_accepts_any_timestamp_without_overflow() {
    let verifier = builder()
        .dangerous_tolerance(Duration::from_secs(u64::MAX))
        .clock(crate::MockClock::at_unix(1_000))
        .build()
        .unwrap();
    let at_1000 = Ok(std::time::UNIX_EPOCH + Duration::from_secs(1_000));
    assert_eq!(verifier.check_timestamp(0), at_1000);
    assert_eq!(verifier.check_timestamp(u64::MAX), at_1000);
    let verifier = builder()
        .tolerance(Duration::from_secs(86_400))
        .clock(crate::MockClock::at_unix(100_000))
        .build()
        .unwrap();
    assert_eq!(
        verifier.check_timestamp(13_599),
        Err(VerifyError::TimestampTooOld {
            age: 86_401,
            tolerance: 86_400
        })
    );
}

#[test]
fn a_verified_request_keeps_the_clock_reading_it_was_checked_against() {
    let clock = crate::MockClock::at_unix(1_700_000_000);
    clock.advance(Duration::from_millis(1_250));
    let verifier = builder().clock(clock.clone()).build().unwrap();
    let signed = crate::Signer::new(Secret::from_bytes(&[7; 32]).unwrap())
        .sign("msg_lag", 1_699_999_998, b"{}")
        .unwrap();
    let headers = signed.webhook_headers();
    let verified = verifier.verify(&headers, b"{}").unwrap();
    assert_eq!(
        verified.received_at(),
        std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_001_250)
    );
    assert_eq!(
        verified
            .received_at()
            .duration_since(verified.timestamp().to_system_time())
            .ok(),
        Some(Duration::from_millis(3_250))
    );
}
