//! The store contract: one suite of cases, run against every backend.
//!
//! Each case is an async fn taking an `Arc<dyn Store>` (in `cases`). The `contract!` macro turns
//! every case into a `#[tokio::test]` for one backend; a new backend (Redis) joins the suite
//! with one more `contract!(name, make_fn());` line below and a function that builds it (Redis
//! did: each of its cases starts its own `redis-server`).

#[path = "store_contract/cases.rs"]
mod cases;
#[path = "store_contract/fixtures.rs"]
mod fixtures;
#[path = "store_contract/redis_only.rs"]
mod redis_only;
#[path = "store_contract/sqlite_only.rs"]
mod sqlite_only;

use retryctl::store::redis::RedisConfig;
use retryctl::store::{Store, StoreConfig};
use std::any::Any;
use std::sync::Arc;

/// A fresh, empty store plus whatever must live as long as it (a temp dir, a server process).
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub _guard: Box<dyn Any + Send>,
}

async fn memory_backend() -> Backend {
    Backend {
        store: retryctl::store::open(&StoreConfig::Memory).await.unwrap(),
        _guard: Box::new(()),
    }
}

async fn sqlite_backend() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::Sqlite {
        dir: dir.path().join("data"),
    };
    Backend {
        store: retryctl::store::open(&config).await.unwrap(),
        _guard: Box::new(dir),
    }
}

/// A fresh Redis per case: its own `redis-server` on a free port (killed with the guard).
async fn redis_backend() -> Backend {
    let server = crate::common::redis::RedisServer::start();
    let config = StoreConfig::Redis(RedisConfig::new(server.url()));
    Backend {
        store: retryctl::store::open(&config).await.unwrap(),
        _guard: Box::new(server),
    }
}

macro_rules! contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            contract!(@cases $make;
                append_returns_increasing_seqs,
                job_attempts_are_the_jobs_oldest_first,
                attempts_after_pages_in_sequence_order,
                aggregate_counts_retries_in_half_open_window,
                prune_drops_only_old_attempts,
                put_get_replace_job,
                put_jobs_stores_them_all,
                list_jobs_filters_and_totals,
                list_jobs_filters_by_type_tenant_and_text,
                list_job_ids_are_every_match_in_list_order,
                list_jobs_cursor_pages_have_no_gaps_or_duplicates,
                list_jobs_rejects_a_forged_cursor,
                replaced_jobs_move_in_listings_counts_and_claims,
                filtered_cursor_pages_cover_exactly_the_matches,
                append_attempt_with_job_writes_both,
                a_write_unless_killed_leaves_only_killed_jobs_alone,
                error_class_counts_follow_appends_and_outlive_pruning,
                claim_due_claims_each_due_job_exactly_once,
                expired_lease_is_claimable_again,
                claim_respects_queue_and_limit,
                claim_leaves_out_paused_scopes,
                pauses_put_list_and_remove,
                forced_circuits_put_list_and_remove,
                count_jobs_by_state_counts_present_states,
                strategy_round_trips,
                snapshot_round_trips_with_watermark,
                a_large_snapshot_reads_back_byte_for_byte,
                a_snapshot_whose_encoding_fails_leaves_the_previous_one,
                audit_ids_increase_and_page,
                alerts_upsert_and_list_newest_first,
                concurrent_appenders_get_distinct_seqs,
                the_write_probe_succeeds_and_repeats,
                ml_versions_keep_parameters_and_list_newest_first
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $make.await;
                cases::$case(backend.store.clone()).await;
            }
        )*
    };
}

contract!(memory, memory_backend());
contract!(sqlite, sqlite_backend());
contract!(redis, redis_backend());
