//! The parallel loops (`zap_pool::par`) on real threads.
//!
//! Every loop runs on pools of 1, 2 and 4 threads, inside `ThreadPool::join`
//! so that it starts on a worker, and from a thread of no pool. Each test
//! counts visits per index (or per element, per chunk, per result) and
//! asserts exactly once; the panic tests assert at most once, and that each
//! result `map` made was dropped exactly once. One test forces a steal and
//! fails unless the stolen half is split again (the adaptive rule).
//! Allocation counts are in `tests/alloc.rs`.
#![cfg(not(any(loom, shuttle)))]

mod common;

use common::{assert_each_once, counters, guarded};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use zap_pool::{ThreadPool, par};

const LENS: &[usize] = &[0, 1, 2, 1000, 1_000_003];
const THREADS: &[usize] = &[1, 2, 4];

/// Runs `f` on a worker of a pool of each size in [`THREADS`], and then on
/// this thread (of no pool); `f` gets a label for its messages.
fn everywhere(f: impl Fn(&str) + Sync) {
    for &threads in THREADS {
        let pool = ThreadPool::with_max_threads(threads);
        pool.join(|| f(&format!("pool of {threads}")), || ());
    }
    f("outside any pool");
}

/// The payload of a panic, as text.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a payload of another type".to_string()
    }
}

#[test]
fn for_each_visits_every_index_once() {
    guarded("for_each", || {
        everywhere(|label| {
            for &len in LENS {
                // An offset start: the loop passes indices, not positions.
                let start = 7;
                let counts = counters(start + len);
                par::for_each(start..start + len, |i| {
                    counts[i].fetch_add(1, Ordering::Relaxed);
                });
                for (i, c) in counts[..start].iter().enumerate() {
                    assert_eq!(
                        c.load(Ordering::Relaxed),
                        0,
                        "{label}: index {i} is out of range"
                    );
                }
                assert_each_once(&counts[start..], &format!("{label}: for_each of {len}"));
            }
            // A reversed range is empty.
            let runs = AtomicUsize::new(0);
            #[allow(clippy::reversed_empty_ranges)]
            par::for_each(10..5, |_| {
                runs.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(runs.load(Ordering::Relaxed), 0, "{label}: reversed range");
        });
    });
}

#[test]
fn for_each_mut_changes_every_element_once() {
    guarded("for_each_mut", || {
        everywhere(|label| {
            for &len in LENS {
                let mut xs: Vec<(usize, u8)> = (0..len).map(|i| (i, 0)).collect();
                par::for_each_mut(&mut xs, |x| x.1 += 1);
                for (i, &(id, n)) in xs.iter().enumerate() {
                    assert_eq!((id, n), (i, 1), "{label}: element {i} of {len}");
                }
            }
        });
    });
}

#[test]
fn chunks_mut_passes_every_chunk_once_with_its_index() {
    guarded("chunks_mut", || {
        everywhere(|label| {
            for &len in &[0usize, 1, 7, 1000, 1003, 100_003] {
                for &chunk_len in &[1, 3, 10, 1000, 2000] {
                    let chunks = len.div_ceil(chunk_len);
                    let seen = counters(chunks);
                    // Each element: (chunk index written, times written).
                    let mut xs = vec![(usize::MAX, 0u8); len];
                    par::chunks_mut(&mut xs, chunk_len, |index, chunk| {
                        let want = chunk_len.min(len - index * chunk_len);
                        assert_eq!(chunk.len(), want, "chunk {index}: length");
                        seen[index].fetch_add(1, Ordering::Relaxed);
                        for x in chunk {
                            *x = (index, x.1 + 1);
                        }
                    });
                    let what = format!("{label}: {len} elements in chunks of {chunk_len}");
                    assert_each_once(&seen, &what);
                    for (j, &x) in xs.iter().enumerate() {
                        assert_eq!(x, (j / chunk_len, 1), "{what}: element {j}");
                    }
                }
            }
        });
    });
}

#[test]
#[should_panic(expected = "chunk_len must be non-zero")]
fn chunks_mut_of_zero_panics() {
    let mut xs = [1, 2, 3];
    par::chunks_mut(&mut xs, 0, |_, _| ());
}

#[test]
fn map_keeps_order_and_length() {
    guarded("map", || {
        everywhere(|label| {
            for &len in LENS {
                let xs: Vec<u64> = (0..len as u64).collect();
                let calls = AtomicUsize::new(0);
                let ys = par::map(&xs, |&x| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    3 * x + 1
                });
                assert_eq!(ys.len(), len, "{label}: length");
                assert_eq!(calls.load(Ordering::Relaxed), len, "{label}: calls");
                for (i, &y) in ys.iter().enumerate() {
                    assert_eq!(y, 3 * i as u64 + 1, "{label}: result {i} of {len}");
                }
            }
            // Results that own heap memory, and results of size zero.
            let xs: Vec<usize> = (0..5000).collect();
            let strings = par::map(&xs, |x| x.to_string());
            assert!(strings.iter().enumerate().all(|(i, s)| *s == i.to_string()));
            let units = par::map(&xs, |_| ());
            assert_eq!(units.len(), xs.len(), "{label}: zero-sized results");
        });
    });
}

#[test]
fn map_reduce_sums_and_keeps_order() {
    guarded("map_reduce", || {
        everywhere(|label| {
            for &n in LENS {
                let xs: Vec<u64> = (1..=n as u64).collect();
                let identities = AtomicUsize::new(0);
                let sum = par::map_reduce(
                    &xs,
                    |&x| x,
                    || {
                        identities.fetch_add(1, Ordering::Relaxed);
                        0
                    },
                    |a, b| a + b,
                );
                let n = n as u64;
                assert_eq!(sum, n * (n + 1) / 2, "{label}: sum of 1..={n}");
                assert!(identities.load(Ordering::Relaxed) >= 1, "{label}: identity");
            }
            // Concatenation is associative but not commutative: the parts
            // must be combined left to right.
            let xs: Vec<u32> = (0..10_000).collect();
            let all = par::map_reduce(
                &xs,
                |&x| vec![x],
                Vec::new,
                |mut a, b| {
                    a.extend(b);
                    a
                },
            );
            assert_eq!(all, xs, "{label}: order of the parts");
        });
    });
}

/// Nested loops on one thread: the inner ones fork on the worker that runs
/// the outer one.
#[test]
fn nested_loops_on_one_thread() {
    guarded("nested", || {
        let pool = ThreadPool::with_max_threads(1);
        let counts = counters(100 * 100);
        pool.join(
            || {
                par::for_each(0..100, |i| {
                    par::for_each(0..100, |j| {
                        counts[i * 100 + j].fetch_add(1, Ordering::Relaxed);
                    });
                });
            },
            || (),
        );
        assert_each_once(&counts, "nested for_each");
    });
}

/// Spins until `cond` holds; panics after 30 s.
fn spin_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        thread::yield_now();
    }
}

