//! Per-job locks: the read-modify-write of one job on the schedule (a failure, a success and an
//! operator action arriving together for the same job) is serialised, and different jobs never
//! wait for each other. A job's lock exists only while someone holds or awaits it, so the table
//! is as large as the requests in flight, not as the schedule.

use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Table = Arc<Mutex<HashMap<Box<str>, Arc<AsyncMutex<()>>>>>;

/// The locks of the jobs being changed right now.
#[derive(Debug, Default)]
pub struct JobLocks {
    table: Table,
}

/// One job held; dropping it lets the next change of that job proceed.
#[derive(Debug)]
pub struct JobGuard {
    job_id: Box<str>,
    guard: Option<OwnedMutexGuard<()>>,
    table: Table,
}

impl JobLocks {
    /// Waits until no one else changes `job_id`, then holds it.
    pub async fn lock(&self, job_id: &str) -> JobGuard {
        let lock = {
            let mut table = self.table.lock();
            table.entry(job_id.into()).or_default().clone()
        };
        JobGuard {
            job_id: job_id.into(),
            guard: Some(lock.lock_owned().await),
            table: self.table.clone(),
        }
    }

    /// [`Self::lock`] for several jobs. Each job is taken once and in ascending order, so two
    /// callers locking overlapping sets cannot deadlock.
    pub async fn lock_all<'a>(&self, job_ids: impl IntoIterator<Item = &'a str>) -> Vec<JobGuard> {
        let ids: BTreeSet<&str> = job_ids.into_iter().collect();
        let mut guards = Vec::with_capacity(ids.len());
        for id in ids {
            guards.push(self.lock(id).await);
        }
        guards
    }

    /// Jobs whose lock is held or awaited (for tests).
    #[cfg(test)]
    fn live(&self) -> usize {
        self.table.lock().len()
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        // Under the table lock no one can pick the entry up meanwhile: after releasing, a
        // count of one means only the table still refers to it, so nobody waits for it.
        let mut table = self.table.lock();
        drop(self.guard.take());
        if table
            .get(&self.job_id)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            table.remove(&self.job_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn different_jobs_do_not_wait_for_each_other() {
        let locks = JobLocks::default();
        let _a = locks.lock("a").await;
        let b = tokio::time::timeout(Duration::from_millis(200), locks.lock("b")).await;
        assert!(b.is_ok(), "job b waited for job a");
    }

    #[tokio::test]
    async fn the_same_job_waits_until_released_and_the_table_empties() {
        let locks = Arc::new(JobLocks::default());
        let first = locks.lock("a").await;
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move { drop(locks.lock("a").await) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the second change did not wait");
        drop(first);
        waiting.await.unwrap();
        assert_eq!(locks.live(), 0, "a released job's lock stays in the table");
    }

    #[tokio::test]
    async fn overlapping_sets_taken_in_any_order_finish() {
        let locks = Arc::new(JobLocks::default());
        let runs = (0..8).map(|i| {
            let locks = locks.clone();
            let ids = if i % 2 == 0 {
                ["x", "y", "z"]
            } else {
                ["z", "y", "x"]
            };
            tokio::spawn(async move {
                let _held = locks.lock_all(ids).await;
                tokio::task::yield_now().await;
            })
        });
        let all = futures::future::join_all(runs);
        tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .expect("deadlock");
        assert_eq!(locks.live(), 0);
    }
}
