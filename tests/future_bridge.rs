//! The bridge between goroutines and async Rust (`gort::future`): a
//! goroutine awaits futures completed by goroutines, plain threads and tokio
//! tasks without blocking its thread; async code awaits goroutines through
//! their `JoinHandle`; panics cross in both directions; wake-ups before the
//! park, after it, and twice.

mod runtime_support;

use futures::channel::oneshot;
use gort::future::{block_on, spawn};
use runtime_support::{expect_panic, panic_text, proc_status, rt, timed, yield_until};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Polls the future inside, counts the polls, and runs `hook` the first time
/// a poll returns `Pending` (after the waker was registered, so whatever the
/// hook sets off wakes a waiter that is parked or about to park).
struct OnPending<F> {
    fut: Pin<Box<F>>,
    hook: Option<Box<dyn FnOnce() + Send>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> OnPending<F> {
    fn new(fut: F, hook: impl FnOnce() + Send + 'static) -> (OnPending<F>, Arc<AtomicUsize>) {
        let polls = Arc::new(AtomicUsize::new(0));
        let me = OnPending {
            fut: Box::pin(fut),
            hook: Some(Box::new(hook)),
            polls: polls.clone(),
        };
        (me, polls)
    }
}

impl<F: Future> Future for OnPending<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, SeqCst);
        let r = self.fut.as_mut().poll(cx);
        if r.is_pending() {
            if let Some(h) = self.hook.take() {
                h();
            }
        }
        r
    }
}

/// A future that is ready once `ready` is set, and hands its waker to
/// `wakers` on every pending poll: a test wakes it by hand.
#[derive(Clone, Default)]
struct Manual {
    ready: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    polls: Arc<AtomicUsize>,
}

impl Manual {
    fn waiter(&self) -> ManualFut {
        ManualFut(self.clone())
    }
    fn parked(&self) -> bool {
        self.waker.lock().unwrap().is_some()
    }
    fn waker(&self) -> Waker {
        self.waker.lock().unwrap().clone().expect("polled once")
    }
}

struct ManualFut(Manual);

impl Future for ManualFut {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let polls = self.0.polls.fetch_add(1, SeqCst) + 1;
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.ready.load(SeqCst) {
            Poll::Ready(polls)
        } else {
            Poll::Pending
        }
    }
}

fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("build a tokio runtime")
}

// ---- a goroutine awaits a future ----

#[test]
fn goroutine_awaits_oneshot_completed_by_another_goroutine() {
    for procs in [1, 2] {
        let got = timed(move || {
            rt(procs).block_on(|| {
                let (tx, rx) = oneshot::channel::<u32>();
                let (gate_tx, gate_rx) = gort::chan::<()>(1);
                let (fut, polls) = OnPending::new(rx, move || gate_tx.send(()).unwrap());
                let waiter = gort::go(move || block_on(fut));
                // With one P, this runs only once the waiter has parked.
                let completer = gort::go(move || {
                    gate_rx.recv().unwrap();
                    tx.send(7).unwrap();
                });
                completer.join().unwrap();
                let v = waiter.join().unwrap().unwrap();
                (v, polls.load(SeqCst))
            })
        });
        assert_eq!(got, (7, 2), "procs={procs}: (value, polls)");
    }
}

#[test]
fn goroutine_awaits_oneshot_completed_by_a_plain_thread() {
    let v = timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = oneshot::channel::<u32>();
            let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
            let th = std::thread::spawn(move || {
                gate_rx.recv().unwrap();
                tx.send(11).unwrap();
            });
            let (fut, _) = OnPending::new(rx, move || gate_tx.send(()).unwrap());
            let v = block_on(fut).unwrap();
            th.join().unwrap();
            v
        })
    });
    assert_eq!(v, 11);
}

#[test]
fn goroutine_awaits_oneshot_completed_by_a_tokio_task() {
    let v = timed(|| {
        let tokio = tokio_rt(1);
        let handle = tokio.handle().clone();
        let v = rt(1).block_on(move || {
            let (tx, rx) = oneshot::channel::<u32>();
            let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
            let task = handle.spawn(async move {
                gate_rx.await.unwrap();
                tx.send(13).unwrap();
            });
            let (fut, polls) = OnPending::new(rx, move || gate_tx.send(()).unwrap());
            let v = block_on(fut).unwrap();
            // The tokio JoinHandle is a future too.
            block_on(task).unwrap();
            assert_eq!(polls.load(SeqCst), 2);
            v
        });
        drop(tokio);
        v
    });
    assert_eq!(v, 13);
}

