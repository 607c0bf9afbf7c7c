//! The store contract (`hookline::ports::contract`) on the DynamoDB store,
//! over a moto server of its own; the in-memory and SQLite stores run it in
//! `shared/sqlite/tests/contract.rs`.

use hookline::ports::Store;
use hookline_aws::{DynamoStore, provision};
use hookline_tests::moto::{Moto, unique};

/// The store, and the emulator it lives on.
pub struct Subject {
    store: DynamoStore,
    _moto: Moto,
}

impl std::ops::Deref for Subject {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        &self.store
    }
}

async fn dynamodb() -> Subject {
    let moto = Moto::start().await;
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk().await);
    let table = unique("contract");
    provision::create_table(&client, &table).await.expect("create table");
    let store = DynamoStore::new(client, table, std::time::Duration::from_secs(86_400));
    Subject { store, _moto: moto }
}

hookline::store_contract!(dynamodb);
