//! Lanes: threads that serve connections, each on its own single-threaded runtime, the way
//! nginx runs one worker per core.
//!
//! On the main (work-stealing) runtime a request hops between workers: the connection's
//! task, the platform client's connection task and the timers wake each other across
//! cores. With lanes the proxy benchmark (BENCHMARKS.md) passes about 30 % more requests
//! a second for a fifth less CPU a call. On a lane, a connection, the tasks it spawns, its
//! timers and the platform connections it opens (`iop::transport` keeps one client pool
//! per thread) stay on one thread. The accept loop hands each new connection to the lane
//! that holds the fewest.
//!
//! The store's writer, the refresher and the deliveries stay on the main runtime; lanes
//! reach them through the same channels and locks as before.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// A connection to start on a lane: called inside the lane's runtime (where its socket
/// must be registered), it returns the connection's future.
type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

pub(super) struct Lanes {
    lanes: Vec<Lane>,
}

struct Lane {
    jobs: mpsc::UnboundedSender<Job>,
    /// Connections open on this lane, for choosing where the next one goes.
    open: Arc<AtomicUsize>,
}

impl Lanes {
    /// Starts `count` lanes. They stop, dropping what they still run, when `Lanes` is
    /// dropped: the caller keeps it until its connections have finished.
    pub(super) fn start(count: usize) -> io::Result<Self> {
        let mut lanes = Vec::with_capacity(count);
        for index in 0..count {
            let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("iop-serve-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(job) = queue.recv().await {
                            tokio::spawn(job());
                        }
                    });
                })?;
            lanes.push(Lane {
                jobs,
                open: Arc::new(AtomicUsize::new(0)),
            });
        }
        Ok(Lanes { lanes })
    }

    /// Runs the connection that `start` makes on the lane holding the fewest connections.
    pub(super) fn run<F, Fut>(&self, start: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(lane) = self
            .lanes
            .iter()
            .min_by_key(|lane| lane.open.load(Ordering::Relaxed))
        else {
            return;
        };
        let counted = Counted::new(&lane.open);
        let job: Job = Box::new(move || {
            Box::pin(async move {
                start().await;
                drop(counted);
            })
        });
        // A lane whose thread is gone drops the job, and with it the connection.
        let _ = lane.jobs.send(job);
    }

    #[cfg(test)]
    fn open(&self) -> Vec<usize> {
        self.lanes
            .iter()
            .map(|lane| lane.open.load(Ordering::Relaxed))
            .collect()
    }
}

/// One open connection on a lane's count, until dropped (finished, or never started).
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Counted(open.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn connections_go_to_the_emptiest_lane_and_run_on_its_own_thread() {
        let lanes = Lanes::start(2).unwrap();
        let mut releases = Vec::new();
        let mut threads = Vec::new();
        for _ in 0..4 {
            let (release, released) = oneshot::channel::<()>();
            let (started, thread) = oneshot::channel();
            lanes.run(move || async move {
                let _ = started.send(std::thread::current().name().map(str::to_owned));
                let _ = released.await;
            });
            threads.push(thread.await.unwrap().unwrap());
            releases.push(release);
        }
        assert_eq!(lanes.open(), [2, 2]);
        threads.sort();
        assert_eq!(
            threads,
            ["iop-serve-0", "iop-serve-0", "iop-serve-1", "iop-serve-1"]
        );
        // A finished connection frees its place: the next one goes where it was.
        drop(releases.remove(0));
        while lanes.open() == [2, 2] {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(lanes.open().iter().sum::<usize>(), 3);
    }

    #[tokio::test]
    async fn dropping_the_lanes_stops_what_they_run() {
        let lanes = Lanes::start(1).unwrap();
        let (started, running) = oneshot::channel();
        let (_never, forever) = oneshot::channel::<()>();
        let (dropped_tx, dropped) = oneshot::channel::<()>();
        lanes.run(move || async move {
            let _tell_when_dropped = dropped_tx;
            let _ = started.send(());
            let _ = forever.await;
        });
        running.await.unwrap();
        drop(lanes);
        // The connection's future is dropped with its lane's runtime.
        assert!(dropped.await.is_err());
    }
}
