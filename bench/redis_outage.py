"""A fleet through a Redis outage (scripts/bench.sh, section "redis-outage", not in the default run:
about a minute per run; writes target/bench/redis-outage.md). Prints figures; asserts nothing.

8 worker processes (tests/python/fleet/worker.py), each with its own ``timrest.Client`` at 95/s on
one Redis limiter, delete 1000 items against the emulator at 100/s. First a run with no outage
(the anchor), then ``--runs`` runs in which Redis is killed 2 s in and started again 1 s later
(``rate_limit_fallback="local"``). For each: the 60007 answers and the wall time, against the
targets of issue 25: at most 10 × 60007, and a wall time within 1.2 × the anchor plus the outage.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

from timrest.testing import Emulator

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/python/fleet"))
import deployments  # noqa: E402

OUTAGE = 1.0


def one_run(node: deployments.Node, outage: bool) -> tuple[int, float]:
    with Emulator(rate_limit=100.0, latency=0.05) as emu:
        gids = [emu.create_group("Public") for _ in range(100)]
        items = [(g, f"spammer{s}") for g in gids for s in range(10)]
        procs = deployments.start_fleet(emu.base_url, 8, items, rate_limit_url=f"redis://127.0.0.1:{node.port}/0",
                                        rate_limit_fallback="local")
        if outage:
            time.sleep(1.0 + 2.0)
            node.kill()
            time.sleep(OUTAGE)
            node.start()
        summaries = deployments.finish_fleet(procs)
        ok = sum(s["ok"] for s in summaries)
        if ok != len(items):
            print(f"  {len(items) - ok} items not ok: {[s['errors'] for s in summaries]}")
        refused = sum(1 for r in emu.requests() if r["error_code"] == 60007)
        return refused, max(s["elapsed"] for s in summaries)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="target/bench")
    args = ap.parse_args()
    node = deployments.Node(deployments.temp_folder())
    try:
        refused, anchor = one_run(node, outage=False)
        lines = ["| run | 60007 | wall time (s) | ratio to the anchor + outage |", "|---|---|---|---|",
                 f"| no outage (anchor) | {refused} | {anchor:.2f} | |"]
        print(f"anchor, no outage: {refused} × 60007, {anchor:.2f} s")
        bound = 1.2 * anchor + OUTAGE
        met = 0
        for i in range(args.runs):
            refused, wall = one_run(node, outage=True)
            ratio = wall / (anchor + OUTAGE)
            ok = refused <= 10 and wall <= bound
            met += ok
            print(f"run {i + 1}: Redis killed for {OUTAGE:.0f} s: {refused} × 60007, {wall:.2f} s "
                  f"({ratio:.2f} × anchor + outage; bound {bound:.2f} s) {'meets' if ok else 'misses'} the targets")
            lines.append(f"| outage {i + 1} | {refused} | {wall:.2f} | {ratio:.2f} |")
        print(f"{met} of {args.runs} runs met both targets")
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "redis-outage.md").write_text("\n".join(lines) + f"\n\n{met} of {args.runs} runs met both targets.\n")
    finally:
        node.kill()


if __name__ == "__main__":
    main()
