"""``timrest delete`` and ``timrest delete-batch``: one deletion, or many from a CSV or JSON-lines
file with a streamed report and ``--resume``."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Optional

from .._native import Client
from ..exceptions import ConfigError, InvalidArgumentError, TimError
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    MAX_CONCURRENCY,
    PROG,
    CliError,
    _client,
    _concurrency,
    _describe,
    _duration,
    _fail,
    _plural,
    _raise_interrupt,
    _try_lock,
)


def add_parsers(commands: Any, client: argparse.ArgumentParser) -> None:
    """The ``delete`` and ``delete-batch`` commands."""
    p = commands.add_parser(
        "delete", parents=[client], help="delete what one sender posted in a group",
        description="Delete the messages SENDER posted among the latest 1000 of GROUP (inside TOPIC when given): "
        "group_open_http_svc/delete_group_msg_by_sender.",
    )
    p.add_argument("--group", required=True, metavar="GROUP", help="the group ID")
    p.add_argument("--sender", required=True, metavar="SENDER", help="the UserID whose messages go")
    p.add_argument("--topic", metavar="TOPIC", help="a topic of a topic-enabled Community group")
    p.set_defaults(run=_cmd_delete)

    p = commands.add_parser(
        "delete-batch", parents=[client], help="many deletions from a CSV or JSON-lines file",
        description="Delete by sender for every item of FILE, --concurrency at a time, within the client's rate limit. "
        "FILE ('-' for stdin) holds CSV rows 'group,sender[,topic]' (an optional header row names the columns "
        "group_id, sender, topic_id) or JSON lines ({\"group_id\": ..., \"sender\": ..., \"topic_id\": ...} or "
        "[group, sender, topic]). Blank lines and lines starting with '#' are skipped. It is read lazily. "
        "Each outcome is written as a JSON line (line: its line in FILE; index: the item's number, counted on by "
        "--resume so that no two rows share one; group_id, sender, topic_id, ok, error, kind, code, "
        "message, random, attempts, elapsed) and flushed as soon as its item finishes, in the order items finish, "
        "so a crash loses at most the items in flight; a summary goes to stderr. Ctrl-C stops scheduling and lets "
        "the requests in flight finish; a second Ctrl-C abandons them. --resume with the same --report sends only the items the report does not "
        "show as ok (an item is its group_id, sender and topic_id) and appends to it.",
    )
    p.add_argument("file", metavar="FILE", help="the items, or '-' for stdin")
    p.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto",
                   help="how FILE is written (default auto: JSON lines when the first item starts with '{' or '[')")
    _batch_options(p, "items")
    p.set_defaults(run=_cmd_delete_batch)



def _cmd_delete(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        info = client.delete_by_sender(args.group, args.sender, args.topic)
    except (InvalidArgumentError, ConfigError) as e:
        _fail(_describe(e), EXIT_USAGE)
    except TimError as e:
        _fail(_describe(e), EXIT_FAILED)
    where = f"{args.group} topic {args.topic}" if args.topic else args.group
    print(
        f"ok: deleted what {args.sender!r} posted in {where} "
        f"(random {info.random}, {_plural(info.attempts, 'attempt')}, {_duration(info.elapsed)})"
    )
    return EXIT_OK


_GROUP_KEYS = ("group_id", "group", "groupid")


_SENDER_KEYS = ("sender", "sender_account")


_TOPIC_KEYS = ("topic_id", "topic", "topicid")


def _field(name: str) -> Optional[str]:
    key = name.strip().lower()
    for canonical, keys in (("group_id", _GROUP_KEYS), ("sender", _SENDER_KEYS), ("topic_id", _TOPIC_KEYS)):
        if key in keys:
            return canonical
    return None


class _BadLine(Exception):
    pass


Key = tuple[str, str, Optional[str]]


def _key(item: Any) -> Optional[Key]:
    """The (group_id, sender, topic_id) an item names, or None when it names none."""
    if isinstance(item, tuple):
        group, sender, topic = (tuple(item) + (None,))[:3]
    elif isinstance(item, dict):
        group, sender, topic = item.get("group_id"), item.get("sender"), item.get("topic_id")
    else:
        return None
    if not isinstance(group, str) or not isinstance(sender, str):
        return None
    return (group, sender, topic if isinstance(topic, str) and topic else None)


class _Items:
    """The items of a CSV or JSON-lines stream, read lazily, with the line each came from.

    A line that cannot be read becomes an item that the batch refuses (nothing is sent for it);
    its own message replaces the batch's in the report. Items in ``done`` (finished by an earlier
    run, ``--resume``) are left out and counted in ``resumed``.
    """

    # What a bad line is handed to delete_many as: refused before sending, reported at its index.
    _REFUSED: dict[str, Any] = {"group_id": None, "sender": None}

    def __init__(self, stream: BinaryIO, fmt: str, done: frozenset[Key] = frozenset()) -> None:
        self._stream = stream
        self._format = fmt
        self._done = done
        # By the index of each item handed out, until its outcome is written (then popped): the
        # memory of a run is that of the items in flight, whatever the input's size.
        self.lines: dict[int, int] = {}
        self.problems: dict[int, str] = {}
        self.count = 0
        self.resumed = 0

    def __iter__(self) -> Iterator[Any]:
        for line, item, problem in self._read():
            if problem is not None:
                self.problems[self.count] = f"line {line}: {problem}"
                item = self._REFUSED
            elif self._done and _key(item) in self._done:
                self.resumed += 1
                continue
            self.lines[self.count] = line
            self.count += 1
            yield item

    def _decoded(self) -> Iterator[tuple[int, Optional[str], Optional[str]]]:
        """Each line as (number, text, None), or (number, None, why) for a line that is not UTF-8: one
        bad byte fails its own line, never the rest. A byte order mark at the start is dropped."""
        for number, raw in enumerate(self._stream, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8"), None
            except UnicodeDecodeError as e:
                yield number, None, f"not UTF-8 text (byte {e.start + 1} of the line is 0x{raw[e.start]:02x})"

    def _read(self) -> Iterator[tuple[int, Any, Optional[str]]]:
        # Look at the first line that holds an item to choose the format, then read on from there.
        lines = self._decoded()
        head: list[tuple[int, Optional[str], Optional[str]]] = []
        fmt = self._format
        for line in lines:
            head.append(line)
            stripped = (line[1] or "").strip()
            if line[1] is None or (stripped and not stripped.startswith("#")):
                if fmt == "auto":
                    fmt = "jsonl" if stripped[:1] in ("{", "[") else "csv"
                break
        rest = itertools.chain(head, lines)
        if fmt == "jsonl":
            return self._jsonl(rest)
        return self._csv(rest)

    def _jsonl(self, lines: Iterable[tuple[int, Optional[str], Optional[str]]]) -> Iterator[tuple[int, Any, Optional[str]]]:
        for number, text, problem in lines:
            if text is None:
                yield number, None, problem
                continue
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                yield number, self._json_item(stripped), None
            except _BadLine as e:
                yield number, None, str(e)

    @staticmethod
    def _json_item(text: str) -> Any:
        try:
            value = json.loads(text)
        except ValueError as e:
            raise _BadLine(f"not valid JSON ({e})") from None
        if isinstance(value, list):
            if len(value) in (2, 3) and all(v is None or isinstance(v, str) for v in value):
                return tuple(value)
            raise _BadLine("a JSON array item must be [group, sender] or [group, sender, topic] (strings)")
        if not isinstance(value, dict):
            raise _BadLine("a JSON item must be an object or an array")
        item: dict[str, Any] = {}
        for key, v in value.items():
            canonical = _field(key)
            if canonical is None:
                raise _BadLine(f"unknown key {key!r} (the keys are group_id, sender and topic_id)")
            item[canonical] = v
        for required in ("group_id", "sender"):
            if required not in item:
                raise _BadLine(f"no {required!r}")
        return item

    def _csv(self, lines: Iterable[tuple[int, Optional[str], Optional[str]]]) -> Iterator[tuple[int, Any, Optional[str]]]:
        # Each line is a row of its own (IDs hold no line breaks): a stray quote fails its line, and
        # never swallows the lines after it into one field.
        columns: Optional[list[str]] = None
        first = True
        for number, text, problem in lines:
            if text is None:
                yield number, None, problem
                continue
            try:
                row = next(csv.reader([text.rstrip("\r\n")], skipinitialspace=True, strict=True), [])
            except csv.Error as e:
                yield number, None, f"not valid CSV ({e})"
                continue
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if first:
                first = False
                # A header names the columns, in any order: it names the group and the sender columns (or
                # starts with the group's); its other cells are then checked as column names.
                names = {_field(c) for c in cells if c}
                if _field(cells[0]) == "group_id" or {"group_id", "sender"} <= names:
                    columns = self._header(cells)
                    continue
            if columns is not None:
                if len(cells) > len(columns):
                    yield number, None, f"{len(cells)} fields, but the header names {len(columns)}"
                    continue
                named = dict(zip(columns, cells))
            elif len(cells) in (2, 3):
                named = dict(zip(("group_id", "sender", "topic_id"), cells))
            else:
                yield number, None, f"{len(cells)} fields: a row is group,sender or group,sender,topic"
                continue
            missing = [k for k in ("group_id", "sender") if k not in named]
            if missing:
                yield number, None, f"no {missing[0]} (fewer fields than the header names)"
                continue
            yield number, {k: v for k, v in named.items() if k != "topic_id" or v}, None

    @staticmethod
    def _header(cells: list[str]) -> list[str]:
        columns = []
        for cell in cells:
            canonical = _field(cell)
            if canonical is None or canonical in columns:
                raise CliError(f"the CSV header has an unknown or repeated column {cell!r} "
                               "(the columns are group_id, sender, topic_id)")
            columns.append(canonical)
        if "sender" not in columns:
            raise CliError("the CSV header has no sender column")
        return columns


class _Counted:
    """An iterator with a known length (``delete_many`` then knows the total), still read lazily."""

    def __init__(self, items: Iterator[Any], count: int) -> None:
        self._items = items
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        return self._items


def _open_input(path: str) -> BinaryIO:
    """The input as bytes: each line is decoded on its own (a bad byte fails only its line)."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as e:
        _fail(f"cannot read {path}: {e.strerror or e}", EXIT_USAGE)


