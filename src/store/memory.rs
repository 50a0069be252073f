//! The in-memory store: a bounded LRU of claims and completion records per shard, expiring by
//! the injected [`Clock`], for one process.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lru::LruCache;

use super::{BoxFuture, Claim, ClaimToken, IdempotencyStore, StoreError, store_event};
use crate::{Clock, SystemClock};

/// The capacity of [`MemoryStore::new`]'s default builder: records kept across all shards.
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

/// An idempotency store in this process's memory: fast, and enough for one instance; use a
/// shared store (Redis) when several instances receive the same endpoint's webhooks.
///
/// Records live in shards, each an LRU of bounded capacity behind its own mutex, so that
/// threads working on different keys rarely wait on one another. Leases and retentions expire
/// by the injected [`Clock`] (a [`MockClock`](crate::MockClock) in tests). When a shard is
/// full, room is made by dropping an expired record, else the least recently used completed
/// record ([`evictions`](Self::evictions) counts these: each one forgets a completion before
/// its retention ended); a live in-flight claim is never dropped, so a shard full of them
/// refuses new claims with [`StoreError::CapacityExhausted`] (fail closed).
///
/// Not moka: its admission policy refuses fresh keys when full, so a replay could pass.
///
/// ```
/// use std::time::Duration;
/// use amps_webhooks::MockClock;
/// use amps_webhooks::store::{Claim, MemoryStore, StoreError};
///
/// let clock = MockClock::at_unix(1_700_000_000);
/// let store = MemoryStore::builder().capacity(10_000).clock(clock.clone()).build();
/// let lease = Duration::from_secs(60);
/// let Ok(Claim::Acquired(first)) = store.claim_now("ns:evt_1", lease) else { unreachable!() };
/// assert!(matches!(store.claim_now("ns:evt_1", lease), Ok(Claim::InFlight { .. })));
/// clock.advance(Duration::from_secs(61));
/// // The lease ran out: another worker takes over, and the first token is fenced off.
/// assert!(matches!(store.claim_now("ns:evt_1", lease), Ok(Claim::Acquired(_))));
/// assert!(matches!(store.release_now("ns:evt_1", first), Err(StoreError::StaleToken)));
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    /// Two independently seeded SipHash keys: a key is held as its 128-bit fingerprint, so a
    /// record costs no allocation of its own and two keys collide with odds of about 2^-128
    /// per pair, far below any other failure.
    fingerprint_high: RandomState,
    fingerprint_low: RandomState,
    clock: Arc<dyn Clock>,
    shard_capacity: usize,
}

/// A fingerprint is already uniformly random: the map uses its low 64 bits as the hash.
#[derive(Debug, Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used by `u128: Hash`; fold anything else to stay correct.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        // The low half, on purpose: the shard is chosen by the high half.
        #[allow(clippy::cast_possible_truncation)]
        {
            self.0 = value as u64;
        }
    }
}

type Records = LruCache<u128, Record, BuildHasherDefault<FingerprintHasher>>;

#[derive(Debug)]
struct Shard {
    records: Records,
    /// Tokens are this shard's index (high half) and a per-shard counter (low half): unique in
    /// the store without a shared atomic for threads to contend on.
    next_token: u64,
    /// Live completions dropped to make room.
    evictions: u64,
}

#[derive(Debug, Clone, Copy)]
enum Record {
    InFlight { token: ClaimToken, until: u64 },
    Completed { until: u64 },
}

impl Record {
    fn until(self) -> u64 {
        match self {
            Self::InFlight { until, .. } | Self::Completed { until } => until,
        }
    }
}

/// Configures a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    capacity: usize,
    shards: Option<usize>,
    clock: Arc<dyn Clock>,
}

