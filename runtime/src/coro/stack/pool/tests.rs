//! The pool's tests: layout, reuse, counters and memory release, across threads, with
//! coroutines running on the stacks; the scenarios that need a fresh process run in a child
//! (see `overflow::child`).

use corosensei::stack::Stack;
use corosensei::{Coroutine, CoroutineResult};

use super::super::map::page_size;
use super::super::{
    CACHE_BATCH, CACHE_STACKS, CHUNK_STACKS, DEFAULT_STACK_BYTES, HEADER_BYTES, MIN_STACK_BYTES,
};
use super::*;
use crate::coro::overflow::child::{child_mode, run_child};
use crate::coro::overflow::{self, find_guard_for_test};

/// The address ranges of `pool`'s chunks.
fn chunk_ranges(pool: &StackPool) -> Vec<(usize, usize)> {
    let global = pool.shared.global.lock();
    global
        .chunks
        .iter()
        .map(|chunk| (chunk.mapping.start, chunk.mapping.start + chunk.mapping.len))
        .collect()
}

/// Kernel mappings (lines of `/proc/self/maps`) that start inside one of `ranges`: a count
/// other threads' mmaps and munmaps elsewhere in the process cannot move.
fn maps_within(ranges: &[(usize, usize)]) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines()
        .filter_map(|line| line.split('-').next())
        .filter_map(|start| usize::from_str_radix(start, 16).ok())
        .filter(|&start| ranges.iter().any(|&(lo, hi)| (lo..hi).contains(&start)))
        .count()
}

