"""Requests through a real proxy server: pproxy (from PyPI) listening for HTTP CONNECT and SOCKS5 on
one loopback port, between the installed package and the emulator.

The client's TCP connections are its own link in ureq's connector chain (src/transport.rs); a
proxy connection goes through the same chain. Here: calls reach the emulator through each kind of
proxy, keep-alive holds through the tunnel, and a proxy that goes away gives a typed error, not a
hang or a crash."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import timrest
from timrest.testing import Emulator


# pproxy 2.7.9 picks uvloop when it can import it, then asks for an event loop the way uvloop no
# longer allows; this venv has uvloop (for test_async.py), so pproxy runs on asyncio's own loop.
RUN_PPROXY = "import runpy, sys; sys.modules['uvloop'] = None; runpy.run_module('pproxy', run_name='__main__')"


class Proxy:
    """pproxy (`pproxy -v -l http+socks5://127.0.0.1:PORT`), with what it prints collected."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", RUN_PPROXY, "-v", "-l", f"http+socks5://127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pproxy did not start: {self.lines}")

    def _collect(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def tunnels_to(self, port: int, scheme: str) -> int:
        """How many connections the proxy opened to `port` for clients speaking `scheme`."""
        time.sleep(0.2)  # its log line follows the connection
        return sum(1 for line in self.lines if re.match(rf"{scheme} \S+ -> 127\.0\.0\.1:{port}$", line))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy()
    yield p
    p.stop()


def port_of(emu: Emulator) -> int:
    return int(emu.base_url.rsplit(":", 1)[1])


def deletions(emu: Emulator) -> int:
    """How many deletion requests reached the emulator."""
    return sum(1 for r in emu.requests() if r["command"] == "delete_group_msg_by_sender")


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_calls_go_through_the_proxy_on_one_kept_alive_tunnel(emu: Emulator, proxy: Proxy, scheme: str) -> None:
    gid = emu.create_group("Public")
    for i in range(5):
        emu.send_group_msg(gid, "spammer", f"spam {i}")
    emu.send_group_msg(gid, "alice", "hello")
    client = emu.client(proxy=f"{scheme}://127.0.0.1:{proxy.port}")
    for _ in range(4):
        client.delete_group_msg_by_sender(gid, "spammer")
    assert [m["From_Account"] for m in emu.messages(gid)] == ["alice"]
    assert deletions(emu) == 4
    # Four calls, one connection through the proxy: the pooled tunnel passed the liveness check.
    assert proxy.tunnels_to(port_of(emu), scheme) == 1, proxy.lines


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_a_proxy_that_goes_away_is_a_transport_error(emu: Emulator, proxy: Proxy, scheme: str) -> None:
    gid = emu.create_group("Public")
    client = emu.client(proxy=f"{scheme}://127.0.0.1:{proxy.port}", max_retries=1, deadline=10.0)
    client.delete_group_msg_by_sender(gid, "spammer")
    proxy.stop()
    started = time.monotonic()
    with pytest.raises(timrest.TransportError) as caught:
        client.delete_group_msg_by_sender(gid, "spammer")
    assert time.monotonic() - started < 10.0
    assert caught.value.attempts == 2 and caught.value.retryable
    # Only the first call reached the server.
    assert deletions(emu) == 1

