//! Stand-ins for `forkjoin.rs` while zap-pool's fork-join API is missing:
//! the harness leaves these forms out when `ENABLED` is false.

use crate::tree::Node;
use zap_pool::ThreadPool;

/// Whether the fork-join forms are built (see the switch in `pools.rs`).
pub const ENABLED: bool = false;

pub fn quicksort_join(_: &ThreadPool, _: &mut [i32]) {
    unreachable!("fork-join forms are switched off")
}

pub fn quicksort_scope(_: &ThreadPool, _: &mut [i32]) {
    unreachable!("fork-join forms are switched off")
}

pub fn fanout_join(_: &ThreadPool, _: u32) -> u64 {
    unreachable!("fork-join forms are switched off")
}

pub fn tree_sums(_: &ThreadPool, _: &Node, _: usize) -> u64 {
    unreachable!("fork-join forms are switched off")
}

pub fn fanout_join_lazy(_: &ThreadPool, _: u32) -> u64 {
    unreachable!("fork-join forms are switched off")
}

pub fn tree_sums_lazy(_: &ThreadPool, _: &Node, _: usize) -> u64 {
    unreachable!("fork-join forms are switched off")
}
