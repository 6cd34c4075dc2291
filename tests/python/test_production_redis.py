"""The shared limiter on the Redis deployments teams run, started here for real on loopback from
Debian's ``redis-server`` and ``redis-cli`` (``fleet/deployments.py``): a Cluster of three masters,
TLS with a private CA and client certificates, a master and replica behind three sentinels, and an
ACL user with least privilege.

Each fleet is OS processes with their own ``timrest.Client`` (``fleet/worker.py``), 600 deletions
at 95/s per client against an emulator that admits 100/s, as in ``test_shared_limit.py``.
"""

from __future__ import annotations

import logging
import os
import pathlib
import pickle
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

import timrest
from timrest.testing import DEMO_SECRET_KEY, Emulator

sys.path.insert(0, str(pathlib.Path(__file__).with_name("fleet")))
import deployments  # noqa: E402
from deployments import Certificates, Cluster, Node, Sentinels, run_fleet  # noqa: E402

ACL_LINE = "~timrest:* +@scripting +@hash +@connection +time +pexpire +expire"
LANE = "group_open_http_svc/delete_group_msg_by_sender"


def seed(emu: Emulator, groups: int = 60, senders: int = 10) -> list[tuple[str, str]]:
    gids = [emu.create_group("Public", name=f"g{i}") for i in range(groups)]
    return [(g, f"spammer{s}") for g in gids for s in range(senders)]


def rejections(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r["error_code"] == 60007)


def assert_clean_fleet(emu: Emulator, items: list[tuple[str, str]], summaries: list[dict[str, Any]]) -> None:
    """Every item deleted, and the emulator never refused for the rate."""
    assert sum(s["items"] for s in summaries) == len(items)
    assert sum(s["ok"] for s in summaries) == len(items), [(s["errors"], s["stderr"][-500:]) for s in summaries]
    assert rejections(emu) == 0, ([r for r in emu.requests() if r["error_code"]][:5],
                                  [s["stderr"][-300:] for s in summaries])


@pytest.fixture
def folder() -> Iterator[pathlib.Path]:
    path = deployments.temp_folder()
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def cluster(folder: pathlib.Path) -> Iterator[Cluster]:
    c = Cluster(folder)
    yield c
    c.stop()


@pytest.fixture
def sentinels(folder: pathlib.Path) -> Iterator[Sentinels]:
    s = Sentinels(folder)
    yield s
    s.stop()


@pytest.fixture
def certs(folder: pathlib.Path) -> Certificates:
    return Certificates(folder)


def apps_on_each_node(cluster: Cluster) -> list[int]:
    """One SDKAppID per node: the slot of each one's hash tag lives on a different master."""
    found: dict[int, int] = {}
    sdkappid = 1400000000
    while len(found) < 3:
        found.setdefault(cluster.node_of(f"{{{sdkappid}}}"), sdkappid)
        sdkappid += 1
    return [found[i] for i in range(3)]


# --- Cluster ---------------------------------------------------------------------------------


