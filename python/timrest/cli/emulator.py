"""``timrest emulator`` (serve the local TIM emulator) and ``timrest demo`` (a before-and-after
run on it)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any, Optional, TextIO

from .. import _native
from ..exceptions import TimError
from ._common import (
    _raise_interrupt,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    _duration,
    _fail,
    _one_line,
    _plural,
    _port,
    _rate,
    _sdkappid,
    _seconds,
)


def add_parsers(commands: Any, client: argparse.ArgumentParser) -> None:
    """The ``emulator`` and ``demo`` commands."""
    p = commands.add_parser(
        "emulator", help="serve the local TIM emulator until Ctrl-C",
        description="Serve the TIM REST emulator in this process. Prints its base URL alone on the first line "
        "of stdout, then serves until Ctrl-C (or SIGTERM). Point a client at it with --base-url or TIM_BASE_URL.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=0, help="port (default 0: a free one)")
    p.add_argument("--sdkappid", type=_sdkappid, default=_native.DEMO_SDKAPPID, metavar="N",
                   help=f"the app it serves (default the demo app {_native.DEMO_SDKAPPID})")
    p.add_argument("--secret-key", metavar="KEY",
                   help=f"the app's key (default: the demo key of the official libraries, {_native.DEMO_SECRET_KEY})")
    p.add_argument("--admin", action="append", metavar="ID", help="an App admin account (repeatable; default administrator)")
    p.add_argument("--rate-limit", type=_rate, default=100.0, metavar="N|off",
                   help="requests per second of each command before it answers 60007 (default 100; 'off' for none)")
    p.add_argument("--latency", type=_seconds, default=0.0, metavar="S", help="seconds added to every answer (default 0)")
    p.add_argument("--log", metavar="FILE",
                   help="append the request log to FILE as JSON lines while serving (command, random, identifier, "
                        "error_code, body...; never a secret), flushed every 0.2 s and on exit")
    p.add_argument("--seed-demo", action="store_true",
                   help="create the demo's groups, with their names as IDs (release-team, ops-oncall, friday-meetup), "
                   "each with messages from spammer42 among others")
    p.set_defaults(run=_cmd_emulator)

    p = commands.add_parser(
        "demo", help="a before-and-after demo on the embedded emulator",
        description="Start the emulator in this process, seed groups, delete what one sender posted in all of them "
        "with delete_many over real HTTP, and show the history before and after. Needs no credentials or network.",
    )
    p.set_defaults(run=_cmd_demo)



def _append_log(emulator: Any, out: TextIO, cursor: int) -> int:
    """Appends the requests logged since ``cursor`` to ``out``; returns the next cursor."""
    records, cursor = emulator.requests_since(cursor)
    if records:
        out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        out.flush()
    return int(cursor)


def _cmd_emulator(args: argparse.Namespace) -> int:
    from ..testing import Emulator  # the native emulator: imported only for the commands that serve one

    admins = args.admin or ["administrator"]
    try:
        emulator = Emulator(
            sdkappid=args.sdkappid,
            secret_key=args.secret_key if args.secret_key is not None else _native.DEMO_SECRET_KEY,
            admins=admins,
            rate_limit=args.rate_limit,
            latency=args.latency,
            host="127.0.0.1" if args.host == "localhost" else args.host,
            port=args.port,
        )
    except (ValueError, OSError, RuntimeError, TimError) as e:
        _fail(f"cannot start the emulator: {_one_line(str(e))}", EXIT_USAGE)
    if args.seed_demo:
        for gid, kind, _ in _seed_demo(emulator, named_ids=True):
            print(f"{PROG} emulator: seeded {kind} group {gid} ({len(emulator.messages(gid))} messages)", file=sys.stderr)
    log: Optional[TextIO] = None
    cursor = 0
    if args.log is not None:
        try:
            log = open(args.log, "a", encoding="utf-8")
        except OSError as e:
            emulator.close()
            _fail(f"cannot write the log to {args.log}: {e.strerror or e}", EXIT_USAGE)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        print(emulator.base_url, flush=True)
        limit = "no rate limit" if args.rate_limit is None else f"{args.rate_limit:g} requests/s"
        print(
            f"{PROG} emulator: serving sdkappid {args.sdkappid} (admins: {', '.join(admins)}; {limit}; "
            f"latency {args.latency:g} s) at {emulator.base_url}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        if log is None:
            while True:
                time.sleep(3600)
        cursor = 0
        while True:
            cursor = _append_log(emulator, log, cursor)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if log is not None:
            try:
                _append_log(emulator, log, cursor)
            finally:
                log.close()
        emulator.close()
    print(f"{PROG} emulator: stopped", file=sys.stderr)
    return EXIT_OK


_SPAMMER = "spammer42"


_DEMO_GROUPS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Public", "release-team", [
        ("alice", "Morning everyone! Stand-up in 10 minutes."),
        ("bob", "On my way."),
        (_SPAMMER, "CHEAP WATCHES >>> http://spam.example"),
        ("alice", "Bob, can you share the release notes?"),
        (_SPAMMER, "Limited offer!!! Click now"),
        ("bob", "Sure, posting them after the meeting."),
    ]),
    ("Work", "ops-oncall", [
        ("carol", "Disk alert on db-2 cleared."),
        (_SPAMMER, "Win a free phone, reply YES"),
        ("dave", "Thanks, closing the ticket."),
    ]),
    ("ChatRoom", "friday-meetup", [
        (_SPAMMER, "Crypto giveaway, send 1 coin get 2"),
        ("erin", "Pizza or tacos this week?"),
        ("frank", "Tacos!"),
        (_SPAMMER, "Last chance!!!"),
    ]),
]


_DISSOLVED = "old-lounge"


def _seed_demo(emulator: Any, *, named_ids: bool) -> list[tuple[str, str, str]]:
    """Creates the demo groups and their messages; returns (group ID, type, name) for each.

    With ``named_ids`` each group's ID is its name (``release-team`` …), so that a shell session
    can address them; otherwise the emulator makes ``@TGS#…`` IDs as Tencent does.
    """
    groups: list[tuple[str, str, str]] = []
    for kind, name, script in _DEMO_GROUPS:
        members = sorted({s for s, _ in script})
        gid = emulator.create_group(kind, group_id=name if named_ids else None, name=name, members=members)
        for sender, text in script:
            emulator.send_group_msg(gid, sender, text)
        groups.append((gid, kind, name))
    return groups


def _show_history(title: str, emulator: Any, groups: list[tuple[str, str, str]]) -> tuple[int, int]:
    """Prints every group's history; returns (messages, messages from the spammer)."""
    histories = [emulator.messages(gid) for gid, _, _ in groups]
    total = sum(len(h) for h in histories)
    spam = sum(m["From_Account"] == _SPAMMER for h in histories for m in h)
    print(f"{title}: {_plural(total, 'message')} in {_plural(len(groups), 'group')}, {spam} from {_SPAMMER!r}")
    for (gid, kind, name), history in zip(groups, histories):
        print(f"\n  {name}  ({kind} group {gid}, {_plural(len(history), 'message')})")
        if not history:
            print("    (no messages)")
        for m in history:
            sender = m["From_Account"]
            text = m["MsgBody"][0]["MsgContent"]["Text"] if m["MsgBody"] else ""
            mark = "   <- spam" if sender == _SPAMMER else ""
            print(f"    #{m['MsgSeq']:<3} {sender:<10} {text}{mark}")
    print()
    return total, spam


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..testing import Emulator

    print(f"{PROG} demo: delete everything one sender posted, across groups, on the embedded TIM emulator\n")
    with Emulator() as emulator:
        groups = _seed_demo(emulator, named_ids=False)
        emulator.create_group("Public", group_id=_DISSOLVED, name=_DISSOLVED)
        emulator.destroy_group(_DISSOLVED)

        client = emulator.client()
        print(f"  emulator  {emulator.base_url}  (in this process; sdkappid {emulator.sdkappid}, "
              f"admin {emulator.admins[0]!r}, signed with the demo key)")
        print(f"  client    {client!r}, rate limit {client.rate_limit:g}/s\n")

        before_total, before_spam = _show_history("Before", emulator, groups)
        items = [(gid, _SPAMMER) for gid, _, _ in groups] + [(_DISSOLVED, _SPAMMER)]
        print(f"Deleting: client.delete_many([(group, {_SPAMMER!r}) for each of {len(items)} groups], concurrency=4)")
        print(f"  ({_DISSOLVED!r} was dissolved on purpose, to show how a failed item is reported)\n")
        report = client.delete_many(items, concurrency=4)
        names = {gid: name for gid, _, name in groups}
        print(f"  {'group':<16} {'outcome':<30} {'attempts':>8}  time (waits for the limiter included)")
        for r in report.results:
            group = names.get(r.group_id or "", r.group_id or "?")
            outcome = "ok" if r.error is None else f"{type(r.error).__name__} ({r.error.code})"
            print(f"  {group:<16} {outcome:<30} {r.attempts:>8}  {_duration(r.elapsed)}")
        rate = client.rate_limit or 100.0
        print(f"\n  {report.ok} ok, {report.failed} failed in {_duration(report.elapsed)}. The times grow by about "
              f"{1000 / rate:g} ms a row: the rate limiter ({rate:g}/s, the quota) starts "
              f"requests at least that far apart, even with 4 in flight.\n")

        after_total, after_spam = _show_history("After", emulator, groups)
        deleted = before_spam - after_spam
        kept = after_total - after_spam
        print(f"Done: {_plural(deleted, 'message')} from {_SPAMMER!r} deleted, {after_spam} left; "
              f"the {kept} from everyone else untouched.")
        failed_as_expected = [type(r.error).__name__ for r in report.results if r.error is not None] == [
            "GroupNotFoundError"
        ]
        ok = after_spam == 0 and kept == before_total - before_spam and failed_as_expected
    print(f"\nTry it on your app: TIM_SDKAPPID=... TIM_SECRET_KEY=... {PROG} delete --group GROUP --sender USER")
    return EXIT_OK if ok else EXIT_FAILED