#[test]
fn ten_thousand_goroutines_wait_at_once_on_one_p_without_blocking_a_thread() {
    const N: usize = 10_000;
    let threads_before = proc_status("Threads");
    let (sum, threads_waiting) = timed(|| {
        rt(1).block_on(|| {
            let pending = Arc::new(AtomicUsize::new(0));
            let mut senders = Vec::with_capacity(N);
            let mut handles = Vec::with_capacity(N);
            for i in 0..N {
                let (tx, rx) = oneshot::channel::<usize>();
                senders.push(tx);
                let p = pending.clone();
                let (fut, _) = OnPending::new(rx, move || {
                    p.fetch_add(1, SeqCst);
                });
                handles.push(gort::go(move || block_on(fut).unwrap() + i));
            }
            // One P: the main goroutine runs again only while every other
            // goroutine is parked, so all N wait at once here.
            yield_until("every goroutine waits on its future", || {
                pending.load(SeqCst) == N
            });
            let threads_waiting = proc_status("Threads");
            for (i, tx) in senders.into_iter().enumerate() {
                tx.send(i).unwrap();
            }
            let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
            (sum, threads_waiting)
        })
    });
    assert_eq!(sum, 2 * (N * (N - 1) / 2));
    // Threads other tests of this binary start come and go meanwhile; a
    // thread per waiting goroutine would be thousands more.
    assert!(
        threads_waiting < threads_before + 100,
        "{threads_waiting} threads while {N} goroutines wait (before: {threads_before})"
    );
}

#[test]
fn block_on_outside_a_goroutine_blocks_the_thread() {
    let (tx, rx) = oneshot::channel::<u32>();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let th = std::thread::spawn(move || {
        gate_rx.recv().unwrap();
        tx.send(5).unwrap();
    });
    let (fut, polls) = OnPending::new(rx, move || gate_tx.send(()).unwrap());
    assert_eq!(timed(move || block_on(fut)), Ok(5));
    assert_eq!(polls.load(SeqCst), 2);
    th.join().unwrap();
}

#[test]
fn spawn_runs_a_future_as_a_goroutine() {
    let v = timed(|| {
        rt(1).block_on(|| {
            let (tx, rx) = oneshot::channel::<u32>();
            let h = spawn(async move { rx.await.unwrap() * 2 });
            assert!(h.id() > 1, "a goroutine of its own");
            gort::yield_now();
            assert!(!h.is_finished(), "parked on its future");
            tx.send(21).unwrap();
            h.join().unwrap()
        })
    });
    assert_eq!(v, 42);
}

// ---- async code awaits a goroutine ----

#[test]
fn join_handle_awaited_from_a_tokio_runtime() {
    let tokio = tokio_rt(2);
    let v = timed(move || {
        rt(2).block_on(move || {
            let (go_tx, go_rx) = gort::chan::<()>(1);
            let h = gort::go(move || {
                go_rx.recv().unwrap();
                gort::goroutine_id().unwrap()
            });
            let id = h.id();
            // The tokio task polls the handle (pending: the goroutine waits
            // for the gate), and only then lets the goroutine finish.
            let (fut, polls) = OnPending::new(h, move || go_tx.send(()).unwrap());
            let task = tokio.spawn(fut);
            let got = block_on(task).unwrap().unwrap();
            assert_eq!(polls.load(SeqCst), 2);
            (got, id)
        })
    });
    assert_eq!(v.0, v.1, "the goroutine's own ID comes back");
}

#[test]
fn join_handle_awaited_from_futures_executor_block_on() {
    let v = timed(|| {
        rt(1).block_on(|| {
            let (go_tx, go_rx) = gort::chan::<()>(1);
            let h = gort::go(move || {
                go_rx.recv().unwrap();
                "done"
            });
            let (fut, polls) = OnPending::new(h, move || go_tx.send(()).unwrap());
            // A plain thread running futures' executor awaits the goroutine.
            // Joined as a syscall: the goroutine waits on a plain thread,
            // which deadlock detection must not mistake for nothing to do.
            let th = std::thread::spawn(move || futures::executor::block_on(fut));
            let r = gort::syscall(|| th.join().unwrap());
            (r.unwrap(), polls.load(SeqCst))
        })
    });
    assert_eq!(v, ("done", 2));
}

#[test]
fn join_handle_awaited_through_a_reference_then_joined_panics_with_a_message() {
    let text = timed(|| {
        rt(1).block_on(|| {
            let mut h = gort::go(|| 3);
            assert_eq!(block_on(&mut h).unwrap(), 3);
            expect_panic(move || h.join())
        })
    });
    assert!(text.contains("already awaited to completion"), "{text}");
}

// ---- panics ----

#[test]
fn a_future_that_panics_in_block_on_unwinds_into_the_goroutine() {
    let (caught, joined) = timed(|| {
        rt(1).block_on(|| {
            // Caught by the goroutine itself, after a park: it goes on.
            let (tx, rx) = oneshot::channel::<()>();
            let caught = gort::go(move || {
                let r = std::panic::catch_unwind(AssertUnwindSafe(move || {
                    block_on(async move {
                        rx.await.unwrap();
                        panic!("boom after a park");
                    })
                }));
                panic_text(&*r.unwrap_err())
            });
            gort::yield_now();
            tx.send(()).unwrap();
            // Not caught: the goroutine's JoinHandle holds it.
            let h = gort::go(|| block_on(async { panic!("boom at the first poll") }));
            let joined = panic_text(&*h.join().unwrap_err());
            (caught.join().unwrap(), joined)
        })
    });
    assert_eq!(caught, "boom after a park");
    assert_eq!(joined, "boom at the first poll");
}

