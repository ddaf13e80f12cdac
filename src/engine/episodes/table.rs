//! The storage of the open episodes: slots in chunks, found by key, ordered by last failure.
//!
//! Each open episode is one slot of 72 bytes (its [`JobKey`] and its [`Episode`]) in chunks of
//! [`CHUNK`] slots; a freed slot is taken by the next new episode. Beside the slots, each open
//! episode costs a 4-byte slot number in the hash table of its range of keys (at 44–88 %
//! load, one control byte each) and 8 bytes in the eviction order: its place in a binary
//! min-heap of slot numbers ordered by (last failure, key), and the heap's entry. That is
//! about 90 bytes per open episode, against about 190 in the B-trees this replaced (a map by
//! key and a set by last failure, each node a third empty on average and the set's entries
//! 32 bytes).
//!
//! Nothing is walked under the engine's lock: finding, inserting and removing cost one hash
//! lookup and O(log n) heap steps; the hash tables are per range of keys, so growing one
//! rehashes a 64th of the table. The chunks sit behind `Arc`s: a [`Chunks`] copy taken for a
//! snapshot shares them, and the first change to a chunk while the copy holds it copies that
//! chunk alone (1,024 slots). The slots never shrink: at most `max_open_episodes` slots (and
//! a chunk) stay allocated after the episodes in them end.

use super::{Episode, JobKey};
use chrono::{DateTime, Utc};
use hashbrown::HashTable;
use std::sync::Arc;

/// Slots per chunk: 72 KiB, copied at once when a snapshot still shares it.
pub const CHUNK: usize = 1 << 10;

/// One chunk of slots; `None` is a free slot.
type Chunk = Vec<Option<(JobKey, Episode)>>;

/// The slots as a snapshot holds them (shared with the table until it changes them).
pub type Chunks = Vec<Arc<Chunk>>;

/// The open episodes by key, and their eviction order.
#[derive(Debug, Clone)]
pub struct Table {
    chunks: Chunks,
    /// Slots never used yet start here; the ones before it that are free are in `free`.
    used: u32,
    free: Vec<u32>,
    /// Per range of keys (the top `range_bits` bits), the slot of each open episode.
    find: Vec<HashTable<u32>>,
    range_bits: u32,
    /// Slots of the open episodes as a min-heap by (last failure, key).
    heap: Vec<u32>,
    /// Where each slot is in `heap` (meaningless for a free slot).
    heap_at: Vec<u32>,
}