class _Earlier:
    """What the report of an earlier run says (``--resume``): the items that succeeded, and the
    index the next row takes (the rows of a report stay numbered uniquely across runs)."""

    def __init__(self) -> None:
        self.done: set[Key] = set()
        self.next_index = 0


def _read_report(path: str, data: bytes) -> tuple[_Earlier, int]:
    """What an existing JSON-lines report says (``--resume``), and how many of its bytes to keep: a
    last line cut short (the run was killed while writing it) is dropped, but only after every other
    line was read as a line of a report. Nothing is written here."""
    earlier = _Earlier()
    end = data.rfind(b"\n") + 1
    for number, raw in enumerate(data[:end].splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            _fail(f"{path}: line {number} is not a line of a timrest report; --resume needs the report "
                  "this command wrote (nothing in it was changed)", EXIT_USAGE)
        key = _key(row)
        if row.get("ok") is True and key is not None:
            earlier.done.add(key)
        index = row.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            earlier.next_index = max(earlier.next_index, index + 1)
    return earlier, end


class _Report:
    """The JSON-lines report, written one line per finished item and flushed at once, so that a
    crash loses at most the items in flight. The file is locked while a run writes it: two runs on
    one report (two ``--resume`` at once) would send everything twice."""

    def __init__(self, path: Optional[str], resume: bool) -> None:
        self.path = path
        self.earlier = _Earlier()
        self._file: Optional[BinaryIO] = None
        if path is None or path == "-":
            return
        if resume and not os.path.exists(path):
            _fail(f"nothing to resume: the report {path} does not exist (check the path, or leave out "
                  "--resume to start a new report)", EXIT_USAGE)
        try:
            # Opened without truncating, and locked before anything is read or written.
            self._file = open(path, "a+b")
        except OSError as e:
            _fail(f"cannot write the report to {path}: {e.strerror or e}", EXIT_USAGE)
        if not _try_lock(self._file):
            self._file.close()
            _fail(f"the report {path} is in use by another run of timrest; wait for it to end", EXIT_USAGE)
        if not resume:
            if os.path.isfile(path):
                self._file.truncate(0)
            return
        self._file.seek(0)
        data = self._file.read()
        self.earlier, keep = _read_report(path, data)
        if keep < len(data):
            self._file.truncate(keep)
            print(f"{PROG}: {path}: dropped an unfinished last line (the run was stopped while writing it)",
                  file=sys.stderr)

    def write(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False) + "\n"
        if self._file is None:
            sys.stdout.write(line)
            sys.stdout.flush()
        else:
            self._file.write(line.encode("utf-8"))  # appended: the file is in append mode
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _batch_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--report", metavar="OUT",
                   help="write the JSON-lines report to OUT instead of stdout, one line per item as it finishes")
    p.add_argument("--resume", action="store_true",
                   help=f"read the report OUT of an earlier run, send only the {what} it does not show as done, "
                        "and append to it (needs --report)")
    p.add_argument("--concurrency", type=_concurrency, default=16, metavar="N",
                   help=f"requests in flight at most (default 16, at most {MAX_CONCURRENCY})")
    p.add_argument("--stop-on-error", action="store_true", help="stop scheduling after the first failure")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (tqdm when installed, else a counter); default: when stderr is a terminal")


