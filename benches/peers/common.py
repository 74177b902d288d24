"""What the benchmark peers share: the model, the result and the command line.

simpy_peer.py and heapq_peer.py simulate dupsim's benchmark model 1 (see
README.md in this folder) in two different ways.  This module holds what
does not depend on how the simulation is written, so that the two peers
cannot drift apart: the model's constants and arrival rate, the JSON object a
peer prints (`result`) and the command line (`main`).  Standard library only.

The peers are run as scripts (`python3 benches/peers/<peer>.py`); Python then
puts this folder first on sys.path, so they can `import common`.
"""

import argparse
import json
import math
import resource
import sys

WORKERS = 200
WAIT_TIME_S = 20.0
VISIBILITY_TIMEOUT_S = 30.0
MEDIAN_S = 1.0
P99_S = 5.0
Z99 = 2.3263478740408408
MU = math.log(MEDIAN_S)
SIGMA = math.log(P99_S / MEDIAN_S) / Z99
UTILISATION = 0.75


def arrival_rate(workers=WORKERS, utilisation=UTILISATION):
    mean_service = math.exp(MU + SIGMA * SIGMA / 2.0)
    return utilisation * workers / mean_service


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def result(impl, *, messages, rate, seed, workers, visibility_timeout, sim_time_s, events,
           wall_s, deliveries, redeliveries, redeliveries_concurrent, effects,
           duplicate_effects, delete_stale, empty_receives, e2e, busy_s, last_send_s):
    """The JSON object a peer prints, from the counts of a finished run.

    `e2e` (send to first committed effect, one value a message) is sorted in
    place.  Peak RSS is read here, so call this right after the run.
    """
    e2e.sort()
    return {
        "impl": impl,
        "messages": messages,
        "rate": rate,
        "seed": seed,
        "workers": workers,
        "visibility_timeout_s": visibility_timeout,
        "sim_time_s": sim_time_s,
        "events": events,
        "wall_s": wall_s,
        "events_per_s": events / wall_s if wall_s > 0 else None,
        "messages_per_s_wall": messages / wall_s if wall_s > 0 else None,
        "deliveries": deliveries,
        "redeliveries": redeliveries,
        "redeliveries_concurrent": redeliveries_concurrent,
        "effects": effects,
        "duplicate_effects": duplicate_effects,
        "delete_stale": delete_stale,
        "e2e_p50_s": percentile(e2e, 0.50),
        "e2e_p99_s": percentile(e2e, 0.99),
        "empty_receives": empty_receives,
        # Busy time over the arrival window (the drain tail after the last
        # send is excluded, so small runs are not biased low).
        "utilisation": busy_s / (workers * last_send_s) if last_send_s > 0 else None,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(impl, simulate, doc, argv=None):
    """Parse the peers' command line, run `simulate` and print its result as JSON.

    `simulate(messages, seed, workers, visibility_timeout, utilisation)` returns
    a `result`; the first line of `doc` is the help text's description.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help="default %(default)s (the benchmark uses the default)")
    parser.add_argument("--visibility-timeout", type=float, default=VISIBILITY_TIMEOUT_S,
                        help="seconds, default %(default)s; lower it to exercise duplicates")
    parser.add_argument("--utilisation", type=float, default=UTILISATION,
                        help="target utilisation that sets the rate, default %(default)s")
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be >= 1")
    rate = arrival_rate(args.workers, args.utilisation)
    print(f"{impl} peer: {args.messages} messages, rate {rate:.6f} msg/s", file=sys.stderr)
    print(json.dumps(simulate(args.messages, args.seed, args.workers, args.visibility_timeout,
                              args.utilisation)))
