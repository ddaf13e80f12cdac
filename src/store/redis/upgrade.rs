//! Upgrades of data written by earlier builds to this build's layout (`Store::upgrade_layout`),
//! run by the leader; each step is idempotent, so running it again, or on a Redis already in
//! this layout, changes nothing.
//!
//! Builds before 81662f3 (2026-12-07) indexed every attempt by time in one sorted set
//! (`{prefix}:attempts_by_time`), which retention walked, and did not name the (job type,
//! error class) sets in `{prefix}:aggregates`. Retention now walks only the sets named there,
//! so without the upgrade the attempts of those sets were never pruned and the index by time
//! was never emptied.

use super::{RedisStore, err};
use crate::store::StoreResult;

/// Keys examined per `SCAN` round trip.
const SCAN_COUNT: usize = 1_000;
/// Set names added per `SADD`.
const SADD_CHUNK: usize = 1_000;

impl RedisStore {
    /// Names every (job type, error class) set in the aggregates set, then removes the index
    /// by time: in that order, so an upgrade cut short never leaves an attempt in no index
    /// that retention walks.
    pub(super) async fn upgrade(&self) -> StoreResult<Vec<String>> {
        let mut changes = Vec::new();
        let named = self.name_aggregate_sets().await?;
        if named > 0 {
            changes.push(format!(
                "named {named} (job type, error class) sets in {}, so retention prunes them",
                self.keys.aggregates()
            ));
        }
        if let Some(attempts) = self.remove_index_by_time().await? {
            changes.push(format!(
                "removed {} ({attempts} attempts), an index this build neither keeps nor prunes",
                self.keys.legacy_attempts_by_time()
            ));
        }
        Ok(changes)
    }

    /// Adds the name of every (job type, error class) set found in the keyspace to the
    /// aggregates set; returns how many were not named there.
    async fn name_aggregate_sets(&self) -> StoreResult<u64> {
        let what = "find the (job type, error class) sets";
        let pattern = self.keys.aggregate_pattern();
        let (mut cursor, mut named) = (0_u64, 0);
        loop {
            let (next, found): (u64, Vec<String>) = self
                .timed(what, async {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .arg("TYPE")
                        .arg("zset")
                        .query_async(&mut self.conn())
                        .await
                        .map_err(err(what))
                })
                .await?;
            for chunk in found.chunks(SADD_CHUNK) {
                named += self.name_sets(chunk).await?;
            }
            if next == 0 {
                return Ok(named);
            }
            cursor = next;
        }
    }

    async fn name_sets(&self, sets: &[String]) -> StoreResult<u64> {
        let what = "name (job type, error class) sets";
        self.timed_sized(what, sets.len(), async {
            redis::cmd("SADD")
                .arg(self.keys.aggregates())
                .arg(sets)
                .query_async(&mut self.conn())
                .await
                .map_err(err(what))
        })
        .await
    }

    /// Removes the index of all attempts by time; returns how many it held, `None` when it
    /// was not there. `UNLINK`: Redis frees a large set in the background, not while every
    /// other call waits.
    async fn remove_index_by_time(&self) -> StoreResult<Option<u64>> {
        let what = "remove the index of attempts by time";
        let key = self.keys.legacy_attempts_by_time();
        let held: u64 = self
            .timed(what, async {
                redis::cmd("ZCARD")
                    .arg(&key)
                    .query_async(&mut self.conn())
                    .await
                    .map_err(err(what))
            })
            .await?;
        if held == 0 {
            return Ok(None);
        }
        let _: u64 = self
            .timed(what, async {
                redis::cmd("UNLINK")
                    .arg(&key)
                    .query_async(&mut self.conn())
                    .await
                    .map_err(err(what))
            })
            .await?;
        Ok(Some(held))
    }
}