def test_a_fleet_shares_one_quota_on_a_cluster_for_apps_on_every_node(cluster: Cluster,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The URL names node 0 only; the three apps' lanes live on nodes 0, 1 and 2."""
    for node, sdkappid in enumerate(apps_on_each_node(cluster)):
        with Emulator(sdkappid=sdkappid, rate_limit=100.0, latency=0.05) as emu:
            items = seed(emu)
            summaries = run_fleet(emu.base_url, 4, items, sdkappid=sdkappid, rate_limit_url=cluster.url(0))
            assert_clean_fleet(emu, items, summaries)
            for s in summaries:
                assert "WARNING" not in s["stderr"] and "unavailable" not in s["stderr"], s["stderr"]
            key = f"timrest:{{{sdkappid}}}:{LANE}"
            assert cluster.nodes[node].cli("EXISTS", key) == "1", f"the lane lives on node {node}"
            assert cluster.nodes[node].commandstat("evalsha") >= len(items)
            with capsys.disabled():
                print(f"\ncluster, app {sdkappid} on node {node}: 0 of {len(emu.requests())} answers 60007, "
                      f"{len(items) / max(s['elapsed'] for s in summaries):.1f} deletions/s")


def test_a_plain_url_at_a_cluster_node_names_the_cluster_url(cluster: Cluster, emu: Emulator,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """An app whose slot is on another node than the one the plain URL names: MOVED is not taken
    for an outage in silence; both the warning and the error say to use redis+cluster://."""
    elsewhere = next(a for a in apps_on_each_node(cluster) if cluster.node_of(f"{{{a}}}") != 0)
    plain = f"redis://127.0.0.1:{cluster.nodes[0].port}"
    with Emulator(sdkappid=elsewhere) as other:
        gid = other.create_group("Public")
        client = timrest.Client(elsewhere, secret_key=DEMO_SECRET_KEY, base_url=other.base_url, rate_limit=50.0,
                                rate_limit_url=plain, rate_limit_fallback="fail")
        started = time.monotonic()
        with pytest.raises(timrest.LimiterError) as info:
            client.delete_group_msg_by_sender(gid, "spammer")
        assert time.monotonic() - started < 5.0, "a lasting cause fails at once, without waiting for the deadline"
        assert "redis+cluster://" in str(info.value) and "moved" in str(info.value), str(info.value)
        local = timrest.Client(elsewhere, secret_key=DEMO_SECRET_KEY, base_url=other.base_url, rate_limit=50.0,
                               rate_limit_url=plain)
        local.delete_group_msg_by_sender(gid, "spammer")
        warnings = [r.getMessage() for r in caplog.records if r.name == "timrest" and r.levelno == logging.WARNING]
        assert any("redis+cluster://" in w for w in warnings), warnings


def test_a_slot_migration_during_a_run_loses_nothing(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """The app's slot moves to another master while 4 processes delete (CLUSTER SETSLOT …
    IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE): the clients follow ASK and MOVED."""
    sdkappid = apps_on_each_node(cluster)[0]
    slot = int(cluster.nodes[0].cli("CLUSTER", "KEYSLOT", f"{{{sdkappid}}}"))
    src, dst = cluster.nodes[0], cluster.nodes[1]
    src_id, dst_id = cluster.node_id(0), cluster.node_id(1)
    with Emulator(sdkappid=sdkappid, rate_limit=100.0, latency=0.05) as emu:
        items = seed(emu)
        procs = deployments.start_fleet(emu.base_url, 4, items, sdkappid=sdkappid, rate_limit_url=cluster.url(2))
        time.sleep(2.5)
        dst.cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", src_id)
        src.cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst_id)
        keys = src.cli("CLUSTER", "GETKEYSINSLOT", str(slot), "100").split()
        if keys:
            src.cli("MIGRATE", "127.0.0.1", str(dst.port), "", "0", "5000", "KEYS", *keys)
        # The new owner first, as redis-cli's reshard does: a source that already says MOVED while
        # the destination still imports would send every client back and forth between them.
        for n in [dst, src] + [n for n in cluster.nodes if n is not src and n is not dst]:
            n.cli("CLUSTER", "SETSLOT", str(slot), "NODE", dst_id)
        moved_at = time.monotonic()
        summaries = deployments.finish_fleet(procs)
        assert sum(s["items"] for s in summaries) == len(items)
        assert sum(s["ok"] for s in summaries) == len(items), [s["errors"] for s in summaries]
        refused = rejections(emu)
        assert refused <= 5, f"no 60007 storm: {refused}"
        assert dst.cli("EXISTS", f"timrest:{{{sdkappid}}}:{LANE}") == "1", "the lane lives on the new owner"
        with capsys.disabled():
            print(f"\nslot {slot} migrated mid-run ({len(keys)} keys moved): {refused} answers 60007, "
                  f"{sum(s['ok'] for s in summaries)}/{len(items)} ok; run ended "
                  f"{max(s['elapsed'] for s in summaries) - 2.5:.1f} s after the move began "
                  f"({time.monotonic() - moved_at:.1f} s after it ended)")


# --- TLS -------------------------------------------------------------------------------------


def test_a_fleet_on_tls_with_a_private_ca_and_a_client_certificate(folder: pathlib.Path, certs: Certificates) -> None:
    node = Node(folder, tls=certs)
    try:
        with Emulator(rate_limit=100.0, latency=0.05) as emu:
            items = seed(emu)
            pem = {"rate_limit_ca_pem": str(certs.ca), "rate_limit_client_cert_pem": str(certs.client_cert),
                   "rate_limit_client_key_pem": str(certs.client_key)}
            summaries = run_fleet(emu.base_url, 4, items, rate_limit_url=f"rediss://127.0.0.1:{node.port}", pem=pem)
            assert_clean_fleet(emu, items, summaries)
            assert node.commandstat("evalsha") >= len(items)
    finally:
        node.kill()


def test_a_wrong_ca_or_client_certificate_is_a_typed_error_naming_the_fix(folder: pathlib.Path, certs: Certificates,
                                                                         emu: Emulator) -> None:
    node = Node(folder, tls=certs)
    try:
        gid = emu.create_group("Public")
        url = f"rediss://127.0.0.1:{node.port}"
        key = certs.client_key.read_bytes()
        cases = {
            "unknown CA (the platform's roots)": {"rate_limit_client_cert_pem": certs.client_cert.read_bytes(),
                                                  "rate_limit_client_key_pem": key},
            "the wrong CA": {"rate_limit_ca_pem": certs.other_ca.read_bytes(),
                             "rate_limit_client_cert_pem": certs.client_cert.read_bytes(),
                             "rate_limit_client_key_pem": key},
            "no client certificate": {"rate_limit_ca_pem": certs.ca.read_bytes()},
            "a client certificate of another CA": {"rate_limit_ca_pem": certs.ca.read_bytes(),
                                                   "rate_limit_client_cert_pem": certs.stranger_cert.read_bytes(),
                                                   "rate_limit_client_key_pem": certs.stranger_key.read_bytes()},
        }
        key_text = key.decode()
        key_body = key_text.splitlines()[1]
        for what, settings in cases.items():
            client = emu.client(rate_limit=50.0, rate_limit_url=url, rate_limit_fallback="fail", deadline=3.0,
                                **settings)
            assert key_body not in repr(client)
            with pytest.raises(timrest.LimiterError) as info:
                client.delete_group_msg_by_sender(gid, "spammer")
            text = str(info.value)
            assert "tls" in text and "rate_limit_ca_pem" in text, f"{what}: {text}"
            assert key_body not in text and key_body not in repr(info.value), what
        assert [r for r in emu.requests() if r["command"] == "delete_group_msg_by_sender"] == []
        # The default fallback paces locally, and says why once, with the fix.
        with pytest.raises(timrest.ConfigError) as plain:
            emu.client(rate_limit_url=f"redis://127.0.0.1:{node.port}", rate_limit_ca_pem=certs.ca.read_bytes())
        assert "rediss://" in str(plain.value)
    finally:
        node.kill()


# --- Sentinel --------------------------------------------------------------------------------


def test_a_fleet_through_sentinel_and_a_failover_during_a_run(sentinels: Sentinels,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with Emulator(rate_limit=100.0, latency=0.05) as emu:
        items = seed(emu)
        summaries = run_fleet(emu.base_url, 4, items, rate_limit_url=sentinels.url())
        assert_clean_fleet(emu, items, summaries)
        assert sentinels.master.commandstat("evalsha") >= len(items)

        # Again, with SENTINEL FAILOVER two seconds in.
        emu.clear_requests()
        time.sleep(1.1)
        old_port = sentinels.master_port()
        new = sentinels.replica
        before = new.commandstat("evalsha")
        procs = deployments.start_fleet(emu.base_url, 4, items, rate_limit_url=sentinels.url())
        time.sleep(2.0)
        failover_at = time.monotonic()
        sentinels.failover()
        shared_again = None
        while time.monotonic() - failover_at < 20:
            if new.commandstat("evalsha") > before and "role:master" in new.cli("INFO", "replication"):
                shared_again = time.monotonic() - failover_at
                break
            time.sleep(0.05)
        summaries = deployments.finish_fleet(procs)
        assert sentinels.master_port() != old_port, "the sentinels elected the replica"
        assert sum(s["items"] for s in summaries) == len(items)
        assert sum(s["ok"] for s in summaries) == len(items), [s["errors"] for s in summaries]
        assert shared_again is not None, "the new master ran the script"
        with capsys.disabled():
            print(f"\nSENTINEL FAILOVER mid-run: the limiter was shared again {shared_again:.2f} s later; "
                  f"{rejections(emu)} answers 60007, {sum(s['ok'] for s in summaries)}/{len(items)} ok")


def test_a_url_at_a_replica_is_not_an_outage_but_names_the_fix(sentinels: Sentinels, emu: Emulator,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    gid = emu.create_group("Public")
    url = f"redis://127.0.0.1:{sentinels.replica.port}/0"
    client = emu.client(rate_limit=50.0, rate_limit_url=url)
    for _ in range(5):
        client.delete_group_msg_by_sender(gid, "spammer")
        assert client.effective_rate_limit == 12.5, "the fallback's rate, not the configured one"
    warnings = [r.getMessage() for r in caplog.records if r.name == "timrest" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "readonly" in warnings[0] and "redis+sentinel://" in warnings[0], warnings


# --- ACL users and secrets -------------------------------------------------------------------


def test_a_fleet_with_a_least_privilege_acl_user(folder: pathlib.Path) -> None:
    node = Node(folder)
    try:
        node.cli("ACL", "SETUSER", "timrest", "on", ">s3cret-pass", *ACL_LINE.split())
        with Emulator(rate_limit=100.0, latency=0.05) as emu:
            items = seed(emu)
            url = f"redis://timrest:s3cret-pass@127.0.0.1:{node.port}/0"
            summaries = run_fleet(emu.base_url, 4, items, rate_limit_url=url)
            assert_clean_fleet(emu, items, summaries)
        # A user allowed the scripting commands alone fails on the script's first HMGET: a typed
        # error that gives the line to grant.
        node.cli("ACL", "SETUSER", "narrow", "on", ">narrow-pass", "~timrest:*", "+@scripting", "+@connection")
        with Emulator() as emu:
            client = emu.client(rate_limit=50.0, rate_limit_url=f"redis://narrow:narrow-pass@127.0.0.1:{node.port}")
            with pytest.raises(timrest.LimiterError) as info:
                client.delete_group_msg_by_sender(emu.create_group("Public"), "spammer")
            assert "ACL SETUSER narrow" in str(info.value) and "+@hash" in str(info.value), str(info.value)
    finally:
        node.kill()


@pytest.mark.parametrize("password", ["pa/ss#wo?rd@x:y", "p@ss", "a:b/c"])
def test_passwords_with_url_characters_work_and_are_never_shown(folder: pathlib.Path, emu: Emulator,
                                                              password: str, caplog: pytest.LogCaptureFixture,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    node = Node(folder)
    try:
        node.cli("ACL", "SETUSER", "alice", "on", f">{password}", *ACL_LINE.split())
        gid = emu.create_group("Public")
        encoded = urllib.parse.quote(password, safe="")
        # Percent-encoded, it is the right password.
        good = emu.client(rate_limit=50.0, rate_limit_url=f"redis://alice:{encoded}@127.0.0.1:{node.port}/0")
        good.delete_group_msg_by_sender(gid, "spammer")
        assert node.commandstat("evalsha") >= 1
        for shown in (repr(good), str(good.rate_limit_url)):
            assert password not in shown and encoded not in shown, shown
        # Raw or encoded, a wrong one is a LimiterError naming the user, never the password.
        for url in (f"redis://alice:{password}X@127.0.0.1:{node.port}/0",
                    f"redis://alice:{encoded}X@127.0.0.1:{node.port}/0",
                    f"redis+sentinel://alice:{password}@127.0.0.1:1/mymaster"):
            try:
                client = emu.client(rate_limit=50.0, rate_limit_url=url, rate_limit_fallback="fail", deadline=1.0)
            except timrest.ConfigError as e:
                texts = [str(e), repr(e)]
            else:
                assert password not in repr(client)
                with pytest.raises(timrest.TimError) as info:
                    client.delete_group_msg_by_sender(gid, "spammer")
                e = info.value
                texts = [str(e), repr(e), repr(pickle.loads(pickle.dumps(e))), e.info]
                if "sentinel" not in url:
                    assert isinstance(e, timrest.LimiterError) and '"alice"' in str(e), str(e)
            for text in texts:
                assert password not in text and encoded not in text, text
        for record in caplog.records:
            assert password not in record.getMessage() and encoded not in record.getMessage()
        # The command line: the error on stderr shows no password either, raw or encoded.
        for wrong in (f"{password}X", f"{encoded}X"):
            env = {**os.environ, "TIM_SDKAPPID": str(emu.sdkappid), "TIM_SECRET_KEY": DEMO_SECRET_KEY,
                   "TIM_BASE_URL": emu.base_url, "TIM_RATE_LIMIT_URL": f"redis://alice:{wrong}@127.0.0.1:{node.port}/0"}
            cli = subprocess.run([sys.executable, "-m", "timrest", "delete", "--group", gid, "--sender", "spammer"],
                                 env=env, capture_output=True, text=True, timeout=60)
            assert cli.returncode != 0
            assert "LimiterError" in cli.stderr or "ConfigError" in cli.stderr, cli.stderr
            if wrong.startswith(encoded):
                assert '"alice"' in cli.stderr, cli.stderr
            assert password not in cli.stderr + cli.stdout and encoded not in cli.stderr + cli.stdout, cli.stderr
    finally:
        node.kill()


def test_no_password_for_a_server_that_wants_one_says_so(folder: pathlib.Path, emu: Emulator) -> None:
    node = Node(folder, password="needed-one")
    try:
        client = emu.client(rate_limit=50.0, rate_limit_url=f"redis://127.0.0.1:{node.port}/0")
        with pytest.raises(timrest.LimiterError) as info:
            client.delete_group_msg_by_sender(emu.create_group("Public"), "spammer")
        assert "wants a password" in str(info.value), str(info.value)
    finally:
        node.kill()


# --- Outages ---------------------------------------------------------------------------------


def outage_run(emu: Emulator, node: Node, fallback: str, processes: int, items: list[tuple[str, str]],
               kill_after: float, down_for: float) -> list[dict[str, Any]]:
    procs = deployments.start_fleet(emu.base_url, processes, items, rate_limit_url=f"redis://127.0.0.1:{node.port}/0",
                                    rate_limit_fallback=fallback)
    time.sleep(kill_after)
    node.kill()
    time.sleep(down_for)
    node.start()
    return deployments.finish_fleet(procs)


def test_redis_killed_and_restarted_under_an_8_process_fleet(folder: pathlib.Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """``local``: the fallback shares the rate by the clients seen (8 → an eighth each, not a
    quarter), starts after the starts Redis promised, and the return keeps the fallback's pace for
    a moment; every item is done. The target is at most 10 × 60007 (64 before): every benchmark run
    on a quiet machine met it, two of nine runs beside other work gave 14 and 20
    (docs/production-redis.md), so this asserts 30, which a return to the old behaviour exceeds. ``fail``: an outage shorter than the deadline fails nothing."""
    node = Node(folder)
    try:
        with Emulator(rate_limit=100.0, latency=0.05) as emu:
            items = seed(emu, groups=100, senders=10)
            summaries = outage_run(emu, node, "local", 8, items, kill_after=2.0, down_for=1.0)
            assert sum(s["ok"] for s in summaries) == len(items), [s["errors"] for s in summaries]
            refused = rejections(emu)
            elapsed = max(s["elapsed"] for s in summaries)
            with capsys.disabled():
                print(f"\n8 processes, Redis killed for 1 s under local: {refused} answers 60007 of "
                      f"{len(emu.requests())}, {elapsed:.1f} s for {len(items)} items")
            assert refused <= 30, refused
            assert all("answers again" in s["stderr"] for s in summaries), [s["stderr"][-300:] for s in summaries]

        with Emulator(rate_limit=100.0, latency=0.05) as emu:
            items = seed(emu)
            summaries = outage_run(emu, node, "fail", 8, items, kill_after=2.0, down_for=1.0)
            failures = {k: v for s in summaries for k, v in s["errors"].items()}
            with capsys.disabled():
                print(f"8 processes, Redis killed for 1 s under fail: {sum(s['ok'] for s in summaries)} ok, "
                      f"failures {failures}, {rejections(emu)} answers 60007")
            assert failures == {}, failures
            assert sum(s["ok"] for s in summaries) == len(items)
    finally:
        node.kill()


def test_frozen_redis_is_waited_for_within_the_deadline(folder: pathlib.Path, emu: Emulator) -> None:
    """SIGSTOP for 1.5 s: the `fail` client's call waits and succeeds; nothing hangs past its deadline."""
    node = Node(folder)
    try:
        gid = emu.create_group("Public")
        client = emu.client(rate_limit=50.0, rate_limit_url=f"redis://127.0.0.1:{node.port}/0",
                            rate_limit_fallback="fail", deadline=5.0)
        client.delete_group_msg_by_sender(gid, "spammer")
        node.freeze()
        threading.Timer(1.5, node.thaw).start()
        started = time.monotonic()
        client.delete_group_msg_by_sender(gid, "spammer")
        assert time.monotonic() - started >= 1.0, "it waited for Redis"
        node.freeze()
        try:
            short = emu.client(rate_limit=50.0, rate_limit_url=f"redis://127.0.0.1:{node.port}/0",
                               rate_limit_fallback="fail", deadline=1.0)
            with pytest.raises(timrest.LimiterError) as info:
                short.delete_group_msg_by_sender(gid, "spammer")
            assert "deadline" in str(info.value), str(info.value)
        finally:
            node.thaw()
    finally:
        node.kill()
