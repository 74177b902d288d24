#!/usr/bin/env python3
"""The measuring and reporting half of scripts/bench (issue 17).

scripts/bench (bash) builds the binaries and the SimPy venv, then runs

    python3 scripts/benchlib.py --bins BIN[,BIN...] --mode quick|full ...

which does the rest:

1. a deterministic pass, once per binary: every row at its size (also a
   warm-up), every row with `--set run.messages=1` (the model's fixed
   memory), and b1, b7, b8 at a tenth of their size (memory growth per
   finished message). `perf.peak_model_bytes` and `perf.peak_live_messages`
   are the run's own counts, not timings, so once is enough.
2. ROUNDS timed rounds: each round runs every row once with every binary
   (the binaries' order alternates between rounds), then the bare heap loop,
   the peers and the b3 sweep at 1 and 2 threads, so that load from other
   processes on the machine hits all of them alike.
3. a Markdown report of medians with their ranges (min-max), the ratios the
   goals of issue 17 are stated in, and the agreement check with the peers,
   written between the markers `<!-- bench:begin -->` and
   `<!-- bench:end -->` of the report file (everything outside them is kept;
   temp file + rename). Every run's output is kept in the raw-output
   folder, with all the figures in results.json.

Standard library only. Exit status: 0 ok, 1 error, 3 dupsim and the peers
DISAGREE (the report is still written). `run_rounds` and `summarise` are
also used by scripts/bench-ab.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
SCEN = "scenarios/bench"
HEAP_PENDING = 400  # about the number of events b1 holds pending on average


class Row:
    """One regime of issue 17: a scenario, its overrides and its sizes."""

    def __init__(self, key, label, scenario, full, quick, sets=(), growth=False, note=""):
        self.key, self.label, self.scenario = key, label, f"{SCEN}/{scenario}"
        self.full, self.quick, self.sets = full, quick, list(sets)
        self.growth, self.note = growth, note

    def messages(self, mode, override=0):
        """The row's size: full or quick, or OVERRIDE (b6: twice it) if given."""
        if override:
            return override * self.full // 1_000_000
        return self.quick if mode == "quick" else self.full


ROWS = [
    Row("b1", "b1-baseline (200 workers, load 0.75)", "b1-baseline.toml",
        1_000_000, 100_000, growth=True),
    Row("b2", "b2-faults (b1 + heartbeats, loss, crashes)", "b2-faults.toml",
        1_000_000, 100_000),
    Row("b5-200", "b5-workers, 200 workers (load 0.95)", "b5-workers.toml",
        1_000_000, 100_000),
    Row("b5-20k", "b5-workers, 20,000 workers (load 0.95)", "b5-workers.toml",
        1_000_000, 100_000, sets=["workers.count=20000", "producer.arrival.rate=14955"]),
    Row("b6", "b6-inflight (~750k in flight at full size)", "b6-inflight.toml",
        2_000_000, 200_000),
    Row("b7", "b7-long-vt (VT 12 h)", "b7-long-vt.toml", 1_000_000, 100_000, growth=True),
    Row("b8", "b8-pinned (poison messages, no DLQ)", "b8-pinned.toml",
        1_000_000, 100_000, growth=True),
    Row("b4", "b4-fanout (1 topic, 4 queues)", "b4-fanout.toml", 1_000_000, 100_000,
        note="ns/message divides by `sent`, the messages delivered to queues summed over "
             "the 4 queues: 3 per message published (a and b get all, created 70%, updated 30%)"),
]
ROW_KEYS = [r.key for r in ROWS]


