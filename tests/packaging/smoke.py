"""Smoke test of an installed timrest, run by scripts/package.sh in fresh virtualenvs that hold only
timrest (no tqdm, no pytest): the import, the version, a real HTTP round trip to the emulator, the
typed errors, a batch with the stderr counter, and the `timrest` command.

    python smoke.py VERSION
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path


def main() -> None:
    expected_version = sys.argv[1]

    import timrest
    from timrest.testing import DEMO_SECRET_KEY, Emulator

    installed = Path(timrest.__file__).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert installed.is_relative_to(site), f"timrest imported from {installed}, not from {site}"
    assert timrest.__version__ == expected_version, (timrest.__version__, expected_version)
    assert (installed.parent / "py.typed").is_file() and (installed.parent / "_native.pyi").is_file()

    with Emulator() as emu:
        group = emu.create_group("Public")
        for sender, text in [("alice", "hello"), ("spammer", "buy now"), ("bob", "hi"), ("spammer", "click")]:
            emu.send_group_msg(group, sender, text)
        client = emu.client()
        info = client.delete_by_sender(group, "spammer")
        assert info.attempts == 1, info
        assert [m["From_Account"] for m in emu.messages(group)] == ["alice", "bob"]

        try:
            client.delete_group_msg_by_sender("@TGS#no-such-group", "spammer")
        except timrest.GroupNotFoundError as e:
            assert e.code == 10010 and not e.retryable, e
        else:
            raise AssertionError("a missing group did not raise GroupNotFoundError")

        # progress=True without tqdm installed: the counter on stderr.
        report = client.delete_many([(group, "alice"), (group, "")], progress=True)
        assert (len(report), report.ok, report.failed) == (2, 1, 1), report
        assert isinstance(report.results[1].error, timrest.InvalidArgumentError)
        assert [m["From_Account"] for m in emu.messages(group)] == ["bob"]

        # The command's durable report (it locks the file: flock on Unix, a byte lock on Windows),
        # then --resume, which finds every item done and sends nothing.
        work = Path(tempfile.mkdtemp())
        (work / "items.csv").write_text(f"{group},bob\n{group},spammer\n", encoding="utf-8")
        env = dict(os.environ, TIM_SDKAPPID=str(emu.sdkappid), TIM_SECRET_KEY=DEMO_SECRET_KEY, TIM_BASE_URL=emu.base_url)
        batch = [sys.executable, "-m", "timrest", "delete-batch", "--report", str(work / "report.jsonl")]
        sent = len(emu.requests())
        subprocess.run([*batch, str(work / "items.csv")], env=env, capture_output=True, timeout=60, check=True)
        lines = (work / "report.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["ok"] for line in lines] == [True, True], lines
        assert len(emu.requests()) == sent + 2
        subprocess.run([*batch, "--resume", str(work / "items.csv")], env=env, capture_output=True, timeout=60, check=True)
        assert len(emu.requests()) == sent + 2, "the resumed run sent again what was done"
        assert emu.messages(group) == []

    # The console script (timrest.exe on Windows) and `python -m timrest` both answer.
    script = shutil.which("timrest", path=str(Path(sys.executable).parent))
    assert script, f"no timrest command beside {sys.executable}"
    for command in ([script, "--help"], [sys.executable, "-m", "timrest", "--help"]):
        out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
        assert "delete" in out, (command, out)

    print(f"smoke: timrest {timrest.__version__} on Python {sys.version.split()[0]}: ok")


if __name__ == "__main__":
    main()
