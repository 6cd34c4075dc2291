"""Real Redis deployments on loopback for the tests, from Debian's ``redis-server`` and ``redis-cli``
(``scripts/deps.sh`` installs them): one node (optionally with TLS or an ACL user), a Cluster of
three masters, and a master with a replica watched by three sentinels. Persistence is off
everywhere, every file lives in a temporary folder, and ``stop()`` ends only what was started here.

Also the fleet runner the tests share: OS processes, each with its own ``timrest.Client``
(``worker.py``), starting together against one emulator.
"""

from __future__ import annotations

import json
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

WORKER = pathlib.Path(__file__).with_name("worker.py")
NO_DISK = ["--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, and below 65536."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def wait_until(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"gave up waiting: {what}")


class Node:
    """One ``redis-server``; ``extra`` are more config arguments. ``tls`` (a :class:`Certificates`)
    serves TLS only, asking for a client certificate."""

    def __init__(self, folder: pathlib.Path, extra: Optional[list[str]] = None, tls: Optional["Certificates"] = None,
                 password: Optional[str] = None, port: Optional[int] = None) -> None:
        self.port = port or free_port()
        self.folder = folder
        self.extra = extra or []
        self.tls = tls
        self.password = password
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def args(self) -> list[str]:
        args = ["redis-server", "--bind", "127.0.0.1", "--dir", str(self.folder), *NO_DISK]
        if self.tls is not None:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.server_cert),
                     "--tls-key-file", str(self.tls.server_key), "--tls-ca-cert-file", str(self.tls.ca),
                     "--tls-auth-clients", "yes"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        return args + self.extra

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING") == "PONG", f"redis-server on port {self.port}")

    def cli(self, *args: str) -> str:
        cmd = ["redis-cli", "-p", str(self.port)]
        if self.tls is not None:
            cmd += ["--tls", "--cacert", str(self.tls.ca), "--cert", str(self.tls.client_cert),
                    "--key", str(self.tls.client_key)]
        if self.password:
            cmd += ["--no-auth-warning", "-a", self.password]
        out = subprocess.run([*cmd, *args], capture_output=True, text=True, check=True, timeout=10)
        return out.stdout.strip()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def commandstat(self, command: str) -> int:
        for line in self.cli("INFO", "commandstats").splitlines():
            if line.startswith(f"cmdstat_{command}:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0


class Certificates:
    """A private CA, a server certificate for 127.0.0.1/localhost and a client certificate, all
    made here with ``openssl``; ``other_ca`` is a second CA that signed nothing of ours."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder
        self.ca, ca_key = self._ca("ca")
        self.other_ca, other_key = self._ca("other-ca")
        self.server_cert, self.server_key = self._leaf("server", ca_key, "subjectAltName=IP:127.0.0.1,DNS:localhost")
        self.client_cert, self.client_key = self._leaf("client", ca_key, "extendedKeyUsage=clientAuth")
        # A client certificate from the other CA: the server must refuse it.
        self.stranger_cert, self.stranger_key = self._leaf("stranger", other_key, "extendedKeyUsage=clientAuth",
                                                           ca=self.other_ca)

    def _run(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=self.folder, timeout=60)

    def _ca(self, name: str) -> tuple[pathlib.Path, pathlib.Path]:
        key, cert = self.folder / f"{name}.key", self.folder / f"{name}.pem"
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN=timrest test {name}",
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
        return cert, key

    def _leaf(self, name: str, ca_key: pathlib.Path, ext: str,
              ca: Optional[pathlib.Path] = None) -> tuple[pathlib.Path, pathlib.Path]:
        ca = ca or self.ca
        key, csr, cert = (self.folder / f"{name}.{x}" for x in ("key", "csr", "pem"))
        extfile = self.folder / f"{name}.ext"
        extfile.write_text(ext + "\n")
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
        self._run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                  "-out", str(cert), "-days", "2", "-extfile", str(extfile))
        return cert, key


class Cluster:
    """Three masters, no replicas (``redis-cli --cluster create``)."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.nodes = []
        for i in range(3):
            sub = folder / f"node{i}"
            sub.mkdir()
            self.nodes.append(Node(sub, ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                         "--cluster-node-timeout", "2000"], port=free_cluster_port()))
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        wait_until(lambda: all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in self.nodes), "cluster_state:ok")

    def url(self, node: int = 0) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[node].port}"

    def node_of(self, key: str) -> int:
        """Which of the nodes serves the slot of ``key``."""
        slot = int(self.nodes[0].cli("CLUSTER", "KEYSLOT", key))
        for i, n in enumerate(self.nodes):
            node_id = n.cli("CLUSTER", "MYID")
            for line in n.cli("CLUSTER", "NODES").splitlines():
                fields = line.split()
                if fields[0] != node_id:
                    continue
                for r in fields[8:]:
                    if r.startswith("["):
                        continue
                    lo, _, hi = r.partition("-")
                    if int(lo) <= slot <= int(hi or lo):
                        return i
        raise RuntimeError(f"no node serves slot {slot}")

    def node_id(self, node: int) -> str:
        return self.nodes[node].cli("CLUSTER", "MYID")

    def stop(self) -> None:
        for n in self.nodes:
            n.kill()