impl MemoryStoreBuilder {
    /// How many records (claims and completions) the store keeps at most, across all shards
    /// (default 100,000; at least one per shard).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many shards (default: four per CPU, rounded up to a power of two, at most 256).
    #[must_use]
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The clock that leases and retentions expire by (default [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// [`clock`](Self::clock), shared with a verifier or other stores.
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store.
    #[must_use]
    pub fn build(self) -> MemoryStore {
        let shard_count = self
            .shards
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map_or(1, NonZeroUsize::get)
                    .saturating_mul(4)
                    .next_power_of_two()
                    .min(256)
            })
            .clamp(1, self.capacity.max(1));
        let shard_capacity = self.capacity.div_ceil(shard_count).max(1);
        let per_shard = NonZeroUsize::new(shard_capacity).unwrap_or(NonZeroUsize::MIN);
        let shards = (0..shard_count)
            .map(|_| {
                Mutex::new(Shard {
                    records: LruCache::with_hasher(per_shard, BuildHasherDefault::default()),
                    next_token: 0,
                    evictions: 0,
                })
            })
            .collect();
        MemoryStore {
            shards,
            fingerprint_high: RandomState::new(),
            fingerprint_low: RandomState::new(),
            clock: self.clock,
            shard_capacity,
        }
    }
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_MEMORY_CAPACITY,
            shards: None,
            clock: Arc::new(SystemClock),
        }
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    })
}

