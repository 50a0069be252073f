//! The in-memory store: per shard, a bounded table of claims and completion records with a
//! ring of their fingerprints in claim order for eviction, expiring by the injected [`Clock`],
//! for one process.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use siphasher::sip128::{Hasher128, SipHasher13};

use super::{BoxFuture, Claim, ClaimToken, IdempotencyStore, StoreError, store_event};
use crate::{Clock, SystemClock};

/// The capacity of [`MemoryStore::new`]'s default builder: records kept across all shards.
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

/// An idempotency store in this process's memory: fast, and enough for one instance; use a
/// shared store (Redis) when several instances receive the same endpoint's webhooks.
///
/// Records live in shards, each a table of bounded capacity behind its own mutex (on cache
/// lines of its own), so that threads working on different keys rarely wait on one another.
/// Leases and retentions expire by the injected [`Clock`] (a [`MockClock`](crate::MockClock)
/// in tests). When a shard is full, room is made by dropping the oldest record that is
/// expired or completed, oldest in the order of claims (first in, first out: a duplicate
/// check does not move a record up, which keeps every operation on sequential memory);
/// [`evictions`](Self::evictions) counts the completions dropped before their retention ended.
/// A live in-flight claim is never dropped: it is passed over (and moves to the back of the
/// order), so a shard full of live claims refuses new claims with
/// [`StoreError::CapacityExhausted`] (fail closed).
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
    shards: Box<[PaddedShard]>,
    /// A randomly seeded SipHash-1-3 key: a key is held as its 128-bit fingerprint, so a record
    /// costs no allocation of its own and two keys collide with odds of about 2^-128 per pair,
    /// far below any other failure. One 128-bit hash per operation.
    fingerprint_keys: (u64, u64),
    clock: Arc<dyn Clock>,
    shard_capacity: usize,
}

/// A shard's mutex alone on its cache lines (128 bytes: the adjacent-line prefetcher pairs
/// 64-byte lines), so that threads locking neighbouring shards do not bounce a line between
/// their cores.
#[derive(Debug)]
#[repr(align(128))]
struct PaddedShard(Mutex<Shard>);

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

type Records = HashMap<u128, Record, BuildHasherDefault<FingerprintHasher>>;

#[derive(Debug)]
struct Shard {
    records: Records,
    /// Fingerprints in the order records were claimed, each with the stamp of its record: the
    /// order of eviction. An entry whose record is gone or bears another stamp (released, or
    /// claimed again after it expired) is stale, and skipped.
    order: VecDeque<Entry>,
    capacity: usize,
    /// Stamps, and the tokens made of them, are this shard's index (a token's high half) and a
    /// per-shard counter (its low half): unique in the store without a shared atomic for
    /// threads to contend on.
    next_stamp: u64,
    /// Live completions dropped to make room.
    evictions: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    fingerprint: u128,
    stamp: u64,
}

/// A claim (in flight) or a completion record, 16 bytes: when it expires, and its stamp
/// shifted left by one with the low bit set while in flight.
#[derive(Debug, Clone, Copy)]
struct Record {
    until: u64,
    tag: u64,
}

impl Record {
    fn in_flight(stamp: u64, until: u64) -> Self {
        Self {
            until,
            tag: (stamp << 1) | 1,
        }
    }

    fn completed(stamp: u64, until: u64) -> Self {
        Self {
            until,
            tag: stamp << 1,
        }
    }

    fn stamp(self) -> u64 {
        self.tag >> 1
    }

