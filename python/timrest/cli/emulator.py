"""``timrest emulator`` (serve the local TIM emulator) and ``timrest demo`` (a before-and-after
run on it).

``timrest emulator`` and the ``timrest-emulator`` command are one program: both run the Rust
emulator command (``timrest._native.serve_emulator``, the code of the Rust binary of that name),
so they take the same flags, seed the same demo groups and print the same first line.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, Optional, Sequence

from .. import _native
from ._common import _raise_interrupt, EXIT_FAILED, EXIT_OK, PROG, _duration, _plural

#: ``timrest emulator`` hands its arguments to the emulator command untouched; argparse only
#: lists it in ``timrest --help``.
COMMAND = "emulator"


def add_parsers(commands: Any, client: argparse.ArgumentParser) -> None:
    """The ``emulator`` and ``demo`` commands."""
    # Never parsed here: `main` in `timrest.cli` dispatches `timrest emulator ...` to `serve` first.
    commands.add_parser(
        COMMAND, help="serve the local TIM emulator until Ctrl-C (the timrest-emulator command)", add_help=False
    )

    p = commands.add_parser(
        "demo", help="a before-and-after demo on the embedded emulator",
        description="Start the emulator in this process, seed groups, delete what one sender posted in all of them "
        "with delete_many over real HTTP, and show the history before and after. Needs no credentials or network.",
    )
    p.set_defaults(run=_cmd_demo)


def serve(args: Sequence[str], prog: str = f"{PROG} {COMMAND}") -> int:
    """Runs the emulator command with ``args``; returns its exit status. Ctrl-C and SIGTERM stop
    it cleanly (its log, if any, written whole)."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return _native.serve_emulator(prog, list(args))
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``timrest-emulator`` console script."""
    return serve(sys.argv[1:] if argv is None else argv, prog="timrest-emulator")


_SPAMMER = _native.DEMO_SPAMMER
_DISSOLVED = "old-lounge"


def _show_history(title: str, emulator: Any, groups: list[Any]) -> tuple[int, int]:
    """Prints every group's history; returns (messages, messages from the spammer)."""
    histories = [emulator.messages(g.group_id) for g in groups]
    total = sum(len(h) for h in histories)
    spam = sum(m["From_Account"] == _SPAMMER for h in histories for m in h)
    print(f"{title}: {_plural(total, 'message')} in {_plural(len(groups), 'group')}, {spam} from {_SPAMMER!r}")
    for g, history in zip(groups, histories):
        print(f"\n  {g.name}  ({g.group_type} group {g.group_id}, {_plural(len(history), 'message')})")
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
        groups = emulator.seed_demo(named_ids=False)
        emulator.create_group("Public", group_id=_DISSOLVED, name=_DISSOLVED)
        emulator.destroy_group(_DISSOLVED)

        client = emulator.client()
        print(f"  emulator  {emulator.base_url}  (in this process; sdkappid {emulator.sdkappid}, "
              f"admin {emulator.admins[0]!r}, signed with the demo key)")
        print(f"  client    {client!r}, rate limit {client.rate_limit:g}/s\n")

        before_total, before_spam = _show_history("Before", emulator, groups)
        items = [(g.group_id, _SPAMMER) for g in groups] + [(_DISSOLVED, _SPAMMER)]
        print(f"Deleting: client.delete_many([(group, {_SPAMMER!r}) for each of {len(items)} groups], concurrency=4)")
        print(f"  ({_DISSOLVED!r} was dissolved on purpose, to show how a failed item is reported)\n")
        report = client.delete_many(items, concurrency=4)
        names = {g.group_id: g.name for g in groups}
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

