"""Fuzz target (atheris): the `timrest delete-batch` input reader, CSV or JSON lines, on any bytes
a user's file may hold. Every line becomes an item or a refused line with its reason; the only
error is a usage error (CliError) for a CSV header that names no known column."""

import io
import sys

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports():
    from timrest.cli._common import CliError
    from timrest.cli.batch import _Items


def one(data: bytes) -> None:
    fmt = ("auto", "csv", "jsonl")[data[0] % 3] if data else "auto"
    items = _Items(io.BytesIO(data[1:]), fmt)
    try:
        for item in items:
            # A tuple or a dict for delete_many, which refuses (per item) one that names no group and sender.
            assert isinstance(item, (tuple, dict)), item
    except CliError as e:
        assert str(e), "a usage error says what is wrong"
        return
    # Each item handed out knows its line, and each refused one its reason.
    assert len(items.lines) == items.count and set(items.problems) <= set(items.lines)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
