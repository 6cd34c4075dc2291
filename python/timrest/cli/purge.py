"""``timrest purge`` and ``timrest ban``: one job for many accounts (``Client.purge_senders``).

``purge SENDER...`` deletes what the accounts posted in every group they joined; ``ban SENDER...``
first mutes each account everywhere, permanently (``--kick`` also ends its login state), then does
the same. Both take ``--senders-file``, ``--remove``, ``--deep [--since WHEN]``, ``--dry-run`` and
``--report FILE [--resume]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from ..exceptions import TimError
from ._common import (
    _raise_interrupt,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    MAX_CONCURRENCY,
    PROG,
    _client,
    _concurrency,
    _describe,
    _duration,
    _fail,
    _page_size,
    _plural,
)

_DESCRIPTION = (
    "{what} Then plan: the groups and topics of every account (get_joined_group_list, get_topic), written to the "
    "report before anything is cleaned. Then clean each group: --remove takes the accounts out (delete_group_member, "
    "silent), delete_group_msg_by_sender deletes what they posted among the latest 1000 (silent: clients see it "
    "when they load history again), and --deep reads the history below those 1000 once for all the accounts and "
    "recalls what they posted there (group_msg_recall: VISIBLE to every client, and final). The commands run side "
    "by side, each within the rate limit. AVChatRoom groups keep no history: they are skipped, as are groups "
    "dissolved during the job. Each step is written to --report (JSON lines: account, group_id, topic_id, step, "
    "outcome, code, detail, recalled) as it ends, or to stdout; --resume does only the steps not ok there, with the "
    "plan written there. --dry-run sends reads only and prints what would happen, the calls per command and the "
    "time they take."
)


def add_parsers(commands: Any, client: argparse.ArgumentParser) -> None:
    """The ``purge`` and ``ban`` commands."""
    p = commands.add_parser(
        "purge", parents=[client], help="delete what accounts posted in every group they joined",
        description=_DESCRIPTION.format(what="Delete what each SENDER posted in every group it joined."),
    )
    _job_options(p, ban=False)
    p.set_defaults(run=_cmd_purge)

    p = commands.add_parser(
        "ban", parents=[client], help="stop accounts (mute, kick) and purge them everywhere",
        description=_DESCRIPTION.format(
            what="Stop each SENDER first: mute it everywhere, permanently (openconfigsvr/setnospeaking), and with "
            "--kick end its login state. TIM has no account ban: your app server must also stop issuing UserSigs "
            "to these accounts, or a new UserSig logs them in again."
        ),
    )
    _job_options(p, ban=True)
    p.set_defaults(run=_cmd_ban)


def _job_options(p: argparse.ArgumentParser, *, ban: bool) -> None:
    p.add_argument("senders", nargs="*", metavar="SENDER", help="an account to purge (repeatable)")
    p.add_argument("--senders-file", metavar="FILE",
                   help="more accounts, one per line ('-' for stdin); blank lines and '#' comments are skipped, "
                        "duplicates kept once")
    if ban:
        p.add_argument("--kick", action="store_true", help="also end each account's login state (im_open_login_svc/kick)")
    p.add_argument("--remove", action="store_true", help="remove the accounts from each group first (silent)")
    p.add_argument("--deep", action="store_true",
                   help="also recall what they posted below the latest 1000 messages (visible to clients)")
    p.add_argument("--since", type=_when, metavar="WHEN",
                   help="with --deep, leave older messages alone: a date (2026-11-01), a time with its zone "
                        "(2026-11-01T08:00:00+08:00), Unix seconds, or a span back from now (90m, 12h, 7d)")
    p.add_argument("--dry-run", action="store_true",
                   help="send reads only; print each step that would run (ACCOUNT, GROUP, TOPIC, STEP, OUTCOME, "
                        "tab-separated, '-' for none), the calls per command and their time")
    p.add_argument("--format", choices=("text", "csv", "jsonl"), default="text",
                   help="with --dry-run: text (the default, as above), or the planned deletions as input for "
                        "delete-batch: csv (group_id,sender,topic_id with a header) or jsonl (one object per line)")
    p.add_argument("--report", metavar="FILE",
                   help="write each step to FILE as a JSON line as it ends (a new file; default: stdout)")
    p.add_argument("--resume", action="store_true",
                   help="go on with the job of --report FILE: only the steps not ok there, with its plan")
    p.add_argument("--group-type", action="append", metavar="TYPE",
                   help="only groups of this type (repeatable): Public, Private (Work), ChatRoom (Meeting), Community")
    p.add_argument("--no-topics", dest="topics", action="store_false",
                   help="leave the topics of topic-enabled Communities alone")
    p.add_argument("--page-size", type=_page_size, default=1000, metavar="N",
                   help="groups per get_joined_group_list page (default 1000, at most 5000)")
    p.add_argument("--concurrency", type=_concurrency, default=16, metavar="N",
                   help=f"calls in flight per command at most (default 16, at most {MAX_CONCURRENCY})")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr; default: when stderr is a terminal")


_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _when(text: str) -> int:
    """``--since``: Unix seconds, an ISO date or time, or a span back from now."""
    value = text.strip()
    span = _SPAN.match(value)
    if span:
        return int(time.time() - float(span.group(1)) * _SPAN_SECONDS[span.group(2)])
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (give 2026-11-01, 2026-11-01T08:00:00+08:00, Unix seconds, or 12h, 7d)"
        ) from None
    if moment.tzinfo is None and "T" not in value and " " not in value:
        moment = moment.replace(tzinfo=timezone.utc)  # a bare date: its start, in UTC
    return int(moment.timestamp())


def _read_senders(args: argparse.Namespace) -> list[str]:
    """The accounts of the command line and of ``--senders-file``, in order, each once."""
    senders = [s.strip() for s in args.senders]
    if args.senders_file is not None:
        try:
            stream: TextIO = sys.stdin if args.senders_file == "-" else open(
                args.senders_file, encoding="utf-8-sig", newline=""
            )
        except OSError as e:
            _fail(f"cannot read {args.senders_file}: {e.strerror or e}", EXIT_USAGE)
        try:
            for number, line in enumerate(stream, start=1):
                account = line.strip()
                if not account or account.startswith("#"):
                    continue
                if any(c.isspace() for c in account) or "," in account:
                    _fail(f"{args.senders_file}: line {number} is not one account ID: {account[:40]!r}", EXIT_USAGE)
                senders.append(account)
        finally:
            if stream is not sys.stdin:
                stream.close()
    unique = list(dict.fromkeys(s for s in senders if s))
    if not unique:
        _fail("no senders: name accounts on the command line or give --senders-file FILE", EXIT_USAGE)
    return unique



def _cmd_purge(args: argparse.Namespace) -> int:
    return _run_job(args, ban=False)


def _cmd_ban(args: argparse.Namespace) -> int:
    return _run_job(args, ban=True)


def _run_job(args: argparse.Namespace, *, ban: bool) -> int:
    if args.resume and not args.report:
        _fail("--resume needs --report FILE: the report of the job to go on with", EXIT_USAGE)
    if args.since is not None and not args.deep:
        _fail("--since applies to the deep pass: add --deep", EXIT_USAGE)
    if args.format != "text" and not args.dry_run:
        _fail(f"--format {args.format} is for --dry-run (the job itself writes JSON lines)", EXIT_USAGE)
    senders = _read_senders(args)
    batch_rows = csv.writer(sys.stdout, lineterminator="\n") if args.format == "csv" else None
    if batch_rows is not None:
        batch_rows.writerow(["group_id", "sender", "topic_id"])
    client = _client(args)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    to_stdout = args.report is None and not args.dry_run

    def on_result(step: Any) -> None:
        if to_stdout:
            sys.stdout.write(json.dumps(step.to_record(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        elif args.dry_run and args.format == "text":
            print(_plan_line(step))
        elif args.dry_run and step.step == "delete" and step.outcome == "planned" and step.group_id:
            # The deletions, as delete-batch reads them: a dry run can feed a batch.
            if batch_rows is not None:
                batch_rows.writerow([step.group_id, step.account, step.topic_id or ""])
            else:
                record = {"group_id": step.group_id, "sender": step.account, "topic_id": step.topic_id}
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    # SIGTERM stops the job as Ctrl-C does: the calls in flight end and are written.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        report = client.purge_senders(
            senders, mute=ban, kick=ban and args.kick, remove=args.remove, deep=args.deep, since=args.since,
            dry_run=args.dry_run, report=args.report, resume=args.resume, group_types=args.group_type,
            include_topics=args.topics, concurrency=args.concurrency, progress=progress, on_result=on_result,
            page_size=args.page_size,
        )  # fmt: skip
    except TimError as e:
        # Nothing was cleaned: bad arguments, a report that cannot be used, or a listing that failed.
        status = EXIT_USAGE if e.kind in ("invalid_argument", "config") else EXIT_FAILED
        _fail(_describe(e), status)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return _summary(args, client, report, len(senders))


def _plan_line(step: Any) -> str:
    line = f"{step.account}\t{step.group_id or '-'}\t{step.topic_id or '-'}\t{step.step}\t{step.outcome}"
    if step.step == "recall":
        line += f"\t{_plural(step.recalled, 'message')} to recall (visible to clients)"
    elif step.detail:
        line += f"\t{step.detail}"
    return line


def _summary(args: argparse.Namespace, client: Any, report: Any, accounts: int) -> int:
    groups = {g for _, g, _, _ in report.plan}
    topics = {(g, t) for _, g, _, t in report.plan if t}
    rate = client.rate_limit
    what = "dry run" if report.dry_run else "job"
    line = (f"{PROG}: {what}: {_plural(accounts, 'account')} in {_plural(len(groups), 'group')} and "
            f"{_plural(len(topics), 'topic')}; {report.ok} {'planned' if report.dry_run else 'ok'}, "
            f"{report.failed} failed, {report.skipped} skipped in {_duration(report.elapsed)}")
    if report.resumed:
        line += f"; {report.resumed} done by earlier runs"
    if args.deep:
        line += f"; {_plural(report.recalled, 'message')} {'to recall' if report.dry_run else 'recalled'}"
    if args.report:
        line += f"; report in {args.report}"
    print(line, file=sys.stderr)
    if report.dry_run:
        print(f"{PROG}: calls per command" + (f", at {rate:g}/s each:" if rate else ":"), file=sys.stderr)
        width = max((len(c) for c in report.calls), default=0)
        for command, n in sorted(report.calls.items()):
            took = f"  {_duration(n / rate)}" if rate else ""
            print(f"  {command:<{width}}  {n:>7}{took}", file=sys.stderr)
        if rate:
            print(f"{PROG}: at least {_duration(report.bound(rate))}: the commands run side by side, so the busiest "
                  "one sets the time", file=sys.stderr)
        if report.recalled:
            print(f"{PROG}: the deep pass would recall {_plural(report.recalled, 'message')}: a recall is visible "
                  "to every client and cannot be undone", file=sys.stderr)
    if report.interrupted or report.stopped_early:
        if report.abandoned:
            what = (f"stopped by a second Ctrl-C: abandoned {_plural(report.abandoned, 'call')} in flight (they "
                    "may or may not have reached the server, and are not in the report)")
        else:
            what = "stopped: the steps in flight ended and were written"
        print(f"{PROG}: {what}" + ("; run again with --resume to finish" if args.report else ""), file=sys.stderr)
        return EXIT_INTERRUPTED if report.interrupted else EXIT_FAILED
    return EXIT_OK if report.failed == 0 else EXIT_FAILED
