use std::time::Duration;

#[test]
fn basic() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let v = rt.block_on(|| {
        assert_eq!(gort::goroutine_id(), Some(1));
        let h = gort::go(|| 40 + 2);
        h.join().unwrap()
    });
    assert_eq!(v, 42);
}

#[test]
fn chan_pingpong() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        let (tx2, rx2) = gort::chan::<u32>(0);
        let h = gort::go(move || {
            for v in rx.iter() {
                tx2.send(v + 1).unwrap();
            }
        });
        for i in 0..10000 {
            tx.send(i).unwrap();
            assert_eq!(rx2.recv(), Some(i + 1));
        }
        drop(tx);
        h.join().unwrap();
    });
}

#[test]
fn pull_basic() {
    let rt = gort::Runtime::builder().procs(1).build().unwrap();
    rt.block_on(|| {
        let p = gort::iter::pull(|y: &mut dyn FnMut(u32) -> bool| {
            for i in 0..5 {
                if !y(i) {
                    return;
                }
            }
        });
        let v: Vec<u32> = p.collect();
        assert_eq!(v, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn sleep_and_spawn_many() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let hs: Vec<_> = (0..10000).map(|i| gort::go(move || i * 2)).collect();
        let s: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(s, 10000 * 9999);
        gort::sleep(Duration::from_millis(10));
    });
}

#[test]
#[should_panic(expected = "deadlock")]
fn deadlock() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let (_tx, rx) = gort::chan::<u32>(0);
        rx.recv();
    });
}
