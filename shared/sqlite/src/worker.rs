//! The embedded mode's two background roles: delivery workers draining the
//! SQLite queue with bounded concurrency, and the retry scheduler. Both stop
//! taking work when `shutdown` flips; in-flight attempts finish (each is
//! bounded by its timeout) or, if the process dies, are handed out again at
//! the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tracing::{error, warn};

use hookline::Context;
use hookline::deliver::Handled;
use hookline::ports::{Ack, Received, Sender};

use super::queue::SqliteQueue;

/// How long a taken message stays hidden: longer than the longest attempt
/// (30 s) plus the store's work, so a live worker never loses its message.
pub const LEASE: Duration = Duration::from_secs(90);

/// Runs delivery workers until `shutdown` is true, then waits for the
/// attempts in flight.
pub async fn run_deliver(
    ctx: Context,
    queue: SqliteQueue,
    sender: Arc<dyn Sender>,
    concurrency: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    // Handled messages are deleted by one task, as many per transaction as
    // have finished meanwhile: under load the acknowledgements of a whole
    // round share one write instead of taking the store's lock one by one.
    // An acknowledgement lost to a crash only hands the message out again,
    // which the handler treats as the no-op it is.
    let (acks, pending) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let acker = tokio::spawn(acknowledge(queue.clone(), pending));
    while !*shutdown.borrow() {
        while tasks.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free == 0 {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let leases = match queue.take(free, LEASE).await {
            Ok(l) => l,
            Err(e) => {
                error!(error = %e, "cannot read the queue; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if leases.is_empty() {
            let wait = match queue.next_visible_in().await {
                Ok(Some(d)) => d.min(Duration::from_millis(500)),
                _ => Duration::from_millis(500),
            };
            tokio::select! {
                _ = queue.wait_for_messages(wait) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        for lease in leases {
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let (ctx, acks, sender, queue) = (ctx.clone(), acks.clone(), sender.clone(), queue.clone());
            tasks.spawn(async move {
                let _permit = permit;
                let done = match &lease.message {
                    Ok(message) => {
                        let received = Received {
                            message: message.clone(),
                            receives: lease.receives,
                            ack: Some(Ack(lease.seq)),
                        };
                        match ctx.handle_message(sender.as_ref(), &received).await {
                            // Recorded with its attempt, in one transaction.
                            Ok(Handled::Attempted { acknowledged: true, .. }) => false,
                            // An ordered delivery's message waits, holding
                            // its key (if this fails, its lease brings it
                            // back, to wait again).
                            Ok(Handled::Waits { until }) => {
                                if let Err(e) = queue.hold(lease.seq, until).await {
                                    warn!(error = %e, seq = lease.seq, "could not keep an ordered message waiting; its lease brings it back");
                                }
                                false
                            }
                            Ok(_) => true,
                            Err(e) => {
                                warn!(error = %e, seq = lease.seq, retryable = e.is_retryable(),
                                    "the store failed; the message comes back in a few seconds");
                                // If noting it fails too, the lease brings it back.
                                let _ = queue.fail(lease.seq, lease.receives, e.to_string()).await;
                                false
                            }
                        }
                    }
                    Err(text) => {
                        error!(
                            seq = lease.seq,
                            len = text.len(),
                            "unreadable queue message set aside in dead_letters"
                        );
                        let reason = format!("unreadable: {} bytes that are not a queue message", text.len());
                        let _ = queue.give_up(lease.seq, reason).await;
                        false
                    }
                };
                if done {
                    // Fails only if the acknowledging task died: the message then
                    // comes back after its lease, which is a no-op.
                    let _ = acks.send(lease.seq);
                }
                // (A message whose attempt was recorded was acknowledged in
                // the same transaction; `done` is false for it.)
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    drop(acks);
    let _ = acker.await;
}

/// Deletes the messages whose sequence numbers arrive on `pending`, in
/// batches, until every sender is gone and the last batch is written.
async fn acknowledge(queue: SqliteQueue, mut pending: tokio::sync::mpsc::UnboundedReceiver<i64>) {
    const BATCH: usize = 512;
    let mut batch = Vec::with_capacity(BATCH);
    while pending.recv_many(&mut batch, BATCH).await > 0 {
        if let Err(e) = queue.ack_all(std::mem::take(&mut batch)).await {
            warn!(error = %e, "could not acknowledge; those messages will be seen again (a no-op)");
        }
    }
}

/// Purges what is older than `retention` every `every` until `shutdown`.
pub async fn run_purge(
    store: super::SqliteStore,
    retention: Duration,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let keep = hookline::ports::span(retention);
    while !*shutdown.borrow() {
        match store.purge(chrono::Utc::now() - keep).await {
            Ok(p) if p.events + p.deliveries > 0 => {
                tracing::info!(events = p.events, deliveries = p.deliveries, "expired records purged");
            }
            Ok(_) => {}
            Err(e) => error!(error = %e, "purge failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Runs the retry scheduler every `every` until `shutdown` is true.
pub async fn run_scheduler(ctx: Context, every: Duration, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if let Err(e) = ctx.enqueue_due(10_000).await {
            error!(error = %e, "scheduler run failed; trying again next tick");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Writes the attempts counted for the portal's charts every `every` (see
/// `hookline::counts`); a failed write keeps them for the next.
pub async fn run_counts(ctx: Context, every: Duration, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if let Err(e) = ctx.flush_counts().await {
            warn!(error = %e, "writing attempt counts failed; they are written with the next");
        }
    }
}
