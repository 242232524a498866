"""Builds the gort-vs-Go table for scripts/bench-vs-go.

    report.py snapshot --criterion-dir DIR --since T --out FILE
        saves the criterion medians written since T (one round) as JSON
    report.py table --go-log FILE --gort-log FILE --crit-json FILE... [--write MD]
        prints one Markdown table and, with --write, puts it into the file
        between the bench-vs-go markers

The Go log is the output of `go test -bench` (any number of runs, pooled);
the gort log holds the mem_parked, parse and dump lines.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import sys

BEGIN = "<!-- bench-vs-go:begin -->"
END = "<!-- bench-vs-go:end -->"

# (operation, gort criterion full_id, Go benchmark name as printed by go test)
ROWS = [
    ("corosensei resume+suspend (the floor)", "switch/corosensei_resume_suspend", None),
    ("pull next() round trip, procs=1", "switch/pull_next/trace_off", "BenchmarkPullNext/trace=off"),
    ("pull next(), tracer compiled out", "switch/pull_next/no_trace_feature", "BenchmarkPullNext/trace=off"),
    ("pull next(), tracing on", "switch/pull_next/trace_on", "BenchmarkPullNext/trace=on"),
    ("pull next(), tracing on, gort without stacks", "switch/pull_next/trace_on_nostacks", "BenchmarkPullNext/trace=on"),
    ("pull next(), procs=2", "pull/next/procs2/trace_off", "BenchmarkPullNext/trace=off-2"),
    ("Pull create+next+stop", "pull/create_next_stop/trace_off", "BenchmarkPullCreateNextStop/trace=off"),
    ("Pull create+next+stop, tracing on", "pull/create_next_stop/trace_on", "BenchmarkPullCreateNextStop/trace=on"),
    ("spawn+join, procs=1", "spawn/spawn_join/procs1/trace_off", "BenchmarkSpawnWait/trace=off"),
    ("spawn+join, procs=2", "spawn/spawn_join/procs2/trace_off", "BenchmarkSpawnWait/trace=off-2"),
    ("spawn+join, procs=1, tracing on", "spawn/spawn_join/procs1/trace_on", "BenchmarkSpawnWait/trace=on"),
    ("spawn+join, procs=2, tracing on", "spawn/spawn_join/procs2/trace_on", "BenchmarkSpawnWait/trace=on-2"),
    ("unbuffered ping-pong, procs=1", "chan/pingpong_unbuffered/procs1/trace_off", "BenchmarkPingPong/trace=off"),
    ("unbuffered ping-pong, procs=2", "chan/pingpong_unbuffered/procs2/trace_off", "BenchmarkPingPong/trace=off-2"),
    ("unbuffered ping-pong, procs=1, tracing on", "chan/pingpong_unbuffered/procs1/trace_on", "BenchmarkPingPong/trace=on"),
    ("unbuffered ping-pong, procs=1, tracing on, gort without stacks", "chan/pingpong_unbuffered/procs1/trace_on_nostacks", "BenchmarkPingPong/trace=on"),
    ("unbuffered ping-pong, procs=2, tracing on", "chan/pingpong_unbuffered/procs2/trace_on", "BenchmarkPingPong/trace=on-2"),
    ("unbuffered ping-pong, procs=2, tracing on, gort without stacks", "chan/pingpong_unbuffered/procs2/trace_on_nostacks", "BenchmarkPingPong/trace=on-2"),
    ("yield/Gosched round trip, procs=1", "chan/yield_round_trip/procs1/trace_off", "BenchmarkGosched/trace=off"),
    ("select over two channels, one ready, procs=1", "select/ready_of_two/procs1", "BenchmarkSelectReady"),
    ("blocking select woken by a send, procs=1", "select/blocking_wake/procs1", "BenchmarkSelectBlocking"),
    ("blocking select woken by a send, procs=2", "select/blocking_wake/procs2", "BenchmarkSelectBlocking-2"),
    ("yield/Gosched round trip, procs=2", "chan/yield_round_trip/procs2/trace_off", "BenchmarkGosched/trace=off-2"),
    ("yield/Gosched round trip, procs=1, tracing on", "chan/yield_round_trip/procs1/trace_on", "BenchmarkGosched/trace=on"),
    ("yield/Gosched round trip, procs=1, tracing on, gort without stacks", "chan/yield_round_trip/procs1/trace_on_nostacks", "BenchmarkGosched/trace=on"),
    ("yield/Gosched round trip, procs=2, tracing on", "chan/yield_round_trip/procs2/trace_on", "BenchmarkGosched/trace=on-2"),
    ("yield/Gosched round trip, procs=2, tracing on, gort without stacks", "chan/yield_round_trip/procs2/trace_on_nostacks", "BenchmarkGosched/trace=on-2"),
]

GO_LINE = re.compile(r"^(Benchmark\S+)\s+\d+\s+([0-9.]+) ns/op(.*)$")


def parse_go(path):
    """name -> list of ns/op; plus the B/goroutine figures of MemParked."""
    times, mem = {}, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = GO_LINE.match(line.strip())
            if not m:
                continue
            name, ns, rest = m.group(1), float(m.group(2)), m.group(3)
            if name.startswith("BenchmarkMemParked"):
                mm = re.search(r"([-0-9.]+) B/goroutine", rest)
                if mm:
                    mem.append(float(mm.group(1)))
                continue
            times.setdefault(name, []).append(ns)
    return times, mem


def parse_criterion(root, since):
    """full_id -> (median ns, lower, upper) for results written since `since`."""
    out = {}
    if not os.path.isdir(root):
        return out
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        est_path = os.path.join(dirpath, "estimates.json")
        if os.path.getmtime(est_path) < since:
            continue
        try:
            with open(os.path.join(dirpath, "benchmark.json"), encoding="utf-8") as f:
                full_id = json.load(f)["full_id"]
            with open(est_path, encoding="utf-8") as f:
                med = json.load(f)["median"]
        except (OSError, KeyError, ValueError) as e:
            print(f"report.py: skipping {dirpath}: {e}", file=sys.stderr)
            continue
        ci = med["confidence_interval"]
        out[full_id] = (med["point_estimate"], ci["lower_bound"], ci["upper_bound"])
    return out


def parse_gort_mem(path):
    vals = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.search(r"bytes_per_goroutine=([-0-9.]+)", line)
            if m:
                vals.append(float(m.group(1)))
    return vals


def matches(path, pattern):
    """The matches of `pattern` at the start of each (stripped) line of a log."""
    rx = re.compile(pattern)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = rx.match(line.strip())
            if m:
                yield m


def parse_events(path):
    """parse/<id> -> (events, bytes) from the parse bench's own lines."""
    return {
        "parse/" + m.group(1): (int(m.group(2)), int(m.group(3)))
        for m in matches(path, r"parse/(\S+): events=(\d+) bytes=(\d+)")
    }


