//! At most `fanout` machines at once (SPEC §14.4): connecting, host facts, setup, cleanup,
//! collection and closing each go to that many machines at a time, the rest waiting their
//! turn in the order of the cluster file. Waiting costs a future, never a thread or a process.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;

/// The places of one phase: a future run through `run` waits for one of them.
#[derive(Clone)]
pub(crate) struct Fanout(Arc<Semaphore>);

impl Fanout {
    /// A phase that works on at most `limit` machines at once (at least one).
    pub(crate) fn new(limit: usize) -> Fanout {
        Fanout(Arc::new(Semaphore::new(
            limit.clamp(1, Semaphore::MAX_PERMITS),
        )))
    }

    /// `fut`, once a place is free; the place is held until `fut` ends. Places are given in
    /// the order they were asked for.
    pub(crate) async fn run<F: Future>(&self, fut: F) -> F::Output {
        // The semaphore is never closed: acquiring fails only then.
        let _place = self.0.acquire().await.ok();
        fut.await
    }

    /// `run` for a task of its own (`JoinSet::spawn`).
    pub(crate) async fn run_owned<F: Future>(self, fut: F) -> F::Output {
        self.run(fut).await
    }

    /// Every future of `futs`, at most `limit` at once; their outputs in the order given.
    pub(crate) async fn all<F: Future>(&self, futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
        let waiting: Vec<_> = futs.into_iter().map(|f| Box::pin(self.run(f))).collect();
        join_all(waiting).await
    }
}

/// Polls every future together; their outputs in the order given.
pub(crate) async fn join_all<F: Future + Unpin>(futs: Vec<F>) -> Vec<F::Output> {
    let mut slots: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, F)> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match std::pin::Pin::new(f).poll(cx) {
            std::task::Poll::Ready(v) => {
                slots[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    slots.into_iter().flatten().collect()
}

/// Runs `work` on each of `items` on at most `limit` threads at once (for blocking work, such
/// as closing connections); returns when all are done.
pub(crate) fn each_blocking<T: Sync>(items: &[T], limit: usize, work: impl Fn(&T) + Sync) {
    let threads = limit.clamp(1, items.len().max(1));
    if items.len() < 2 || threads == 1 {
        items.iter().for_each(&work);
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(item) =
                    items.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    work(item);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// The most futures that were between their start and their end at once.
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    impl Gauge {
        fn enter(&self) {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
        }
        fn leave(&self) {
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn all_runs_at_most_limit_at_once_and_keeps_the_order() {
        for (limit, items, expected_most) in [(8, 64, 8), (64, 10, 10), (1, 5, 1)] {
            let gauge = Gauge::default();
            let out = runtime().block_on(Fanout::new(limit).all((0..items).map(|i| {
                let gauge = &gauge;
                async move {
                    gauge.enter();
                    // Later items end sooner: the outputs still come in the order given.
                    tokio::time::sleep(Duration::from_millis(1 + (items - i) as u64 % 5)).await;
                    gauge.leave();
                    i * 2
                }
            })));
            assert_eq!(out, (0..items).map(|i| i * 2).collect::<Vec<_>>());
            assert_eq!(
                gauge.most.load(Ordering::SeqCst),
                expected_most,
                "limit {limit}, {items} items"
            );
        }
    }

    #[test]
    fn spawned_tasks_share_the_places_of_one_phase() {
        let gauge = Arc::new(Gauge::default());
        let done = runtime().block_on(async {
            let fanout = Fanout::new(3);
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..20 {
                let (f, g) = (fanout.clone(), gauge.clone());
                set.spawn(async move {
                    f.run(async {
                        g.enter();
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        g.leave();
                    })
                    .await
                });
            }
            let mut done = 0;
            while set.join_next().await.is_some() {
                done += 1;
            }
            done
        });
        assert_eq!((done, gauge.most.load(Ordering::SeqCst)), (20, 3));
    }

    #[test]
    fn blocking_work_uses_at_most_limit_threads() {
        let gauge = Gauge::default();
        let seen = AtomicUsize::new(0);
        let items: Vec<usize> = (0..40).collect();
        each_blocking(&items, 4, |i| {
            gauge.enter();
            std::thread::sleep(Duration::from_millis(3));
            seen.fetch_add(*i, Ordering::SeqCst);
            gauge.leave();
        });
        assert_eq!(seen.load(Ordering::SeqCst), (0..40).sum::<usize>());
        assert_eq!(gauge.most.load(Ordering::SeqCst), 4);
        // A limit above the items, and no items at all.
        each_blocking(&items[..2], 64, |_| {});
        each_blocking::<usize>(&[], 64, |_| {});
    }
}