/// The adaptive rule. On 2 threads, `for_each(0..8)` splits its budget of 2
/// into four leaves of two indices: `[0, 2)`, `[2, 4)`, `[4, 6)`, `[6, 8)`.
/// Index 0 waits until index 4 has started, so the other thread must steal
/// `[4, 8)`. Index 4 then waits until index 5 has run: if the stolen half
/// were not split again, 5 would be in 4's leaf, after it, and this would
/// never finish. Reset to a budget of 2, the stolen half splits into leaves
/// of one index, and the first thread, done with `[0, 4)`, steals 5.
#[test]
fn a_stolen_half_is_split_again() {
    guarded("stolen", || {
        let pool = ThreadPool::with_max_threads(2);
        for _ in 0..20 {
            let started4 = AtomicBool::new(false);
            let ran5 = AtomicBool::new(false);
            let counts = counters(8);
            pool.join(
                || {
                    par::for_each(0..8, |i| {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                        match i {
                            0 => {
                                spin_until("index 4 to start", || started4.load(Ordering::Acquire))
                            }
                            4 => {
                                started4.store(true, Ordering::Release);
                                spin_until("index 5 to run", || ran5.load(Ordering::Acquire));
                            }
                            5 => ran5.store(true, Ordering::Release),
                            _ => {}
                        }
                    });
                },
                || (),
            );
            assert_each_once(&counts, "for_each(0..8)");
        }
    });
}

#[test]
fn a_panic_propagates_and_nothing_runs_twice() {
    guarded("panics", || {
        everywhere(|label| {
            for &(len, bad) in &[(1, 0), (1000, 0), (1000, 999), (100_000, 31_337)] {
                let counts = counters(len);
                let got = catch_unwind(AssertUnwindSafe(|| {
                    par::for_each(0..len, |i| {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                        if i == bad {
                            panic!("index {i} fails");
                        }
                    });
                }));
                let payload = got.expect_err("the loop returned despite a panic");
                assert_eq!(message(&*payload), format!("index {bad} fails"), "{label}");
                assert_eq!(
                    counts[bad].load(Ordering::Relaxed),
                    1,
                    "{label}: index {bad}"
                );
                for (i, c) in counts.iter().enumerate() {
                    assert!(
                        c.load(Ordering::Relaxed) <= 1,
                        "{label}: index {i} ran twice"
                    );
                }
            }
        });
    });
}

/// A result that counts its drops.
struct Tracked<'a> {
    drops: &'a AtomicUsize,
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn map_drops_each_result_once() {
    guarded("map drops", || {
        everywhere(|label| {
            // Without a panic: the Vec owns them all.
            let xs: Vec<usize> = (0..10_000).collect();
            let drops = AtomicUsize::new(0);
            let ys = par::map(&xs, |_| Tracked { drops: &drops });
            assert_eq!(ys.len(), xs.len());
            assert_eq!(drops.load(Ordering::Relaxed), 0, "{label}: dropped early");
            drop(ys);
            assert_eq!(drops.load(Ordering::Relaxed), xs.len(), "{label}: drops");

            // With a panic: every result made is dropped once, no more.
            for &bad in &[0, 1, 4999, 9999] {
                let made = AtomicUsize::new(0);
                let drops = AtomicUsize::new(0);
                let got = catch_unwind(AssertUnwindSafe(|| {
                    par::map(&xs, |&x| {
                        if x == bad {
                            panic!("element {x} fails");
                        }
                        made.fetch_add(1, Ordering::Relaxed);
                        Tracked { drops: &drops }
                    })
                }));
                let payload = got.err().expect("map returned despite a panic");
                assert_eq!(message(&*payload), format!("element {bad} fails"));
                let (made, drops) = (made.load(Ordering::Relaxed), drops.load(Ordering::Relaxed));
                assert!(made < xs.len(), "{label}: made {made}");
                assert_eq!(
                    drops, made,
                    "{label}: panic at {bad}: results dropped vs made"
                );
            }
        });
    });
}
