"""Memory under large inputs (scripts/bench.sh, section "memory"; writes target/bench/memory.md).
Prints figures; asserts nothing.

1. ``timrest delete-batch`` over N lines (default 1 000 000), from a file and from stdin, against the
   release ``timrest-emulator`` with no rate limit (every item fails fast: 10010), the report to
   /dev/null: the command's maximum RSS.
2. The emulator's RSS before and after 500 requests of 1 MiB, and after 1500 more of 60 KiB: its
   request log keeps a large body by its size only, and at most 64 MiB of bodies.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import timrest

KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"  # the demo key


def start(emulator: str) -> tuple[subprocess.Popen[str], str]:
    emu = subprocess.Popen([emulator, "--rate-limit", "off"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    assert emu.stdout is not None
    return emu, emu.stdout.readline().split()[-1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--emulator", default="target/release/timrest-emulator")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--out", default="target/bench")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = ["| measure | figure |", "|---|---:|"]

    emu, url = start(args.emulator)
    path = os.path.join(args.out, "lines.csv")
    with open(path, "w") as f:
        for i in range(args.lines):
            f.write(f"@TGS#missing{i},spammer\n")
    env = dict(os.environ, TIM_BASE_URL=url, TIM_SDKAPPID="1400000000", TIM_SECRET_KEY=KEY)
    command = os.path.join(os.path.dirname(sys.executable), "timrest")
    for mode in ("file", "stdin"):
        started = time.monotonic()
        source = path if mode == "file" else "-"
        with open(path) as stdin:
            subprocess.run([command, "delete-batch", source, "--rate-limit", "off", "--report", "/dev/null"],
                           env=env, stdin=stdin if mode == "stdin" else subprocess.DEVNULL, capture_output=True)
        # The largest RSS of any child waited for so far: each run is larger than the one before or not.
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        lines.append(f"| `delete-batch` of {args.lines} lines from a {mode}: max RSS so far "
                     f"({time.monotonic() - started:.0f} s) | {peak / 1024:.1f} MB |")
    emu.kill()
    os.remove(path)

    emu, url = start(args.emulator)
    client = timrest.Client(1400000000, secret_key=KEY, base_url=url, rate_limit=None)
    lines.append(f"| emulator RSS at start | {rss_kib(emu.pid) / 1024:.1f} MB |")
    for count, size in ((500, 1000 * 1024), (1500, 60 * 1024)):
        name = "x" * size
        for _ in range(count):
            try:
                client.call("group_open_http_svc", "create_group", {"Type": "Public", "Name": name})
            except timrest.TimError:
                pass  # refused (the name is too long): what matters is what the log keeps
        lines.append(f"| emulator RSS after {count} more requests of {size // 1024} KiB | "
                     f"{rss_kib(emu.pid) / 1024:.1f} MB |")
    emu.kill()
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "memory.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
