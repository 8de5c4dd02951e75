//! The forms that use zap-pool's fork-join API: `ThreadPool::join` and
//! `zap_pool::join` (quicksort and fanout), `ThreadPool::scope` (quicksort),
//! `ThreadPool::install` and `zap_pool::join` or `zap_pool::join_lazy`
//! (tree_sum, fanout).

use crate::sort::{LEAF, insertion_sort, split};
use crate::tree::{self, Node};
use zap_pool::{Scope, ThreadPool};

/// Whether these forms are built (see the switch in `pools.rs`).
pub const ENABLED: bool = true;

/// Quicksort with a join per split. `ThreadPool::join` moves the whole sort
/// into the pool (as rayon's `install` does); the nested joins are
/// `zap_pool::join` on its workers.
pub fn quicksort_join(pool: &ThreadPool, xs: &mut [i32]) {
    pool.join(|| join_part(xs), || ());
}

fn join_part(xs: &mut [i32]) {
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return;
    }
    let (left, right) = split(xs);
    zap_pool::join(|| join_part(left), || join_part(right));
}

/// Quicksort with a scope: one scoped task per non-empty half. The scope's
/// body runs on the caller, so the root is spawned as a task too, to run the
/// whole sort in the pool.
pub fn quicksort_scope(pool: &ThreadPool, xs: &mut [i32]) {
    pool.scope(|s| s.spawn(move |s| scope_part(s, xs)));
}

fn scope_part<'s>(s: &Scope<'s>, xs: &'s mut [i32]) {
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return;
    }
    let (left, right) = split(xs);
    for half in [left, right] {
        if !half.is_empty() {
            s.spawn(move |s| scope_part(s, half));
        }
    }
}

/// A binary tree of `2^depth` leaves with a join at every inner node;
/// returns the number of leaves.
pub fn fanout_join(pool: &ThreadPool, depth: u32) -> u64 {
    pool.join(|| tree(depth), || ()).0
}

fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let (a, b) = zap_pool::join(|| tree(depth - 1), || tree(depth - 1));
    a + b
}

/// Sums `tree` `reps` times inside the pool, a `zap_pool::join` at every
/// node; returns the total.
pub fn tree_sums(pool: &ThreadPool, tree: &Node, reps: usize) -> u64 {
    pool.install(|| tree::repeat(reps, tree, tree_sum))
}

/// The fanout tree with `zap_pool::join_lazy` at every inner node.
pub fn fanout_join_lazy(pool: &ThreadPool, depth: u32) -> u64 {
    pool.install(|| lazy_tree(depth))
}

fn lazy_tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let (a, b) = zap_pool::join_lazy(|| lazy_tree(depth - 1), || lazy_tree(depth - 1));
    a + b
}

/// `tree_sums` with `zap_pool::join_lazy` at every node.
pub fn tree_sums_lazy(pool: &ThreadPool, tree: &Node, reps: usize) -> u64 {
    pool.install(|| tree::repeat(reps, tree, tree_sum_lazy))
}

fn tree_sum_lazy(node: &Node) -> u64 {
    let (left, right) = zap_pool::join_lazy(
        || node.left.as_deref().map_or(0, tree_sum_lazy),
        || node.right.as_deref().map_or(0, tree_sum_lazy),
    );
    node.val + left + right
}

fn tree_sum(node: &Node) -> u64 {
    let (left, right) = zap_pool::join(
        || node.left.as_deref().map_or(0, tree_sum),
        || node.right.as_deref().map_or(0, tree_sum),
    );
    node.val + left + right
}
