//! The in-memory store's API: [`MemoryStore`] and its builder, the key's shard and
//! fingerprint, the claim protocol answered at once; leases and retentions expire by the
//! injected [`Clock`]. For one process. The records themselves are kept by [`shard`].

use std::hash::Hasher;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use siphasher::sip128::{Hasher128, SipHasher13};

use super::{Claim, ClaimToken, IdempotencyStore, StoreError, StoreFuture, store_event};
use crate::{Clock, CoarseClock};

mod shard;

use shard::{COMPLETED, MAX_SHARD_CAPACITY, PaddedShard, Place, Shard, Slot, lock, token_of};

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

// Every answer is ready at once: the Deduplicator neither allocates nor waits.
impl IdempotencyStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> StoreFuture<'a, Result<Claim, StoreError>> {
        StoreFuture::ready(self.claim_now(key, lease))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
        retention: Duration,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(self.complete_now(key, token, retention))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: ClaimToken,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        StoreFuture::ready(self.release_now(key, token))
    }
}

#[cfg(test)]
mod tests;
