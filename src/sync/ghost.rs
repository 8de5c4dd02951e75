//! Use-after-free detection for the models (hazard 5). `ThreadPool` marks the
//! shared state it frees; the pool's last accesses first check the mark. The
//! mark is a modelled atomic, so the check is a scheduling point that the
//! checker can order after the free; it is Relaxed so that it adds no
//! synchronization that could hide a missing edge in the pool itself. The
//! model builds leak the freed state instead of freeing it (see
//! `ThreadPool::drop`), so a check that misses still touches valid memory.

use super::atomic::{AtomicBool, Ordering};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

std::thread_local! {
    static LIVE: RefCell<HashMap<usize, Rc<AtomicBool>>> = RefCell::new(HashMap::new());
}

/// Forgets the previous execution's marks (leaked, as modelled objects
/// must not be dropped outside the execution that made them).
pub(crate) fn reset() {
    LIVE.with(|l| std::mem::forget(std::mem::take(&mut *l.borrow_mut())));
}

pub(crate) fn allocated(addr: *const ()) {
    let mark = Rc::new(AtomicBool::new(true));
    if let Some(old) = LIVE.with(|l| l.borrow_mut().insert(addr as usize, mark)) {
        std::mem::forget(old);
    }
}

fn mark(addr: *const ()) -> Option<Rc<AtomicBool>> {
    LIVE.with(|l| l.borrow().get(&(addr as usize)).cloned())
}

pub(crate) fn freed(addr: *const ()) {
    if let Some(mark) = mark(addr) {
        mark.store(false, Ordering::Relaxed);
    }
}

pub(crate) fn assert_live(addr: *const (), what: &str) {
    if let Some(mark) = mark(addr) {
        assert!(
            mark.load(Ordering::Relaxed),
            "use after free: {what} touched pool memory after it was freed"
        );
    }
}
