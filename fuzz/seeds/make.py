"""Writes the seed corpus of each fuzz target into fuzz/corpus/<target>/ from real fixtures: the
answers the emulator and Tencent give, request heads the client really sends (captured on a
loopback socket), UserSigs from the spec's test vectors, a report the incident job wrote, and the
replies the Redis script gives. Run with the project's venv: `.venv/bin/python fuzz/seeds/make.py`."""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import sys
import tempfile
import threading
import zlib
import base64
from pathlib import Path

import timrest
from timrest.testing import DEMO_SECRET_KEY, Emulator

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def put(target: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def tim_answer() -> None:
    bodies = [
        b'{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}',
        b'{"ActionStatus":"FAIL","ErrorInfo":"group not found","ErrorCode":10010}',
        b'{"ActionStatus":"FAIL","ErrorInfo":"over the rate limit","ErrorCode":60007}',
        b'{"ActionStatus":"FAIL","ErrorInfo":"UserSig expired","ErrorCode":70001}',
        b'{"ActionStatus":"OK","ErrorCode":0,"GroupIdList":[{"GroupId":"@TGS#2"}],"TotalCount":1}',
        b'<html><body>502 Bad Gateway</body></html>',
        b'{"ErrorCode":"0"}',
        b"",
    ]
    for status in (200, 502, 429, 404):
        for body in bodies:
            put("tim_answer", struct.pack("<H", status) + body)


def request_head() -> None:
    """The heads a real client writes, captured by a socket that answers like TIM."""
    heads: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            data = conn.recv(65536)
            heads.append(data)
            body = b'{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            conn.close()

    t = threading.Thread(target=serve)
    t.start()
    client = timrest.Client(1400000000, secret_key=DEMO_SECRET_KEY, base_url=f"http://127.0.0.1:{server.getsockname()[1]}",
                            rate_limit=None)
    client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "spammer")
    client.delete_group_msg_by_sender("@TGS#_2C5SZEAEF", "spammer", topic_id="@TGS#_2C5SZEAEF@TOPIC#news")
    t.join()
    # The client already spliced its UserSig: put the placeholder back, as ureq wrote it.
    placeholder = b"usersig=timrest-usersig-placeholder&"
    for data in heads:
        head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        start = head.index(b"usersig=")
        end = head.index(b"&", start) + 1
        raw = head[:start] + placeholder + head[end:]
        value = head[start:end]
        for room in (0, 64, 255):
            put("request_head", bytes([room, 255, min(len(value), 255)]) + value[:255] + raw)
        emulator_request(data)


def emulator_request(data: bytes) -> None:
    put("emulator_request", data)


def emulator_requests() -> None:
    put("emulator_request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    put("emulator_request", b"POST /v4/group_open_http_svc/delete_group_msg_by_sender?sdkappid=1 HTTP/1.1\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n")
    put("emulator_request", b"POST /v4/x/y HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{}")


def usersig() -> None:
    for identifier, expire in (("xiaojun", 15552000), ("admin", 86400)):
        put("usersig", timrest.gen_usersig(1400000000, DEMO_SECRET_KEY, identifier, expire).encode())
    document = json.dumps({"TLS.ver": "2.0", "TLS.identifier": "x", "TLS.sdkappid": 1, "TLS.expire": 1,
                           "TLS.time": 1, "TLS.sig": "AAAA"}).encode()
    encoded = base64.b64encode(zlib.compress(document)).decode().replace("+", "*").replace("/", "-").replace("=", "_")
    put("usersig", encoded.encode())
    put("usersig", b"eJyrVkrOz0vOT0lVslIqSS0uUarlAgA-Rgbx")


def job_report() -> None:
    with Emulator(sdkappid=1400000123, rate_limit=None) as emu:  # the sdkappid of the target's header
        for _ in range(3):
            g = emu.create_group("Public", members=("spammer", "alice"))
            emu.send_group_msg(g, "spammer", "spam")
        client = timrest.Client(1400000123, secret_key=DEMO_SECRET_KEY, base_url=emu.base_url, rate_limit=None)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "r.jsonl"
            client.purge_senders(["spammer"], report=str(path))
            if path.exists():
                data = path.read_bytes()
                put("job_report", b"\x00" + data)
                # Without the header (the target adds it for odd first bytes).
                put("job_report", b"\x01" + data.split(b"\n", 1)[1])
                put("job_report", b"\x01" + data.split(b"\n", 1)[1][:-7])  # a torn last line
    step = {"account": "spammer", "code": None, "detail": "", "group_id": "@TGS#2", "outcome": "ok", "recalled": 0,
            "step": "delete", "topic_id": None}
    plan = {"plan": {"account": "spammer", "group_id": "@TGS#2", "group_type": "Public", "topic_id": None}}
    lines = [json.dumps(plan), json.dumps({"plan_complete": {"targets": 1}}), json.dumps(step)]
    put("job_report", b"\x01" + ("\n".join(lines) + "\n").encode())


def redis_reply() -> None:
    def resp(granted: int, wait: int, rate: str, clients: int, lost: int) -> bytes:
        return b"*5\r\n:%d\r\n:%d\r\n$%d\r\n%s\r\n:%d\r\n:%d\r\n" % (granted, wait, len(rate), rate.encode(), clients, lost)

    for args in ((1, 0, "95", 1, 0), (0, 250000, "47.5", 8, 0), (1, 10000, "95.0", 3, 1)):
        put("redis_reply", resp(*args))
    put("redis_reply", b"-NOSCRIPT No matching script. Please use EVAL.\r\n")
    put("redis_reply", b"+OK\r\n")
    put("redis_reply", b"*3\r\n:1\r\n:0\r\n$-1\r\n")


def config() -> None:
    good = ["1400000123", "secret", "", "administrator", "singapore", "http://127.0.0.1:8080", "95",
            "redis://127.0.0.1:6379/0", "local", "", "", ""]
    put("config", "\0".join(good).encode())
    put("config", "\0".join(["0", "", "eJx", "", "mars", "https://", "-1", "rediss://u:p@[::1]:1/x", "bogus"]).encode())
    put("config", b"http://gw.example.com/tim/\0socks5://user:pw@127.0.0.1:1080\0redis+sentinel://h:26379/m\0frankfurt")


if __name__ == "__main__":
    for make in (tim_answer, request_head, emulator_requests, usersig, job_report, redis_reply, config):
        make()
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} seeds", file=sys.stderr)