    fn is_in_flight(self) -> bool {
        self.tag & 1 == 1
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
        let shards = (0..shard_count)
            .map(|_| {
                PaddedShard(Mutex::new(Shard {
                    records: HashMap::with_capacity_and_hasher(
                        shard_capacity,
                        BuildHasherDefault::default(),
                    ),
                    order: VecDeque::with_capacity(shard_capacity),
                    capacity: shard_capacity,
                    next_stamp: 0,
                    evictions: 0,
                }))
            })
            .collect();
        // Seeded from the operating system's randomness, as the standard library's maps are.
        let seed = ClaimToken::random().as_u128();
        #[allow(clippy::cast_possible_truncation)]
        let fingerprint_keys = ((seed >> 64) as u64, seed as u64);
        MemoryStore {
            shards,
            fingerprint_keys,
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
        let (k0, k1) = self.fingerprint_keys;
        let mut hasher = SipHasher13::new_with_keys(k0, k1);
        // The key alone is hashed: no prefix or suffix is needed to keep inputs apart.
        hasher.write(key.as_bytes());
        let fingerprint = hasher.finish128().as_u128();
        // The high half picks the shard (multiply and shift: uniform, and no division); the
        // table hashes by the low half.
        #[allow(clippy::cast_possible_truncation)]
        let index = (((fingerprint >> 64) * self.shards.len() as u128) >> 64) as usize;
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
            if record.until > now {
                return Ok(if record.is_in_flight() {
                    Claim::InFlight {
                        retry_after: Duration::from_nanos(record.until - now),
                    }
                } else {
                    Claim::Completed
                });
            }
            // Expired: a new claim, at the back of the order.
            let stamp = next_stamp(&mut shard.next_stamp);
            *record = Record::in_flight(stamp, until);
            shard.push(fingerprint, stamp);
            return Ok(Claim::Acquired(token_of(index, stamp)));
        }
        if shard.records.len() >= shard.capacity {
            self.make_room(shard, now)?;
        }
        let stamp = next_stamp(&mut shard.next_stamp);
        shard
            .records
            .insert(fingerprint, Record::in_flight(stamp, until));
        shard.push(fingerprint, stamp);
        Ok(Claim::Acquired(token_of(index, stamp)))
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
        let (fingerprint, index, mut guard) = self.shard(key);
        let shard = &mut *guard;
        if let Some(record) = shard.records.get_mut(&fingerprint) {
            if record.is_in_flight() && token_of(index, record.stamp()) == token {
                // The claim's own record: completed in place, where the claim put it.
                *record = Record::completed(record.stamp(), until);
                return Ok(());
            }
            if record.until > now {
                return Err(StoreError::StaleToken);
            }
            // A lapsed claim completes over an expired record: a new record, at the back.
            let stamp = next_stamp(&mut shard.next_stamp);
            *record = Record::completed(stamp, until);
            shard.push(fingerprint, stamp);
            return Ok(());
        }
        if shard.records.len() >= shard.capacity {
            self.make_room(shard, now)?;
        }
        let stamp = next_stamp(&mut shard.next_stamp);
        shard
            .records
            .insert(fingerprint, Record::completed(stamp, until));
        shard.push(fingerprint, stamp);
        Ok(())
    }

    /// [`IdempotencyStore::release`], without a future.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] when the key holds another claim or a completion record.
    pub fn release_now(&self, key: &str, token: ClaimToken) -> Result<(), StoreError> {
        let now = self.now();
        let (fingerprint, index, mut guard) = self.shard(key);
        let Some(&record) = guard.records.get(&fingerprint) else {
            return Ok(());
        };
        if (record.is_in_flight() && token_of(index, record.stamp()) == token)
            || record.until <= now
        {
            // Its entry in the order goes stale, skipped when it comes up.
            guard.records.remove(&fingerprint);
            return Ok(());
        }
        Err(StoreError::StaleToken)
    }

    /// Drops the oldest record that is expired or completed from a full shard. Live claims
    /// on the way are passed over to the back of the order; when all are live, refuses.
    fn make_room(&self, shard: &mut Shard, now: u64) -> Result<(), StoreError> {
        // Each entry comes up at most once: a shard of live claims is refused after one turn.
        for _ in 0..shard.order.len() {
            let Some(entry) = shard.order.pop_front() else {
                break;
            };
            let std::collections::hash_map::Entry::Occupied(held) =
                shard.records.entry(entry.fingerprint)
            else {
                continue;
            };
            let record = *held.get();
            if record.stamp() != entry.stamp {
                continue;
            }
            if record.until > now {
                if record.is_in_flight() {
                    shard.order.push_back(entry);
                    continue;
                }
                shard.evictions += 1;
            }
            held.remove();
            return Ok(());
        }
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

/// The shard's next stamp. 2^63 of them: the top bit is shifted out of a record's tag
/// (centuries at 10^9 a second).
fn next_stamp(counter: &mut u64) -> u64 {
    *counter = (*counter + 1) & (u64::MAX >> 1);
    *counter
}

impl Shard {
    /// Puts a record's entry at the back of the order. Stale entries are swept when they
    /// reach twice the capacity: then at least half of them go, so a sweep costs O(1) per push.
    fn push(&mut self, fingerprint: u128, stamp: u64) {
        if self.order.len() >= self.capacity.saturating_mul(2) {
            let records = &self.records;
            self.order.retain(|entry| {
                records
                    .get(&entry.fingerprint)
                    .is_some_and(|record| record.stamp() == entry.stamp)
            });
        }
        self.order.push_back(Entry { fingerprint, stamp });
    }
}

fn token_of(shard_index: usize, stamp: u64) -> ClaimToken {
    ClaimToken::from_u128(((shard_index as u128) << 64) | u128::from(stamp))
}

fn lock(shard: &PaddedShard) -> MutexGuard<'_, Shard> {
    // No code panics while holding a shard's lock, and every record stays valid if one did.
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
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
