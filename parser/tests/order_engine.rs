//! The ordering engine on hand-built traces: sequence numbers override
//! timestamps, switch and syscall expansions, held-back read errors, and
//! errors that read like Go's with their context.

use gort_parser::{ErrorKind, Event, EventKind, GoId, GoState, Reader, Transition};
use gort_tracer::wire::varint::write_uvarint;
use gort_tracer::wire::EventType as E;

const NO: u64 = u64::MAX;

/// One batch: header then payload.
fn batch(gen: u64, m: u64, time: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![1];
    for x in [gen, m, time, payload.len() as u64] {
        write_uvarint(&mut v, x);
    }
    v.extend_from_slice(payload);
    v
}

/// An event batch of thread `m`; each event is `(type, dt, args)`.
fn events(gen: u64, m: u64, time: u64, evs: &[(E, u64, &[u64])]) -> Vec<u8> {
    let mut p = Vec::new();
    for (t, dt, args) in evs {
        assert_eq!(t.arg_count(), args.len() + 1, "{}", t.name());
        p.push(*t as u8);
        write_uvarint(&mut p, *dt);
        for a in *args {
            write_uvarint(&mut p, *a);
        }
    }
    batch(gen, m, time, &p)
}

fn freq(gen: u64) -> Vec<u8> {
    let mut p = vec![E::Frequency as u8];
    write_uvarint(&mut p, 15_625_000);
    batch(gen, NO, 0, &p)
}

fn strings(gen: u64, s: &[(u64, &str)]) -> Vec<u8> {
    let mut p = vec![E::Strings as u8];
    for (id, text) in s {
        p.push(E::String as u8);
        write_uvarint(&mut p, *id);
        write_uvarint(&mut p, text.len() as u64);
        p.extend_from_slice(text.as_bytes());
    }
    batch(gen, NO, 0, &p)
}

fn trace(batches: &[Vec<u8>]) -> Vec<u8> {
    let mut v = b"go 1.23 trace\0\0\0".to_vec();
    for b in batches {
        v.extend_from_slice(b);
    }
    v
}

/// Every event (as text) and the error that ended the trace, if any.
fn read(data: &[u8]) -> (Vec<String>, Option<gort_parser::Error>) {
    let mut r = Reader::from_slice(data).expect("header");
    let mut out = Vec::new();
    loop {
        match r.read_event() {
            Ok(Some(ev)) => out.push(ev.to_string()),
            Ok(None) => return (out, None),
            Err(e) => {
                assert!(r.next().is_none(), "the reader is fused after an error");
                return (out, Some(e));
            }
        }
    }
}

fn events_of(data: &[u8]) -> Vec<Event<'_>> {
    Reader::from_slice(data)
        .expect("header")
        .map(|e| e.expect("valid trace"))
        .collect()
}

/// Thread 1 runs G1 on P0 (first-generation statuses).
fn running_g1() -> Vec<(E, u64, &'static [u64])> {
    vec![(E::ProcStatus, 1, &[0, 1]), (E::GoStatus, 1, &[1, 1, 2])]
}

#[test]
fn sequence_numbers_override_timestamps() {
    // M2's GoStart of G5 carries an earlier time than M1's GoCreate of G5.
    let mut m1 = running_g1();
    m1.push((E::GoCreate, 100, &[5, 0, 0]));
    let data = trace(&[
        freq(1),
        events(1, 1, 10, &m1),
        events(
            1,
            2,
            10,
            &[(E::ProcStatus, 1, &[1, 1]), (E::GoStart, 5, &[5, 1])],
        ),
    ]);
    let evs = events_of(&data);
    let kinds: Vec<String> = evs
        .iter()
        .filter_map(|e| e.state_transition())
        .map(|s| format!("{:?}", s.transition))
        .collect();
    let create = kinds
        .iter()
        .position(|k| k.contains("NotExist, to: Runnable"));
    let start = kinds
        .iter()
        .position(|k| k.contains("from: Runnable, to: Running"));
    assert!(create.is_some() && start.is_some(), "{kinds:?}");
    assert!(create < start, "{kinds:?}");
    assert!(evs.windows(2).all(|w| w[0].time() < w[1].time()));
    assert_eq!(evs.last().map(|e| e.kind()), Some(EventKind::Sync));
}