def parse_trace_stats(path):
    """bench id -> bytes per event of its trace session (last one printed)."""
    return {
        m.group(1): int(m.group(3)) / int(m.group(2))
        for m in matches(path, r"trace_stats: id=(\S+) events=(\d+) bytes=(\d+)")
        if int(m.group(2)) > 0
    }


def parse_dumps(path):
    """mode -> (gort seconds list, Go seconds list, outputs identical)."""
    out = {}
    for m in matches(path, r"dump: mode=(d[12]) gort=([0-9.]+) go=([0-9.]+) output=(\w+)"):
        g, o, same = out.setdefault(m.group(1), ([], [], True))
        g.append(float(m.group(2)))
        o.append(float(m.group(3)))
        out[m.group(1)] = (g, o, same and m.group(4) == "same")
    return out


def fmt_ns(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    if ns >= 100:
        return f"{ns:.0f} ns"
    return f"{ns:.1f} ns"


def fmt_spread(lo, hi, unit_fmt):
    return f"{unit_fmt(lo)}–{unit_fmt(hi)}"


def median_spread(vals):
    return statistics.median(vals), min(vals), max(vals)


def combine_rounds(rounds):
    """full_id -> (median, low, high) over rounds: one round keeps criterion's
    confidence interval; more give the median and min-max of the rounds'
    medians."""
    per = {}
    for r in rounds:
        for k, v in r.items():
            per.setdefault(k, []).append(v)
    out = {}
    for k, vs in per.items():
        if len(vs) == 1:
            out[k] = tuple(vs[0])
        else:
            meds = [v[0] for v in vs]
            out[k] = (statistics.median(meds), min(meds), max(meds))
    return out


def build_table(go_times, go_mem, crit, gort_mem, events, dumps, rounds, trace_stats=None):
    spread = "95% CI" if rounds == 1 else f"min–max of {rounds} rounds"
    lines = [
        f"| operation | gort median [{spread}] | Go median [min–max] | gort/Go |",
        "| --- | --- | --- | --- |",
    ]
    for op, gid, goname in ROWS:
        g = crit.get(gid)
        gv = go_times.get(goname) if goname else None
        if g is None and gv is None:
            continue
        gs = f"{fmt_ns(g[0])} [{fmt_spread(g[1], g[2], fmt_ns)}]" if g else "not run"
        if gv:
            med, lo, hi = median_spread(gv)
            gos = f"{fmt_ns(med)} [{fmt_spread(lo, hi, fmt_ns)}]"
        else:
            gos = "—" if goname is None else "not run"
        ratio = f"{g[0] / med:.2f}" if g and gv else "—"
        lines.append(f"| {op} | {gs} | {gos} | {ratio} |")
    lines.extend(derived_rows(crit, go_times, trace_stats))
    if gort_mem or go_mem:
        def fmt_b(v):
            return f"{v:.0f} B"
        gs = "not run"
        if gort_mem:
            m, lo, hi = median_spread(gort_mem)
            gs = f"{fmt_b(m)} [{fmt_b(lo)}–{fmt_b(hi)}]"
        gos = "not run"
        if go_mem:
            gm, glo, ghi = median_spread(go_mem)
            gos = f"{fmt_b(gm)} [{fmt_b(glo)}–{fmt_b(ghi)}]"
        ratio = f"{m / gm:.2f}" if gort_mem and go_mem and gm > 0 else "—"
        runs = max(len(gort_mem), len(go_mem))
        lines.append(f"| memory per parked goroutine (RSS, 100k parked; min–max of {runs} runs) | {gs} | {gos} | {ratio} |")
    for pid, label in (("parse/raw_reader", "raw reader"), ("parse/ordered_reader", "ordered Reader")):
        g = crit.get(pid)
        if g is None:
            continue
        ev, size = events.get(pid, (None, None))
        secs = g[0] / 1e9
        detail = f"{fmt_ns(g[0])} [{fmt_spread(g[1], g[2], fmt_ns)}]"
        if size:
            detail += f"; {size / secs / 1e6:.0f} MB/s"
        if ev:
            detail += f", {ev / secs / 1e6:.1f} M events/s"
        lines.append(f"| parse large.trace, {label} | {detail} | — | — |")
    for mode, label in (("d1", "gort-trace dump vs go tool trace -d=1"), ("d2", "gort-trace dump --raw vs go tool trace -d=2")):
        if mode not in dumps:
            continue
        g, o, same = dumps[mode]
        gm, glo, ghi = median_spread(g)
        om, olo, ohi = median_spread(o)
        note = "" if same else " (outputs differ: see the conformance tests)"
        lines.append(
            f"| large.trace end to end, {label}{note} | {fmt_ns(gm * 1e9)} [{fmt_ns(glo * 1e9)}–{fmt_ns(ghi * 1e9)}]"
            f" | {fmt_ns(om * 1e9)} [{fmt_ns(olo * 1e9)}–{fmt_ns(ohi * 1e9)}] | {gm / om:.2f} |"
        )
    return "\n".join(lines)


def derived_rows(crit, go_times, trace_stats):
    """Rows computed from the medians above: what tracing adds to one pull
    next() (the tracer's goal is at most a quarter of what Go's adds), the
    cost of one event and of one clock read (tracer's emit bench), trace
    bytes per event, and next() against the bare corosensei round trip."""
    rows = []
    ev = crit.get("tracing_on/go_switch_local")
    if ev:
        rows.append(f"| one traced event (GoSwitch: seqlock, statuses, clock, encoding; tracer emit bench) | {fmt_ns(ev[0])} [{fmt_spread(ev[1], ev[2], fmt_ns)}] | — | — |")
    clk = crit.get("baseline/rdtsc")
    if clk:
        rows.append(f"| one clock read (rdtsc), the floor of a timed event | {fmt_ns(clk[0])} [{fmt_spread(clk[1], clk[2], fmt_ns)}] | — | — |")
    for gid in ("switch/pull_next/trace_on", "chan/pingpong_unbuffered/procs1/trace_on", "spawn/spawn_join/procs1/trace_on"):
        if trace_stats and gid in trace_stats:
            rows.append(f"| trace bytes per event, `{gid}` session (tables and headers included) | {trace_stats[gid]:.2f} B | — | — |")
    off = crit.get("switch/pull_next/trace_off")
    goff = go_times.get("BenchmarkPullNext/trace=off")
    gon = go_times.get("BenchmarkPullNext/trace=on")
    go_add = statistics.median(gon) - statistics.median(goff) if goff and gon else None
    for gid, label in (("switch/pull_next/trace_on", ""), ("switch/pull_next/trace_on_nostacks", ", gort without stacks")):
        on = crit.get(gid)
        if not (off and on):
            continue
        add = on[0] - off[0]
        gos = fmt_ns(go_add) if go_add else "not run"
        ratio = f"{add / go_add:.2f}" if go_add else "—"
        rows.append(f"| added by tracing to one pull next() (tracing on − off{label}; two events) | {fmt_ns(add)} | {gos} | {ratio} |")
    floor = crit.get("switch/corosensei_resume_suspend")
    if off and floor:
        rows.append(f"| pull next() ÷ corosensei resume+suspend | {off[0] / floor[0]:.1f}× | — | — |")
    return rows


def write_block(path, stamp, notes, table):
    block = f"{BEGIN}\nLast run: {stamp}. {notes}\n\n{table}\n{END}"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    snap = sub.add_parser("snapshot")
    snap.add_argument("--criterion-dir", required=True)
    snap.add_argument("--since", type=float, required=True)
    snap.add_argument("--out", required=True)
    tab = sub.add_parser("table")
    tab.add_argument("--go-log", required=True)
    tab.add_argument("--gort-log", required=True)
    tab.add_argument("--crit-json", nargs="+", required=True)
    tab.add_argument("--notes", default="")
    tab.add_argument("--write", metavar="BENCHMARKS_MD")
    a = ap.parse_args()

    if a.cmd == "snapshot":
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(parse_criterion(a.criterion_dir, a.since), f)
        return

    rounds = []
    for path in a.crit_json:
        with open(path, encoding="utf-8") as f:
            rounds.append(json.load(f))
    go_times, go_mem = parse_go(a.go_log)
    crit = combine_rounds(rounds)
    gort_mem = parse_gort_mem(a.gort_log)
    events = parse_events(a.gort_log)
    table = build_table(go_times, go_mem, crit, gort_mem, events, parse_dumps(a.gort_log), len(rounds),
                        parse_trace_stats(a.gort_log))
    print(table)
    if a.notes:
        print()
        print(a.notes)
    if a.write:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        write_block(a.write, stamp, a.notes, table)


if __name__ == "__main__":
    main()