class Sentinels:
    """A master, one replica, and three sentinels watching them as ``mymaster`` (quorum 2)."""

    SERVICE = "mymaster"

    def __init__(self, folder: pathlib.Path) -> None:
        (folder / "master").mkdir()
        (folder / "replica").mkdir()
        self.master = Node(folder / "master")
        self.replica = Node(folder / "replica", ["--replicaof", "127.0.0.1", str(self.master.port)])
        wait_until(lambda: "master_link_status:up" in self.replica.cli("INFO", "replication"), "replica in sync")
        self.sentinels: list[tuple[int, subprocess.Popen[bytes]]] = []
        for i in range(3):
            port = free_port()
            conf = folder / f"sentinel{i}.conf"
            conf.write_text(f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {folder}\n"
                            f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.master.port} 2\n"
                            f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                            f"sentinel failover-timeout {self.SERVICE} 5000\n")
            proc = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            self.sentinels.append((port, proc))
        for port, _ in self.sentinels:
            wait_until(lambda port=port: self.sentinel_cli(port, "SENTINEL", "REPLICAS", self.SERVICE) != "",
                       f"sentinel {port} sees the replica")

    def sentinel_cli(self, port: int, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True,
                             timeout=10)
        return out.stdout.strip()

    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port, _ in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.SERVICE}"

    def master_port(self) -> int:
        port, _ = self.sentinels[0]
        return int(self.sentinel_cli(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE).split()[1])

    def failover(self) -> None:
        port, _ = self.sentinels[0]
        self.sentinel_cli(port, "SENTINEL", "FAILOVER", self.SERVICE)

    def stop(self) -> None:
        for _, proc in self.sentinels:
            proc.kill()
            proc.wait()
        self.replica.kill()
        self.master.kill()


def temp_folder() -> pathlib.Path:
    return pathlib.Path(tempfile.mkdtemp(prefix="timrest-redis-"))


def start_fleet(base_url: str, processes: int, items: list[tuple[str, str]], **settings: Any) -> list[Any]:
    """Starts ``processes`` workers on shares of ``items`` and returns once they all run.

    A barrier, not a start time: each worker starts its interpreter, imports timrest and builds
    its client, says ``ready``, and waits; only when every one is ready are they all told to go.
    So no worker is still starting (a busy core on a 2-core machine) while the others send, and
    the time after this returns is the time into the run.
    """
    procs = []
    for i in range(processes):
        job = {"base_url": base_url, "rate_limit": 95.0, "items": items[i::processes], **settings}
        procs.append(subprocess.Popen([sys.executable, str(WORKER), json.dumps(job)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.kill()
            _, err = p.communicate(timeout=30)
            raise AssertionError(f"a worker did not start: {line!r} {err}")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    return procs


def finish_fleet(procs: list[Any]) -> list[dict[str, Any]]:
    """Each worker's summary (its last line of output), with what it wrote on stderr."""
    summaries = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        summary["stderr"] = err
        summaries.append(summary)
    return summaries


def run_fleet(base_url: str, processes: int, items: list[tuple[str, str]], **settings: Any) -> list[dict[str, Any]]:
    return finish_fleet(start_fleet(base_url, processes, items, **settings))