#[test]
fn go_switch_becomes_unblock_block_start() {
    let mut m1 = running_g1();
    m1.extend_from_slice(&[
        (E::GoCreateBlocked, 1, &[2, 0, 0]),
        (E::GoSwitch, 1, &[2, 1]),
        (E::GoSwitchDestroy, 1, &[1, 1]),
    ]);
    let data = trace(&[freq(1), events(1, 7, 100, &m1)]);
    let evs = events_of(&data);
    let tr: Vec<(i64, GoId, GoState, GoState, i64)> = evs
        .iter()
        .filter_map(|e| {
            let s = e.state_transition()?;
            match s.transition {
                Transition::Goroutine { id, from, to } => {
                    Some((e.goroutine().0, id, from, to, e.time()))
                }
                Transition::Proc { .. } => None,
            }
        })
        .collect();
    use GoState::*;
    // GoStatus of G1 and creation of G2 come first.
    let (t, u) = (tr[2].4, tr[5].4);
    assert_eq!(
        tr[2..],
        [
            (1, GoId(2), Waiting, Runnable, t),
            (1, GoId(1), Running, Waiting, t + 1),
            (-1, GoId(2), Runnable, Running, t + 2),
            (2, GoId(1), Waiting, Runnable, u),
            (2, GoId(2), Running, NotExist, u + 1),
            (-1, GoId(1), Runnable, Running, u + 2),
        ]
    );
}

#[test]
fn destroying_a_syscall_goroutine_with_a_p_steals_it_first() {
    let data = trace(&[
        freq(1),
        events(
            1,
            3,
            10,
            &[
                (E::ProcStatus, 1, &[0, 1]),
                (E::GoStatus, 1, &[1, 3, 2]),
                (E::GoSyscallBegin, 1, &[1, 0]),
                (E::GoDestroySyscall, 1, &[]),
            ],
        ),
    ]);
    let lines: Vec<String> = events_of(&data).iter().map(|e| e.to_string()).collect();
    assert!(lines[3].contains("Resource=Proc(0)") && lines[3].contains("Running->Idle"));
    assert!(lines[4].contains("GoID=1 Syscall->NotExist"), "{lines:?}");
}

#[test]
fn errors_read_like_go_with_context() {
    let data = trace(&[
        freq(1),
        strings(1, &[(1, "reason")]),
        events(
            1,
            7,
            10,
            &[(E::ProcStatus, 1, &[0, 1]), (E::GoStop, 1, &[1, 0])],
        ),
    ]);
    let (out, err) = read(&data);
    let err = err.expect("an error");
    assert_eq!(out.len(), 1);
    assert_eq!(err.kind(), ErrorKind::InvalidTransition);
    assert_eq!(err.generation(), Some(1));
    assert_eq!(err.thread(), Some(7));
    assert_eq!(err.event_name(), Some("GoStop"));
    assert_eq!(
        err.to_string(),
        "gen 1, M 7, event GoStop: expected a goroutine but didn't have one"
    );
}

#[test]
fn undefined_string_ids_are_reported() {
    let mut m1 = running_g1();
    m1.push((E::GoBlock, 1, &[9, 0]));
    let data = trace(&[freq(1), events(1, 7, 10, &m1)]);
    let err = read(&data).1.expect("an error");
    assert_eq!(err.kind(), ErrorKind::UnknownId);
    assert!(err
        .message()
        .contains("found invalid string ID 9 for event GoBlock"));
}

#[test]
fn unsatisfiable_sequences_stall() {
    let data = trace(&[
        freq(1),
        events(
            1,
            7,
            10,
            &[(E::ProcStatus, 1, &[0, 1]), (E::GoStart, 1, &[42, 1])],
        ),
    ]);
    let err = read(&data).1.expect("an error");
    assert_eq!(err.kind(), ErrorKind::Stalled);
    let msg = err.message();
    assert!(
        msg.starts_with("broken trace: failed to advance: frontier:\n[gen=1]"),
        "{msg}"
    );
    assert!(msg.contains("M 7 [GoStart time="), "{msg}");
    assert!(msg.contains(" g=42 g_seq=1]"), "{msg}");
}

