//! A job id as the engine's per-job tables keep it: a 128-bit keyed hash, 16 bytes whatever
//! the id's length, and no heap block of its own.
//!
//! The tables never give an id back, they only find one. An id kept as a string was a small
//! heap block per job, allocated by whichever worker thread took the request and living as
//! long as the entry: 200,000 of them held pages of glibc's arenas among the short-lived
//! blocks of request parsing. Two of 200,000 ids share a key with a chance of about 10⁻²⁸.
//! The key of the hash is fixed, so a snapshot means the same to every restart and every
//! replica. In a snapshot a key is 32 hexadecimal digits.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use siphasher::sip128::SipHasher13;
use std::fmt;

/// SipHash-1-3 (128 bits) of a job id under a fixed key, as its high and low 64 bits: the
/// order is the 128-bit number's, and the alignment 8, not 16, so a key beside an 8-aligned
/// record in a table costs its 16 bytes and no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey([u64; 2]);

impl JobKey {
    const SIP_KEY: (u64, u64) = (
        u64::from_le_bytes(*b"retryctl"),
        u64::from_le_bytes(*b"episodes"),
    );

    /// The key of `job_id`.
    pub fn of(job_id: &str) -> Self {
        let (k0, k1) = Self::SIP_KEY;
        let hash = SipHasher13::new_with_keys(k0, k1).hash(job_id.as_bytes());
        Self::from_u128(hash.as_u128())
    }

    fn from_u128(key: u128) -> Self {
        Self([(key >> 64) as u64, key as u64])
    }

    /// 64 of the key's bits, for a hash table: they are already a keyed hash.
    pub fn low_bits(self) -> u64 {
        self.0[1]
    }

    /// Which of `2^bits` ranges of keys this key lies in (its top `bits` bits, 1 to 64):
    /// range `i` holds only keys below those of range `i + 1`.
    pub fn range_of(self, bits: u32) -> usize {
        (self.0[0] >> (64 - bits)) as usize
    }
}

/// 32 hexadecimal digits, as snapshots hold it.
impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.0[0], self.0[1])
    }
}

impl Serialize for JobKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(HexKey)
    }
}

struct HexKey;

impl serde::de::Visitor<'_> for HexKey {
    type Value = JobKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a job key of 32 hexadecimal digits")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<JobKey, E> {
        let digits = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
        match u128::from_str_radix(text, 16) {
            Ok(key) if digits => Ok(JobKey::from_u128(key)),
            _ => Err(E::invalid_value(serde::de::Unexpected::Str(text), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_key_is_the_same_in_every_run() {
        // Snapshots written by one run are read by the next: the key of an id never changes.
        let key = serde_json::to_string(&JobKey::of("job-1")).unwrap();
        assert_eq!(key, format!("\"{}\"", JobKey::of("job-1")));
        assert_eq!(key, "\"b3812cfb45800ba248ea751a6e9f747c\"");
        let back: JobKey = serde_json::from_str(&key).unwrap();
        assert_eq!(back, JobKey::of("job-1"));
    }

    #[test]
    fn keys_are_ordered_as_their_128_bit_numbers_and_ranged_by_their_top_bits() {
        let key = |n: u128| JobKey::from_u128(n);
        let numbers = [
            0,
            1,
            u128::from(u64::MAX),
            1 << 64,
            (1 << 64) + 1,
            u128::MAX,
        ];
        for (a, b) in numbers.iter().zip(&numbers[1..]) {
            assert!(key(*a) < key(*b), "{a} < {b}");
        }
        assert_eq!(key(u128::MAX).range_of(6), 63);
        assert_eq!(key((1 << 122) - 1).range_of(6), 0);
        assert_eq!(key(1 << 122).range_of(6), 1);
        assert_eq!(std::mem::align_of::<JobKey>(), 8);
    }

    #[test]
    fn a_malformed_job_key_is_refused_naming_it() {
        for bad in [
            "\"xyz\"",
            "\"+3c1f0e3cbb3b0e1d04a7fa49b0e4a4e\"",
            "\"a3c1f0e3\"",
            "7",
        ] {
            let err = serde_json::from_str::<JobKey>(bad).unwrap_err().to_string();
            assert!(
                err.contains("a job key of 32 hexadecimal digits"),
                "{bad}: {err}"
            );
        }
    }
}
