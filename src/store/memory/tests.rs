//! The memory store's own checks: eviction order, capacity, fencing, tokens.

use super::shard::PREALLOCATED_RECORDS;
use super::*;
use crate::MockClock;
use std::future::Future;

fn store(capacity: usize, shards: usize) -> (MemoryStore, MockClock) {
    let clock = MockClock::at_unix(1_000);
    let store = MemoryStore::builder()
        .capacity(capacity)
        .shards(shards)
        .clock(clock.clone())
        .build();
    (store, clock)
}

/// The answer of a future made ready ([`StoreFuture::ready`]), `None` for one that waits.
fn at_once<T>(future: StoreFuture<'_, T>) -> Option<T> {
    future.into_ready().ok()
}

const LEASE: Duration = Duration::from_secs(60);
const KEEP: Duration = Duration::from_secs(3_600);

fn acquire(store: &MemoryStore, key: &str) -> ClaimToken {
    match store.claim_now(key, LEASE) {
        Ok(Claim::Acquired(token)) => token,
        other => panic!("expected Acquired, got {other:?}"),
    }
}

#[test]
fn full_shard_evicts_completed_never_live_claims() {
    let (store, _clock) = store(3, 1);
    let a = acquire(&store, "a");
    store.complete_now("a", a, KEEP).unwrap();
    let _b = acquire(&store, "b");
    let _c = acquire(&store, "c");
    // Full: the only completion ("a") goes, though it is not the least recently used.
    let _d = acquire(&store, "d");
    assert_eq!(store.evictions(), 1);
    assert_eq!(store.len(), 3);
    assert!(matches!(
        store.claim_now("a", LEASE),
        Err(StoreError::CapacityExhausted { shard_capacity: 3 })
    ));
    assert!(matches!(
        store.claim_now("b", LEASE),
        Ok(Claim::InFlight { .. })
    ));
}

#[test]
fn expired_claims_make_room_without_counting_as_evictions() {
    let (store, clock) = store(2, 1);
    acquire(&store, "a");
    acquire(&store, "b");
    assert!(matches!(
        store.claim_now("c", LEASE),
        Err(StoreError::CapacityExhausted { .. })
    ));
    clock.advance(LEASE);
    acquire(&store, "c");
    assert_eq!(store.evictions(), 0);
    assert!(matches!(
        store.claim_now("b", LEASE),
        Ok(Claim::Acquired(_))
    ));
}

#[test]
fn builder_bounds_shards_by_capacity() {
    let (store, _clock) = store(5, 64);
    assert_eq!(store.shard_count(), 5);
    assert_eq!(store.shard_capacity(), 1);
    let store = MemoryStore::builder().capacity(0).shards(0).build();
    assert_eq!((store.shard_count(), store.shard_capacity()), (1, 1));
    let store = MemoryStore::builder().capacity(1_000).shards(8).build();
    assert_eq!((store.shard_count(), store.shard_capacity()), (8, 125));
}

fn assert_completed(store: &MemoryStore, key: &str) {
    assert!(
        matches!(store.claim_now(key, LEASE), Ok(Claim::Completed)),
        "{key}"
    );
}

fn process(store: &MemoryStore, key: &str) {
    let token = acquire(store, key);
    store.complete_now(key, token, KEEP).unwrap();
}

#[test]
fn full_shard_drops_records_in_the_order_they_came() {
    let (store, _clock) = store(3, 1);
    for key in ["a", "b", "c"] {
        process(&store, key);
    }
    // A duplicate check does not move "a" up: first in, first out.
    assert_completed(&store, "a");
    process(&store, "d");
    assert_eq!((store.evictions(), store.len()), (1, 3));
    for key in ["b", "c", "d"] {
        assert_completed(&store, key);
    }
    process(&store, "e");
    assert_eq!(store.evictions(), 2);
    for key in ["c", "d", "e"] {
        assert_completed(&store, key);
    }
}

#[test]
fn the_hand_passes_over_live_claims() {
    let (store, _clock) = store(3, 1);
    let _a = acquire(&store, "a");
    process(&store, "b");
    process(&store, "c");
    process(&store, "d");
    assert_eq!(store.evictions(), 1);
    assert!(matches!(
        store.claim_now("a", LEASE),
        Ok(Claim::InFlight { .. })
    ));
    for key in ["c", "d"] {
        assert_completed(&store, key);
    }
    // "c" goes next, then "d"; "a" stays, and a store of live claims refuses.
    let _e = acquire(&store, "e");
    let _f = acquire(&store, "f");
    assert_eq!(store.evictions(), 3);
    assert!(matches!(
        store.claim_now("g", LEASE),
        Err(StoreError::CapacityExhausted { shard_capacity: 3 })
    ));
    assert_eq!(store.len(), 3);
}