#[test]
fn generation_checks() {
    let (_, err) = read(&trace(&[events(1, 7, 10, &[(E::ProcStatus, 1, &[0, 1])])]));
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::MissingFrequency));
    let (_, err) = read(&trace(&[freq(1)]));
    assert!(err
        .map(|e| e.message())
        .is_some_and(|m| m.starts_with("broken trace: frontier is empty")));
    let (_, err) = read(&trace(&[freq(2), freq(1)]));
    assert_eq!(
        err.map(|e| e.message()),
        Some("generations out of order".into())
    );
    let (_, err) = read(&trace(&[freq(1), freq(1)]));
    assert_eq!(
        err.map(|e| e.message()),
        Some("found multiple frequency events".into())
    );
    let err = Reader::from_slice(b"go 1.21 trace\0\0\0")
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedVersion(21));
    let err = Reader::from_slice(b"not a trace").map(|_| ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad file format: not a Go execution trace?"
    );
}

#[test]
fn a_truncated_next_generation_is_reported_after_the_complete_one() {
    let mut data = trace(&[
        freq(1),
        events(1, 7, 10, &[(E::ProcStatus, 1, &[0, 1])]),
        freq(2),
        events(2, 7, 20, &[(E::ProcStatus, 1, &[0, 1])]),
    ]);
    // A batch of generation 2 whose header promises more bytes than follow.
    data.extend_from_slice(&[1, 2, 7, 30, 50, 0x0b]);
    let (out, err) = read(&data);
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        out[1].contains(" Sync ") && out[3].contains(" Sync "),
        "{out:?}"
    );
    assert!(out[2].contains("Running->Running"), "{out:?}");
    let err = err.expect("the held-back error");
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert!(err
        .message()
        .contains("failed to read full batch: read 1 but wanted 50"));
}

#[test]
fn task_types_carry_across_generations() {
    let mut g1 = running_g1();
    g1.push((E::UserTaskBegin, 1, &[3, 0, 1, 0]));
    let g2: Vec<(E, u64, &[u64])> = vec![
        (E::ProcStatus, 1, &[0, 1]),
        (E::GoStatus, 1, &[1, 7, 2]),
        (E::UserTaskEnd, 1, &[3, 0]),
    ];
    let data = trace(&[
        freq(1),
        strings(1, &[(1, "mytask")]),
        events(1, 7, 10, &g1),
        freq(2),
        events(2, 7, 1000, &g2),
    ]);
    let evs = events_of(&data);
    let end = evs
        .iter()
        .find(|e| e.kind() == EventKind::TaskEnd)
        .expect("task end");
    let t = end.task().expect("task");
    assert_eq!((t.id.0, t.parent.0, t.kind), (3, u64::MAX, &b"mytask"[..]));
    assert!(
        end.to_string()
            .ends_with("TaskEnd Time=64192 ID=3 Parent=18446744073709551615 Type=\"mytask\""),
        "{end}"
    );
}

/// Runs the validator over `data` (which must read without error); the
/// problems it reports, one string per event.
fn validator_errors(data: &[u8]) -> Vec<String> {
    let mut v = gort_parser::Validator::new();
    events_of(data)
        .iter()
        .filter_map(|ev| v.event(ev).err().map(|e| e.message()))
        .collect()
}

#[test]
fn validator_accepts_a_clean_trace() {
    let mut m1 = running_g1();
    m1.extend_from_slice(&[(E::GoCreate, 1, &[2, 0, 0]), (E::GoStop, 1, &[0, 0])]);
    let data = trace(&[freq(1), events(1, 7, 10, &m1)]);
    assert_eq!(validator_errors(&data), Vec::<String>::new());
}

#[test]
fn validator_rejects_what_the_reader_lets_through() {
    // Task ID 0, an empty label, and a second goroutine marked running on a
    // thread that already runs one.
    let mut m1 = running_g1();
    m1.extend_from_slice(&[
        (E::UserTaskBegin, 1, &[0, 0, 1, 0]),
        (E::GoLabel, 1, &[0]),
        (E::GoStatus, 1, &[2, 7, 2]),
    ]);
    let data = trace(&[freq(1), strings(1, &[(1, "mytask")]), events(1, 7, 10, &m1)]);
    let errs = validator_errors(&data);
    assert_eq!(
        errs,
        [
            "found invalid task ID for task of type mytask",
            "invalid label \"\"",
            "tried to run goroutine 2 when one was already executing (1) on thread 7",
        ]
    );
}
