//! The tree_sum workload: a balanced binary tree of boxed nodes, summed by a
//! join at every node (the benchmark chili and forte publish), so that the
//! cost of a join that nobody steals shows per node.
//!
//! Every parallel form hands the left subtree to its join as the first
//! closure (`a`) and the right one as the second (`b`). Which of the two a
//! thread runs first differs: rayon and zap-pool run `a` and offer `b` to
//! other threads, chili and forte run `b` and offer `a`. So the sequential
//! sum is measured in both orders: left first, as rayon and zap-pool walk
//! the tree alone, and right first, as chili and forte do. The order
//! matters beyond the code: the tree's layout (see `Node::tree`) suits a
//! right-first walk.
//!
//! The zap-pool form, which needs the fork-join API, is in `forkjoin.rs`.

use std::hint::black_box;

/// A node of the tree. Every value is 1, so a sum counts the nodes.
pub struct Node {
    pub val: u64,
    pub left: Option<Box<Node>>,
    pub right: Option<Box<Node>>,
}

impl Node {
    /// A balanced tree of `layers` layers (2^layers − 1 nodes), built as
    /// chili's benchmark builds it: each node's box is allocated after its
    /// two subtrees, the left one first. So the nodes lie in memory in
    /// post-order, and a right-first walk reads them almost in falling
    /// address order, while a left-first walk jumps.
    pub fn tree(layers: u32) -> Node {
        assert!(layers >= 1, "a tree has at least its root");
        let child = || (layers > 1).then(|| Box::new(Node::tree(layers - 1)));
        let left = child();
        let right = child();
        Node {
            val: 1,
            left,
            right,
        }
    }
}

/// The node count of a tree of `layers` layers.
pub fn nodes(layers: u32) -> u64 {
    (1u64 << layers) - 1
}

/// Sums `tree` `reps` times with `sum` and returns the total. The tree goes
/// through `black_box` each time, so no sum can be hoisted out of the loop
/// or merged with another.
pub fn repeat(reps: usize, tree: &Node, mut sum: impl FnMut(&Node) -> u64) -> u64 {
    let mut total = 0;
    for _ in 0..reps {
        total += sum(black_box(tree));
    }
    black_box(total)
}

// ---------------------------------------------------------------------------
// Sequential: plain recursion, in either order.

pub fn sum_left_first(node: &Node) -> u64 {
    let left = node.left.as_deref().map_or(0, sum_left_first);
    let right = node.right.as_deref().map_or(0, sum_left_first);
    node.val + left + right
}

pub fn sum_right_first(node: &Node) -> u64 {
    let right = node.right.as_deref().map_or(0, sum_right_first);
    let left = node.left.as_deref().map_or(0, sum_right_first);
    node.val + left + right
}

// ---------------------------------------------------------------------------
// rayon: `rayon::join` at every node, inside the pool.

pub fn rayon_sums(pool: &rayon::ThreadPool, tree: &Node, reps: usize) -> u64 {
    pool.install(|| repeat(reps, tree, rayon_sum))
}

fn rayon_sum(node: &Node) -> u64 {
    let (left, right) = rayon::join(
        || node.left.as_deref().map_or(0, rayon_sum),
        || node.right.as_deref().map_or(0, rayon_sum),
    );
    node.val + left + right
}

// ---------------------------------------------------------------------------
// chili: `Scope::join` at every node. The calling thread works in the pool
// through its scope, one scope per call.

pub fn chili_sums(pool: &chili::ThreadPool, tree: &Node, reps: usize) -> u64 {
    let mut scope = pool.scope();
    repeat(reps, tree, |tree| chili_sum(tree, &mut scope))
}

fn chili_sum(node: &Node, scope: &mut chili::Scope<'_>) -> u64 {
    let (left, right) = scope.join(
        |s| node.left.as_deref().map_or(0, |n| chili_sum(n, s)),
        |s| node.right.as_deref().map_or(0, |n| chili_sum(n, s)),
    );
    node.val + left + right
}

/// The fanout workload on chili: a binary tree of `2^depth` leaves with a
/// `Scope::join` at every inner node; returns the number of leaves.
pub fn chili_fanout(pool: &chili::ThreadPool, depth: u32) -> u64 {
    let mut scope = pool.scope();
    chili_fan(depth, &mut scope)
}

fn chili_fan(depth: u32, scope: &mut chili::Scope<'_>) -> u64 {
    if depth == 0 {
        return 1;
    }
    let (a, b) = scope.join(|s| chili_fan(depth - 1, s), |s| chili_fan(depth - 1, s));
    a + b
}

// ---------------------------------------------------------------------------
// forte: `Worker::join` at every node. A forte pool must be a static; the
// calling thread joins it as a worker for the call.

/// The forte pool, sized by `Pools` for each thread count.
pub static FORTE: forte::ThreadPool = forte::ThreadPool::new();

pub fn forte_sums(tree: &Node, reps: usize) -> u64 {
    FORTE.with_worker(|worker| repeat(reps, tree, |tree| forte_sum(tree, worker)))
}

fn forte_sum(node: &Node, worker: &forte::Worker) -> u64 {
    let (left, right) = worker.join(
        |w| node.left.as_deref().map_or(0, |n| forte_sum(n, w)),
        |w| node.right.as_deref().map_or(0, |n| forte_sum(n, w)),
    );
    node.val + left + right
}
