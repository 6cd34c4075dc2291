"""The incident job against its bound (scripts/bench.sh, section "incident"; writes
target/bench/incident.md). Prints figures; asserts nothing.

The emulator allows 100 requests/s per command and answers 20 ms late. 20 spam accounts sit in 40
groups of 1500 messages (each account in 30 of them); each account posted two messages early
(older than the latest 1000) and one late. ``purge_senders(mute=True, deep=True)`` stops, plans and
cleans them all, with the client's limiter at 95/s per command.

- **bound**: max over commands c of (calls_c / rate_c), the least time the calls can take when the
  commands run side by side (each has its own quota);
- **wall**: the job's own time; **wall / bound** is the figure of merit (target ≤ 1.15);
- the same work as a sequential script over the single commands (mute, list, delete, read,
  recall, one at a time), with the same client, on a fresh copy of the same data;
- 60007 answers seen by the emulator during each run (target 0).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import timrest
from timrest.testing import Emulator

ACCOUNTS = 20
GROUPS = 40
MESSAGES = 1500
PER_ACCOUNT = 30
QUOTA = 100.0
RATE = 95.0
LATENCY = 0.020


def seed(emu: Emulator) -> tuple[list[str], list[str]]:
    spam = [f"spam{i:02d}" for i in range(ACCOUNTS)]
    groups = []
    for g in range(GROUPS):
        members = [s for i, s in enumerate(spam) if (g + i) % (GROUPS // (GROUPS - PER_ACCOUNT)) != 0]
        gid = emu.create_group("Public", members=("alice", "bob", *members))
        for s in members:
            for _ in range(2):
                emu.send_group_msg(gid, s, "old spam")
        for i in range(MESSAGES - 3 * len(members)):
            emu.send_group_msg(gid, "alice" if i % 2 else "bob", f"hello {i}")
        for s in members:
            emu.send_group_msg(gid, s, "new spam")
        groups.append(gid)
    return spam, groups


def refusals(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r["error_code"] in (60007, 60011))


def sequential(client: timrest.Client, spam: list[str]) -> dict[str, int]:
    """What a hand-written script does: each command in turn, one call at a time."""
    calls: dict[str, int] = {}

    def count(name: str, n: int = 1) -> None:
        calls[name] = calls.get(name, 0) + n

    groups: dict[str, list[str]] = {}
    for account in spam:
        client.set_no_speaking(account)
        count("setnospeaking")
        answer = client.call("group_open_http_svc", "get_joined_group_list",
                             {"Member_Account": account, "Limit": 1000, "Offset": 0})
        count("get_joined_group_list")
        for item in answer["GroupIdList"]:
            groups.setdefault(item["GroupId"], []).append(account)
    for gid, accounts in groups.items():
        for account in accounts:
            client.delete_group_msg_by_sender(gid, account)
            count("delete_group_msg_by_sender")
    wanted = set(spam)
    for gid in groups:
        newest = client.group_msg_get_simple(gid, req_msg_number=1, with_recalled=True).messages[0].msg_seq
        count("group_msg_get_simple")
        upto = newest - 1000
        found = []
        while upto > 0:
            page = client.group_msg_get_simple(gid, req_msg_seq=upto)
            count("group_msg_get_simple")
            found += [m.msg_seq for m in page.messages if m.from_account in wanted and not m.is_place_msg]
            if page.is_finished or not page.messages:
                break
            upto = page.messages[-1].msg_seq - 1
        for i in range(0, len(found), 10):
            client.group_msg_recall(gid, found[i:i + 10])
            count("group_msg_recall")
    return calls


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="target/bench")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results: dict[str, Any] = {}

    with Emulator(rate_limit=QUOTA, latency=LATENCY) as emu:
        spam, groups = seed(emu)
        emu.clear_requests()
        client = emu.client(rate_limit=RATE, deadline=120.0)
        started = time.monotonic()
        report = client.purge_senders(spam, mute=True, deep=True)
        wall = time.monotonic() - started
        left = sum(1 for g in groups for m in emu.messages(g) if m["From_Account"] in spam)
        results["job"] = {
            "wall": wall, "bound": report.bound(RATE), "bound_at_quota": report.bound(QUOTA),
            "calls": report.calls, "refused": refusals(emu), "failed": report.failed,
            "recalled": report.recalled, "spam_left": left, "steps": len(report.steps),
        }  # fmt: skip

    with Emulator(rate_limit=QUOTA, latency=LATENCY) as emu:
        spam, groups = seed(emu)
        emu.clear_requests()
        client = emu.client(rate_limit=RATE, deadline=120.0)
        started = time.monotonic()
        calls = sequential(client, spam)
        wall = time.monotonic() - started
        left = sum(1 for g in groups for m in emu.messages(g) if m["From_Account"] in spam)
        results["sequential"] = {"wall": wall, "calls": calls, "refused": refusals(emu), "spam_left": left}

    job, seq = results["job"], results["sequential"]
    ratio = job["wall"] / job["bound"]
    lines = [
        f"{ACCOUNTS} accounts in {GROUPS} groups of {MESSAGES} messages (each account in {PER_ACCOUNT}), deep; "
        f"emulator {QUOTA:g}/s per command, {LATENCY * 1000:g} ms away; client limiter {RATE:g}/s per command.",
        "",
        "| run | wall s | bound s | wall / bound | 60007 | spam left | calls |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| `purge_senders(mute=True, deep=True)` | {job['wall']:.2f} | {job['bound']:.2f} | "
        f"**{ratio:.3f}** | {job['refused']} | {job['spam_left']} | {sum(job['calls'].values())} |",
        f"| sequential script, same client | {seq['wall']:.2f} | {job['bound']:.2f} | "
        f"{seq['wall'] / job['bound']:.3f} | {seq['refused']} | {seq['spam_left']} | {sum(seq['calls'].values())} |",
        "",
        f"The job is {seq['wall'] / job['wall']:.2f}x faster than the sequential script. Calls per command "
        f"(the bound is the busiest over {RATE:g}/s; at the quota, {QUOTA:g}/s, it is {job['bound_at_quota']:.2f} s):",
        "",
        "| command | calls | at the rate, s |",
        "|---|---:|---:|",
    ]
    for command, n in sorted(job["calls"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| `{command}` | {n} | {n / RATE:.2f} |")
    lines.append("")
    lines.append(f"Target wall / bound ≤ 1.15 with zero 60007: "
                 f"{'met' if ratio <= 1.15 and job['refused'] == 0 else 'missed'}.")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "incident.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "incident.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