class _ReportFailed(Exception):
    """The report could not be written (a full disk): stops the batch from ``on_result``."""



def _check_resume(args: argparse.Namespace) -> None:
    if args.resume and (args.report is None or args.report == "-"):
        _fail("--resume needs --report FILE: the report of the earlier run, which this run appends to", EXIT_USAGE)


def _run_batch(
    client: Client,
    args: argparse.Namespace,
    items: Any,
    report_out: _Report,
    resumed: Callable[[], int],
    lines: Optional[dict[int, int]] = None,
    problems: Optional[dict[int, str]] = None,
    skipped: int = 0,
) -> int:
    """Runs ``delete_many`` with the report written item by item; prints the summary. ``resumed()``
    tells how many items earlier runs had done (known once the input has been read)."""
    progress = sys.stderr.isatty() if args.progress is None else args.progress

    by_class: dict[str, int] = {}
    # A resumed run numbers its rows on from the earlier runs' last one: no two rows share an index.
    first_index = report_out.earlier.next_index

    def on_result(result: Any) -> None:
        record = result.to_record()
        position = record["index"]  # in the items this run sends
        row: dict[str, Any] = {}
        if lines is not None:
            row["line"] = lines.pop(position, None)
        row.update(record)
        row["index"] = first_index + position
        if result.error is not None:
            name = type(result.error).__name__
            by_class[name] = by_class.get(name, 0) + 1
        problem = (problems or {}).pop(position, None)
        if problem is not None:
            row.update(error="InvalidArgumentError", kind="invalid_argument", code=None, message=problem)
        try:
            report_out.write(row)
        except OSError as e:
            # A full disk: stop scheduling (raising does), count every outcome that could not be written.
            unwritten.append(e)
            raise _ReportFailed from e

    unwritten: list[OSError] = []
    # SIGTERM stops the batch as Ctrl-C does: the requests in flight finish and are written.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        # The outcomes go to the report as they finish; none is kept: memory stays bounded.
        report = client.delete_many(
            items, concurrency=args.concurrency, stop_on_error=args.stop_on_error, progress=progress,
            on_result=on_result, keep_results=False,
        )
    except _ReportFailed as e:
        report = e.report  # type: ignore[attr-defined]
        first = unwritten[0]
        print(f"{PROG}: error: {_plural(len(unwritten), 'outcome')} could not be written to {args.report or 'stdout'} "
              f"({first.strerror or first}); the batch stopped, and {report.ok} ok, {report.failed} failed were "
              "sent in all", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            report_out.close()
        except OSError:
            pass  # already counted: the lines it held could not be written

    before = resumed()
    total_ok = report.ok + before
    summary = (f"{PROG}: {total_ok} ok, {report.failed} failed of "
               f"{_plural(report.ok + report.failed + before, 'item')} in {_duration(report.elapsed)}")
    if by_class:
        summary += " (" + ", ".join(f"{name}: {n}" for name, n in sorted(by_class.items())) + ")"
    if args.resume:
        summary += f"; {before} done by earlier runs, {report.ok + report.failed} sent now"
    if skipped:
        summary += f"; {_plural(skipped, 'group')} skipped (no message history)"
    if args.report:
        summary += f"; report in {args.report}"
    print(summary, file=sys.stderr)
    if report.interrupted:
        if report.abandoned:
            what = (f"interrupted twice: abandoned {_plural(report.abandoned, 'item')} in flight (they may or "
                    "may not have reached the server, and are not in the report); the items not in the report "
                    "were not sent")
        else:
            what = "interrupted: the items in flight finished and are in the report; the rest were not sent"
        print(f"{PROG}: {what}" + ("; run again with --resume to finish" if args.report else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.stopped_early:
        print(f"{PROG}: stopped at the first failure (--stop-on-error): later items were not sent", file=sys.stderr)
    return EXIT_OK if report.failed == 0 and not report.stopped_early else EXIT_FAILED


def _cmd_delete_batch(args: argparse.Namespace) -> int:
    client = _client(args)
    _check_resume(args)
    if (args.report not in (None, "-") and args.file != "-" and os.path.exists(args.report)
            and os.path.exists(args.file) and os.path.samefile(args.file, args.report)):
        _fail(f"the report {args.report} is the input {args.file}: writing it would destroy the items before "
              "they are read; give the report another path", EXIT_USAGE)
    report_out = _Report(args.report, resume=args.resume)
    done = frozenset(report_out.earlier.done)
    source = _open_input(args.file)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    items = _Items(source, args.format, done)
    batch: Any = iter(items)
    try:
        if progress and args.file != "-" and os.path.isfile(args.file):
            # A first pass over a regular file counts the items still to send, so that the bar shows a
            # total and an ETA; it also finds a bad CSV header before anything is sent.
            with open(args.file, "rb") as again:
                batch = _Counted(batch, sum(1 for _ in _Items(again, args.format, done)))
        return _run_batch(client, args, batch, report_out, lambda: items.resumed, items.lines, items.problems)
    finally:
        if args.file != "-":
            source.close()
