//! Fixtures shared by the integration tests: a real HTTP receiver that
//! verifies signatures, the test Python (with the packages of
//! `tests/requirements.txt`), and paths in the repository.

pub mod browser;
pub mod external;
pub mod moto;
pub mod ordering;
pub mod process;
pub mod providers;
pub mod proxy;
pub mod receiver;
pub mod scenarios;

use std::path::PathBuf;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter that has the test requirements installed:
/// `HOOKLINE_TEST_PYTHON`, else the `.venv` that `scripts/test` creates.
/// Fails with instructions rather than skipping: a test that cannot run its
/// reference implementation has not passed.
pub fn test_python() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("HOOKLINE_TEST_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    anyhow::bail!(
        "no test Python: run ./scripts/test (it creates .venv with tests/requirements.txt), \
         or set HOOKLINE_TEST_PYTHON"
    )
}

/// The delivery ids of a `POST /v1/events` answer.
pub fn delivery_ids(published: &serde_json::Value) -> Vec<String> {
    published["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect()
}
