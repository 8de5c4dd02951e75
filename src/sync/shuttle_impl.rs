//! The shuttle build: every thread switch is a scheduling point that shuttle
//! chooses (randomly or by PCT). Atomics behave as SeqCst here; loom is the
//! tool for weak memory, shuttle for larger scenarios.

pub(crate) mod atomic {
    pub(crate) use shuttle::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering, fence,
    };
}

pub(crate) mod hint {
    pub(crate) use shuttle::hint::spin_loop;
}

pub(crate) use super::cell::UnsafeCell;
pub(crate) use shuttle::thread_local;

pub(crate) mod futex {
    //! A futex model: an address-keyed table of condition variables under one
    //! modelled mutex, so the value check in `wait` is atomic with respect to
    //! `wake_*`. With [`set_spurious`] on, `wait` may also return at once
    //! without sleeping, the choice drawn from shuttle's random source (and so
    //! replayable), as a real futex may.
    use super::atomic::{AtomicU32, Ordering};
    use shuttle::sync::{Condvar, Mutex};
    use std::cell::Cell;
    use std::collections::HashMap;
    use std::sync::Arc;

    shuttle::lazy_static! {
        static ref TABLE: Mutex<HashMap<usize, Arc<Condvar>>> = Mutex::new(HashMap::new());
    }

    std::thread_local! {
        static SPURIOUS: Cell<bool> = const { Cell::new(false) };
        static BLOCKED: Cell<usize> = const { Cell::new(0) };
    }

    /// Lets `wait` return spuriously (for this OS thread's executions).
    pub(crate) fn set_spurious(on: bool) {
        SPURIOUS.with(|s| s.set(on));
    }

    /// Clears the per-execution counters. Call at the start of every execution.
    pub(crate) fn reset() {
        BLOCKED.with(|b| b.set(0));
    }

    /// How many `wait` calls in this execution actually went to sleep.
    pub(crate) fn blocked_waits() -> usize {
        BLOCKED.with(Cell::get)
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32) {
        if SPURIOUS.with(Cell::get) {
            use shuttle::rand::Rng;
            if shuttle::rand::thread_rng().gen_bool(0.5) {
                return;
            }
        }
        let guard = TABLE.lock().unwrap();
        // Relaxed: a real futex orders nothing; the table mutex alone makes
        // the check atomic with respect to wake.
        if word.load(Ordering::Relaxed) != expected {
            return;
        }
        let key = word as *const AtomicU32 as usize;
        let mut guard = guard;
        let condvar = guard
            .entry(key)
            .or_insert_with(|| Arc::new(Condvar::new()))
            .clone();
        BLOCKED.with(|b| b.set(b.get() + 1));
        drop(condvar.wait(guard).unwrap());
    }

    fn wake(word: *const AtomicU32, all: bool) {
        let guard = TABLE.lock().unwrap();
        if let Some(condvar) = guard.get(&(word as usize)) {
            if all {
                condvar.notify_all();
            } else {
                condvar.notify_one();
            }
        }
    }

    pub(crate) fn wake_one(word: *const AtomicU32) {
        wake(word, false);
    }

    pub(crate) fn wake_all(word: *const AtomicU32) {
        wake(word, true);
    }
}

pub(crate) mod thread {
    use std::io;

    /// Starts a shuttle thread (never really detached: shuttle waits for every
    /// thread at the end of an execution, which is what the tests want).
    pub(crate) fn spawn(
        name: Option<String>,
        stack_size: Option<usize>,
        f: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let mut builder =
            shuttle::thread::Builder::new().stack_size(stack_size.unwrap_or(256 * 1024));
        if let Some(name) = name {
            builder = builder.name(name);
        }
        builder.spawn(f).map(drop)
    }

    pub(crate) fn available_parallelism() -> usize {
        2
    }
}
