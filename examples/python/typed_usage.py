"""A typed use of the public API; `mypy --strict` checks it against the shipped stubs."""

from __future__ import annotations

from typing import Optional

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator


def purge(client: timrest.Client, items: list[tuple[str, str, Optional[str]]]) -> dict[str, int]:
    """Deletes each (group, sender, topic); counts outcomes by exception class name."""
    outcome: dict[str, int] = {}
    for group_id, sender, topic_id in items:
        try:
            info: timrest.CallInfo = client.delete_by_sender(group_id, sender, topic_id=topic_id)
            key = "ok" if info.attempts >= 1 else "?"
        except timrest.RateLimitedError as e:
            key = f"rate limited after {e.attempts} attempts"
        except timrest.TimError as e:
            code: Optional[int] = e.code
            random: Optional[int] = e.random
            key = f"{type(e).__name__}({code}, {random})"
        outcome[key] = outcome.get(key, 0) + 1
    return outcome


def main() -> None:
    usersig: str = timrest.gen_usersig(DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator", 3600)
    fields = timrest.inspect_usersig(usersig)
    assert fields["identifier"] == "administrator"
    timrest.verify_usersig(usersig, DEMO_SDKAPPID, DEMO_SECRET_KEY, "administrator")
    with Emulator(rate_limit=None, latency=0.0) as emu:
        gid: str = emu.create_group("Community", members=("spammer",), support_topic=True)
        topic: str = emu.create_topic(gid, "news")
        seq: int = emu.send_group_msg(gid, "spammer", "spam", topic_id=topic)
        assert seq == 1
        client: timrest.Client = emu.client(usersig=usersig, rate_limit=None)
        print(purge(client, [(gid, "spammer", topic), ("@TGS#MISSING", "spammer", None)]))

        def show(p: timrest.Progress) -> None:
            print(f"{p.done}/{p.total}: {p.ok} ok, {p.failed} failed")

        report: timrest.BatchReport = client.delete_many([(gid, "spammer"), (gid, "nobody", topic)], progress=show)
        for item in report.results:
            error: Optional[timrest.TimError] = item.error
            print(item.index, item.group_id, item.ok, type(error).__name__ if error else "-", item.elapsed >= 0)
        rows: list[dict[str, object]] = report.to_records()
        assert len(rows) == 2
        print(len(emu.requests()), "requests;", client)


if __name__ == "__main__":
    main()
