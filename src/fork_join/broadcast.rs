//! `broadcast`: a closure run once on each of a pool's threads, with the
//! results collected in thread-index order.
//!
//! The scheduler delivers one piece to each thread (`scheduler/broadcast.rs`:
//! epochs, the pool's broadcast lock, the bell). This layer gives the piece
//! its type: it calls the user's closure with a [`BroadcastContext`],
//! catches a panic, and keeps `(index, result)` pairs under a lock, one push
//! per thread; after the last piece the caller sorts them by index and
//! re-raises the first panic, if any.

use crate::scheduler::Pool;
use crate::sync::Mutex;
use std::panic::{self, AssertUnwindSafe};

/// What a [`ThreadPool::broadcast`](crate::ThreadPool::broadcast) closure
/// learns about the thread it runs on.
#[derive(Debug, Clone, Copy)]
pub struct BroadcastContext<'a> {
    index: usize,
    num_threads: usize,
    _pool: core::marker::PhantomData<&'a ()>,
}

impl BroadcastContext<'_> {
    /// The index of the thread this piece runs on, as
    /// [`current_thread_index`](crate::current_thread_index) reports it.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let indices = pool.broadcast(|ctx| ctx.index());
    /// assert_eq!(indices, [0, 1]);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many threads the broadcast runs on: the pool's `max_threads`.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(3);
    /// assert_eq!(pool.broadcast(|ctx| ctx.num_threads()), [3, 3, 3]);
    /// ```
    pub fn num_threads(&self) -> usize {
        self.num_threads
    }
}

/// Runs `f` once on every thread of `pool`; see `ThreadPool::broadcast`.
pub(crate) fn broadcast_in<F, R>(pool: &Pool, f: F) -> Vec<R>
where
    F: Fn(BroadcastContext<'_>) -> R + Sync,
    R: Send,
{
    let num_threads = pool.config().max_threads;
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(num_threads));
    let panicked: Mutex<Option<Box<dyn std::any::Any + Send>>> = Mutex::new(None);
    let piece = |index: usize| {
        let ctx = BroadcastContext {
            index,
            num_threads,
            _pool: core::marker::PhantomData,
        };
        match panic::catch_unwind(AssertUnwindSafe(|| f(ctx))) {
            Ok(r) => results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((index, r)),
            Err(payload) => {
                panicked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(payload);
            }
        }
    };
    if let Err(error) = pool.broadcast(&piece) {
        match error {
            crate::scheduler::BroadcastError::Spawn(e) => panic!(
                "ThreadPool::broadcast: could not start all {num_threads} threads of the pool: {e}"
            ),
            crate::scheduler::BroadcastError::ShutDown => {
                panic!("ThreadPool::broadcast on a pool that is shut down")
            }
        }
    }
    if let Some(payload) = panicked.into_inner().unwrap_or_else(|e| e.into_inner()) {
        panic::resume_unwind(payload);
    }
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_unstable_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}