impl Table {
    /// An empty table whose keys are split into `2^range_bits` hash tables.
    pub fn new(range_bits: u32) -> Self {
        Self {
            chunks: Vec::new(),
            used: 0,
            free: Vec::new(),
            find: (0..1 << range_bits).map(|_| HashTable::new()).collect(),
            range_bits,
            heap: Vec::new(),
            heap_at: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn get(&self, key: JobKey) -> Option<&Episode> {
        self.slot_of(key).map(|slot| &self.entry(slot).1)
    }

    /// The slots, for a snapshot: one pointer per chunk.
    pub fn chunks(&self) -> Chunks {
        self.chunks.clone()
    }

    /// Inserts or replaces the episode under `key`; gives back the one it replaced.
    pub fn insert(&mut self, key: JobKey, episode: Episode) -> Option<Episode> {
        if let Some(slot) = self.slot_of(key) {
            let old = std::mem::replace(&mut self.entry_mut(slot).1, episode);
            let at = self.heap_at[slot as usize] as usize;
            self.sift_up(at);
            self.sift_down(self.heap_at[slot as usize] as usize);
            return Some(old);
        }
        let slot = self.take_slot();
        self.chunk_mut(slot)[slot as usize % CHUNK] = Some((key, episode));
        let chunks = &self.chunks;
        let hash_of = |&s: &u32| entry(chunks, s).0.low_bits();
        self.find[key.range_of(self.range_bits)].insert_unique(key.low_bits(), slot, hash_of);
        self.heap_at[slot as usize] = self.heap.len() as u32;
        self.heap.push(slot);
        self.sift_up(self.heap.len() - 1);
        None
    }

    pub fn remove(&mut self, key: JobKey) -> Option<Episode> {
        let chunks = &self.chunks;
        let found = self.find[key.range_of(self.range_bits)]
            .find_entry(key.low_bits(), |&s| entry(chunks, s).0 == key)
            .ok()?;
        let (slot, _) = found.remove();
        Some(self.release(slot))
    }

    /// The last failure and key of the least recently touched episode (of those touched at
    /// the same time, the one of the lowest key).
    pub fn oldest(&self) -> Option<(DateTime<Utc>, JobKey)> {
        self.heap.first().map(|&slot| self.order_of(slot))
    }

    /// Removes the least recently touched episode.
    pub fn pop_oldest(&mut self) -> Option<Episode> {
        let (_, key) = self.oldest()?;
        self.remove(key)
    }

    fn slot_of(&self, key: JobKey) -> Option<u32> {
        let table = &self.find[key.range_of(self.range_bits)];
        let found = table.find(key.low_bits(), |&s| self.entry(s).0 == key);
        found.copied()
    }

    fn entry(&self, slot: u32) -> &(JobKey, Episode) {
        entry(&self.chunks, slot)
    }

    fn entry_mut(&mut self, slot: u32) -> &mut (JobKey, Episode) {
        let chunk = self.chunk_mut(slot);
        chunk[slot as usize % CHUNK].as_mut().expect("an open slot")
    }

    /// The chunk of `slot`, to change: copied first if a snapshot still shares it.
    fn chunk_mut(&mut self, slot: u32) -> &mut Chunk {
        Arc::make_mut(&mut self.chunks[slot as usize / CHUNK])
    }

    /// A free slot: the last one freed, else the next never used (a new chunk when needed).
    fn take_slot(&mut self) -> u32 {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        let slot = self.used;
        if slot as usize == self.chunks.len() * CHUNK {
            self.chunks.push(Arc::new(vec![None; CHUNK]));
            self.heap_at.resize(self.chunks.len() * CHUNK, u32::MAX);
        }
        self.used += 1;
        slot
    }

    /// Empties `slot` (already out of its hash table) and takes it out of the heap.
    fn release(&mut self, slot: u32) -> Episode {
        let (_, episode) = self.chunk_mut(slot)[slot as usize % CHUNK]
            .take()
            .expect("an open slot");
        let at = self.heap_at[slot as usize] as usize;
        let last = self.heap.len() - 1;
        self.swap(at, last);
        self.heap.pop();
        if at < self.heap.len() {
            let moved = self.heap[at];
            self.sift_up(at);
            self.sift_down(self.heap_at[moved as usize] as usize);
        }
        self.free.push(slot);
        episode
    }

    /// What the heap orders slots by.
    fn order_of(&self, slot: u32) -> (DateTime<Utc>, JobKey) {
        let (key, episode) = self.entry(slot);
        (episode.last_failure_at, *key)
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.heap_at[self.heap[i] as usize] = i as u32;
        self.heap_at[self.heap[j] as usize] = j as u32;
    }

    fn sift_up(&mut self, mut at: usize) {
        let order = self.order_of(self.heap[at]);
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.order_of(self.heap[parent]) <= order {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        let order = self.order_of(self.heap[at]);
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut least = (at, order);
            for child in [left, right] {
                if child < self.heap.len() {
                    let o = self.order_of(self.heap[child]);
                    if o < least.1 {
                        least = (child, o);
                    }
                }
            }
            if least.0 == at {
                return;
            }
            self.swap(at, least.0);
            at = least.0;
        }
    }
}

#[cfg(test)]
impl Table {
    /// Panics unless the slots, the hash tables and the heap agree.
    pub fn check_invariants(&self) {
        let found: usize = self.find.iter().map(HashTable::len).sum();
        assert_eq!(found, self.len());
        assert_eq!(self.free.len() + self.len(), self.used as usize);
        for (at, &slot) in self.heap.iter().enumerate() {
            assert_eq!(self.heap_at[slot as usize] as usize, at);
            let (key, _) = self.entry(slot);
            assert_eq!(self.slot_of(*key), Some(slot));
            if at > 0 {
                let parent = self.heap[(at - 1) / 2];
                assert!(
                    self.order_of(parent) < self.order_of(slot),
                    "heap order at {at}"
                );
            }
        }
        for &slot in &self.free {
            let chunk = &self.chunks[slot as usize / CHUNK];
            assert!(
                chunk[slot as usize % CHUNK].is_none(),
                "free slot {slot} holds one"
            );
        }
    }
}

fn entry(chunks: &Chunks, slot: u32) -> &(JobKey, Episode) {
    chunks[slot as usize / CHUNK][slot as usize % CHUNK]
        .as_ref()
        .expect("an open slot")
}

/// The open episodes held in `chunks`, in key order.
pub fn in_key_order(chunks: &Chunks) -> Vec<&(JobKey, Episode)> {
    let mut open: Vec<_> = chunks.iter().flat_map(|c| c.iter().flatten()).collect();
    open.sort_unstable_by_key(|(key, _)| *key);
    open
}
