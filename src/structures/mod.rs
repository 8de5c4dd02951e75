//! The lock-free structures the scheduler is built from. Each knows nothing
//! of pools, workers or fork-join: they import only `crate::raw` (the task
//! links) and `crate::sync` (the facade), so each can be model-checked
//! alone (`loom_tests/<name>.rs`) and argued alone (`docs/<name>.md`).
//!
//! | file | structure | used by |
//! |---|---|---|
//! | `event.rs` | [`Event`](event::Event): one wake-up token on a futex, shut down for ever | idle workers, the exit chain |
//! | `bell.rs` | [`Bell`](bell::Bell): an event count: sleepers re-check a condition after every ring | workers waiting inside a task |
//! | `latch.rs` | [`Latch`](latch::Latch): a one-shot completion flag that one thread may block on, on its own futex or on a bell | fork-join waits |
//! | `queue.rs` | [`Queue`](queue::Queue): unbounded multi-producer queue, try-lock consumer | the global queue, each worker's overflow queue |
//! | `quiet.rs` | [`Quiet`](quiet::Quiet): per-worker presence words (who may hold a task), the guests, and the latches of those waiting for a quiet instant | `ThreadPool::wait_idle` |
//! | `buffer.rs` | [`Buffer`](buffer::Buffer): the worker's ring, stolen half at a time | each worker's spawned tasks |
//! | `join_deque.rs` | [`JoinDeque`](join_deque::JoinDeque): owner-LIFO, thief-FIFO deque | each worker's pending `join` jobs |
//! | `fork_stack.rs` | [`ForkStack`](fork_stack::ForkStack): one thread's lazy forks, the oldest promoted to its join deque on demand | each worker's `join_lazy` jobs |
//! | `slots.rs` | `Slots`: task pointers at free-running indices | the storage of the two above |
//!
//! Operations that only the owner of a ring or a join deque may perform are
//! methods of an owner handle (`buffer::Owner`, `join_deque::Owner`) rather
//! than of the shared structure, so a thief cannot call them by mistake.

pub(crate) mod bell;
pub(crate) mod buffer;
pub(crate) mod event;
pub(crate) mod fork_stack;
pub(crate) mod join_deque;
pub(crate) mod latch;
pub(crate) mod queue;
pub(crate) mod quiet;
mod slots;
