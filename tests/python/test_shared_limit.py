"""One quota for a fleet: OS processes, each with its own ``timrest.Client``, against one emulator
over real HTTP, sharing a real ``redis-server`` (Debian's, started here on a free loopback port with
persistence off, stopped at the end; ``scripts/deps.sh`` installs it).

The emulator stands for Tencent: 100 requests/s per command, 50 ms away. Each fleet deletes at
least 600 items at 95/s configured per client. With the Redis limiter every item succeeds and the
emulator answers no 60007; with each process's own limiter the same run is refused often, and the
test prints how often (the reason the shared limiter exists; the number is not asserted).
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest

import timrest
from timrest.testing import Emulator

sys.path.insert(0, str(pathlib.Path(__file__).with_name("fleet")))
import deployments  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT_SHA = hashlib.sha1((ROOT / "src/limit/gcra.lua").read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``redis-server`` on a free loopback port, persistence off; kill and restart keep the port."""

    def __init__(self, password: Optional[str] = None) -> None:
        self.port = free_port()
        self.password = password
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.cli("PING") == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cli(self, *args: str) -> str:
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        out = subprocess.run(["redis-cli", "-p", str(self.port), *auth, *args],
                             capture_output=True, text=True, check=True, timeout=10)
        return out.stdout.strip()

    def commandstat(self, command: str) -> int:
        """How many times ``command`` ran since the server started (INFO commandstats)."""
        for line in self.cli("INFO", "commandstats").splitlines():
            if line.startswith(f"cmdstat_{command}:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.kill()


def run_fleet(emu: Emulator, processes: int, items: list[tuple[str, str]], **settings: Any) -> list[dict[str, Any]]:
    """Splits ``items`` between ``processes`` worker processes that start together; their summaries."""
    return deployments.run_fleet(emu.base_url, processes, items, **settings)


def seed(emu: Emulator, groups: int = 60, senders: int = 10) -> list[tuple[str, str]]:
    gids = [emu.create_group("Public", name=f"g{i}") for i in range(groups)]
    return [(g, f"spammer{s}") for g in gids for s in range(senders)]


def rejections(emu: Emulator, code: int = 60007) -> int:
    return sum(1 for r in emu.requests() if r["error_code"] == code)


@pytest.mark.parametrize("processes", [4, 8])
def test_a_fleet_on_the_redis_limiter_stays_under_the_quota(redis_server: RedisServer, processes: int,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with Emulator(rate_limit=100.0, latency=0.05) as emu:
        items = seed(emu)
        assert len(items) == 600

        # First the way it was: every process with its own limiter at 95/s.
        local = run_fleet(emu, processes, items, deadline=10.0)
        local_rejected, local_sent = rejections(emu), len(emu.requests())
        local_failed = sum(s["failed"] for s in local)
        with capsys.disabled():  # shown in the run's output: the reason the shared limiter exists
            print(f"\n{processes} processes, local limiters: {local_rejected} of {local_sent} answers were 60007 "
                  f"({100 * local_rejected / local_sent:.0f} %), {local_failed} of {len(items)} items failed")

        # Then on one Redis.
        emu.clear_requests()
        time.sleep(1.1)  # let the emulator's window forget the first run
        shared = run_fleet(emu, processes, items, rate_limit_url=redis_server.url)
        assert sum(s["items"] for s in shared) == len(items)
        assert sum(s["ok"] for s in shared) == len(items), shared
        sent = emu.requests()
        assert rejections(emu) == 0, ([r for r in sent if r["error_code"]][:5], [s["stderr"][-300:] for s in shared])
        assert len(sent) == len(items), "one request per item: nothing was retried"
        elapsed = max(s["elapsed"] for s in shared)
        with capsys.disabled():
            print(f"{processes} processes, Redis limiter: 0 of {len(sent)} answers were 60007, "
                  f"{len(items) / elapsed:.1f} deletions/s for the fleet")
        # The lane's key, with the SDKAppID as hash tag, and the script Redis ran.
        assert redis_server.cli("EXISTS", "timrest:{1400000000}:group_open_http_svc/delete_group_msg_by_sender") == "1"
        assert redis_server.commandstat("evalsha") >= len(items)


def test_redis_killed_mid_run_then_restarted(redis_server: RedisServer) -> None:
    """Local fallback: every item is accounted for; after the restart the shared limiter is used
    again and its script was loaded again (a restarted Redis has none)."""
    with Emulator(rate_limit=100.0, latency=0.05) as emu:
        items = seed(emu, groups=50, senders=8)
        procs = deployments.start_fleet(emu.base_url, 4, items, rate_limit_url=redis_server.url,
                                        rate_limit_fallback="local")
        time.sleep(1.0)
        redis_server.kill()
        time.sleep(1.0)
        redis_server.start()  # empty: no key, no script (persistence is off)
        summaries = deployments.finish_fleet(procs)
        assert sum(s["items"] for s in summaries) == len(items)
        assert sum(s["ok"] + s["failed"] for s in summaries) == len(items), "every item accounted for"
        failures = {k: v for s in summaries for k, v in s["errors"].items()}
        print(f"\nRedis killed for 1 s: {sum(s['ok'] for s in summaries)} ok, failures {failures}, "
              f"{rejections(emu)} answers 60007 of {len(emu.requests())}")
        assert set(failures) <= {"RateLimitedError"}, failures
        # Used again after the restart (its counters start at zero): the clients met NOSCRIPT,
        # loaded the script again, and ran it.
        assert redis_server.commandstat("script|load") >= 1
        assert redis_server.cli("SCRIPT", "EXISTS", SCRIPT_SHA) == "1"
        assert redis_server.commandstat("evalsha") > 0


def test_fail_fallback_waits_for_redis_and_raises_limiter_error_at_the_deadline(redis_server: RedisServer, emu: Emulator,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    gid = emu.create_group("Public")
    client = emu.client(rate_limit=50.0, rate_limit_url=redis_server.url, rate_limit_fallback="fail", deadline=2.0)
    client.delete_group_msg_by_sender(gid, "spammer")
    redis_server.kill()
    emu.clear_requests()
    for _ in range(2):
        # It waits for Redis until the call's deadline, then says so (nothing hangs past it).
        started = time.monotonic()
        with pytest.raises(timrest.LimiterError) as info:
            client.delete_group_msg_by_sender(gid, "spammer")
        assert 1.5 <= time.monotonic() - started < 4.0
        assert "unavailable" in str(info.value) and "deadline" in str(info.value) and not info.value.retryable
    assert emu.requests() == [], "nothing was sent"
    # One line per change of cause (the broken connection, then the refused ones), not per call.
    warnings = [r.getMessage() for r in caplog.records if r.name == "timrest" and r.levelno == logging.WARNING]
    assert 1 <= len(warnings) <= 2 and all("unavailable" in w for w in warnings), warnings
    outage_lines = len(warnings)

    redis_server.start()
    time.sleep(0.6)
    client.delete_group_msg_by_sender(gid, "spammer")
    warnings = [r.getMessage() for r in caplog.records if r.name == "timrest" and r.levelno == logging.WARNING]
    assert len(warnings) == outage_lines + 1 and "answers again" in warnings[-1], warnings


def test_a_wrong_redis_password_is_a_limiter_error_without_the_password(emu: Emulator,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    canary = "py-canary-redis-password-9e1f"
    server = RedisServer(password="the-right-one")
    try:
        url = f"redis://:{canary}@127.0.0.1:{server.port}/0"
        client = emu.client(rate_limit=50.0, rate_limit_url=url)
        assert canary not in repr(client) and canary not in str(client.rate_limit_url)
        assert client.rate_limit_url == f"redis://<redacted>@127.0.0.1:{server.port}/0"
        with pytest.raises(timrest.LimiterError) as info:
            client.delete_group_msg_by_sender(emu.create_group("Public"), "spammer")
        e = info.value
        for text in (str(e), repr(e), repr(pickle.loads(pickle.dumps(e))), e.info):
            assert canary not in text, text
        assert "authentication" in str(e).lower() or "WRONGPASS" in str(e)
        for record in caplog.records:
            assert canary not in record.getMessage()
        assert [r for r in emu.requests() if r["command"] == "delete_group_msg_by_sender"] == []
        with pytest.raises(timrest.ConfigError) as bad:
            emu.client(rate_limit_url=f"http://:{canary}@127.0.0.1:1")
        assert canary not in str(bad.value)
    finally:
        server.kill()


def test_the_fleet_finds_a_quota_below_its_setting_through_redis(redis_server: RedisServer) -> None:
    """The emulator admits 40/s, the clients are configured for 95/s: the first windows are refused,
    the fleet's rate is cut in Redis for every process, and the refusals stop. (Starts reserved
    before a cut still go at the old pace: with 64 callers waiting, that is about a second more.)"""
    with Emulator(rate_limit=40.0, latency=0.05) as emu:
        items = seed(emu, groups=40, senders=8)
        summaries = run_fleet(emu, 4, items, rate_limit_url=redis_server.url)
        assert sum(s["ok"] for s in summaries) == len(items)
        log = emu.requests()
        first = min(r["arrived"] for r in log)
        refused = sorted(r["arrived"] - first for r in log if r["error_code"] == 60007)
        late = [t for t in refused if t > 3.5]
        rates = [s["effective_rate_limit"] for s in summaries]
        print(f"\nquota 40/s, 4 processes at 95/s on Redis: {len(refused)} refusals (at {refused[:3]} … s), "
              f"{len(late)} after 3.5 s; windows with refusals {sorted({int(t) for t in refused})}; "
              f"effective rates at the end {rates}")
        assert refused, "the quota really was below the setting"
        assert len(late) <= 4, late
        assert all(15.0 <= r <= 42.0 for r in rates), rates


def test_settings_are_checked_and_shown(emu: Emulator) -> None:
    for bad in ({"rate_limit_fallback": "maybe"}, {"rate_limit_clock": "sundial"},
                {"rate_limit_fallback_fraction": 0.0}, {"rate_limit_fallback_fraction": 1.5},
                {"rate_limit_timeout": 0.0}, {"rate_limit_timeout": 60.0}, {"rate_limit_prefix": "a{b}"},
                {"rate_limit_prefix": ""}, {"rate_limit_url": "redis://127.0.0.1:1", "rate_limit": None}):
        with pytest.raises(timrest.ConfigError):
            emu.client(**bad)
    c = emu.client(rate_limit=80.0)
    assert (c.rate_limit_url, c.rate_limit_fallback, c.effective_rate_limit) == (None, "local", 80.0)
    assert emu.client(rate_limit=None).effective_rate_limit is None
