//! The shuttle build: every thread switch is a scheduling point that shuttle
//! chooses (randomly or by PCT). Atomics behave as SeqCst here; loom is the
//! tool for weak memory, shuttle for larger scenarios.

modelled_primitives!(shuttle);

pub(crate) use super::cell::UnsafeCell;

pub(crate) mod futex_table {
    //! Where the futex model keeps its table under shuttle: a
    //! `shuttle::lazy_static!`, made afresh for each execution and dropped
    //! after all of its threads finished (shuttle never detaches a thread).
    //! With [`set_spurious`] on, `wait` may return at once, the choice drawn
    //! from shuttle's random source (and so replayable).
    pub(crate) use shuttle::sync::Condvar;
    use std::cell::Cell;

    pub(crate) type Table = shuttle::sync::Mutex<crate::sync::futex_model::Waiters>;

    shuttle::lazy_static! {
        static ref TABLE: Table = Table::default();
    }

    std::thread_local! {
        static SPURIOUS: Cell<bool> = const { Cell::new(false) };
    }

    pub(crate) fn with<R>(f: impl FnOnce(&Table) -> R) -> R {
        f(&TABLE)
    }

    /// Nothing to forget: each execution has its own table.
    pub(crate) fn reset() {}

    /// Lets `wait` return spuriously (for this OS thread's executions).
    pub(crate) fn set_spurious(on: bool) {
        SPURIOUS.with(|s| s.set(on));
    }

    pub(crate) fn spurious_return() -> bool {
        use shuttle::rand::Rng;
        SPURIOUS.with(Cell::get) && shuttle::rand::thread_rng().gen_bool(0.5)
    }
}

pub(crate) mod thread {
    pub(crate) use shuttle::thread::Builder;
    pub(crate) use shuttle::thread::yield_now;

    /// shuttle threads are coroutines with a stack of their own: the size
    /// asked for, or 256 KiB.
    pub(crate) fn stack_size(requested: Option<usize>) -> Option<usize> {
        Some(requested.unwrap_or(256 * 1024))
    }

    pub(crate) fn available_parallelism() -> usize {
        2
    }
}