#[test]
fn a_released_place_is_reused_before_anything_is_dropped() {
    let (store, _clock) = store(2, 1);
    process(&store, "a");
    let b = acquire(&store, "b");
    store.release_now("b", b).unwrap();
    assert_eq!(store.len(), 1);
    process(&store, "c");
    assert_eq!((store.evictions(), store.len()), (0, 2));
    assert_completed(&store, "a");
    assert_completed(&store, "c");
    // Released, "b" is forgotten: a new claim takes it.
    assert!(matches!(store.release_now("b", b), Ok(())));
}

#[test]
fn stale_tokens_are_refused_after_a_takeover_and_on_completions() {
    let (store, clock) = store(4, 1);
    let first = acquire(&store, "a");
    clock.advance(LEASE);
    let second = acquire(&store, "a");
    assert_ne!(first, second);
    assert!(matches!(
        store.complete_now("a", first, KEEP),
        Err(StoreError::StaleToken)
    ));
    assert!(matches!(
        store.release_now("a", first),
        Err(StoreError::StaleToken)
    ));
    store.complete_now("a", second, KEEP).unwrap();
    assert!(matches!(
        store.complete_now("a", second, KEEP),
        Err(StoreError::StaleToken)
    ));
    assert!(matches!(
        store.release_now("a", second),
        Err(StoreError::StaleToken)
    ));
    // Once the retention ends, the lapsed token may complete it again.
    clock.advance(KEEP);
    assert!(matches!(store.complete_now("a", first, KEEP), Ok(())));
    assert_completed(&store, "a");
    assert_eq!(store.len(), 1);
}

#[test]
fn a_shard_larger_than_its_preallocation_grows_its_index() {
    let capacity = PREALLOCATED_RECORDS + 100;
    let (store, _clock) = store(capacity, 1);
    for i in 0..=capacity {
        process(&store, &format!("k{i}"));
    }
    assert_eq!((store.len(), store.evictions()), (capacity, 1));
    assert!(matches!(
        store.claim_now("k0", LEASE),
        Ok(Claim::Acquired(_))
    ));
    for i in 2..=capacity {
        assert_completed(&store, &format!("k{i}"));
    }
}

#[test]
fn the_futures_are_ready_at_once_with_the_stores_answers() {
    let (store, clock) = store(64, 1);
    let answer = |future: StoreFuture<'_, Result<Claim, StoreError>>| {
        let mut future = future;
        match std::pin::Pin::new(&mut future)
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            std::task::Poll::Ready(answer) => answer,
            std::task::Poll::Pending => unreachable!("the memory store never waits"),
        }
    };
    let Some(Ok(Claim::Acquired(first))) = at_once(store.claim("k", LEASE)) else {
        panic!("a fresh key is acquired at once")
    };
    assert!(matches!(
        at_once(store.claim("k", LEASE)),
        Some(Ok(Claim::InFlight { retry_after })) if retry_after == LEASE
    ));
    assert!(matches!(
        answer(store.claim("k", LEASE)),
        Ok(Claim::InFlight { .. })
    ));
    clock.advance(LEASE);
    let Some(Ok(Claim::Acquired(second))) = at_once(store.claim("k", LEASE)) else {
        panic!("the lapsed claim is taken over")
    };
    assert!(matches!(
        at_once(store.release("k", first)),
        Some(Err(StoreError::StaleToken))
    ));
    assert!(matches!(
        at_once(store.complete("k", first, LEASE)),
        Some(Err(StoreError::StaleToken))
    ));
    assert!(matches!(
        at_once(store.complete("k", second, LEASE)),
        Some(Ok(()))
    ));
    assert!(matches!(
        at_once(store.claim("k", LEASE)),
        Some(Ok(Claim::Completed))
    ));
    assert!(matches!(
        answer(store.claim("k", LEASE)),
        Ok(Claim::Completed)
    ));
    let Some(Ok(Claim::Acquired(other))) = at_once(store.claim("other", LEASE)) else {
        panic!("a fresh key is acquired at once")
    };
    assert!(matches!(
        at_once(store.release("other", other)),
        Some(Ok(()))
    ));
    assert!(matches!(
        at_once(store.claim("other", LEASE)),
        Some(Ok(Claim::Acquired(_)))
    ));
}

#[test]
fn tokens_differ_across_shards_and_claims() {
    // Room for every key whatever shard it hashes to.
    let (store, clock) = store(8 * 32, 8);
    let mut seen = std::collections::HashSet::new();
    for round in 0..3 {
        for key in 0..32 {
            let token = acquire(&store, &format!("k{key}"));
            assert!(seen.insert(token), "token reused in round {round}");
        }
        clock.advance(LEASE);
    }
}