/// Resident bytes of `pool`'s chunks, by `mincore`: immune to other tests' allocations.
fn resident_bytes(pool: &StackPool) -> usize {
    let page = page_size();
    let global = pool.shared.global.lock();
    let mut resident = 0;
    for chunk in &global.chunks {
        let mut vec = vec![0u8; chunk.mapping.len / page];
        let addr = chunk.mapping.start as *mut libc::c_void;
        // SAFETY: the range is one of the pool's live mappings and `vec` has one byte per
        // page of it; mincore only writes into `vec`.
        let rc = unsafe { libc::mincore(addr, chunk.mapping.len, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        resident += vec.iter().filter(|&&b| b & 1 != 0).count() * page;
    }
    resident
}

/// Bytes of `stack` ever written, found as the lowest non-zero word of a fresh stack.
fn high_water(stack: &PooledStack, geometry: &Geometry) -> usize {
    let low = stack.limit.get() + geometry.guard;
    let len = stack.base.get() - low;
    // SAFETY: `low..base` is the usable part of a stack this test owns; no coroutine runs
    // on it now, and reading never-touched anonymous pages yields zeros.
    let words = unsafe { std::slice::from_raw_parts(low as *const u64, len / 8) };
    let first = words.iter().position(|&w| w != 0).unwrap_or(words.len());
    len - first * 8
}

#[test]
fn stack_bounds_are_aligned_and_inside_a_guarded_slot() {
    let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
    let stack = pool.get().expect("stack");
    let (base, limit) = (stack.base().get(), stack.limit().get());
    assert_eq!(limit % page_size(), 0);
    assert_eq!(base % corosensei::stack::STACK_ALIGNMENT, 0);
    assert_eq!(
        base - limit,
        page_size() + DEFAULT_STACK_BYTES - HEADER_BYTES
    );
    assert_eq!(pool.stack_size(), DEFAULT_STACK_BYTES);
    pool.put(stack);
}

#[test]
fn hundred_thousand_live_stacks_share_few_mappings() {
    const N: usize = 100_000;
    let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
    assert_eq!(
        pool.guard_kind(),
        GuardKind::Madvise,
        "this kernel has MADV_GUARD_INSTALL"
    );
    let mut stacks = Vec::with_capacity(N);
    for i in 0..N {
        let mut stack = pool.get().expect("stack");
        // Touch the stack near its top: the owner word sits just above `base`.
        stack.set_owner(i as u64 + 1);
        stacks.push(stack);
    }
    let ranges = chunk_ranges(&pool);
    let (maps, rss) = (maps_within(&ranges), resident_bytes(&pool));
    assert_eq!(pool.live(), N);
    assert!(pool.allocated() >= N && pool.allocated() < N + CHUNK_STACKS);
    assert_eq!(
        pool.reserved_bytes(),
        pool.allocated() / CHUNK_STACKS * (CHUNK_STACKS * (DEFAULT_STACK_BYTES + page_size()))
    );
    let rss_per_stack = rss / N;
    eprintln!(
        "{N} live stacks: {maps} kernel mappings over {} chunks, \
         resident {} MiB ({rss_per_stack} bytes per touched stack), reserved {} GiB",
        ranges.len(),
        rss >> 20,
        pool.reserved_bytes() >> 30,
    );
    assert!(
        maps <= ranges.len(),
        "{maps} kernel mappings for {N} stacks in {} chunks",
        ranges.len()
    );
    assert!(rss_per_stack >= page_size(), "every stack was touched");
    assert!(
        rss_per_stack < 2 * page_size(),
        "{rss_per_stack} bytes of RSS per stack"
    );
    for (i, stack) in stacks.iter().enumerate() {
        assert_eq!(stack.owner(), i as u64 + 1);
    }

    for stack in stacks.drain(..) {
        pool.put(stack);
    }
    let pending = pool.pending();
    assert!(
        pending >= N - DEFAULT_RETAINED_STACKS - CACHE_STACKS,
        "{pending} stacks pending release"
    );
    assert_eq!(pool.released(), 0, "puts leave the release to scavenge");
    assert_eq!(pool.scavenge(usize::MAX), pending);
    assert_eq!(pool.pending(), 0);
    let kept = resident_bytes(&pool);
    eprintln!(
        "after returning them: resident {} KiB, {} stacks released",
        kept >> 10,
        pool.released()
    );
    assert_eq!(pool.live(), 0);
    assert!(pool.released() >= N - DEFAULT_RETAINED_STACKS - CACHE_STACKS);
    let warm = (DEFAULT_RETAINED_STACKS + CACHE_STACKS) * page_size();
    assert!(
        kept <= warm,
        "{kept} bytes still resident after release; at most {warm} expected"
    );
    drop(pool);
    // Another test may map into the freed range at once; a few of its mappings may show.
    let left = maps_within(&ranges);
    assert!(
        left <= 50,
        "dropping the pool unmaps its chunks ({left} mappings left of {maps})"
    );
}

#[test]
fn get_put_cycles_reuse_stacks() {
    let pool = StackPool::new(MIN_STACK_BYTES).expect("pool");
    let mut held = Vec::new();
    for round in 0..200 {
        for _ in 0..(round % 100) {
            held.push(pool.get().expect("stack"));
        }
        for stack in held.drain(..) {
            pool.put(stack);
        }
    }
    assert_eq!(
        pool.allocated(),
        CHUNK_STACKS,
        "one chunk serves every cycle"
    );
    assert_eq!(pool.live(), 0);
    assert_eq!(pool.released(), 0, "nothing beyond the retention was freed");
}

#[test]
fn stacks_move_between_threads_and_exiting_threads_return_their_cache() {
    let pool = Arc::new(StackPool::new(MIN_STACK_BYTES).expect("pool"));
    for _ in 0..50 {
        let getter = Arc::clone(&pool);
        let stacks = std::thread::spawn(move || {
            (0..40)
                .map(|_| getter.get().expect("stack"))
                .collect::<Vec<_>>()
        })
        .join()
        .expect("getter thread");
        assert_eq!(pool.live(), 40);
        let putter = Arc::clone(&pool);
        std::thread::spawn(move || stacks.into_iter().for_each(|s| putter.put(s)))
            .join()
            .expect("putter thread");
        assert_eq!(pool.live(), 0);
    }
    assert_eq!(
        pool.allocated(),
        CHUNK_STACKS,
        "exited threads gave their caches back"
    );
}

#[test]
fn counters_track_live_allocated_and_reserved() {
    let pool = StackPool::with_options(100_000, 0, GuardKind::detect()).expect("pool");
    assert_eq!(
        (pool.live(), pool.allocated(), pool.reserved_bytes()),
        (0, 0, 0)
    );
    let stacks: Vec<_> = (0..3).map(|_| pool.get().expect("stack")).collect();
    let size = 100_000usize.next_multiple_of(page_size());
    assert_eq!((pool.live(), pool.allocated()), (3, CHUNK_STACKS));
    assert_eq!(pool.reserved_bytes(), CHUNK_STACKS * (size + page_size()));
    stacks.into_iter().for_each(|s| pool.put(s));
    assert_eq!(pool.live(), 0);
    // Retention 0: spilling a cache releases what it spills.
    let stacks: Vec<_> = (0..CACHE_STACKS + 1)
        .map(|_| pool.get().expect("stack"))
        .collect();
    stacks.into_iter().for_each(|s| pool.put(s));
    assert_eq!((pool.pending(), pool.released()), (CACHE_BATCH, 0));
    assert_eq!(pool.scavenge(1), 1);
    assert_eq!(pool.scavenge(usize::MAX), CACHE_BATCH - 1);
    assert_eq!((pool.pending(), pool.released()), (0, CACHE_BATCH));
    assert_eq!(pool.scavenge(usize::MAX), 0, "nothing left to release");
}

#[test]
fn pending_stacks_are_reused_before_released_ones() {
    // Retention 0: every stack given back goes to the pending list. The global lists are
    // driven directly (slots, not handles), so no thread cache reorders what comes back.
    let pool = StackPool::with_options(MIN_STACK_BYTES, 0, GuardKind::detect()).expect("pool");
    let shared = &pool.shared;
    // Hold the whole fresh chunk, so the lists start empty.
    let mut held = Vec::new();
    shared.take(&mut held, CHUNK_STACKS).expect("a chunk");
    assert_eq!(held.len(), CHUNK_STACKS);
    let mut slots = held.split_off(CHUNK_STACKS - 8);
    for &slot in &slots {
        shared.geometry.stack_of(slot, shared.id).set_owner(5);
    }
    shared.give_back(&slots);
    assert_eq!((pool.pending(), pool.released()), (8, 0));
    // The four given back last are released; the other four stay committed.
    assert_eq!(pool.scavenge(4), 4);
    assert_eq!((pool.pending(), pool.released()), (4, 4));
    let owner = |slot: &usize| shared.geometry.stack_of(*slot, shared.id).owner();
    let mut again = Vec::new();
    shared.take(&mut again, 4).expect("free stacks");
    assert!(
        again.iter().all(|s| owner(s) == 5),
        "committed stacks come back first, headers intact"
    );
    assert_eq!(pool.pending(), 0);
    let mut rest = Vec::new();
    shared.take(&mut rest, 4).expect("free stacks");
    assert!(
        rest.iter().all(|s| owner(s) == 0),
        "then the released ones, which read back as zeros"
    );
    again.extend(rest);
    again.sort_unstable();
    slots.sort_unstable();
    assert_eq!(again, slots, "the same eight stacks");
    shared.give_back(&slots);
    shared.give_back(&held);
}

#[test]
#[should_panic(expected = "did not carve it")]
fn put_of_a_foreign_stack_panics() {
    let a = StackPool::new(MIN_STACK_BYTES).expect("pool a");
    let b = StackPool::new(MIN_STACK_BYTES).expect("pool b");
    let stack = a.get().expect("stack");
    b.put(stack);
}

#[test]
fn coroutines_run_on_pooled_stacks_and_give_them_back() {
    let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
    for i in 0..1_000u64 {
        let mut stack = pool.get().expect("stack");
        stack.set_owner(i);
        let mut co = Coroutine::with_stack(stack, move |y, x: u64| {
            let z = y.suspend(x + 1);
            z * 2
        });
        assert!(matches!(co.resume(i), CoroutineResult::Yield(v) if v == i + 1));
        assert!(matches!(co.resume(5), CoroutineResult::Return(10)));
        let stack = co.into_stack();
        assert_eq!(stack.owner(), i);
        pool.put(stack);
    }
    assert_eq!(pool.allocated(), CHUNK_STACKS);
    assert_eq!(pool.live(), 0);
}

#[test]
fn mprotect_guards_cost_two_mappings_per_stack() {
    let pool = StackPool::with_options(MIN_STACK_BYTES, 16, GuardKind::Mprotect).expect("pool");
    let stack = pool.get().expect("stack");
    let ranges = chunk_ranges(&pool);
    assert_eq!(ranges.len(), 1, "one chunk carved");
    let maps = maps_within(&ranges);
    assert!(
        maps >= 2 * CHUNK_STACKS - 1,
        "only {maps} mappings for {CHUNK_STACKS} mprotect guards"
    );
    pool.put(stack);
}

/// Runs a coroutine that panics under the default hook; returns its stack high-water mark.
fn panic_in_a_coroutine() -> usize {
    let pool = StackPool::new(DEFAULT_STACK_BYTES).expect("pool");
    let stack = pool.get().expect("stack");
    let geometry = pool.shared.geometry;
    // Caught on the coroutine's own stack, as a goroutine's root catches it; the switches
    // are announced to ASan in sanitized builds, where the unwinding needs them.
    let (caught, stack) = crate::coro::sanitizer::run_to_end(stack, || {
        std::panic::catch_unwind(|| panic!("a goroutine panicked on purpose"))
    });
    let payload = caught.expect_err("the panic was caught");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"a goroutine panicked on purpose")
    );
    let used = high_water(&stack, &geometry);
    pool.put(stack);
    used
}