def die(msg):
    print(f"bench: error: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def parse_json(text, where):
    """The JSON object in a command's stdout (the last one if there are stray lines)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        decoder, found, offset = json.JSONDecoder(), None, 0
        for line in text.splitlines(keepends=True):
            if line.startswith("{"):
                try:
                    found = decoder.raw_decode(text, offset)[0]
                except json.JSONDecodeError:
                    pass
            offset += len(line)
        if isinstance(found, dict):
            return found
        die(f"no JSON object in the output of {where}")


def run_json(cmd, out_dir=None, name=None):
    """Run CMD, return (its JSON output, the process's wall time in s).

    With OUT_DIR and NAME, stdout and stderr are kept as NAME.json, NAME.log.
    """
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    proc_s = time.perf_counter() - t0
    if out_dir and name:
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            f.write(p.stdout)
        with open(os.path.join(out_dir, name + ".log"), "w") as f:
            f.write(p.stderr)
    if p.returncode != 0:
        tail = "\n".join(p.stderr.splitlines()[-30:])
        die(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{tail}")
    return parse_json(p.stdout, " ".join(cmd)), proc_s


def run_rounds(jobs, rounds, on_run=None, alternate=()):
    """Interleaved repetitions: every round runs every job once, in turn.

    JOBS is a list of (key, thunk); a thunk runs the job once and returns a
    record (a dict). Keys listed together in one tuple of ALTERNATE are run
    in reverse order on odd rounds, so that none of them always goes first.
    Returns {key: [record per round]}.
    """
    results = {key: [] for key, _ in jobs}
    for r in range(rounds):
        order = list(jobs)
        if r % 2 == 1:
            for group in alternate:
                idx = [i for i, (k, _) in enumerate(order) if k in group]
                vals = [order[i] for i in idx][::-1]
                for i, v in zip(idx, vals):
                    order[i] = v
        for key, thunk in order:
            rec = thunk(r)
            results[key].append(rec)
            if on_run:
                on_run(r, key, rec)
    return results


def summarise(values):
    """(median, min, max) of a list of numbers."""
    v = sorted(values)
    return statistics.median(v), v[0], v[-1]


# ---------------------------------------------------------------- formatting

def si(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.{digits - 1}f}{unit}"
    return f"{x:.{digits}g}"


def mib(b):
    return "—" if b is None else f"{b / 2**20:.1f} MiB"


def med_range(values, fmt):
    if not values:
        return "—"
    m, lo, hi = summarise(values)
    return f"{fmt(m)} ({fmt(lo)}–{fmt(hi)})"


def ns(x):
    return f"{x:,.0f}"


def ratio_fmt(x):
    return f"{x:.2f}×"


def verdict(ok):
    return "**yes**" if ok else "**no**"


# ---------------------------------------------------------------- runs

def dupsim_record(d, proc_s, where):
    def get(*keys, default=None, required=True):
        x = d
        for k in keys:
            if not isinstance(x, dict) or k not in x:
                if required:
                    die(f"{where}: key {'.'.join(keys)} missing from the summary")
                return default
            x = x[k]
        return x

    sent = int(get("sent"))
    wall = float(get("perf", "wall_s"))
    return {
        "sent": sent,
        "events": int(get("events")),
        "wall_s": wall,
        "proc_s": proc_s,
        "ns_per_msg": wall / sent * 1e9 if sent else float("nan"),
        "events_per_s": float(get("perf", "events_per_s")),
        "rss": int(get("perf", "peak_rss_bytes")),
        # Deterministic counts (absent from binaries older than f0609c0).
        "model_bytes": get("perf", "peak_model_bytes", required=False),
        "live": get("perf", "peak_live_messages", required=False),
        "dups": get("duplicate_effects", required=False),
        "p50": get("e2e_latency_s", "p50", required=False),
    }


def dupsim_cmd(binary, row, messages):
    cmd = [binary, "run", row.scenario, "--json", "--set", f"run.messages={messages}"]
    for s in row.sets:
        cmd += ["--set", s]
    return cmd


def main():
    ap = argparse.ArgumentParser(description="scripts/bench's measuring half (see scripts/bench)")
    ap.add_argument("--bins", required=True, help="dupsim binaries, comma-separated")
    ap.add_argument("--compare", action="store_true", help="report per binary and ratios")
    ap.add_argument("--mode", choices=["quick", "full"], default="full")
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--rows", default=",".join(ROW_KEYS))
    ap.add_argument("--messages", type=int, default=0,
                    help="messages a row instead of the mode's (b6: twice as many)")
    ap.add_argument("--peers-python", default="", help="python with simpy; empty: no peers")
    ap.add_argument("--peer-messages", type=int, default=0)
    ap.add_argument("--heap-baseline", default="", help="heap_baseline binary; empty: skip")
    ap.add_argument("--sweep", action="store_true", help="time the b3 sweep at 1 and 2 threads")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--command", default="scripts/bench")
    a = ap.parse_args()

    bins = [b for b in a.bins.split(",") if b]
    if not bins:
        die("no binaries")
    for b in bins:
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            die(f"{b} is not an executable file")
    keys = [k for k in a.rows.split(",") if k]
    unknown = [k for k in keys if k not in ROW_KEYS]
    if unknown:
        die(f"unknown row(s) {', '.join(unknown)}; the rows are {', '.join(ROW_KEYS)}")
    rows = [r for r in ROWS if r.key in keys]
    if a.rounds < 1:
        die("--rounds must be at least 1")
    out = a.out_dir
    os.makedirs(out, exist_ok=True)
    mode = a.mode

    # ------------------------------------------------ deterministic pass
    det = {}  # (bin index, row key, "n" | "one" | "tenth") -> record
    for bi, b in enumerate(bins):
        for row in rows:
            n = row.messages(mode, a.messages)
            sizes = [("n", n), ("one", 1)] + ([("tenth", max(1, n // 10))] if row.growth else [])
            for tag, m in sizes:
                name = f"det-{bi}-{row.key}-{tag}"
                log(f"{name}: {b} {row.key} at {m:,} messages")
                d, proc_s = run_json(dupsim_cmd(b, row, m), out, name)
                det[(bi, row.key, tag)] = dupsim_record(d, proc_s, name)

    # ------------------------------------------------ timed rounds
    jobs = []

    def dupsim_job(bi, b, row):
        def thunk(r):
            name = f"r{r + 1}-{bi}-{row.key}"
            d, proc_s = run_json(dupsim_cmd(b, row, row.messages(mode, a.messages)), out, name)
            return dupsim_record(d, proc_s, name)
        return thunk

    alternate = []
    for row in rows:
        group = []
        for bi, b in enumerate(bins):
            jobs.append(((bi, row.key), dupsim_job(bi, b, row)))
            group.append((bi, row.key))
        alternate.append(tuple(group))

    b1_events = det[(0, "b1", "n")]["events"] if "b1" in keys else 0
    if a.heap_baseline and not b1_events:
        log("heap loop: skipped (it is compared with b1, which is not among the rows)")
    if a.heap_baseline and b1_events:
        def heap_thunk(r):
            d, proc_s = run_json([a.heap_baseline, str(b1_events), str(HEAP_PENDING)],
                                 out, f"r{r + 1}-heap_baseline")
            return {"pops": int(d["pops"]), "wall_s": float(d["wall_s"]),
                    "per_s": float(d["pops_per_s"]), "proc_s": proc_s}
        jobs.append(("heap", heap_thunk))

    peer_n = a.peer_messages or (ROWS[0].messages(mode, a.messages))
    if a.peers_python and "b1" not in keys:
        log("peers: skipped (they are compared with b1, which is not among the rows)")
    if a.peers_python and "b1" in keys:
        for peer in ("heapq", "simpy"):
            def peer_thunk(r, peer=peer):
                d, proc_s = run_json([a.peers_python, f"benches/peers/{peer}_peer.py",
                                      "--messages", str(peer_n)], out, f"r{r + 1}-{peer}")
                return {"impl": d["impl"], "messages": int(d["messages"]),
                        "events": int(d["events"]), "wall_s": float(d["wall_s"]),
                        "msgs_per_s": float(d["messages_per_s_wall"]),
                        "events_per_s": float(d["events_per_s"]),
                        "rss": int(d["peak_rss_bytes"]), "dups": int(d["duplicate_effects"]),
                        "p50": float(d["e2e_p50_s"]), "rate": float(d["rate"]),
                        "proc_s": proc_s}
            jobs.append((peer, peer_thunk))

    if a.sweep:
        if a.messages:
            sweep_n = max(100, a.messages // 10)
        else:
            sweep_n = 100_000 if mode == "full" else 10_000
        sweep_sets = ["--set", f"run.messages={sweep_n}"]
        for threads in (1, 2):
            def sweep_thunk(r, threads=threads):
                d = os.path.join(out, f"r{r + 1}-sweep-t{threads}")
                cmd = [bins[0], "sweep", f"{SCEN}/b3-sweep.toml", "--threads", str(threads),
                       "--out", d, *sweep_sets]
                t0 = time.perf_counter()
                with open(d + ".log", "w") as logf:
                    p = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT)
                wall = time.perf_counter() - t0
                if p.returncode != 0:
                    die(f"{' '.join(cmd)} failed (exit {p.returncode}); see {d}.log")
                return {"wall_s": wall}
            jobs.append((f"sweep-t{threads}", sweep_thunk))
        alternate.append(("sweep-t1", "sweep-t2"))

    def progress(r, key, rec):
        if isinstance(key, tuple):
            bi, key = key
            key = f"{chr(ord('A') + bi)}:{key}" if a.compare else key
        what = rec.get("ns_per_msg")
        shown = f"{what:,.0f} ns/message" if what is not None else f"{rec['wall_s']:.3f} s"
        log(f"round {r + 1}/{a.rounds}: {key}: {shown}")

    res = run_rounds(jobs, a.rounds, progress, alternate)

    def flat(key):
        if isinstance(key, tuple):
            return f"{chr(ord('A') + key[0])}:{':'.join(map(str, key[1:]))}"
        return key
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"bins": bins, "mode": mode, "rounds": a.rounds,
                   "deterministic": {flat(k): v for k, v in det.items()},
                   "timed": {flat(k): v for k, v in res.items()}}, f, indent=1)

    # Determinism: a timed run must count what the deterministic pass counted.
    warnings = []
    for bi in range(len(bins)):
        for row in rows:
            ev = {rec["events"] for rec in res[(bi, row.key)]}
            if ev != {det[(bi, row.key, "n")]["events"]}:
                warnings.append(f"{bins[bi]} {row.key}: the event count varies between runs "
                                f"({sorted(ev)}): the run is not deterministic")

    # ------------------------------------------------ report
    lines = []
    p = lines.append
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rustc = "unknown"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    p(f"_Written by `scripts/bench` between the `bench:begin` and `bench:end` markers; "
      f"the rest of this file is kept as it is._")
    p("")
    p(f"- date: {stamp}")
    size = f"{a.messages:,} messages a row" if a.messages else f"mode: {mode}"
    p(f"- command: `{a.command}` ({size}, {a.rounds} interleaved rounds)")
    p(f"- machine: {os.cpu_count()} CPUs, {cpu}; load average at the end {load}")
    p(f"- rustc: {rustc}")
    if a.peers_python and "simpy" in res:
        pv = subprocess.run([a.peers_python, "-c",
                             "import importlib.metadata as m, platform; "
                             "print(platform.python_version(), m.version('simpy'))"],
                            capture_output=True, text=True).stdout.split()
        if len(pv) == 2:
            p(f"- peers: Python {pv[0]}, SimPy {pv[1]}")
    if a.compare:
        for bi, b in enumerate(bins):
            p(f"- binary {chr(ord('A') + bi)}: `{b}`")
    p(f"- raw outputs: `{out}/`")
    p("")
    p("Each round runs every row once, in turn"
      + (" (the binaries in alternating order)" if a.compare else "")
      + "; figures are medians over the rounds with their range (min–max). "
      "ns/message = `perf.wall_s` / `sent` (the event loop only, not start-up); "
      "events/s = `perf.events_per_s`. "
      "**Bytes per live message** = (`perf.peak_model_bytes` of the run − "
      "`perf.peak_model_bytes` of the same scenario with `--set run.messages=1`) / "
      "`perf.peak_live_messages` of the run: the memory the run's growing structures hold "
      "at their largest, per message live (visible, delayed or in flight) at the peak, "
      "from the run's own count, not RSS. It and the growth per finished message are "
      "deterministic and come from one run.")
    p("")

    def bpl(bi, key):
        n, one = det[(bi, key, "n")], det[(bi, key, "one")]
        if n["model_bytes"] is None or one["model_bytes"] is None or not n["live"]:
            return None
        return (n["model_bytes"] - one["model_bytes"]) / n["live"]

    def growth(bi, key):
        if (bi, key, "tenth") not in det:
            return None
        n, t = det[(bi, key, "n")], det[(bi, key, "tenth")]
        if n["model_bytes"] is None or t["model_bytes"] is None or n["sent"] == t["sent"]:
            return None
        return (n["model_bytes"] - t["model_bytes"]) / (n["sent"] - t["sent"])

    def fmt_b(x):
        return "—" if x is None else f"{x:,.1f} B"

    def median_of(key, field, bi=0):
        return summarise([rec[field] for rec in res[(bi, key)]])[0]

    notes = [f"{r.key}: {r.note}" for r in rows if r.note]

    if not a.compare:
        p("## Regimes")
        p("")
        p("| row | regime | sent | events | ns/message | events/s | peak RSS | "
          "peak live messages | bytes per live message | growth per finished message |")
        p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            recs, d = res[(0, row.key)], det[(0, row.key, "n")]
            p(f"| {row.key} | {row.label} | {d['sent']:,} | {d['events']:,} | "
              f"{med_range([x['ns_per_msg'] for x in recs], ns)} | "
              f"{si(median_of(row.key, 'events_per_s'))} | "
              f"{mib(median_of(row.key, 'rss'))} | "
              f"{'—' if d['live'] is None else format(d['live'], ',')} | "
              f"{fmt_b(bpl(0, row.key))} | "
              f"{fmt_b(growth(0, row.key)) if row.growth else ''} |")
        p("")
        for n in notes:
            p(f"- {n}")
        p("- growth per finished message = (`perf.peak_model_bytes` at N − at N/10) / (0.9 N), "
          "for b1, b7 and b8.")
        if "b6" in keys and det[(0, "b6", "n")]["sent"] < 2_000_000:
            p(f"- {mode} mode at {det[(0, 'b6', 'n')]['sent']:,} messages for b6 (not 2M): "
              "b6 has fewer than 750k messages in flight; see its peak live messages.")
        p("")
    else:
        p("## Regimes, per binary")
        p("")
        head = "| row | sent | " + " | ".join(
            f"{chr(ord('A') + bi)} ns/message" for bi in range(len(bins)))
        head += " | " + " | ".join(f"{chr(ord('A') + bi)}/A" for bi in range(1, len(bins)))
        head += " | " + " | ".join(
            f"{chr(ord('A') + bi)} bytes/live msg" for bi in range(len(bins))) + " | events |"
        p(head)
        p("|---|---:|" + "---:|" * (2 * len(bins) + len(bins) - 1) + "---|")
        for row in rows:
            cells = [row.key, f"{det[(0, row.key, 'n')]['sent']:,}"]
            meds = []
            for bi in range(len(bins)):
                vals = [x["ns_per_msg"] for x in res[(bi, row.key)]]
                meds.append(summarise(vals)[0])
                cells.append(med_range(vals, ns))
            for bi in range(1, len(bins)):
                # The ratio of medians, and the range of the per-round ratios.
                per_round = [x["ns_per_msg"] / y["ns_per_msg"]
                             for x, y in zip(res[(bi, row.key)], res[(0, row.key)])]
                _, lo, hi = summarise(per_round)
                cells.append(f"{meds[bi] / meds[0]:.3f} ({lo:.3f}–{hi:.3f})")
            for bi in range(len(bins)):
                cells.append(fmt_b(bpl(bi, row.key)))
            evs = {det[(bi, row.key, "n")]["events"] for bi in range(len(bins))}
            cells.append("same" if len(evs) == 1 else
                         "differ: " + " / ".join(f"{det[(bi, row.key, 'n')]['events']:,}"
                                                 for bi in range(len(bins))))
            p("| " + " | ".join(cells) + " |")
        p("")
        p("X/A is the ratio of the medians of ns/message (below 1: X is faster), with the "
          "range of the per-round ratios. \"events\" says whether the binaries count the same "
          "events (the same results).")
        p("")
        for n in notes:
            p(f"- {n}")
        grow_rows = [row for row in rows if row.growth]
        if grow_rows:
            p("- growth per finished message = (`perf.peak_model_bytes` at N − at N/10) / (0.9 N): "
              + "; ".join(f"{row.key} " + ", ".join(
                  f"{chr(ord('A') + bi)} {fmt_b(growth(bi, row.key))}" for bi in range(len(bins)))
                  for row in grow_rows) + ".")
        p("")

    # ------------------------------------------------ goals
    MANY_LIVE = 10_000
    goals = []  # (goal, measure, value, met)

    def row_ratio(k_num, k_den, bi=0):
        num = [x["ns_per_msg"] for x in res[(bi, k_num)]]
        den = [x["ns_per_msg"] for x in res[(bi, k_den)]]
        per_round = [x / y for x, y in zip(num, den)]
        _, lo, hi = summarise(per_round)
        return summarise(num)[0] / summarise(den)[0], lo, hi

    if not a.compare:
        if "b5-20k" in keys and "b5-200" in keys:
            r, lo, hi = row_ratio("b5-20k", "b5-200")
            goals.append(("cost per message at 20,000 workers within 1.5x of 200 workers",
                          "ns/message b5-20k / b5-200", f"{r:.2f}× (rounds {lo:.2f}–{hi:.2f})",
                          r <= 1.5))
        if "b6" in keys and "b5-200" in keys:
            r, lo, hi = row_ratio("b6", "b5-200")
            live = det[(0, "b6", "n")]["live"]
            goals.append(("cost per message with ~750k in flight within 2x of b5 at 200 workers",
                          f"ns/message b6 / b5-200 (b6 peak live: "
                          f"{'—' if live is None else format(live, ',')})",
                          f"{r:.2f}× (rounds {lo:.2f}–{hi:.2f})", r <= 2.0))
        # Per live message only where many are live: with a few hundred, the
        # fixed capacity (workers, slots, the first 1,024-entry blocks, the
        # ring's slack) dominates, and the growth goal below is the measure.
        many = [row for row in rows
                if (det[(0, row.key, "n")]["live"] or 0) >= MANY_LIVE]
        bl = [(row.key, bpl(0, row.key)) for row in many]
        bl_known = [(k, v) for k, v in bl if v is not None]
        if bl_known:
            worst = max(bl_known, key=lambda kv: kv[1])
            goals.append((f"at most 100 B per live message (rows with {MANY_LIVE:,}+ live)",
                          f"bytes per live message, largest ({worst[0]})", fmt_b(worst[1]),
                          all(v <= 100 for _, v in bl_known)
                          and len(bl_known) == len(bl)))
        gr = [(row.key, growth(0, row.key)) for row in rows if row.growth]
        gr_known = [(k, v) for k, v in gr if v is not None]
        if gr_known:
            worst = max(gr_known, key=lambda kv: abs(kv[1]))
            goals.append(("no memory that grows with finished messages (about 0; here < 1 B)",
                          f"growth per finished message, largest ({worst[0]})",
                          f"{worst[1]:,.2f} B", all(abs(v) < 1 for _, v in gr_known)))
        if "heap" in res and "b1" in keys:
            hs = [x["per_s"] for x in res["heap"]]
            b1s = [x["events_per_s"] for x in res[(0, "b1")]]
            per_round = [x / y for x, y in zip(b1s, hs)]
            _, lo, hi = summarise(per_round)
            r = summarise(b1s)[0] / summarise(hs)[0]
            goals.append(("b1 at 80% or more of a bare heap loop of the same pending size",
                          "b1 events/s / bare heap pops/s", f"{r:.0%} (rounds {lo:.0%}–{hi:.0%})",
                          r >= 0.8))
        if "simpy" in res and "b1" in keys:
            b1m = [det[(0, "b1", "n")]["sent"] / x["wall_s"] for x in res[(0, "b1")]]
            sm = [x["msgs_per_s"] for x in res["simpy"]]
            per_round = [x / y for x, y in zip(b1m, sm)]
            _, lo, hi = summarise(per_round)
            r = summarise(b1m)[0] / summarise(sm)[0]
            goals.append(("100x or more the SimPy peer per message, in the same run",
                          "b1 messages/s / SimPy messages/s", f"{r:.0f}× (rounds {lo:.0f}–{hi:.0f})",
                          r >= 100))
        if goals:
            p("## Goals of issue 17")
            p("")
            p("| goal | measure | value | met |")
            p("|---|---|---:|---|")
            for g, m, v, ok in goals:
                p(f"| {g} | {m} | {v} | {verdict(ok)} |")
            p("")
            p("Ratios are ratios of medians; \"rounds\" is the range of the same ratio "
              "taken within each round.")
            p("")

    # ------------------------------------------------ heap baseline
    if "heap" in res:
        hs = [x["per_s"] for x in res["heap"]]
        p("## Bare heap loop")
        p("")
        p(f"`examples/heap_baseline.rs`: a `std::collections::BinaryHeap` of (time, seq, "
          f"24-byte payload) entries, {HEAP_PENDING} pending, {b1_events:,} pops (b1's event "
          f"count), one push of a random future time per pop: "
          f"{med_range(hs, si)} pops/s.")
        p("")

    # ------------------------------------------------ peers
    disagree = False
    if "simpy" in res:
        b1d = det[(0, "b1", "n")]
        b1_wall = [x["wall_s"] for x in res[(0, "b1")]]
        p("## dupsim vs peers (model of b1)")
        p("")
        if peer_n != b1d["sent"]:
            p(f"Peers ran {peer_n:,} messages, dupsim b1 {b1d['sent']:,}. The model is "
              "stationary, so per-message throughput is comparable across sizes.")
            p("")
        p("Only messages/s is like for like: each implementation counts events its own way "
          "(SimPy's count includes its internal events).")
        p("")
        p("| impl | messages | events | msgs/s | events/s | peak RSS | dupsim's msgs/s ratio |")
        p("|---|---:|---:|---:|---:|---:|---:|")
        b1_mps = [b1d["sent"] / w for w in b1_wall]
        p(f"| dupsim b1 | {b1d['sent']:,} | {b1d['events']:,} | {med_range(b1_mps, si)} | "
          f"{si(median_of('b1', 'events_per_s'))} | {mib(median_of('b1', 'rss'))} | |")
        peers = {}
        for name in ("simpy", "heapq"):
            recs = res[name]
            peers[name] = recs[0]
            mps = [x["msgs_per_s"] for x in recs]
            ratios = [x / y for x, y in zip(b1_mps, mps)]
            _, lo, hi = summarise(ratios)
            p(f"| {name} | {recs[0]['messages']:,} | {recs[0]['events']:,} | "
              f"{med_range(mps, si)} | {si(summarise([x['events_per_s'] for x in recs])[0])} | "
              f"{mib(summarise([x['rss'] for x in recs])[0])} | "
              f"{summarise(b1_mps)[0] / summarise(mps)[0]:.1f}× ({lo:.1f}–{hi:.1f}) |")
        p("")
        p(f"Model: λ = {peers['heapq']['rate']:.4f} msg/s (75 % utilisation of 200 workers, "
          "lognormal service median 1 s, p99 5 s).")
        p("")

        def dup_agree(x, nx, y, ny):
            # Poisson 3-sigma on the per-message duplicate rates (floor of one count).
            pooled = (x + y) / (nx + ny)
            se = math.sqrt(max(pooled, 1.0 / (nx + ny)) * (1.0 / nx + 1.0 / ny))
            return abs(x / nx - y / ny) <= 3 * se, abs(x / nx - y / ny), se

        p("Agreement: e2e p50 within 10 %; duplicate_effects per message within Poisson 3σ.")
        p("")
        p("| pair | e2e p50 | p50 rel. diff | dup/msg | dup check | verdict |")
        p("|---|---|---:|---|---|---|")
        ds = {"messages": b1d["sent"], "p50": float(b1d["p50"]), "dups": int(b1d["dups"])}
        pairs = [("dupsim", ds, "simpy", peers["simpy"]), ("dupsim", ds, "heapq", peers["heapq"]),
                 ("simpy", peers["simpy"], "heapq", peers["heapq"])]
        for an, x, bn, y in pairs:
            rel = abs(x["p50"] / y["p50"] - 1)
            dup_ok, diff, se = dup_agree(x["dups"], x["messages"], y["dups"], y["messages"])
            ok = rel <= 0.10 and dup_ok
            disagree |= not ok
            p(f"| {an} vs {bn} | {x['p50']:.4f} vs {y['p50']:.4f} | {rel:.1%} | "
              f"{x['dups'] / x['messages']:.2e} vs {y['dups'] / y['messages']:.2e} | "
              f"{'ok' if dup_ok else 'off'} (Δ={diff:.2e}, σ={se:.2e}) | "
              f"**{'AGREE' if ok else 'DISAGREE'}** |")
        p("")
    elif not a.compare:
        p("Peers: not run " + ("(b1 is not among the rows)." if a.peers_python
                               else "(`--no-peers`)."))
        p("")

    # ------------------------------------------------ sweep
    if "sweep-t1" in res:
        t1 = [x["wall_s"] for x in res["sweep-t1"]]
        t2 = [x["wall_s"] for x in res["sweep-t2"]]
        sp = [x / y for x, y in zip(t1, t2)]
        p("## Sweep (b3, 64 points, parallel speed-up)")
        p("")
        if sweep_n != 100_000:
            p(f"{sweep_n:,} messages a point instead of 100k.")
            p("")
        f3 = lambda x: f"{x:.3f}"
        p("| threads | wall s (process) | speed-up |")
        p("|---:|---:|---:|")
        p(f"| 1 | {med_range(t1, f3)} | 1.00 |")
        p(f"| 2 | {med_range(t2, f3)} | {summarise(t1)[0] / summarise(t2)[0]:.2f} "
          f"(rounds {min(sp):.2f}–{max(sp):.2f}) |")
        p("")

    for w in warnings:
        p(f"**Warning:** {w}")
        p("")

    block = "\n".join(lines).rstrip("\n")
    splice_report(a.report, block)
    print(block)
    log(f"wrote {a.report} (between the bench markers; raw outputs in {out}/)")
    for w in warnings:
        print(f"bench: warning: {w}", file=sys.stderr)
    if disagree:
        print("bench: DISAGREE: dupsim and the peers do not agree within sampling error "
              f"(see {a.report})", file=sys.stderr)
        sys.exit(3)


def splice_report(path, block, title="# dupsim benchmark"):
    """Write BLOCK between the bench markers of PATH, keeping the rest.

    Without markers, they go after the file's title (its first line, if it
    is a `# ` heading), else at the top; a missing file is created with
    TITLE. Written to a temporary file in the same folder, then renamed.
    """
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = title + "\n"
    framed = f"{BEGIN}\n{block}\n{END}"
    b, e = text.find(BEGIN), text.find(END)
    if b >= 0 and e > b:
        new = text[:b] + framed + text[e + len(END):]
    elif b >= 0 or e >= 0:
        die(f"{path} has one bench marker without the other (or in the wrong order); "
            f"fix it by hand: {BEGIN} ... {END}")
    else:
        first, nl, rest = text.partition("\n")
        if first.startswith("# "):
            rest = rest.lstrip("\n")
            new = first + "\n\n" + framed + ("\n\n" + rest if rest else "\n")
        else:
            new = framed + "\n\n" + text
    if not new.endswith("\n"):
        new += "\n"
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(new)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


if __name__ == "__main__":
    main()
