"""Runs every benchmark of ``scripts/bench.sh`` and prints the table (docs/benchmarks.md).

Started by scripts/bench.sh, which builds what this drives. In one process tree:

- the emulator runs as its own process (the release ``timrest-emulator`` binary), so that the
  clients' CPU time is measured apart from the server's;
- each client runs in a process of its own, one after the other (never two at once), and
  reports its own figures: latency per call from a monotonic clock, CPU time per call from the
  process CPU clock, resident memory from /proc/self/status.

Sections: 1. per call (sequential, keep-alive, no rate limit, no latency); 2. bulk deletion
(150 ms emulator latency, emulator limit 100/s); 3. the emulator's throughput; 4. footprint.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import re
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY_CLIENTS = str(HERE / "py_clients.py")
SDKAPPID = 1400000000
SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"

# The per-call clients: label, how to run one measurement (filled in by main).
PY_LABELS = {
    "timrest": "timrest (Python)",
    "requests": "requests.Session + TLSSigAPIv2 per call (Python)",
    "timsdk": "timsdk 1.1.12 (Python)",
}
# Section 1c only: the Python client with telemetry hooks (issue 24: what observing a call costs).
HOOK_LABELS = {
    "timrest-hook": "timrest (Python) + on_event=a no-op Python function",
    "timrest-otel": "timrest (Python) + timrest.otel.hook() (OTel SDK providers, in-memory metric reader)",
    "timrest-prometheus": "timrest (Python) + timrest.prometheus.hook() (default registry)",
}
#: The Rust core's instructions per call before stats and events existed (docs/benchmarks.md 1c,
#: 2026-12-02): stats must keep a call within 3 % of it.
CORE_BEFORE_STATS = 41_746
NATIVE_LABELS = {
    "core": "timrest Rust core",
    "c": "timrest C ABI",
    "floor": "floor: Rust std TcpStream, raw HTTP/1.1, UserSig signed once",
    "floor-split": "(diagnostic) the floor writing head and body separately, as ureq does",
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def pinned(cpu: int | None) -> Any:
    """A preexec_fn that pins the child (and every thread it starts) to one CPU; None: no pinning."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


class Emulator:
    """The release timrest-emulator binary as a child process; it exits when our stdin pipe closes."""

    def __init__(self, binary: str, *args: str, cpu: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [binary, "--stop-on-stdin-eof", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=pinned(cpu),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        prefix = "timrest-emulator listening on "
        if not line.startswith(prefix):
            self.close()
            raise SystemExit(f"bench: the emulator did not start (said {line!r})")
        self.url = line[len(prefix) :]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the emulator process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_json(cmd: list[str], timeout: float = 600, cpu: int | None = None) -> dict[str, Any]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=pinned(cpu))
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:3])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def admin_client(url: str, rate_limit: float | None) -> Any:
    import timrest

    return timrest.Client(SDKAPPID, secret_key=SECRET_KEY, base_url=url, rate_limit=rate_limit)


def create_group(client: Any, group_id: str) -> None:
    client.call("group_open_http_svc", "create_group", {"Type": "Public", "Name": group_id, "GroupId": group_id})


# ---------------------------------------------------------------------------------------------
# 1. Per call


def per_call(args: argparse.Namespace, emu: Emulator, cpu: int | None, placement: str) -> dict[str, Any]:
    group, sender = "bench-per-call", "spammer"
    client = admin_client(emu.url, None)
    create_group(client, group)
    # The same workload for every client: a group holding 1000 messages, 100 of them from the sender.
    for i in range(1000):
        body = {
            "GroupId": group,
            "From_Account": sender if i % 10 == 0 else "alice",
            "Random": i,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": f"message {i}"}}],
        }
        client.call("group_open_http_svc", "send_group_msg", body)

    def command(name: str, n: int, warmup: int) -> list[str]:
        if name in PY_LABELS:
            return [sys.executable, PY_CLIENTS, "per-call", name, emu.url, group, sender, str(n), str(warmup)]
        if name == "c":
            return [args.c_program, emu.url, group, sender, str(n), str(warmup)]
        return [args.clients, "per-call", name, emu.url, group, sender, str(n), str(warmup)]

    names = ["timrest", "requests", "timsdk", "core", "c", "floor", "floor-split"]
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            # The slow Python clients get fewer calls: the same statistics, in a bounded time.
            n = args.calls // 4 if name in ("requests", "timsdk") else args.calls
            result = run_json(command(name, n, args.warmup), cpu=cpu)
            rounds[name].append(result)
            log(f"per call, {placement}, round {r + 1}/{args.rounds}: {name:11} median {result['median_us']:8.1f} µs, "
                f"p99 {result['p99_us']:8.1f} µs, CPU {result['cpu_us']:7.1f} µs/call")
    summary = {}
    for name, runs in rounds.items():
        # The median over rounds of each figure: one disturbed round (a shared machine) does not decide.
        summary[name] = {
            key: statistics.median(run[key] for run in runs) for key in ("median_us", "p99_us", "mean_us", "cpu_us")
        }
        summary[name]["n"] = sum(run["n"] for run in runs)
        summary[name]["rounds"] = runs
    return summary


