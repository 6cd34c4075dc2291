"""The fleet soak (issue 26): 8 worker processes, each with its own `timrest.Client` on one Redis
limiter, run `delete_many` and then `purge_sender` against one emulator at its quota, while the
emulator answers a share of requests with random faults (`fault_rate`), and Redis is restarted
every 60 s and frozen (SIGSTOP) for 3 s every 45 s. At the end it checks that nothing was lost or
done twice, and prints a table. Run by scripts/soak.sh (SOAK_SECS, default 600).

The emulator is `timrest.testing.Emulator` in this process: the same server as `timrest emulator`,
over real loopback HTTP, whose state this process can seed and read back directly (seeding over
REST at the quota would take longer than the soak).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

WORKERS = 8
QUOTA = 100.0  # the emulator's per-command rate limit
RATE = 95.0  # what the fleet shares through Redis
FAULT_RATE = 0.05
# Failures a batch may end an item with after its retries or deadline: what the docs call final
# for a fault of the chaos list, or a deadline reached. Anything else is a defect.
FINAL_KINDS = {"transport", "timeout", "rate_limited", "server"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    """Debian's redis-server on a free loopback port, persistence off; restarts keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.restarts = 0
        self.freezes = 0
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def restart(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.start()
        self.restarts += 1

    def freeze(self, seconds: float) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        self.proc.send_signal(signal.SIGCONT)
        self.freezes += 1

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def worker(job: dict[str, Any]) -> int:
    """One worker process: its items through delete_many, then its account through purge_sender;
    every outcome as a JSON line on its report, flushed as it finishes. Started again after a
    SIGINT, it resumes: it sends only the items its report does not show as ok."""
    import signal as signals

    import timrest

    signals.signal(signals.SIGINT, signals.default_int_handler)  # as in a terminal
    report = Path(job["report"])
    done = set()
    if report.exists():
        for line in report.read_text().splitlines():
            row = json.loads(line)
            if row.get("phase") == "delete_many" and row["ok"]:
                done.add(row["group_id"])

    client = timrest.Client(job["sdkappid"], secret_key=job["secret_key"], base_url=job["base_url"],
                            rate_limit=RATE, rate_limit_url=job["redis_url"], rate_limit_adaptive=False, max_retries=8,
                            deadline=60.0,
                            timeout=5.0)
    with open(job["report"], "a", encoding="utf-8") as out:
        def write(phase: str, item: Any) -> None:
            record = item.to_record()
            out.write(json.dumps({"phase": phase, "group_id": record["group_id"], "sender": record["sender"],
                                  "ok": record["ok"], "kind": record["kind"], "attempts": record["attempts"]}) + "\n")
            out.flush()

        batch = client.delete_many([(g, job["sender"]) for g in job["groups"] if g not in done], concurrency=16,
                                   keep_results=False, on_result=lambda item: write("delete_many", item))
        if batch.interrupted:
            return 130
        for attempt in range(5):
            try:
                client.purge_sender(job["account"], concurrency=16, on_result=lambda item: write("purge_sender", item))
                break
            except timrest.TimError as e:  # the listing failed past its retries: list again
                out.write(json.dumps({"phase": "purge_listing", "kind": e.kind, "attempt": attempt}) + "\n")
                out.flush()
    return 0


def seed_group(emu: Any, member: str) -> str:
    """A Public group where `member` posted spam and alice a greeting."""
    g: str = emu.create_group("Public", members=(member, "alice"))
    emu.send_group_msg(g, member, "spam")
    emu.send_group_msg(g, "alice", "hello")
    return g


def sample(pid: int) -> tuple[int, int]:
    """(RSS in kB, open file descriptors) of a process."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main() -> int:
    from timrest.testing import DEMO_SECRET_KEY, Emulator

    secs = float(os.environ.get("SOAK_SECS", "600"))
    work = Path(os.environ.get("SOAK_DIR", "target/soak"))
    work.mkdir(parents=True, exist_ok=True)
    # The fleet sends about RATE requests a second for delete_many (the busiest command), retries
    # included: size the items so that the run lasts about `secs`.
    per_worker = max(20, int(secs * RATE * 0.85 / WORKERS))
    purge_groups = max(5, per_worker // 10)
    started = time.monotonic()
    redis = Redis()
    emu = Emulator(rate_limit=None, admins=("administrator",))
    jobs: list[dict[str, Any]] = []
    for w in range(WORKERS):
        sender, account = f"spammer{w}", f"purged{w}"
        groups = [seed_group(emu, sender) for _ in range(per_worker)]
        joined = [seed_group(emu, account) for _ in range(purge_groups)]
        report = work / f"worker{w}.jsonl"
        report.unlink(missing_ok=True)
        jobs.append({"sdkappid": emu.sdkappid, "secret_key": DEMO_SECRET_KEY, "base_url": emu.base_url,
                     "redis_url": redis.url, "sender": sender, "groups": groups, "account": account,
                     "joined": joined, "report": str(report)})
    emu.set_rate_limit(QUOTA)
    emu.clear_requests()
    emu.set_fault_rate(FAULT_RATE)
    seeded = time.monotonic()

    procs = [subprocess.Popen([sys.executable, __file__, "worker", json.dumps(job)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for job in jobs]
    done = threading.Event()

    def chaos_on_redis() -> None:
        t0 = time.monotonic()
        next_restart, next_freeze = 60.0, 45.0
        while not done.wait(0.2):
            now = time.monotonic() - t0
            if now >= next_freeze:
                redis.freeze(3.0)
                next_freeze += 45.0
            if now >= next_restart:
                redis.restart()
                next_restart += 60.0

    samples: dict[int, list[tuple[float, int, int]]] = {p.pid: [] for p in procs}

    def watch() -> None:
        while not done.wait(2.0):
            for p in procs:
                if p.poll() is None:
                    try:
                        samples[p.pid].append((time.monotonic() - seeded, *sample(p.pid)))
                    except OSError:
                        pass

    threads = [threading.Thread(target=chaos_on_redis), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    errors = []
    # Ctrl-C for worker 0 a third of the way in; it writes what finished and stops (130), and is
    # started again to resume.
    time.sleep(secs / 3)
    interrupted = procs[0]
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=120)
    if interrupted.returncode != 130:
        errors.append(f"worker 0 after SIGINT exited {interrupted.returncode}, not 130: {err[-2000:]}")
    procs[0] = subprocess.Popen([sys.executable, __file__, "worker", json.dumps(jobs[0])], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    samples[procs[0].pid] = []
    for p in procs:
        _, err = p.communicate(timeout=secs * 4 + 600)
        if p.returncode != 0:
            errors.append(f"worker {p.pid} exited {p.returncode}: {err[-2000:]}")
    done.set()
    for t in threads:
        t.join()
    ran = time.monotonic() - seeded

    # -- the checks ---------------------------------------------------------------------------
    emu.set_fault_rate(0.0)
    problems = list(errors)
    finals: Counter[str] = Counter()
    items = ok_items = lost = twice = 0
    for job in jobs:
        rows = [json.loads(line) for line in Path(job["report"]).read_text().splitlines()]
        batch = [r for r in rows if r["phase"] == "delete_many"]
        # An item's final outcome is its last row (a resumed run sends again only what was not ok).
        outcomes = Counter(r["group_id"] for r in batch if r["ok"])
        last = {r["group_id"]: r for r in batch}
        lost += len(set(job["groups"]) - set(last))
        twice += sum(n > 1 for n in outcomes.values())
        if set(last) != set(job["groups"]) or any(n > 1 for n in outcomes.values()):
            problems.append(f"{job['sender']}: {len(last)} of {len(job['groups'])} items reported, "
                            f"{sum(n > 1 for n in outcomes.values())} ok more than once")
        batch = list(last.values())
        purged = [r for r in rows if r["phase"] == "purge_sender"]
        purge_outcomes = Counter(r["group_id"] for r in purged)
        twice += sum(n > 1 for n in purge_outcomes.values())
        if purged:
            lost += len(set(job["joined"]) - set(purge_outcomes))
        if set(purge_outcomes) - set(job["joined"]) or any(n > 1 for n in purge_outcomes.values()):
            problems.append(f"{job['account']}: purge reported a group twice or one it never joined")
        if purged and set(purge_outcomes) != set(job["joined"]):
            problems.append(f"{job['account']}: purge reported {len(purge_outcomes)} of {len(job['joined'])} groups")
        for r in batch + purged:
            items += 1
            account = r["sender"]
            if r["ok"]:
                ok_items += 1
                if any(m["From_Account"] == account for m in emu.messages(r["group_id"])):
                    problems.append(f"{r['group_id']}: reported ok, but {account}'s message is still there")
            else:
                finals[r["kind"]] += 1
                if r["kind"] not in FINAL_KINDS:
                    problems.append(f"{r['group_id']}: failed with {r['kind']}, not a final kind of the chaos")
    log = emu.requests()
    faults = Counter(r["fault"] for r in log if r.get("fault"))
    # On the server: each item deleted once. A faulted request is not executed, except a slow body
    # (the answer, trickled): the same item executed twice means an outcome was lost and sent again.
    executed = Counter(r["body"]["GroupId"] for r in log if r["command"] == "delete_group_msg_by_sender"
                       and r.get("error_code") == 0 and (not r.get("fault") or r["fault"].startswith("slow_body")))
    executed_twice = sum(n > 1 for n in executed.values())
    if executed_twice:
        problems.append(f"{executed_twice} items were deleted twice on the server (an outcome lost, then sent again)")
    # The emulator answers to the end.
    import timrest

    probe = timrest.Client(emu.sdkappid, secret_key=DEMO_SECRET_KEY, base_url=emu.base_url, rate_limit=None)
    try:
        probe.delete_group_msg_by_sender(jobs[0]["groups"][0], "nobody")
    except timrest.TimError as e:
        problems.append(f"the emulator does not answer at the end: {e}")

    # RSS after warm-up and fds, per worker process.
    rss_growth: list[float] = []
    fd_ranges: list[tuple[int, int, int]] = []
    for pid, series in samples.items():
        if not series:
            continue
        # Warm-up: the first fifth of this process's own life (worker 0's second process starts late).
        born, died = series[0][0], series[-1][0]
        warm = [s for s in series if s[0] >= born + (died - born) / 5] or series
        rss_growth.append((warm[-1][1] - warm[0][1]) / 1024)
        fd_ranges.append((warm[0][2], max(s[2] for s in warm), warm[-1][2]))
    retries = sum(1 for r in log if r["command"] == "delete_group_msg_by_sender") - sum(
        len(job["groups"]) + len(job["joined"]) for job in jobs)

    print(f"soak: {WORKERS} workers, {ran:.0f} s at {RATE:g}/s shared through Redis (emulator quota {QUOTA:g}/s, "
          f"fault_rate {FAULT_RATE:g}); seeded in {seeded - started:.0f} s")
    print("| figure | value |")
    print("|---|---|")
    print(f"| items (delete_many + purge_sender) | {items} |")
    print(f"| ok | {ok_items} |")
    print(f"| items lost (no final outcome) | {lost} |")
    print(f"| items done twice (reported ok twice / executed twice on the server) | {twice} / {executed_twice} |")
    print(f"| requests the emulator served | {len(log)}, {len(log) / ran:.1f}/s on average |")
    # Requests per 10 s, to see what the outages cost.
    buckets = Counter(int(r["arrived"] // 10) for r in log)
    print("| requests per 10 s | " + " ".join(str(buckets.get(b, 0)) for b in range(max(buckets, default=0) + 1))
          + " |")
    print(f"| faults injected | {sum(faults.values())}: " + ", ".join(f"{k} {n}" for k, n in sorted(faults.items())) + " |")
    print(f"| Redis outages | {redis.restarts} restarts, {redis.freezes} freezes of 3 s |")
    print(f"| SIGINT | worker 0 at {secs / 3:.0f} s: stopped with 130, resumed |")
    print(f"| deletions sent again (retries) | {retries} |")
    print(f"| final failures by kind | " + (", ".join(f"{k} {n}" for k, n in sorted(finals.items())) or "none") + " |")
    if rss_growth:
        print(f"| RSS growth per worker after warm-up | max {max(rss_growth):.1f} MB, mean "
              f"{sum(rss_growth) / len(rss_growth):.1f} MB (" + " ".join(f"{g:.1f}" for g in rss_growth)
              + ": worker 0, workers 1-7, worker 0 resumed) |")
        growth = max(last - first for first, _, last in fd_ranges)
        print(f"| open fds per worker after warm-up | first {min(f for f, _, _ in fd_ranges)}-"
              f"{max(f for f, _, _ in fd_ranges)}, at most {max(m for _, m, _ in fd_ranges)}, "
              f"grew by at most {growth} to the last sample |")
        if secs >= 300 and growth > 4:
            problems.append(f"open fds grew by {growth} in a worker")
        if secs >= 300 and max(rss_growth) > 5:
            problems.append(f"RSS grew by {max(rss_growth):.1f} MB in a worker (target 5 MB)")
    print(f"| emulator answers at the end | {'yes' if not any('does not answer' in p for p in problems) else 'no'} |")
    redis.stop()
    emu.close()
    if problems:
        print("soak: FAILED", file=sys.stderr)
        for problem in problems[:50]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"soak: nothing lost, nothing done twice; {len(problems)} problems")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        sys.exit(worker(json.loads(sys.argv[2])))
    sys.exit(main())
