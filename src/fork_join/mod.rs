//! Fork-join on top of the scheduler: `join`, `scope` and `JoinHandle`, and
//! the job vocabulary they share (`job.rs`). A task that waits here keeps
//! its worker running the pool's other tasks (`scheduler::wait_for`).
//!
//! | file | what | proof note |
//! |---|---|---|
//! | `job.rs` | every job type, `Completion`, and how a job enters a pool | `docs/fork_join.md` |
//! | `join.rs` | `join(a, b)`: `b` as a stack job in the worker's join deque; `install` | `docs/fork_join.md`, `docs/join_deque.md` |
//! | `scope.rs` | `Scope`: tasks that borrow from the caller | `docs/fork_join.md` |
//! | `broadcast.rs` | `broadcast`: one closure on each of a pool's threads, results in index order | `docs/broadcast.md` |
//! | `handle.rs` | `JoinHandle`: a spawned task's result | `docs/fork_join.md` |
//! | `future.rs` | futures on the pool: the task's state machine, the handle's waker, `block_on` | `docs/future.md` |
//!
//! This layer imports the scheduler and the structures; nothing below it
//! imports this layer.

mod broadcast;
mod handle;
pub(crate) mod job;
pub(crate) mod join;
mod scope;

pub use broadcast::BroadcastContext;
pub(crate) use broadcast::broadcast_in;
pub use handle::JoinHandle;
pub(crate) use job::HeapTask;
pub use scope::Scope;

// Futures on the pool (`future.rs`).
pub(crate) mod future;

pub use future::block_on;
