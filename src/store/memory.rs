//! The in-memory store: per shard, a bounded array of claims and completion records that a
//! clock hand sweeps in order to make room, and a compact index from key fingerprints to places
//! in it; leases and retentions expire by the injected [`Clock`]. For one process.

use std::hash::Hasher;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hashbrown::HashTable;
use siphasher::sip128::{Hasher128, SipHasher13};

use super::{BoxFuture, Claim, ClaimToken, IdempotencyStore, StoreError, store_event};
use crate::{Clock, CoarseClock};

/// The capacity of [`MemoryStore::new`]'s default builder: records kept across all shards.
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

/// An idempotency store in this process's memory: fast, and enough for one instance; use a
/// shared store (Redis) when several instances receive the same endpoint's webhooks.
///
/// Records live in shards, each an array of bounded capacity behind its own mutex (on cache
/// lines of its own), so that threads working on different keys rarely wait on one another.
/// Leases and retentions expire by the injected [`Clock`] (by default
/// [`CoarseClock`](crate::CoarseClock), a [`MockClock`](crate::MockClock) in tests). When a
/// shard is full, a hand sweeps its records in the order they were placed (first in, first
/// out; a duplicate check does not move a record, which keeps the sweep on sequential memory)
/// and drops the first that is expired or completed;
/// [`evictions`](Self::evictions) counts the completions dropped before their retention ended.
/// A live in-flight claim is never dropped: the hand passes over it, so a shard full of live
/// claims refuses new claims with [`StoreError::CapacityExhausted`] (fail closed). A key
/// claimed again after its record expired keeps that record's place; a new record takes the
/// place of a released one, if any, before the hand drops anything.
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

/// One shard's records and their index, behind the shard's mutex.
#[derive(Debug)]
struct Shard {
    /// Each record's place in `slots`, hashed by the low half of its fingerprint: 4 bytes and a
    /// control byte a bucket, so that the index of a store too large for
    /// the CPU's caches still fits in them, and a lookup reads only the record it finds.
    index: HashTable<u32>,
    /// The next place the hand looks at when the shard is full.
    hand: usize,
    /// Stamps, and the tokens made of them, are this shard's index (a token's high half) and a
    /// per-shard counter (its low half): unique in the store without a shared atomic for
    /// threads to contend on.
    next_stamp: u64,
    /// Live completions dropped to make room.
    evictions: u64,
    /// The records, `capacity` at most, filled in order and then swept by `hand`.
    slots: Vec<Slot>,
    /// Each place's bucket in `index` when it was indexed: its record is unindexed there
    /// without probing (a hint, checked, since growing or tidying the table moves entries).
    buckets: Vec<u32>,
    /// Places emptied by a release, reused before the hand drops anything.
    free: Vec<u32>,
    capacity: usize,
}

/// A claim or a completion record.
#[derive(Debug, Clone, Copy)]
struct Slot {
    fingerprint: u128,
    /// When the lease or the retention ends, in nanoseconds since the Unix epoch.
    until: u64,
    /// The claim's stamp while in flight, else [`COMPLETED`].
    state: u64,
}

/// The state of a completion record; claims' stamps start at 1.
const COMPLETED: u64 = 0;

impl Slot {
    fn is_in_flight(self) -> bool {
        self.state != COMPLETED
    }

    /// True when `token` is this record's claim.
    fn is_claim(self, shard_index: usize, token: ClaimToken) -> bool {
        self.is_in_flight() && token_of(shard_index, self.state) == token
    }

    /// True when `token` may not complete or release this record: it is live, and not the
    /// token's own claim. (An expired record gives way to a lapsed claim.)
    fn refuses(self, shard_index: usize, token: ClaimToken, now: u64) -> bool {
        !self.is_claim(shard_index, token) && self.until > now
    }
}

/// Where a key's record is written.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// Over the key's own record, already in the index.
    Indexed(usize),
    /// At a free place, not yet indexed.
    New(usize),
}

/// A fingerprint is already uniformly random: the index hashes by its low half (the shard is
/// chosen by its high half).
#[allow(clippy::cast_possible_truncation)]
fn index_hash(fingerprint: u128) -> u64 {
    fingerprint as u64
}

/// Places are `u32` in the index: a shard holds at most this many records.
const MAX_SHARD_CAPACITY: usize = u32::MAX as usize;