fn nanos_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl MemoryStore {
    /// A store of `capacity` records on the system clock.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self::builder().capacity(capacity).build()
    }

    /// Configures a store.
    #[must_use]
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// How many completion records were dropped before their retention ended, to make room.
    /// Each one means a duplicate of that event would run again: if this grows, raise the
    /// capacity.
    #[must_use]
    pub fn evictions(&self) -> u64 {
        // Counted per shard, under its lock: a shared counter would bounce between the cores on
        // every eviction of a full store.
        self.shards.iter().map(|shard| lock(shard).evictions).sum()
    }

    /// How many records are held, expired ones included until they are swept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| lock(shard).records.len())
            .sum()
    }

    /// True when no record is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// How many records one shard holds at most.
    #[must_use]
    pub fn shard_capacity(&self) -> usize {
        self.shard_capacity
    }

    /// The key's fingerprint, its shard's index and the shard, locked.
    fn shard(&self, key: &str) -> (u128, usize, MutexGuard<'_, Shard>) {
        let high = self.fingerprint_high.hash_one(key);
        let fingerprint = (u128::from(high) << 64) | u128::from(self.fingerprint_low.hash_one(key));
        // Any bits of SipHash are uniform; `as` keeps the low ones on purpose.
        #[allow(clippy::cast_possible_truncation)]
        let index = (high as usize) % self.shards.len();
        (fingerprint, index, lock(&self.shards[index]))
    }

    fn now(&self) -> u64 {
        nanos(self.clock.now())
    }

    /// [`IdempotencyStore::claim`], without a future.
    ///
    /// # Errors
    ///
    /// [`StoreError::CapacityExhausted`] when the key's shard is full of live claims.
    pub fn claim_now(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = self.now();
        let until = now.saturating_add(nanos_of(lease));
        let (fingerprint, index, mut guard) = self.shard(key);
        let shard = &mut *guard;
        if let Some(record) = shard.records.get_mut(&fingerprint) {
            match *record {
                Record::InFlight { until: held, .. } if held > now => {
                    return Ok(Claim::InFlight {
                        retry_after: Duration::from_nanos(held - now),
                    });
                }
                Record::Completed { until: kept } if kept > now => return Ok(Claim::Completed),
                _ => {
                    shard.next_token = shard.next_token.wrapping_add(1);
                    let token = token_of(index, shard.next_token);
                    *record = Record::InFlight { token, until };
                    return Ok(Claim::Acquired(token));
                }
            }
        }
        let token = shard.token(index);
        self.insert(shard, fingerprint, Record::InFlight { token, until }, now)?;
        Ok(Claim::Acquired(token))
    }

    /// [`IdempotencyStore::complete`], without a future.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when another claim was made since;
    /// [`StoreError::CapacityExhausted`] when the record is gone and the shard is full of live
    /// claims.
    pub fn complete_now(
        &self,
        key: &str,
        token: ClaimToken,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let until = now.saturating_add(nanos_of(retention));
        let (fingerprint, _, mut guard) = self.shard(key);
        let shard = &mut *guard;
        if let Some(record) = shard.records.get_mut(&fingerprint) {
            match *record {
                Record::InFlight { token: held, .. } if held == token => {}
                other if other.until() <= now => {}
                _ => return Err(StoreError::StaleToken),
            }
            *record = Record::Completed { until };
            return Ok(());
        }
        self.insert(shard, fingerprint, Record::Completed { until }, now)
    }

    /// [`IdempotencyStore::release`], without a future.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the key holds another claim or a completion record.
    pub fn release_now(&self, key: &str, token: ClaimToken) -> Result<(), StoreError> {
        let now = self.now();
        let (fingerprint, _, mut guard) = self.shard(key);
        match guard.records.peek(&fingerprint).copied() {
            None => Ok(()),
            Some(Record::InFlight { token: held, .. }) if held == token => {
                guard.records.pop(&fingerprint);
                Ok(())
            }
            Some(other) if other.until() <= now => {
                guard.records.pop(&fingerprint);
                Ok(())
            }
            Some(_) => Err(StoreError::StaleToken),
        }
    }

    /// Inserts a record for an absent key. In a full shard it takes the place of an expired
    /// record, else of the least recently used completion (reusing its node); never of a live
    /// claim.
    fn insert(
        &self,
        shard: &mut Shard,
        fingerprint: u128,
        record: Record,
        now: u64,
    ) -> Result<(), StoreError> {
        let records = &mut shard.records;
        if records.len() < records.cap().get() {
            records.put(fingerprint, record);
            return Ok(());
        }
        let evictable = |record: &Record| match *record {
            Record::Completed { .. } => true,
            Record::InFlight { until, .. } => until <= now,
        };
        let removed = if records
            .peek_lru()
            .is_some_and(|(_, oldest)| evictable(oldest))
        {
            // `push` on a full cache replaces the least recently used entry in place.
            records
                .push(fingerprint, record)
                .map(|(_, removed)| removed)
        } else {
            // The oldest records are live claims: look further for a completion or an expired
            // record. Bounded by the shard's capacity, and only taken when claims pile up.
            let victim = records
                .iter()
                .rev()
                .find(|(_, candidate)| evictable(candidate))
                .map(|(victim, _)| *victim);
            let removed = victim.and_then(|victim| records.pop(&victim));
            if removed.is_some() {
                records.put(fingerprint, record);
            }
            removed
        };
        match removed {
            Some(Record::Completed { until }) if until > now => {
                shard.evictions += 1;
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                store_event!(
                    error,
                    shard_capacity = self.shard_capacity,
                    "memory store shard full of live claims; refusing the claim"
                );
                Err(StoreError::CapacityExhausted {
                    shard_capacity: self.shard_capacity,
                })
            }
        }
    }
}

impl Shard {
    fn token(&mut self, index: usize) -> ClaimToken {
        self.next_token = self.next_token.wrapping_add(1);
        token_of(index, self.next_token)
    }
}

fn token_of(shard_index: usize, count: u64) -> ClaimToken {
    ClaimToken::from_u128(((shard_index as u128) << 64) | u128::from(count))
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // No code panics while holding a shard's lock, and every record stays valid if one did.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IdempotencyStore for MemoryStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(std::future::ready(self.claim_now(key, lease)))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
        retention: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.complete_now(key, token, retention)))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.release_now(key, token)))
    }

    fn release_detached(self: Arc<Self>, key: String, token: ClaimToken) {
        if let Err(_error) = self.release_now(&key, token) {
            store_event!(warn, key = %key, error = %_error, "could not release a dropped claim");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockClock;

    fn store(capacity: usize, shards: usize) -> (MemoryStore, MockClock) {
        let clock = MockClock::at_unix(1_000);
        let store = MemoryStore::builder()
            .capacity(capacity)
            .shards(shards)
            .clock(clock.clone())
            .build();
        (store, clock)
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
}
