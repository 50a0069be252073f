//! One shard of the memory store: a bounded array of records (claims and completions), a
//! compact index from key fingerprints to places in it, and the clock hand that makes room.

use std::sync::{Mutex, MutexGuard, PoisonError};

use hashbrown::HashTable;

use crate::store::ClaimToken;

/// A shard's mutex alone on its cache lines (128 bytes: the adjacent-line prefetcher pairs
/// 64-byte lines), so that threads locking neighbouring shards do not bounce a line between
/// their cores.
#[derive(Debug)]
#[repr(align(128))]
pub(super) struct PaddedShard(pub(super) Mutex<Shard>);

/// One shard's records and their index, behind the shard's mutex.
#[derive(Debug)]
pub(super) struct Shard {
    /// Each record's place in `slots`, hashed by the low half of its fingerprint: 4 bytes and a
    /// control byte a bucket, so that the index of a store too large for
    /// the CPU's caches still fits in them, and a lookup reads only the record it finds.
    pub(super) index: HashTable<u32>,
    /// The next place the hand looks at when the shard is full.
    pub(super) hand: usize,
    /// Stamps, and the tokens made of them, are this shard's index (a token's high half) and a
    /// per-shard counter (its low half): unique in the store without a shared atomic for
    /// threads to contend on.
    pub(super) next_stamp: u64,
    /// Live completions dropped to make room.
    pub(super) evictions: u64,
    /// The records, `capacity` at most, filled in order and then swept by `hand`.
    pub(super) slots: Vec<Slot>,
    /// Each place's bucket in `index` when it was indexed: its record is unindexed there
    /// without probing (a hint, checked, since growing or tidying the table moves entries).
    pub(super) buckets: Vec<u32>,
    /// Places emptied by a release, reused before the hand drops anything.
    pub(super) free: Vec<u32>,
    pub(super) capacity: usize,
}

/// A claim or a completion record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) fingerprint: u128,
    /// When the lease or the retention ends, in nanoseconds since the Unix epoch.
    pub(super) until: u64,
    /// The claim's stamp while in flight, else [`COMPLETED`].
    pub(super) state: u64,
}

/// The state of a completion record; claims' stamps start at 1.
pub(super) const COMPLETED: u64 = 0;

impl Slot {
    pub(super) fn is_in_flight(self) -> bool {
        self.state != COMPLETED
    }

    /// True when `token` is this record's claim.
    pub(super) fn is_claim(self, shard_index: usize, token: ClaimToken) -> bool {
        self.is_in_flight() && token_of(shard_index, self.state) == token
    }

    /// True when `token` may not complete or release this record: it is live, and not the
    /// token's own claim. (An expired record gives way to a lapsed claim.)
    pub(super) fn refuses(self, shard_index: usize, token: ClaimToken, now: u64) -> bool {
        !self.is_claim(shard_index, token) && self.until > now
    }
}

/// Where a key's record is written.
#[derive(Debug, Clone, Copy)]
pub(super) enum Place {
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
pub(super) const MAX_SHARD_CAPACITY: usize = u32::MAX as usize;

/// What a shard preallocates at most; beyond it, it grows as records come.
pub(super) const PREALLOCATED_RECORDS: usize = 1 << 16;

impl Shard {
    pub(super) fn new(capacity: usize) -> Self {
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
    pub(super) fn find(&self, fingerprint: u128) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(index_hash(fingerprint), |&place| {
                slots[place as usize].fingerprint == fingerprint
            })
            .map(|&place| place as usize)
    }

    /// Writes a key's record: over its old one, or at a new place (from [`Self::place`]),
    /// which is then indexed.
    pub(super) fn write(&mut self, place: Place, slot: Slot) {
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
    pub(super) fn unindex(&mut self, place: usize) {
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
    pub(super) fn place(&mut self, now: u64) -> Option<usize> {
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
    pub(super) fn stamp(&mut self) -> u64 {
        self.next_stamp = self.next_stamp.wrapping_add(1).max(1);
        self.next_stamp
    }
}

pub(super) fn token_of(shard_index: usize, stamp: u64) -> ClaimToken {
    ClaimToken::from_u128(((shard_index as u128) << 64) | u128::from(stamp))
}

pub(super) fn lock(shard: &PaddedShard) -> MutexGuard<'_, Shard> {
    // No code panics while holding a shard's lock, and every record stays valid if one did.
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
}
