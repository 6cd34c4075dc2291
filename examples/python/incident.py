"""A spam incident: stop three accounts, then purge them from every group, older spam included.

Run it with ``python examples/python/incident.py`` after ``pip install .``. Against your app, build the
client with ``timrest.Client.from_env()`` and pass your own list of accounts.
"""

from __future__ import annotations

from timrest.testing import Emulator


def main() -> None:
    with Emulator(rate_limit=None) as emu:
        wave = ["spam1", "spam2", "spam3"]
        groups = [emu.create_group("Public", members=("alice", *wave)) for _ in range(3)]
        for gid in groups:
            for account in wave:
                emu.send_group_msg(gid, account, "old spam")  # soon older than the latest 1000
            for i in range(1000):
                emu.send_group_msg(gid, "alice", f"hello {i}")
            for account in wave:
                emu.send_group_msg(gid, account, "new spam")

        client = emu.client()
        plan = client.purge_senders(wave, mute=True, deep=True, dry_run=True)  # reads only
        print(f"plan: {plan.ok} steps, {plan.recalled} old messages to recall (visible to clients)")

        job = client.purge_senders(wave, mute=True, deep=True)  # mute, then delete, then recall
        print(f"done: {job.ok} ok, {job.failed} failed, {job.recalled} recalled in {job.elapsed:.2f} s")
        left = sum(m["From_Account"] in wave for gid in groups for m in emu.messages(gid))
        print(f"spam left: {left}; muted: {client.get_no_speaking('spam1').group_seconds == 4294967295}")


if __name__ == "__main__":
    main()
