//! The shipping build: core atomics, `std::thread` and `atomic-wait`.

pub(crate) mod atomic {
    pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering, fence};
}

pub(crate) mod hint {
    pub(crate) use core::hint::spin_loop;
}

pub(crate) use std::sync::Mutex;
pub(crate) use std::thread_local;

pub(crate) use super::cell::UnsafeCell;

pub(crate) mod futex {
    use super::atomic::AtomicU32;

    /// Blocks while `*word == expected`; may return spuriously.
    #[inline]
    pub(crate) fn wait(word: &AtomicU32, expected: u32) {
        atomic_wait::wait(word, expected);
    }

    /// Wakes at most one thread blocked on `word`. `word` may dangle: the
    /// kernel hashes the address and never reads it (private futex).
    #[inline]
    pub(crate) fn wake_one(word: *const AtomicU32) {
        atomic_wait::wake_one(word);
    }

    /// Wakes every thread blocked on `word`. `word` may dangle, as above.
    #[inline]
    pub(crate) fn wake_all(word: *const AtomicU32) {
        atomic_wait::wake_all(word);
    }
}

pub(crate) mod thread {
    pub(crate) use std::thread::Builder;
    pub(crate) use std::thread::yield_now;

    /// Detached OS threads, with the stack size asked for (if any).
    pub(crate) fn stack_size(requested: Option<usize>) -> Option<usize> {
        requested
    }

    /// The default thread count of a pool.
    pub(crate) fn available_parallelism() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Checks that pool memory is not used after it was freed. The model builds
/// record frees and assert on use; this build compiles them away.
pub(crate) mod ghost {
    #[inline(always)]
    pub(crate) fn allocated(_addr: *const ()) {}
    #[inline(always)]
    pub(crate) fn freed(_addr: *const ()) {}
    #[inline(always)]
    pub(crate) fn assert_live(_addr: *const (), _what: &str) {}
}
