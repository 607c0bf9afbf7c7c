//! No partition key hot: `hookline-load hot` plays one second of one
//! subscription at 10,000 deliveries a second and of one tenant at 20,000
//! (scaled down to 2 % of it here, for time: the busiest key's count is then
//! scaled up, which only overstates) through the real DynamoDB and SQS
//! adapters against a moto server of its own, and fails when the billing
//! meter books more than 1,000 write units a second to any partition key
//! of the table or an index. Delivery ids are seeded, so the spread over
//! shards is the same every run.

use hookline_tests::moto::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_partition_key_takes_more_than_1000_writes_a_second() {
    let moto = Moto::start().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline-load"))
        .args(["hot", "--endpoint", &moto.endpoint, "--seconds", "0.02", "--max-wps", "1000"])
        .output()
        .await
        .expect("run hookline-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a hot partition:\n{stdout}\n{stderr}");
    // First tries write the table alone (the event, the outcome record):
    // no index entry.
    assert_eq!(
        stdout.lines().filter(|l| l.trim_start().starts_with("table")).count(),
        2,
        "both scenarios report the busiest table key:\n{stdout}"
    );
    for index in ["gsi1", "due"] {
        assert!(!stdout.lines().any(|l| l.trim_start().starts_with(index)), "{index} written:\n{stdout}");
    }
}
