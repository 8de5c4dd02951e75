//! The loom build: every atomic, cell, thread and futex is modelled, and loom
//! explores their interleavings and weak-memory outcomes.

pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering, fence,
    };
}

pub(crate) mod hint {
    pub(crate) use loom::hint::spin_loop;
}

pub(crate) use loom::cell::UnsafeCell;
pub(crate) use loom::thread_local;

pub(crate) mod futex {
    //! A futex model: an address-keyed table of condition variables under one
    //! modelled mutex. The value check in `wait` and every `wake_*` run under
    //! that mutex, so a wake cannot slip between the check and the sleep.
    //!
    //! The table lives in an OS-thread-local (loom runs every model thread as
    //! a coroutine on the test's OS thread) and is replaced at the start of
    //! each iteration by [`reset`]. It must not be a `loom::lazy_static!`:
    //! those are dropped when the model closure returns, while the pool's
    //! detached workers may still be finishing their exit chain.
    use super::atomic::{AtomicU32, Ordering};
    use loom::sync::{Condvar, Mutex};
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::rc::Rc;
    use std::sync::Arc;

    type Table = Mutex<HashMap<usize, Arc<Condvar>>>;

    std::thread_local! {
        static TABLE: RefCell<Option<Rc<Table>>> = const { RefCell::new(None) };
        static BLOCKED: Cell<usize> = const { Cell::new(0) };
    }

    fn table() -> Rc<Table> {
        TABLE.with(|t| {
            t.borrow_mut()
                .get_or_insert_with(|| Rc::new(Mutex::new(HashMap::new())))
                .clone()
        })
    }

    /// Forgets the previous iteration's table. Call at the start of every
    /// model iteration (the test helpers do). The old loom objects are leaked
    /// rather than dropped outside the execution that created them.
    pub(crate) fn reset() {
        TABLE.with(|t| std::mem::forget(t.borrow_mut().take()));
        BLOCKED.with(|b| b.set(0));
    }

    /// How many `wait` calls in this iteration actually went to sleep.
    pub(crate) fn blocked_waits() -> usize {
        BLOCKED.with(Cell::get)
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32) {
        let table = table();
        let guard = table.lock().unwrap();
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
        let table = table();
        let guard = table.lock().unwrap();
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

    /// loom threads are coroutines; the requested stack size is ignored and
    /// a fixed 256 KiB stack (loom counts it in words) is used instead.
    pub(crate) fn spawn(
        name: Option<String>,
        _stack_size: Option<usize>,
        f: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let mut builder = loom::thread::Builder::new().stack_size(256 * 1024 / size_of::<usize>());
        if let Some(name) = name {
            builder = builder.name(name);
        }
        builder.spawn(f).map(drop)
    }

    pub(crate) fn available_parallelism() -> usize {
        2
    }
}
