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

/// SipHash-1-3 (128 bits) of a job id under a fixed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey(u128);

impl JobKey {
    const SIP_KEY: (u64, u64) = (
        u64::from_le_bytes(*b"retryctl"),
        u64::from_le_bytes(*b"episodes"),
    );

    /// The key of `job_id`.
    pub fn of(job_id: &str) -> Self {
        let (k0, k1) = Self::SIP_KEY;
        Self(
            SipHasher13::new_with_keys(k0, k1)
                .hash(job_id.as_bytes())
                .as_u128(),
        )
    }

    /// Which of `2^bits` ranges of keys this key lies in (its top `bits` bits, 1 to 64):
    /// range `i` holds only keys below those of range `i + 1`.
    pub fn range_of(self, bits: u32) -> usize {
        (self.0 >> (128 - bits)) as usize
    }
}

/// 32 hexadecimal digits, as snapshots hold it.
impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
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
            Ok(key) if digits => Ok(JobKey(key)),
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
