//! The synchronization facade: the one place where the pool's atomics, cells,
//! threads, thread-locals, spin hints and futex calls come from.
//!
//! Every other module of the crate uses `crate::sync::...` and nothing else, so
//! the code that loom and shuttle check is the code that ships:
//!
//! | build                      | atomics and cells                 | threads            | futex                         |
//! |----------------------------|-----------------------------------|--------------------|-------------------------------|
//! | default                    | `core::sync::atomic`, [`UnsafeCell`] wrapper | `std::thread` | `atomic-wait`               |
//! | `RUSTFLAGS="--cfg loom"`    | `loom::sync::atomic`, `loom::cell` | `loom::thread`     | a model on a loom mutex/condvar |
//! | `RUSTFLAGS="--cfg shuttle"` | `shuttle::sync::atomic`, wrapper  | `shuttle::thread`  | a model on a shuttle mutex/condvar |
//!
//! The futex models are faithful to the real one in the ways the pool relies
//! on: `wait(word, expected)` blocks only if the word still holds `expected`,
//! checked atomically with respect to `wake_*` (both run under the model's
//! table lock), `wake_one` wakes at most one sleeper of that address and
//! `wake_all` all of them, and a wake never dereferences its pointer, so it may
//! name memory that has been freed. A lost wake-up therefore shows up as a
//! deadlock that the checker reports. The shuttle model can also return from
//! `wait` spuriously (see `futex::set_spurious`), as a real futex may.
//!
//! This is the only module allowed to name `std::sync::atomic`, `std::thread`,
//! `atomic_wait`, `loom` or `shuttle`; `scripts/check-facade.sh` enforces it.

#[cfg(all(loom, shuttle))]
compile_error!("`--cfg loom` and `--cfg shuttle` are mutually exclusive: build with one of them");

#[cfg(not(loom))]
mod cell;

#[cfg(any(loom, shuttle))]
pub(crate) mod ghost;

/// The primitives that loom and shuttle name alike: atomics, the spin hint
/// and thread-locals, taken from the checker's crate (`loom` or `shuttle`).
#[cfg(any(loom, shuttle))]
macro_rules! modelled_primitives {
    ($checker:ident) => {
        pub(crate) mod atomic {
            pub(crate) use $checker::sync::atomic::{
                AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering, fence,
            };
        }

        pub(crate) mod hint {
            pub(crate) use $checker::hint::spin_loop;
        }

        pub(crate) use $checker::sync::Mutex;
        pub(crate) use $checker::thread_local;
    };
}

// One backend per build; everything below is written once against it.
#[cfg(loom)]
mod loom_impl;
#[cfg(loom)]
use loom_impl as backend;
#[cfg(shuttle)]
mod shuttle_impl;
#[cfg(shuttle)]
use shuttle_impl as backend;
#[cfg(not(any(loom, shuttle)))]
mod std_impl;
#[cfg(not(any(loom, shuttle)))]
use std_impl as backend;

pub(crate) use backend::{Mutex, UnsafeCell, atomic, hint, thread_local};

#[cfg(not(any(loom, shuttle)))]
pub(crate) use backend::{futex, ghost};

/// The futex of the model builds, written once for both.
#[cfg(any(loom, shuttle))]
mod futex_model;
#[cfg(any(loom, shuttle))]
pub(crate) mod futex {
    #[cfg(shuttle)]
    pub(crate) use super::backend::futex_table::set_spurious;
    pub(crate) use super::futex_model::{blocked_waits, reset, wait, wake_all, wake_one};
}

pub(crate) mod thread {
    //! Thread spawning, written once over the backend's `Builder`.
    use super::backend::thread as imp;
    use std::io;

    pub(crate) use imp::{available_parallelism, yield_now};

    /// Starts a detached thread (under the models, a modelled one) with the
    /// given name and stack size.
    pub(crate) fn spawn(
        name: Option<String>,
        stack_size: Option<usize>,
        f: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        #[cfg(any(loom, shuttle))]
        if super::failing::take() {
            return Err(io::Error::other("a failure injected by the model tests"));
        }
        let mut builder = imp::Builder::new();
        if let Some(name) = name {
            builder = builder.name(name);
        }
        if let Some(size) = imp::stack_size(stack_size) {
            builder = builder.stack_size(size);
        }
        builder.spawn(f).map(drop)
    }
}

/// Failures of the default thread spawn, injected by the model tests
/// (`model::fail_next_spawns`): the one path that `std::thread` can fail on
/// and that a spawn handler cannot imitate, since the failure happens
/// inside the pool's own spawn, after the thread was counted.
#[cfg(any(loom, shuttle))]
pub(crate) mod failing {
    use std::cell::Cell;

    std::thread_local! {
        static LEFT: Cell<usize> = const { Cell::new(0) };
    }

    /// The next `n` default spawns (of this OS thread's executions) fail.
    pub(crate) fn set(n: usize) {
        LEFT.with(|l| l.set(n));
    }

    pub(crate) fn take() -> bool {
        LEFT.with(|l| {
            let left = l.get();
            l.set(left.saturating_sub(1));
            left > 0
        })
    }
}

/// Atomics that the model checkers do not see: std's in every build. The
/// users are the counter that numbers pools (a `static`, for thread names
/// only) and a `ThreadPool`'s pointer to its core, which must be
/// constructible in a `const` (a pool can be a `static`) in every build,
/// loom's included, where modelled atomics are not. Under the models a
/// core carries the execution it was made in (`execution`), so that a
/// `static` pool used by a later execution builds a fresh one.
pub(crate) mod unmodelled {
    pub(crate) use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
}

/// The model execution this thread is in: a number unique to the last
/// `model::reset` called on this OS thread (each model runs its executions
/// on the test's own thread, and test threads run side by side, so the
/// number is kept per thread and drawn from one counter); 0 in real builds.
#[cfg(any(loom, shuttle))]
pub(crate) fn execution() -> usize {
    CURRENT_EXECUTION.with(|c| c.get())
}

#[cfg(not(any(loom, shuttle)))]
#[inline(always)]
pub(crate) const fn execution() -> usize {
    0
}

#[cfg(any(loom, shuttle))]
static EXECUTIONS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

#[cfg(any(loom, shuttle))]
std::thread_local! {
    static CURRENT_EXECUTION: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A thread-local of the OS thread, which the model builds do not replace:
/// each model runs all its threads, as coroutines, on the test's own OS
/// thread, so under a model it holds one value per test thread (the global
/// pool's place, `global.rs`), shared by the model's threads.
#[cfg(any(loom, shuttle))]
pub(crate) use std::thread_local as os_thread_local;

/// Starts counting a new model execution (`model::reset`).
#[cfg(any(loom, shuttle))]
pub(crate) fn next_execution() {
    // Relaxed: the counter only hands out distinct numbers.
    let n = EXECUTIONS.fetch_add(1, core::sync::atomic::Ordering::Relaxed) + 1;
    CURRENT_EXECUTION.with(|c| c.set(n));
}

/// Defines a function that is `const` in the std and shuttle builds and a
/// plain function under loom, whose atomics and cells need a running model
/// and so cannot be built in a constant.
macro_rules! const_fn_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis fn $name $($rest)*
    };
}
pub(crate) use const_fn_unless_loom;
