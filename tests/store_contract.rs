//! The store contract (`support/contract.rs`) run against every store: the
//! in-memory fake the unit tests trust, the SQLite store on a real file, and
//! the DynamoDB store on a moto server of its own.

use std::sync::Arc;

use hookline::ports::Store;
use hookline::ports::fakes::{ManualClock, MemoryStore};
use hookline::ports::samples::t0;
use hookline_aws::{DynamoStore, provision};
use hookline_sqlite::SqliteStore;
use hookline_tests::moto::{Moto, unique};

/// A store under test and what keeps it alive (a directory, an emulator).
struct Subject {
    store: Arc<dyn Store>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn memory() -> Subject {
    Subject { store: Arc::new(MemoryStore::new()), _keep: Box::new(()) }
}

async fn sqlite() -> Subject {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store =
        SqliteStore::open(&dir.path().join("contract.db"), Arc::new(ManualClock::new(t0()))).expect("open");
    Subject { store: Arc::new(store), _keep: Box::new(dir) }
}

async fn dynamodb() -> Subject {
    let moto = Moto::start().await;
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk().await);
    let table = unique("contract");
    provision::create_table(&client, &table).await.expect("create table");
    let store = DynamoStore::new(client, table, std::time::Duration::from_secs(86_400));
    Subject { store: Arc::new(store), _keep: Box::new(moto) }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        contract!(@store memory, $($case),*);
        contract!(@store sqlite, $($case),*);
        contract!(@store dynamodb, $($case),*);
    };
    (@store $store:ident, $($case:ident),*) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let subject = super::$store().await;
                    hookline_tests::contract::$case(subject.store.as_ref()).await;
                }
            )*
        }
    };
}

contract!(
    subscriptions_round_trip_and_list_by_tenant_newest_first,
    a_tenant_holds_no_more_subscriptions_than_its_limit_under_concurrent_creates,
    writes_are_conditioned_on_the_version_they_were_made_from,
    tenant_records_are_written_over_the_version_they_were_made_from,
    an_idempotency_key_stores_an_event_once_per_tenant,
    attempts_are_recorded_in_order_once_and_never_after_the_end,
    due_deliveries_are_claimed_once_until_their_lease_ends,
    deliveries_list_newest_first_by_subscription_tenant_and_event,
    a_long_listing_pages_in_order_without_gaps_or_repeats,
    canceling_a_subscriptions_deliveries_leaves_finished_ones_alone,
    a_reopened_delivery_is_pending_again_with_its_attempts_kept,
    an_event_is_kept_only_ever_longer,
    event_types_are_declared_replaced_listed_by_name_and_removed,
    hourly_counts_add_up_per_scope_and_hour,
);
