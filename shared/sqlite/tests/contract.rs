//! The store contract (`hookline::ports::contract`) on the in-memory fake
//! the unit tests trust and on the SQLite store over a real file. The
//! DynamoDB store runs the same contract in `tests/aws/contract.rs`.

// A test asserts by panicking, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hookline::ports::Store;
use hookline::ports::fakes::{ManualClock, MemoryStore};
use hookline::ports::samples::t0;
use hookline_sqlite::SqliteStore;

/// A store under test, with the directory that holds its file.
struct Subject {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Subject {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

async fn memory() -> Subject {
    Subject { store: Arc::new(MemoryStore::new()), _dir: None }
}

async fn sqlite() -> Subject {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store =
        SqliteStore::open(&dir.path().join("contract.db"), Arc::new(ManualClock::new(t0()))).expect("open");
    Subject { store: Arc::new(store), _dir: Some(dir) }
}

mod memory {
    hookline::store_contract!(super::memory);
}

mod sqlite {
    hookline::store_contract!(super::sqlite);
}