# ---------------------------------------------------------------------------------------------
# 1c. Instructions per call (callgrind): the measure that a shared machine's load does not move


def instructions(args: argparse.Namespace, emu: Emulator) -> dict[str, Any]:
    """User-space instructions per call of each face and the floor, under valgrind's callgrind, the
    emulator in its own process (not under valgrind). Each client runs twice, with N1 and N2 calls
    after the same warm-up: (Ir(N2) - Ir(N1)) / (N2 - N1) is what one more call costs, with process
    start, imports and set-up cancelled out. The whole measure is taken `args.instruction_runs`
    times, to show it repeats."""
    group, sender = "bench-instructions", "spammer"
    client = admin_client(emu.url, None)
    create_group(client, group)
    n1, n2, warmup = args.instruction_calls

    def command(name: str, n: int) -> list[str]:
        if name == "timrest" or name in HOOK_LABELS:
            return [sys.executable, PY_CLIENTS, "per-call", name, emu.url, group, sender, str(n), str(warmup)]
        if name == "c":
            return [args.c_program, emu.url, group, sender, str(n), str(warmup)]
        return [args.clients, "per-call", name, emu.url, group, sender, str(n), str(warmup)]

    def collected(name: str, n: int) -> int:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command(name, n)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise SystemExit(f"bench: callgrind {name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        found = re.findall(r"Collected\s*:\s*(\d+)", done.stderr)
        if not found:
            raise SystemExit(f"bench: no 'Collected' line from callgrind for {name}:\n{done.stderr[-2000:]}")
        return int(found[-1])

    names = ["core", "c", "timrest", *HOOK_LABELS, "floor"]
    runs: list[dict[str, float]] = []
    for r in range(args.instruction_runs):
        per_call_ir = {}
        for name in names:
            low, high = collected(name, n1), collected(name, n2)
            per_call_ir[name] = (high - low) / (n2 - n1)
            log(f"instructions, run {r + 1}/{args.instruction_runs}: {name:8} {per_call_ir[name]:9.0f} per call")
        runs.append(per_call_ir)
    return {"calls": [n1, n2, warmup], "runs": runs}


# ---------------------------------------------------------------------------------------------
# 2. Bulk


def bulk(args: argparse.Namespace, emu: Emulator) -> dict[str, Any]:
    groups = [f"bench-bulk-{i:02}" for i in range(20)]
    per_group = args.bulk_items // len(groups)
    client = admin_client(emu.url, args.bulk_rate)
    for g in groups:
        create_group(client, g)
    time.sleep(1.2)  # let the emulator's 1-second window empty between runs

    results: dict[str, Any] = {}
    runs = [
        ("delete_many", f"timrest delete_many (Python), concurrency {args.bulk_concurrency}",
         [sys.executable, PY_CLIENTS, "bulk", "delete_many", emu.url, ",".join(groups), str(per_group),
          str(args.bulk_items), str(args.bulk_concurrency), str(args.bulk_rate)]),
        ("sequential", "sequential loop, timrest (Python), one call at a time",
         [sys.executable, PY_CLIENTS, "bulk", "sequential", emu.url, ",".join(groups), str(per_group),
          str(args.sequential_items), "1", str(args.bulk_rate)]),
        ("pool", f"ThreadPoolExecutor({args.pool_threads}) over requests + TLSSigAPIv2, no limiter",
         [sys.executable, PY_CLIENTS, "bulk", "pool", emu.url, ",".join(groups), str(per_group),
          str(args.bulk_items), str(args.pool_threads), "0"]),
    ]
    for key, label, cmd in runs:
        result = run_json(cmd)
        result["label"] = label
        result["rate"] = result["ok"] / result["elapsed_s"]
        results[key] = result
        log(f"bulk: {key:11} {result['ok']}/{result['items']} ok in {result['elapsed_s']:.1f} s = "
            f"{result['rate']:.1f} deletions/s, {result['failed_60007']} failed with 60007, "
            f"{result['retried_attempts']} retried attempts")
        time.sleep(1.2)
    return results


# ---------------------------------------------------------------------------------------------
# 3. Throughput


def throughput(args: argparse.Namespace, emu: Emulator) -> list[dict[str, Any]]:
    group = "bench-throughput"
    create_group(admin_client(emu.url, None), group)
    out = []
    for threads in args.throughput_threads:
        cpu0 = emu.cpu_seconds()
        result = run_json([args.clients, "throughput", emu.url, group, "spammer", str(threads),
                           str(args.throughput_seconds)])
        result["server_cpu_s"] = emu.cpu_seconds() - cpu0
        out.append(result)
        log(f"throughput: {threads} threads: {result['rps']:.0f} requests/s, {result['failed']} failures, "
            f"server CPU {result['server_cpu_s']:.2f} s, clients' CPU {result['client_cpu_s']:.2f} s")
    return out


# ---------------------------------------------------------------------------------------------
# 4. Footprint


def footprint(args: argparse.Namespace, emu: Emulator) -> dict[str, Any]:
    def wheel_size(directory: str | None) -> dict[str, Any]:
        wheels = glob.glob(os.path.join(directory, "timrest-*.whl")) if directory else []
        if not wheels:
            return {}
        with zipfile.ZipFile(wheels[0]) as z:
            native = [i for i in z.infolist() if i.filename.endswith((".so", ".pyd"))]
            return {
                "file": os.path.basename(wheels[0]),
                "bytes": os.path.getsize(wheels[0]),
                "native_bytes": sum(i.file_size for i in native),
            }

    wheel = wheel_size(args.wheel_dir)
    imports = {}
    for module in ("timrest", "requests", "timsdk"):
        runs = [run_json([sys.executable, PY_CLIENTS, "import", module]) for _ in range(args.import_runs)]
        imports[module] = {
            "import_ms": statistics.median(r["import_s"] for r in runs) * 1000,
            "rss_kib": statistics.median(r["rss_kib"] for r in runs),
        }
        log(f"footprint: import {module}: {imports[module]['import_ms']:.1f} ms")
    group = "bench-footprint"
    create_group(admin_client(emu.url, None), group)
    memory = {}
    for name in ("timrest", "requests", "timsdk", "core", "c"):
        if name in PY_LABELS:
            cmd = [sys.executable, PY_CLIENTS, "per-call", name, emu.url, group, "spammer", str(args.memory_calls), "0"]
        elif name == "c":
            cmd = [args.c_program, emu.url, group, "spammer", str(args.memory_calls), "0"]
        else:
            cmd = [args.clients, "per-call", name, emu.url, group, "spammer", str(args.memory_calls), "0"]
        result = run_json(cmd)
        memory[name] = {"rss_kib": result["rss_kib"], "hwm_kib": result["hwm_kib"]}
        log(f"footprint: {name}: {result['rss_kib'] / 1024:.1f} MiB resident after {args.memory_calls} calls")
    return {"wheel": wheel, "imports": imports, "memory": memory}


# ---------------------------------------------------------------------------------------------
# The machine and the table


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])

    def version(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "unknown"

    packages = {}
    for name in ("timrest", "requests", "tls-sig-api-v2", "timsdk"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rustc": version(["rustc", "--version"]),
        "cc": version(["cc", "--version"]).splitlines()[0] if version(["cc", "--version"]) else "unknown",
        "packages": packages,
        "load_before": os.getloadavg(),
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "–"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    m = results["machine"]
    lines = [
        "## Machine",
        "",
        f"- {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB memory, Linux {m['kernel']}",
        f"- load average before / after: {' '.join(f'{x:.2f}' for x in m['load_before'])} / "
        f"{' '.join(f'{x:.2f}' for x in m['load_after'])}",
        f"- Python {m['python']}, {m['rustc']}, {m['cc']}",
        "- " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        "",
    ]
    for placement, pc in results.get("per_call", {}).items():
        py, floor = pc["timrest"], pc["floor"]
        where = (
            "client and emulator pinned to the same CPU"
            if placement == "same CPU"
            else "client pinned to CPU 0, emulator to CPU 1"
        )
        lines += [
            f"## 1{'a' if placement == 'same CPU' else 'b'}. Per call ({placement}): sequential, keep-alive, no rate limit, no emulator latency",
            "",
            f"{where}; {args.rounds} rounds, each figure the median over the rounds; after {args.warmup} warm-up calls.",
            "",
            "| client | calls | median µs | p99 µs | CPU µs/call | median ÷ timrest-Python | median ÷ floor "
            "| CPU ÷ timrest-Python | CPU ÷ floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, label in {**PY_LABELS, **NATIVE_LABELS}.items():
            s = pc[name]
            lines.append(
                f"| {label} | {s['n']} | {s['median_us']:.1f} | {s['p99_us']:.1f} | {s['cpu_us']:.1f} | "
                f"{ratio(s['median_us'], py['median_us'])} | {ratio(s['median_us'], floor['median_us'])} | "
                f"{ratio(s['cpu_us'], py['cpu_us'])} | {ratio(s['cpu_us'], floor['cpu_us'])} |"
            )
        lines.append("")
    ins = results.get("instructions")
    if ins:
        lines += instructions_lines(ins)
    bk = results.get("bulk")
    if bk:
        lines += [
            f"## 2. Bulk: {args.bulk_items} deletions, emulator latency 150 ms and limit 100/s, "
            f"timrest's limiter at {args.bulk_rate:g}/s",
            "",
            "| runner | items | ok | seconds | deletions/s | 60007 answers | retried attempts |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key in ("delete_many", "sequential", "pool"):
            r = bk[key]
            # timrest retries a 60007 (and shows it as a retried attempt); the pool counts the answers.
            rejections = r["failed_60007"] + (r["retried_attempts"] if key != "pool" else 0)
            lines.append(
                f"| {r['label']} | {r['items']} | {r['ok']} | {r['elapsed_s']:.1f} | {r['rate']:.1f} | "
                f"{rejections} | {r['retried_attempts'] if key != 'pool' else '– (no retries)'} |"
            )
        lines.append("")
    tp = results.get("throughput")
    if tp:
        lines += [
            "## 3. The emulator's throughput (no limit, no latency; raw keep-alive clients)",
            "",
            "| client threads | requests/s | failures | emulator CPU s | clients' CPU s | seconds |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in tp:
            lines.append(
                f"| {r['threads']} | {r['rps']:.0f} | {r['failed']} | {r['server_cpu_s']:.2f} | "
                f"{r['client_cpu_s']:.2f} | {r['elapsed_s']:.1f} |"
            )
        lines.append("")
    fp = results.get("footprint")
    if fp:
        lines += footprint_lines(fp, args)
    lines += targets(results)
    return "\n".join(lines)


def instructions_lines(ins: dict[str, Any]) -> list[str]:
    """Section 1c, as the table prints it and `--update-docs` writes it."""
    n1, n2, warmup = ins["calls"]
    lines = [
        "## 1c. Instructions per call (valgrind --tool=callgrind, user space)",
        "",
        f"(Ir after {n2} calls − Ir after {n1} calls) ÷ {n2 - n1}, both after {warmup} warm-up calls: the cost of "
        "one more call, with process start and imports cancelled out. The emulator runs in its own process, "
        f"not under valgrind. {len(ins['runs'])} runs, to show the counts repeat.",
        "",
        "| client | " + " | ".join(f"run {i + 1}" for i in range(len(ins["runs"]))) + " | ÷ floor | ÷ Rust core |",
        "|---|" + "---:|" * len(ins["runs"]) + "---:|---:|",
    ]
    first = ins["runs"][0]
    for name in ("core", "c", "timrest", *HOOK_LABELS, "floor"):
        if name not in first:
            continue
        label = {**PY_LABELS, **HOOK_LABELS, **NATIVE_LABELS}[name]
        counts = " | ".join(f"{run[name]:,.0f}" for run in ins["runs"])
        lines.append(f"| {label} | {counts} | {first[name] / first['floor']:.2f}× | {first[name] / first['core']:.3f}× |")
    lines.append("")
    return lines


def instruction_targets(ins: dict[str, Any]) -> list[str]:
    """The targets of section 1c, one line per run and target."""
    out = []
    for i, run in enumerate(ins["runs"], start=1):
        x = run["core"] / run["floor"]
        out.append(f"- instructions, run {i}: Rust core within 2.0× of the floor: {x:.2f}× — {verdict(x <= 2.0)}")
        for name, label in (("timrest", "timrest-Python"), ("c", "C ABI")):
            x = run[name] / run["core"]
            out.append(f"- instructions, run {i}: {label} within 1.05× of the Rust core: {x:.3f}× — {verdict(x <= 1.05)}")
        x = run["core"] / CORE_BEFORE_STATS
        out.append(f"- instructions, run {i}: Rust core with stats on, no hook, within 3 % of {CORE_BEFORE_STATS:,} "
                   f"(before stats): {x:.3f}× — {verdict(x <= 1.03)}")
        for name in HOOK_LABELS:
            if name in run:
                out.append(f"- instructions, run {i}: {name}: {run[name] - run['timrest']:+,.0f} per call over "
                           f"timrest (Python) without a hook ({run[name] / run['timrest']:.2f}×)")
    return out


def footprint_lines(fp: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Section 4 of docs/benchmarks.md, as `--update-docs` writes it there."""
    w = fp["wheel"]
    lines = ["## 4. Footprint", ""]
    if w:
        lines.append(
            f"- wheel `{w['file']}`: {w['bytes'] / 1e6:.2f} MB ({w['native_bytes'] / 1e6:.2f} MB native library "
            "unpacked), built by `pip wheel .`: the same build as `pip install .`, which is maturin with "
            "pyproject's `profile = \"dist\"` (thin LTO, one codegen unit, no debug info)"
        )
    imports = fp["imports"]
    lines.append(
        f"- `import timrest`: {imports['timrest']['import_ms']:.1f} ms, the median of {args.import_runs} fresh "
        f"interpreters (the import statement alone), against {imports['requests']['import_ms']:.1f} ms for "
        f"`requests` + `TLSSigAPIv2` and {imports['timsdk']['import_ms']:.1f} ms for `timsdk`"
    )
    lines += [
        "",
        f"| | import ms | RSS after import MiB | RSS after {args.memory_calls} calls MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("timrest", "requests", "timsdk", "core", "c"):
        label = {**PY_LABELS, **NATIVE_LABELS}[name]
        imp = imports.get(name)
        mem = fp["memory"][name]
        row = f"| {label} | {imp['import_ms']:.1f} | {imp['rss_kib'] / 1024:.1f} | " if imp else f"| {label} | – | – | "
        lines.append(row + f"{mem['rss_kib'] / 1024:.1f} | {mem['hwm_kib'] / 1024:.1f} |")
    lines.append("")
    return lines


def update_docs(results: dict[str, Any], args: argparse.Namespace, root: Path) -> None:
    """Writes the sections this run measured into docs/benchmarks.md (footprint, instructions) and
    the import figure into the README, between their `bench:` markers: never typed by hand."""
    edits: list[tuple[Path, str, str]] = []
    fp = results.get("footprint")
    if fp:
        section = "\n".join(["### 4. Footprint", ""] + footprint_lines(fp, args)[2:]).rstrip() + "\n"
        edits.append((root / "docs" / "benchmarks.md", "footprint", section))
        edits.append((root / "README.md", "import-ms", f"{fp['imports']['timrest']['import_ms']:.1f} ms"))
    ins = results.get("instructions")
    if ins:
        section = "\n".join(["#" + instructions_lines(ins)[0], *instructions_lines(ins)[1:], *instruction_targets(ins)])
        edits.append((root / "docs" / "benchmarks.md", "instructions", section + "\n"))
    for path, marker, text in edits:
        content = path.read_text(encoding="utf-8")
        begin, end = f"<!-- bench:{marker} -->", f"<!-- /bench:{marker} -->"
        head, rest = content.split(begin, 1)
        _, tail = rest.split(end, 1)
        joiner = "\n" if text.endswith("\n") else ""
        path.write_text(f"{head}{begin}{joiner}{text}{end}{tail}", encoding="utf-8")
        log(f"updated the {marker} figures in {path}")


def targets(results: dict[str, Any]) -> list[str]:
    out = ["## Targets (per call: median latency)", ""]
    for placement, pc in results.get("per_call", {}).items():
        med = {k: v["median_us"] for k, v in pc.items()}
        x = med["requests"] / med["timrest"]
        out.append(f"- {placement}: timrest-Python ≥ 5× faster than requests + official signer: {x:.1f}× — {verdict(x >= 5)}")
        x = med["timrest"] / med["core"]
        out.append(f"- {placement}: timrest-Python within 1.3× of the Rust core: {x:.2f}× — {verdict(x <= 1.3)}")
        x = med["c"] / med["core"]
        out.append(f"- {placement}: C ABI within 1.1× of the Rust core: {x:.2f}× — {verdict(x <= 1.1)}")
        x = med["core"] / med["floor"]
        out.append(f"- {placement}: Rust core within 1.5× of the raw floor: {x:.2f}× — {verdict(x <= 1.5)}")
    ins = results.get("instructions")
    if ins:
        out += instruction_targets(ins)
    bk = results.get("bulk")
    if bk:
        d = bk["delete_many"]
        rej = d["failed_60007"] + d["retried_attempts"]
        out.append(f"- bulk ≥ 90 deletions/s with zero 60007: {d['rate']:.1f}/s, {rej} rejections — "
                   f"{verdict(d['rate'] >= 90 and rej == 0 and d['failed'] == 0)} "
                   f"(sequential {bk['sequential']['rate']:.1f}/s; pool {bk['pool']['rate']:.1f}/s with "
                   f"{bk['pool']['failed_60007']} rejections)")
    tp = results.get("throughput")
    if tp:
        best = max(r["rps"] for r in tp)
        out.append(f"- emulator ≥ 20 000 requests/s: {best:.0f}/s — {verdict(best >= 20000)}")
    out.append("")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emulator", required=True, help="the release timrest-emulator binary")
    p.add_argument("--clients", required=True, help="the bench/clients.rs executable")
    p.add_argument("--c-program", required=True, help="bench/c/per_call.c, built")
    p.add_argument("--wheel-dir", required=True, help="the wheel pip built (what `pip install .` builds)")
    p.add_argument("--update-docs", action="store_true",
                   help="write the footprint section into docs/benchmarks.md and the import time into README.md")
    p.add_argument("--out", required=True, help="directory for results.md and results.json")
    p.add_argument("--quick", action="store_true", help="a smoke run: few calls, one round")
    p.add_argument("--sections", default="per-call,instructions,bulk,throughput,footprint")
    a = p.parse_args()
    a.rounds, a.calls, a.warmup = (1, 400, 50) if a.quick else (5, 6000, 500)
    a.bulk_items = 200 if a.quick else 2000
    a.sequential_items = 20 if a.quick else 100
    a.bulk_concurrency, a.bulk_rate, a.pool_threads = 32, 95.0, 16
    a.throughput_threads = [2] if a.quick else [1, 2, 4, 8]
    a.throughput_seconds = 1.0 if a.quick else 3.0
    a.import_runs = 3 if a.quick else 9
    a.memory_calls = 1000 if a.quick else 10000
    a.instruction_calls = (50, 250, 50) if a.quick else (200, 1200, 100)
    a.instruction_runs = 2
    sections = set(a.sections.split(","))

    results: dict[str, Any] = {"machine": machine()}
    started = time.perf_counter()
    fast = Emulator(a.emulator, "--rate-limit", "off", "--latency-ms", "0")
    try:
        if "per-call" in sections:
            # Placement decides much on a 2-CPU virtual machine: a wake-up across CPUs costs more
            # than the client itself. Both are measured, each with fixed placement.
            placements = [("same CPU", 0, 0)]
            if (os.cpu_count() or 1) > 1:
                placements.append(("separate CPUs", 1, 0))
            results["per_call"] = {}
            for placement, emu_cpu, client_cpu in placements:
                emu = Emulator(a.emulator, "--rate-limit", "off", "--latency-ms", "0", cpu=emu_cpu)
                try:
                    results["per_call"][placement] = per_call(a, emu, client_cpu, placement)
                finally:
                    emu.close()
        if "instructions" in sections:
            results["instructions"] = instructions(a, fast)
        if "bulk" in sections:
            far = Emulator(a.emulator, "--rate-limit", "100", "--latency-ms", "150")
            try:
                results["bulk"] = bulk(a, far)
            finally:
                far.close()
        if "throughput" in sections:
            results["throughput"] = throughput(a, fast)
        if "footprint" in sections:
            results["footprint"] = footprint(a, fast)
    finally:
        fast.close()
    results["machine"]["load_after"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - started
    text = table(results, a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(text + "\n")
    print(text)
    if a.update_docs:
        update_docs(results, a, Path(__file__).resolve().parents[1])
    log(f"done in {results['seconds']:.0f} s; the table is in {out / 'results.md'}")


if __name__ == "__main__":
    main()
