#!/usr/bin/env python3
"""Self-check of the benchmark peers: `python3 benches/peers/test_peers.py`.

Runs simpy_peer.py and heapq_peer.py as subprocesses (this also checks their
command line and JSON output) and asserts that they agree within sampling
error.  Different seeds are used for the two peers on purpose: the check is
statistical agreement, not identical random streams.

SimPy is looked for in: $PEERS_PYTHON, this interpreter, then
target/bench-venv/bin/python (made by scripts/bench).  Without it the SimPy
checks are skipped, with a message.
"""

import json
import math
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
N = 20_000


def _has_simpy(python):
    try:
        return subprocess.run([python, "-c", "import simpy"], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _simpy_python():
    candidates = [os.environ.get("PEERS_PYTHON"), sys.executable,
                  os.path.join(ROOT, "target", "bench-venv", "bin", "python")]
    for python in candidates:
        if python and os.path.exists(python) and _has_simpy(python):
            return python
    return None


SIMPY_PYTHON = _simpy_python()
_cache = {}


def run_peer(impl, messages, seed, *extra):
    key = (impl, messages, seed, extra)
    if key not in _cache:
        python = SIMPY_PYTHON if impl == "simpy" else sys.executable
        script = os.path.join(HERE, f"{impl}_peer.py")
        cmd = [python, script, "--messages", str(messages), "--seed", str(seed), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        _cache[key] = json.loads(proc.stdout)
    return _cache[key]


def rate_agrees(a, na, b, nb, sigmas=3.0):
    """|a/na - b/nb| within `sigmas` Poisson standard errors (at least one count)."""
    pooled = (a + b) / (na + nb)
    se = math.sqrt(max(pooled, 1.0 / (na + nb)) * (1.0 / na + 1.0 / nb))
    return abs(a / na - b / nb) <= sigmas * se


class InvariantsMixin:
    def check_invariants(self, r, n):
        self.assertEqual(r["messages"], n)
        self.assertEqual(r["effects"], n + r["duplicate_effects"])
        self.assertGreaterEqual(r["deliveries"], n)
        self.assertEqual(r["deliveries"], n + r["redeliveries"])
        self.assertGreater(r["events"], n)
        self.assertGreater(r["sim_time_s"], 0)
        self.assertGreater(r["peak_rss_bytes"], 0)
        self.assertAlmostEqual(r["rate"], 0.75 * 200 / math.exp((math.log(5) / 2.3263478740408408) ** 2 / 2))
        for key in ("impl", "messages", "rate", "sim_time_s", "events", "wall_s", "events_per_s",
                    "messages_per_s_wall", "deliveries", "redeliveries", "effects",
                    "duplicate_effects", "e2e_p50_s", "e2e_p99_s", "empty_receives",
                    "peak_rss_bytes"):
            self.assertIn(key, r)


class HeapqPeer(unittest.TestCase, InvariantsMixin):
    def test_baseline_invariants_and_utilisation(self):
        r = run_peer("heapq", N, 1)
        self.assertEqual(r["impl"], "heapq")
        self.check_invariants(r, N)
        self.assertAlmostEqual(r["utilisation"], 0.75, delta=0.03)
        # Lognormal median 1 s, p99 5 s; queueing at 75% with 200 servers is tiny.
        self.assertAlmostEqual(r["e2e_p50_s"], 1.0, delta=0.05)
        self.assertAlmostEqual(r["e2e_p99_s"], 5.0, delta=0.6)

    def test_deterministic_per_seed(self):
        a = run_peer("heapq", 2000, 5)
        b = run_peer("heapq", 2000, 5, "--workers", "200")
        for key in ("events", "sim_time_s", "deliveries", "e2e_p50_s", "e2e_p99_s"):
            self.assertEqual(a[key], b[key], key)


@unittest.skipIf(SIMPY_PYTHON is None,
                 "simpy not installed (pip install simpy, or run scripts/bench once)")
class PeersAgree(unittest.TestCase, InvariantsMixin):
    def test_baseline(self):
        s = run_peer("simpy", N, 1)
        h = run_peer("heapq", N, 2)
        self.assertEqual(s["impl"], "simpy")
        self.check_invariants(s, N)
        self.check_invariants(h, N)
        self.assertAlmostEqual(s["utilisation"], 0.75, delta=0.03)
        self.assertAlmostEqual(h["utilisation"], 0.75, delta=0.03)
        self.assertLess(abs(s["e2e_p50_s"] / h["e2e_p50_s"] - 1), 0.10)
        self.assertLess(abs(s["e2e_p99_s"] / h["e2e_p99_s"] - 1), 0.15)
        self.assertTrue(rate_agrees(s["duplicate_effects"], N, h["duplicate_effects"], N))

    def test_duplicates_with_short_visibility_timeout(self):
        # VT = 3 s: ~6% of processing times exceed it, so the redelivery,
        # stale-delete and duplicate-effect paths are exercised.
        s = run_peer("simpy", N, 3, "--visibility-timeout", "3")
        h = run_peer("heapq", N, 4, "--visibility-timeout", "3")
        for r in (s, h):
            self.check_invariants(r, N)
            self.assertGreater(r["duplicate_effects"], 0)
            self.assertEqual(r["delete_stale"], r["duplicate_effects"])
        self.assertTrue(rate_agrees(s["duplicate_effects"], N, h["duplicate_effects"], N),
                        (s["duplicate_effects"], h["duplicate_effects"]))
        self.assertTrue(rate_agrees(s["redeliveries"], N, h["redeliveries"], N))
        self.assertLess(abs(s["e2e_p50_s"] / h["e2e_p50_s"] - 1), 0.10)

    def test_empty_receives_at_low_load(self):
        # 1% utilisation: idle long polls time out after 20 s.
        n = 2000
        s = run_peer("simpy", n, 5, "--utilisation", "0.01")
        h = run_peer("heapq", n, 6, "--utilisation", "0.01")
        for r in (s, h):
            self.check_invariants_low(r, n)
        # Empty-receive counts are noisier (seed-to-seed spread about +-10%).
        self.assertLess(abs(s["empty_receives"] / h["empty_receives"] - 1), 0.25)

    def check_invariants_low(self, r, n):
        self.assertEqual(r["effects"], n + r["duplicate_effects"])
        self.assertGreater(r["empty_receives"], 0)
        self.assertAlmostEqual(r["utilisation"], 0.01, delta=0.002)


if __name__ == "__main__":
    if SIMPY_PYTHON is None:
        print("note: simpy not found; SimPy checks will be skipped", file=sys.stderr)
    unittest.main(verbosity=2)
