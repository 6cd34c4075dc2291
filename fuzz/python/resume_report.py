"""Fuzz target (atheris): the report that `timrest delete-batch --resume` reads, on any bytes a
crash (or a user) left in it. It is read whole or refused with a usage error (CliError) that
names the line; a last line cut short is the only thing dropped."""

import sys

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports():
    from timrest.cli._common import CliError
    from timrest.cli.batch import _read_report


def one(data: bytes) -> None:
    try:
        earlier, keep = _read_report("report.jsonl", data)
    except CliError as e:
        assert "line" in str(e) or "report" in str(e), str(e)
        return
    assert 0 <= keep <= len(data)
    assert keep == 0 or data[keep - 1:keep] == b"\n"
    assert earlier.next_index >= 0


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