/// What a shard preallocates at most; beyond it, it grows as records come.
const PREALLOCATED_RECORDS: usize = 1 << 16;

impl Shard {
    fn new(capacity: usize) -> Self {
        let preallocated = capacity.min(PREALLOCATED_RECORDS);
        Self {
            slots: Vec::with_capacity(preallocated),
            buckets: Vec::with_capacity(preallocated),
            // Room for a quarter more than the records: a removal seldom leaves a tombstone, so
            // the table is seldom rehashed.
            index: HashTable::with_capacity(preallocated + preallocated / 4),
            free: Vec::new(),
            hand: 0,
            capacity,
            next_stamp: 0,
            evictions: 0,
        }
    }

    /// The place of the record for `fingerprint`.
    fn find(&self, fingerprint: u128) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(index_hash(fingerprint), |&place| {
                slots[place as usize].fingerprint == fingerprint
            })
            .map(|&place| place as usize)
    }

    /// Writes a key's record: over its old one, or at a new place (from [`Self::place`]),
    /// which is then indexed.
    fn write(&mut self, place: Place, slot: Slot) {
        let place = match place {
            Place::Indexed(place) => {
                self.slots[place] = slot;
                return;
            }
            Place::New(place) => place,
        };
        self.slots[place] = slot;
        let slots = &self.slots;
        #[allow(clippy::cast_possible_truncation)]
        let bucket = self
            .index
            .insert_unique(index_hash(slot.fingerprint), place as u32, |&other| {
                index_hash(slots[other as usize].fingerprint)
            })
            .bucket_index();
        // A bucket beyond `u32` (a table of over 4 billion buckets) is found by probing.
        self.buckets[place] = u32::try_from(bucket).unwrap_or(u32::MAX);
    }

    /// Removes the record at `place` from the index (its slot is then unused).
    fn unindex(&mut self, place: usize) {
        // Where it was put, unless the table moved it since: the bucket and its control byte
        // are read together, where probing reads the control bytes first, then the bucket.
        if let Ok(entry) = self.index.get_bucket_entry(self.buckets[place] as usize)
            && *entry.get() as usize == place
        {
            entry.remove();
            return;
        }
        let fingerprint = self.slots[place].fingerprint;
        if let Ok(entry) = self
            .index
            .find_entry(index_hash(fingerprint), |&other| other as usize == place)
        {
            entry.remove();
        }
    }

    /// A place for a new record: a released one, else a new one while the shard is not full,
    /// else the first place from the hand on whose record is expired or completed (dropped,
    /// and counted in `evictions` if its retention had not ended). `None` when every record
    /// is a live claim.
    fn place(&mut self, now: u64) -> Option<usize> {
        if let Some(place) = self.free.pop() {
            return Some(place as usize);
        }
        if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                fingerprint: 0,
                until: 0,
                state: COMPLETED,
            });
            self.buckets.push(u32::MAX);
            return Some(self.slots.len() - 1);
        }
        // Full, and no place unused: every slot holds an indexed record. Each comes up once.
        for _ in 0..self.slots.len() {
            let place = self.hand;
            self.hand = if place + 1 == self.slots.len() {
                0
            } else {
                place + 1
            };
            let slot = self.slots[place];
            if slot.until > now {
                if slot.is_in_flight() {
                    continue;
                }
                self.evictions += 1;
            }
            self.unindex(place);
            return Some(place);
        }
        None
    }

    /// The next claim's stamp: never [`COMPLETED`].
    fn stamp(&mut self) -> u64 {
        self.next_stamp = self.next_stamp.wrapping_add(1).max(1);
        self.next_stamp
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

    /// The clock that leases and retentions expire by (default [`CoarseClock`]).
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
        let shard_capacity = self
            .capacity
            .div_ceil(shard_count)
            .clamp(1, MAX_SHARD_CAPACITY);
        let shards = (0..shard_count)
            .map(|_| PaddedShard(Mutex::new(Shard::new(shard_capacity))))
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
            clock: Arc::new(CoarseClock),
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
            .map(|shard| lock(shard).index.len())
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
        let found = shard.find(fingerprint);
        if let Some(place) = found {
            let held = shard.slots[place];
            if held.until > now {
                return Ok(if held.is_in_flight() {
                    Claim::InFlight {
                        retry_after: Duration::from_nanos(held.until - now),
                    }
                } else {
                    Claim::Completed
                });
            }
        }
        // Absent, or expired (the new claim takes the record's place).
        let place = self.place(shard, found, now)?;
        let stamp = shard.stamp();
        shard.write(
            place,
            Slot {
                fingerprint,
                until,
                state: stamp,
            },
        );
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
        let found = shard.find(fingerprint);
        if found.is_some_and(|place| shard.slots[place].refuses(index, token, now)) {
            return Err(StoreError::StaleToken);
        }
        let place = self.place(shard, found, now)?;
        shard.write(
            place,
            Slot {
                fingerprint,
                until,
                state: COMPLETED,
            },
        );
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
        let shard = &mut *guard;
        let Some(place) = shard.find(fingerprint) else {
            return Ok(());
        };
        if shard.slots[place].refuses(index, token, now) {
            return Err(StoreError::StaleToken);
        }
        shard.unindex(place);
        #[allow(clippy::cast_possible_truncation)]
        shard.free.push(place as u32);
        Ok(())
    }

    /// Where the key's record goes: where it already is (`found`), else a new place from
    /// [`Shard::place`], refusing (fail closed) when the shard is full of live claims.
    fn place(
        &self,
        shard: &mut Shard,
        found: Option<usize>,
        now: u64,
    ) -> Result<Place, StoreError> {
        if let Some(place) = found {
            return Ok(Place::Indexed(place));
        }
        shard.place(now).map(Place::New).ok_or_else(|| {
            store_event!(
                error,
                shard_capacity = self.shard_capacity,
                "memory store shard full of live claims; refusing the claim"
            );
            StoreError::CapacityExhausted {
                shard_capacity: self.shard_capacity,
            }
        })
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

    fn claim_ready(&self, key: &str, lease: Duration) -> Option<Result<Claim, StoreError>> {
        Some(self.claim_now(key, lease))
    }

    fn complete_ready(
        &self,
        key: &str,
        token: ClaimToken,
        retention: Duration,
    ) -> Option<Result<(), StoreError>> {
        Some(self.complete_now(key, token, retention))
    }

    fn release_ready(&self, key: &str, token: ClaimToken) -> Option<Result<(), StoreError>> {
        Some(self.release_now(key, token))
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
    fn ready_answers_are_the_futures_answers() {
        let (store, clock) = store(64, 1);
        let answer = |future: BoxFuture<'_, Result<Claim, StoreError>>| {
            let mut future = future;
            match future
                .as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
            {
                std::task::Poll::Ready(answer) => answer,
                std::task::Poll::Pending => unreachable!("the memory store never waits"),
            }
        };
        let Some(Ok(Claim::Acquired(first))) = store.claim_ready("k", LEASE) else {
            panic!("a fresh key is acquired at once")
        };
        assert!(matches!(
            store.claim_ready("k", LEASE),
            Some(Ok(Claim::InFlight { retry_after })) if retry_after == LEASE
        ));
        assert!(matches!(
            answer(store.claim("k", LEASE)),
            Ok(Claim::InFlight { .. })
        ));
        clock.advance(LEASE);
        let Some(Ok(Claim::Acquired(second))) = store.claim_ready("k", LEASE) else {
            panic!("the lapsed claim is taken over")
        };
        assert!(matches!(
            store.release_ready("k", first),
            Some(Err(StoreError::StaleToken))
        ));
        assert!(matches!(
            store.complete_ready("k", first, LEASE),
            Some(Err(StoreError::StaleToken))
        ));
        assert!(matches!(
            store.complete_ready("k", second, LEASE),
            Some(Ok(()))
        ));
        assert!(matches!(
            store.claim_ready("k", LEASE),
            Some(Ok(Claim::Completed))
        ));
        assert!(matches!(
            answer(store.claim("k", LEASE)),
            Ok(Claim::Completed)
        ));
        let Some(Ok(Claim::Acquired(other))) = store.claim_ready("other", LEASE) else {
            panic!("a fresh key is acquired at once")
        };
        assert!(matches!(store.release_ready("other", other), Some(Ok(()))));
        assert!(matches!(
            store.claim_ready("other", LEASE),
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
}
