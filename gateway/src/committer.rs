//! Group commits: one thread owns the storage and applies the changes of every connection that
//! are waiting, in one transaction, then tells each connection its changes are durable. One fsync
//! serves hundreds of messages, so durability costs throughput little; and since jobs are applied
//! in the order they were queued, a connection's acknowledgements leave in order.
//!
//! The queue is bounded: when storage is slow, connections wait to queue, stop reading their
//! sockets, and TCP slows the devices down. Nothing is dropped.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::store::{Change, Storage, StoreError};

/// Where the storage thread says a job is durable, or why not.
pub type Reply = oneshot::Sender<Result<(), String>>;

/// A read run on the storage thread.
pub type ReadFn = Box<dyn FnOnce(&mut dyn Storage) + Send>;

/// Work for the storage thread.
pub enum Job {
    /// Changes to apply atomically; the reply says when they are durable (or why not).
    Apply {
        /// The changes.
        changes: Vec<Change>,
        /// Where to say it is done.
        done: Reply,
    },
    /// A read (registry and command polling), run between commits so that it sees every
    /// change queued before it.
    Read(ReadFn),
}

/// The handle connections queue jobs on.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the storage thread. It ends when every handle is dropped, after applying
    /// everything queued (graceful shutdown loses nothing).
    pub fn start<S: Storage>(
        mut storage: S,
        max_batch: usize,
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Committer, JoinHandle<()>)> {
        let (tx, mut rx) = mpsc::channel::<Job>(queue.max(1));
        let handle = std::thread::Builder::new()
            .name("tether-commit".into())
            .spawn(move || {
                let mut batch: Vec<(Vec<Change>, Reply)> = Vec::new();
                let mut reads = Vec::new();
                while let Some(first) = rx.blocking_recv() {
                    let mut weight = 0;
                    let mut next = Some(first);
                    while let Some(job) = next.take() {
                        match job {
                            Job::Apply { changes, done } => {
                                weight += changes.len();
                                batch.push((changes, done));
                            }
                            Job::Read(f) => reads.push(f),
                        }
                        if weight < max_batch && reads.is_empty() {
                            next = rx.try_recv().ok();
                        }
                    }
                    commit(&mut storage, &mut batch, &metrics);
                    for f in reads.drain(..) {
                        f(&mut storage);
                    }
                }
            })?;
        Ok((Committer { tx }, handle))
    }

    /// Queues changes; waits while the queue is full. The receiver resolves once they are
    /// durable (`Ok`) or failed.
    pub async fn apply(
        &self,
        changes: Vec<Change>,
    ) -> Result<oneshot::Receiver<Result<(), String>>, Closed> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Job::Apply { changes, done })
            .await
            .map_err(|_| Closed)?;
        Ok(rx)
    }

    /// Runs `f` on the storage thread and returns its result.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let (done, rx) = oneshot::channel();
        let job = Job::Read(Box::new(move |s| {
            let _ = done.send(f(s).map_err(|e| e.to_string()));
        }));
        self.tx.send(job).await.map_err(|_| Closed.to_string())?;
        rx.await.map_err(|_| Closed.to_string())?
    }
}

/// The storage thread has stopped.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the storage thread has stopped")]
pub struct Closed;

fn commit<S: Storage>(storage: &mut S, batch: &mut Vec<(Vec<Change>, Reply)>, metrics: &Metrics) {
    if batch.is_empty() {
        return;
    }
    let lens: Vec<usize> = batch.iter().map(|(c, _)| c.len()).collect();
    let mut all: Vec<Change> = Vec::with_capacity(lens.iter().sum());
    let mut dones = Vec::with_capacity(batch.len());
    for (changes, done) in batch.drain(..) {
        all.extend(changes);
        dones.push(done);
    }
    let started = Instant::now();
    let result = storage.apply(&all, crate::wall_ms());
    metrics.observe_commit(started.elapsed(), &all, result.is_ok());
    match result {
        Ok(()) => {
            for done in dones {
                let _ = done.send(Ok(()));
            }
        }
        Err(e) if dones.len() == 1 => {
            tracing::error!(error = %e, "commit failed");
            metrics.storage_errors.inc();
            for done in dones {
                let _ = done.send(Err(e.to_string()));
            }
        }
        Err(e) => {
            // One job's changes may be at fault: apply each job alone, so only it fails.
            tracing::warn!(error = %e, jobs = dones.len(), "group commit failed; retrying job by job");
            let mut start = 0;
            for (len, done) in lens.into_iter().zip(dones) {
                let part = all.get(start..start + len).unwrap_or(&[]);
                start += len;
                let r = storage.apply(part, crate::wall_ms()).map_err(|e| {
                    tracing::error!(error = %e, "commit failed");
                    metrics.storage_errors.inc();
                    e.to_string()
                });
                let _ = done.send(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditKey;
    use crate::store::{Registration, SqliteStorage};
    use tether::delivery::ReceiverState;

    fn message(device: i64, seq: u64, prev_next: u64) -> Change {
        let stream = Some(tether::delivery::StreamId([7; 8]));
        Change::Message {
            device,
            stream: [7; 8],
            seq,
            kind: None,
            bytes: vec![1, 2, 3],
            prev: ReceiverState {
                stream,
                next: prev_next,
            }
            .to_bytes(),
            then: ReceiverState {
                stream,
                next: seq + 1,
            }
            .to_bytes(),
            rows: Vec::new(),
            received_ms: 0,
        }
    }

    fn count(s: &SqliteStorage) -> i64 {
        s.connection()
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_failing_job_fails_alone_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStorage::open(&dir.path().join("t.db"), AuditKey::new([1; 32])).unwrap();
        s.register(
            &[Registration {
                id: b"SN-1".to_vec(),
                static_key: [9; 32],
                require_credential: false,
            }],
            0,
        )
        .unwrap();
        let stream = Some(tether::delivery::StreamId([7; 8]));
        let start = ReceiverState { stream, next: 1 }.to_bytes();
        s.apply(
            &[Change::StreamState {
                device: 1,
                prev: ReceiverState::NEW.to_bytes(),
                state: start,
            }],
            0,
        )
        .unwrap();
        let metrics = Metrics::new();
        // Three jobs in one group commit; the second claims a state the device is not in (as a
        // job after a failed one of the same connection would): only it fails.
        let mut batch = Vec::new();
        let mut replies = Vec::new();
        for change in [message(1, 1, 1), message(1, 5, 5), message(1, 2, 2)] {
            let (done, rx) = oneshot::channel();
            batch.push((vec![change], done));
            replies.push(rx);
        }
        commit(&mut s, &mut batch, &metrics);
        let results: Vec<bool> = replies
            .into_iter()
            .map(|mut r| matches!(r.try_recv(), Ok(Ok(()))))
            .collect();
        assert_eq!(results, [true, false, true]);
        assert_eq!(count(&s), 2);
        // The same message again (a copy the receiver should have caught): refused, not stored.
        assert!(s.apply(&[message(1, 2, 2)], 0).is_err());
        assert_eq!(count(&s), 2);
        assert!(s.verify_audit(None).unwrap().is_intact());
    }
}