#[test]
fn a_panicking_goroutine_surfaces_as_err_to_its_awaiters() {
    let tokio = tokio_rt(1);
    let (from_tokio, from_futures, from_spawn) = timed(move || {
        rt(2).block_on(move || {
            // A tokio task awaits a goroutine that panics.
            let h = gort::go(|| -> u32 { panic!("goroutine panicked: {}", 1) });
            let from_tokio = block_on(tokio.spawn(h)).unwrap().unwrap_err();
            // So does futures' executor, on a plain thread.
            let h = gort::go(|| -> u32 { std::panic::panic_any(42u64) });
            let th = std::thread::spawn(move || {
                let r = futures::executor::block_on(h);
                r.unwrap_err().downcast::<u64>().map(|b| *b).ok()
            });
            // Joined as a syscall, so that waiting on a plain thread is not
            // taken for a deadlock.
            let from_futures = gort::syscall(|| th.join().unwrap()).expect("the u64 payload");
            let h = spawn(async { panic!("spawned future panicked") });
            let from_spawn: Result<(), _> = block_on(h);
            (
                panic_text(&*from_tokio),
                from_futures,
                panic_text(&*from_spawn.unwrap_err()),
            )
        })
    });
    assert_eq!(from_tokio, "goroutine panicked: 1");
    assert_eq!(from_futures, 42);
    assert_eq!(from_spawn, "spawned future panicked");
}

// ---- wake-ups ----

/// A future whose first poll wakes its own waker and returns `Pending`: the
/// wake arrives before the park.
struct WakeInPoll(bool);

impl Future for WakeInPoll {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_wake_before_the_park_is_not_lost() {
    timed(|| {
        rt(1).block_on(|| {
            for _ in 0..100 {
                block_on(WakeInPoll(false));
            }
            // And with the waker taken along by a thread that wakes it at
            // once, racing the park.
            for _ in 0..100 {
                let m = Manual::default();
                let m2 = m.clone();
                let (fut, _) = OnPending::new(m.waiter(), move || {
                    let w = m2.waker();
                    m2.ready.store(true, SeqCst);
                    std::thread::spawn(move || w.wake());
                });
                assert_eq!(block_on(fut), 2);
            }
        })
    });
    // On a plain thread too.
    timed(|| block_on(WakeInPoll(false)));
}

#[test]
fn a_wake_after_the_park_readies_the_goroutine() {
    let polls = timed(|| {
        rt(1).block_on(|| {
            let m = Manual::default();
            let m2 = m.clone();
            let waiter = gort::go(move || block_on(m2.waiter()));
            // One P: the waiter has polled once and parked when this runs.
            yield_until("the waiter parks", || m.parked());
            assert!(!waiter.is_finished());
            m.ready.store(true, SeqCst);
            m.waker().wake();
            waiter.join().unwrap()
        })
    });
    assert_eq!(polls, 2);
}

#[test]
fn a_waker_called_twice_polls_once_more_and_later_waits_work() {
    let (polls, after) = timed(|| {
        rt(1).block_on(|| {
            let m = Manual::default();
            let m2 = m.clone();
            let (again_tx, again_rx) = oneshot::channel::<u32>();
            let waiter = gort::go(move || {
                let polls = block_on(m2.waiter());
                // A wake after `block_on` returned (below) must not disturb
                // the next wait.
                let after = block_on(again_rx).unwrap();
                (polls, after)
            });
            yield_until("the waiter parks", || m.parked());
            m.ready.store(true, SeqCst);
            let w = m.waker();
            w.wake_by_ref();
            w.wake_by_ref();
            // Both wakes land before the waiter runs again (one P).
            gort::yield_now();
            w.wake();
            gort::yield_now();
            again_tx.send(9).unwrap();
            waiter.join().unwrap()
        })
    });
    assert_eq!(polls, 2, "two wakes in a row cost one more poll");
    assert_eq!(after, 9);
}

#[test]
fn a_waker_called_twice_from_threads_wakes_a_plain_thread() {
    timed(|| {
        let m = Manual::default();
        let m2 = m.clone();
        let (fut, _) = OnPending::new(m.waiter(), move || {
            let w = m2.waker();
            m2.ready.store(true, SeqCst);
            let w2 = w.clone();
            std::thread::spawn(move || w.wake());
            std::thread::spawn(move || w2.wake());
        });
        assert!(block_on(fut) >= 2);
    });
}