#[test]
fn default_panic_hook_fits_in_a_default_stack() {
    if child_mode().is_some() {
        overflow::install();
        overflow::try_ensure_altstack().expect("alternate signal stack");
        println!("high-water {}", panic_in_a_coroutine());
        return;
    }
    let used = panic_in_a_coroutine();
    eprintln!(
        "panic with the default hook used {used} bytes of a {DEFAULT_STACK_BYTES}-byte stack"
    );
    assert!(
        used > 1024 && used < DEFAULT_STACK_BYTES / 2,
        "{used} bytes"
    );
    // With a symbolised backtrace, the hook's deepest path, in a fresh process.
    let out = run_child(
        module_path!(),
        "default_panic_hook_fits_in_a_default_stack",
        "panic",
        &[("RUST_BACKTRACE", "full")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child {:?}:\n{stderr}", out.status);
    assert!(
        stderr.contains("a goroutine panicked on purpose"),
        "{stderr}"
    );
    assert!(stderr.contains("stack backtrace:"), "{stderr}");
    let used: usize = stdout
        .lines()
        .find_map(|l| l.split_once("high-water ").map(|(_, n)| n))
        .and_then(|n| n.trim().parse().ok())
        .expect("the child's high-water line");
    eprintln!(
        "panic with RUST_BACKTRACE=full used {used} bytes of a {DEFAULT_STACK_BYTES}-byte stack"
    );
    assert!(used < DEFAULT_STACK_BYTES - 4096, "{used} bytes");
}

#[test]
fn pool_is_send_and_sync_and_stacks_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<StackPool>();
    send::<PooledStack>();
}

#[test]
fn dropping_the_pool_unmaps_and_unregisters_its_chunks() {
    // In a child, so no other test maps memory into the freed range before the check.
    if child_mode().is_some() {
        let pool = StackPool::new(MIN_STACK_BYTES).expect("pool");
        let stacks: Vec<_> = (0..CHUNK_STACKS + 1)
            .map(|_| pool.get().expect("stack"))
            .collect();
        stacks.into_iter().for_each(|s| pool.put(s));
        let chunks: Vec<(usize, usize)> = pool
            .shared
            .global
            .lock()
            .chunks
            .iter()
            .map(|c| (c.mapping.start, c.mapping.len))
            .collect();
        assert_eq!(chunks.len(), 2);
        drop(pool);
        let mut vec = vec![0u8; chunks[0].1 / page_size()];
        for (start, len) in chunks {
            // SAFETY: mincore only inspects the range and writes one byte per page into
            // `vec`, which is large enough; an unmapped range makes it fail with ENOMEM.
            let rc = unsafe { libc::mincore(start as *mut libc::c_void, len, vec.as_mut_ptr()) };
            let errno = io::Error::last_os_error().raw_os_error();
            assert!(
                rc == -1 && errno == Some(libc::ENOMEM),
                "chunk at {start:#x} is still mapped"
            );
            assert!(
                find_guard_for_test(start).is_none(),
                "chunk at {start:#x} is still registered"
            );
        }
        return;
    }
    let out = run_child(
        module_path!(),
        "dropping_the_pool_unmaps_and_unregisters_its_chunks",
        "unmap",
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

/// Recurses until the stack overflows.
fn recurse_forever(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse_forever(depth + 1).wrapping_add(frame[(depth % 32) as usize])
}

/// In a child: three neighbouring stacks of `mode`'s guard kind are released in one run
/// (which spans the two upper stacks' guards), then the middle one overflows.
fn released_run_child(mode: &str) -> ! {
    let guard = if mode == "mprotect" {
        GuardKind::Mprotect
    } else {
        GuardKind::Madvise
    };
    overflow::install();
    overflow::try_ensure_altstack().expect("alternate signal stack");
    let pool = StackPool::with_options(DEFAULT_STACK_BYTES, 0, guard).expect("pool");
    let mut stacks: Vec<PooledStack> = (0..3).map(|_| pool.get().expect("stack")).collect();
    stacks.sort_by_key(|s| s.limit);
    let stride = pool.shared.geometry.stride;
    let slots: Vec<usize> = stacks.iter().map(|s| s.limit.get()).collect();
    assert_eq!(
        (slots[1] - slots[0], slots[2] - slots[1]),
        (stride, stride),
        "a fresh chunk hands out neighbouring slots"
    );
    for s in &mut stacks {
        s.set_owner(1);
    }
    pool.shared.release(&slots);
    assert_eq!(pool.released(), 3);
    let mut middle = stacks.swap_remove(1);
    assert_eq!(middle.owner(), 0, "the release dropped the header's page");
    middle.set_owner(17);
    let mut co = Coroutine::<(), (), u64, _>::with_stack(middle, |_, ()| recurse_forever(0));
    let _ = co.resume(());
    eprintln!("the unbounded recursion returned");
    std::process::exit(3)
}

/// Releasing neighbouring free stacks with one `madvise` over the run keeps the guard pages
/// inside the run: a later overflow on such a stack still faults and is reported.
#[test]
fn guards_survive_the_release_of_a_run_of_stacks() {
    if let Some(mode) = child_mode() {
        released_run_child(&mode);
    }
    for mode in ["madvise", "mprotect"] {
        let out = run_child(
            module_path!(),
            "guards_survive_the_release_of_a_run_of_stacks",
            mode,
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{mode}: child status {:?}, stderr:\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("runtime: goroutine stack exceeds 262144-byte limit\n")
                && stderr.contains("goroutine 17 [running]:"),
            "{mode}: stderr:\n{stderr}"
        );
    }
}

#[test]
fn idle_threads_commit_stacks_ahead_during_a_burst_only() {
    use super::super::global::{PREWARM_AFTER, PREWARM_RESERVE};
    let pool = StackPool::with_options(MIN_STACK_BYTES, 0, GuardKind::detect()).expect("pool");
    let shared = &pool.shared;
    assert_eq!(pool.prewarm(16), 0, "no burst in a new pool");
    // A program with a few hundred goroutines never starts a burst.
    let mut held = Vec::new();
    shared.take(&mut held, 300).expect("stacks");
    assert_eq!(pool.prewarm(16), 0, "no burst below {PREWARM_AFTER} stacks");
    // Past that, a getter that finds no committed stack starts one.
    while pool.allocated() < PREWARM_AFTER {
        shared.take(&mut held, CHUNK_STACKS).expect("stacks");
    }
    shared.take(&mut held, 1).expect("a stack");
    let before = resident_bytes(&pool);
    assert_eq!(pool.prewarm(16), 16);
    assert_eq!(
        resident_bytes(&pool) - before,
        16 * page_size(),
        "one committed page per stack warmed"
    );
    assert_eq!(pool.prewarmed(), 16);
    // The getter takes the warmed stacks first: using them commits nothing more.
    let mut got = Vec::new();
    shared.take(&mut got, 16).expect("stacks");
    let before = resident_bytes(&pool);
    for &slot in &got {
        shared.geometry.stack_of(slot, shared.id).set_owner(7);
    }
    assert_eq!(resident_bytes(&pool), before, "the taken stacks were warm");
    // The burst ends once the reserve is warm.
    let mut warmed = 0;
    loop {
        let n = pool.prewarm(64);
        if n == 0 {
            break;
        }
        warmed += n;
    }
    assert_eq!(warmed, PREWARM_RESERVE);
    assert_eq!(pool.prewarm(64), 0, "the burst is over");
    held.extend(got);
    shared.give_back(&held);
}

/// Whether the kernel faults on reading the byte at `addr`: a `write(2)` from it into a
/// pipe fails with `EFAULT` on a guard page, where a plain page (even one never touched)
/// reads as data.
fn faults(addr: usize, pipe: &[libc::c_int; 2]) -> bool {
    // SAFETY: write(2) reads one byte at `addr` in the kernel, which reports a fault as
    // EFAULT instead of raising a signal; the pipe is this test's.
    let rc = unsafe { libc::write(pipe[1], addr as *const libc::c_void, 1) };
    if rc == 1 {
        let mut b = 0u8;
        // SAFETY: reads back the byte just written, into a local.
        let _ = unsafe { libc::read(pipe[0], (&raw mut b).cast(), 1) };
        return false;
    }
    assert_eq!(
        io::Error::last_os_error().raw_os_error(),
        Some(libc::EFAULT)
    );
    true
}

#[test]
fn every_slot_of_a_chunk_has_its_guard_page() {
    // The guards of a chunk go in with one batched call where the kernel takes it, and one
    // call per slot otherwise: every slot must end up guarded either way.
    for kind in [GuardKind::detect(), GuardKind::Mprotect] {
        let pool = StackPool::with_options(DEFAULT_STACK_BYTES, 16, kind).expect("pool");
        let stack = pool.get().expect("stack");
        let geometry = pool.shared.geometry;
        let mut pipe = [0; 2];
        // SAFETY: pipe(2) fills the two descriptors.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        for (start, end) in chunk_ranges(&pool) {
            let slots = (end - start) / geometry.stride;
            assert_eq!(slots, geometry.per_chunk);
            for i in 0..slots {
                let slot = start + i * geometry.stride;
                assert!(
                    faults(slot, &pipe),
                    "{kind:?}: slot {i}'s guard page is readable"
                );
                assert!(
                    faults(slot + geometry.guard - 1, &pipe),
                    "{kind:?}: slot {i}'s guard page is readable at its top"
                );
                assert!(
                    !faults(slot + geometry.guard, &pipe),
                    "{kind:?}: slot {i}'s stack faults"
                );
            }
        }
        // SAFETY: the descriptors opened above.
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
        pool.put(stack);
    }
}
