"""timrest.testing.Emulator: life cycle, seeding through the server's rules, faults, latency, the log."""

from __future__ import annotations

import pytest

import timrest
from timrest.testing import DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator

DELETE = "delete_group_msg_by_sender"


def test_defaults_and_base_url() -> None:
    with Emulator() as emu:
        assert emu.running
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
        assert (emu.sdkappid, emu.admins) == (DEMO_SDKAPPID, ("administrator",))
        client = emu.client()
        assert (client.sdkappid, client.identifier, client.base_url) == (DEMO_SDKAPPID, "administrator", emu.base_url)
        assert DEMO_SECRET_KEY not in repr(emu) and emu.base_url in repr(emu)
    assert not emu.running
    emu.close()  # idempotent
    with pytest.raises(ValueError):
        emu.requests()
    with pytest.raises(ValueError):
        emu.create_group("Public")


def test_two_emulators_are_independent() -> None:
    with Emulator(sdkappid=1400000001, secret_key="key-one", admins=("boss",)) as one, Emulator() as two:
        assert one.port != two.port
        gid = one.create_group("Public", group_id="shared-name")
        two.create_group("Public", group_id="shared-name")
        one.client().delete_group_msg_by_sender(gid, "leckie")
        assert [r["identifier"] for r in one.requests()] == ["boss"]
        assert two.requests() == []
        # Another app's key is refused.
        with pytest.raises(timrest.AuthError):
            two.client(secret_key="key-one").delete_group_msg_by_sender(gid, "leckie")


def test_seeding_follows_the_servers_rules_and_raises_typed_errors(emu: Emulator) -> None:
    assert emu.create_group("Public", group_id="custom-1", name="mine", owner="alice") == "custom-1"
    with pytest.raises(timrest.ApiError) as used:
        emu.create_group("Public", group_id="custom-1")
    assert used.value.code == 10021
    with pytest.raises(timrest.InvalidGroupIdError):
        emu.create_group("Public", group_id="@TGS#reserved")
    with pytest.raises(timrest.InvalidParameterError) as bad_type:
        emu.create_group("NoSuchType")
    assert "Type" in bad_type.value.info
    with pytest.raises(timrest.PermissionDeniedError):
        emu.create_topic("custom-1", "news")  # not a topic-enabled Community
    community = emu.create_group("Community", support_topic=True)
    assert community.startswith("@TGS#_")
    topic = emu.create_topic(community, "news", topic_id=f"{community}@TOPIC#_news")
    assert topic == f"{community}@TOPIC#_news"
    assert emu.send_group_msg(community, "a", "first", topic_id=topic) == 1
    assert emu.send_group_msg(community, "a", "second", topic_id=topic) == 2
    assert emu.send_group_msg(community, "a", "in the group itself") == 1
    emu.destroy_group("custom-1")
    with pytest.raises(timrest.GroupNotFoundError):
        emu.messages("custom-1")


def test_messages_are_shaped_like_rsp_msg_list_items(emu: Emulator) -> None:
    gid = emu.create_group("ChatRoom")
    emu.send_group_msg(gid, "alice", "hello")
    (message,) = emu.messages(gid)
    assert message["From_Account"] == "alice" and message["MsgSeq"] == 1 and message["IsPlaceMsg"] == 0
    assert message["MsgBody"] == [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]
    assert {"MsgPriority", "MsgRandom", "MsgTimeStamp"} <= set(message)


def test_faults_apply_to_the_next_n_matching_requests_in_order(emu: Emulator) -> None:
    client = emu.client(rate_limit=None, max_retries=0)
    gid = emu.create_group("Public")
    emu.inject(DELETE, times=2, error_code=10004, error_info="scripted")
    emu.inject("create_group", error_code=10002)
    for _ in range(2):
        with pytest.raises(timrest.InvalidParameterError):
            client.delete_group_msg_by_sender(gid, "leckie")
    client.delete_group_msg_by_sender(gid, "leckie")
    assert [r["fault"] for r in emu.requests()] == ["error_code:10004", "error_code:10004", None]
    emu.clear_faults()
    client.call("group_open_http_svc", "create_group", {"Type": "Public", "Name": "n"})


def test_truncated_body_is_transport_error(emu: Emulator) -> None:
    # The connection closes before Content-Length: a broken connection, like a reset (docs/faults.md).
    client = emu.client(rate_limit=None, max_retries=0)
    emu.inject(DELETE, truncate=True)
    with pytest.raises(timrest.TransportError) as info:
        client.delete_group_msg_by_sender("@TGS#ANY", "leckie")
    assert info.value.random == emu.requests()[-1]["random"]
    assert emu.requests()[-1]["fault"] == "truncate"


def test_bad_settings_are_value_errors() -> None:
    with pytest.raises(ValueError):
        Emulator(latency=-1.0)
    with pytest.raises(ValueError):
        Emulator(rate_limit=float("nan"))
    with pytest.raises(ValueError):
        Emulator(host="not-an-address")
    with Emulator() as emu:
        with pytest.raises(ValueError):
            emu.inject(DELETE, http_status=5)
        with pytest.raises(ValueError):
            emu.inject(DELETE, delay=-0.5)


def test_request_log_and_clear(emu: Emulator, client: timrest.Client) -> None:
    gid = emu.create_group("Public")
    info = client.delete_by_sender(gid, "leckie")
    (record,) = emu.requests()
    assert record["random"] == info.random and record["sdkappid"] == DEMO_SDKAPPID
    assert record["service"] == "group_open_http_svc" and record["http_status"] == 200
    assert record["body"] == {"GroupId": gid, "Sender_Account": "leckie"}
    assert 0 <= record["arrived"] <= record["finished"]
    emu.clear_requests()
    assert emu.requests() == []
