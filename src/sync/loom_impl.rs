//! The loom build: every atomic, cell, thread and futex is modelled, and loom
//! explores their interleavings and weak-memory outcomes.

modelled_primitives!(loom);

pub(crate) use loom::cell::UnsafeCell;

pub(crate) mod futex_table {
    //! Where the futex model keeps its table under loom: an OS-thread-local
    //! (loom runs every model thread as a coroutine on the test's OS
    //! thread), replaced at the start of each iteration by [`reset`]. It
    //! must not be a `loom::lazy_static!`: those are dropped when the model
    //! closure returns, while the pool's detached workers may still be
    //! finishing their exit chain.
    pub(crate) use loom::sync::Condvar;
    use std::cell::RefCell;
    use std::rc::Rc;

    pub(crate) type Table = loom::sync::Mutex<crate::sync::futex_model::Waiters>;

    std::thread_local! {
        static TABLE: RefCell<Option<Rc<Table>>> = const { RefCell::new(None) };
    }

    pub(crate) fn with<R>(f: impl FnOnce(&Table) -> R) -> R {
        let table = TABLE.with(|t| {
            t.borrow_mut()
                .get_or_insert_with(|| Rc::new(Table::default()))
                .clone()
        });
        f(&table)
    }

    /// Forgets the previous iteration's table. The old loom objects are
    /// leaked rather than dropped outside the execution that created them.
    pub(crate) fn reset() {
        TABLE.with(|t| std::mem::forget(t.borrow_mut().take()));
    }

    /// loom's futex never returns spuriously (its `Condvar` does not).
    pub(crate) fn spurious_return() -> bool {
        false
    }
}

pub(crate) mod thread {
    pub(crate) use loom::thread::Builder;
    pub(crate) use loom::thread::yield_now;

    /// loom threads are coroutines; the requested stack size is ignored and
    /// a fixed 256 KiB stack (loom counts it in words) is used instead.
    pub(crate) fn stack_size(_requested: Option<usize>) -> Option<usize> {
        Some(256 * 1024 / size_of::<usize>())
    }

    pub(crate) fn available_parallelism() -> usize {
        2
    }
}
