"""Nats-Expected-Last-Msg-Id and paged/filtered stream names and lists: the same requests against strata and,
when installed, nats-server; the replies that matter must be the same."""
import json
import pytest
import nats
from conftest import start_jetstream


async def outcomes(url):
    nc = await nats.connect(url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="X", subjects=["x.>"])
    out = []

    async def publish(data, headers):
        reply = json.loads((await nc.request("x.a", data, headers=headers, timeout=2)).data)
        out.append(reply.get("seq") if "error" not in reply else (reply["error"]["err_code"], reply["error"]["description"]))
    await publish(b"1", {"Nats-Expected-Last-Msg-Id": "none"})
    await publish(b"1", {"Nats-Msg-Id": "m1"})
    await publish(b"2", {"Nats-Expected-Last-Msg-Id": "zz"})
    await publish(b"2", {"Nats-Expected-Last-Msg-Id": "m1", "Nats-Msg-Id": "m2"})
    await publish(b"3", None)
    await publish(b"4", {"Nats-Expected-Last-Msg-Id": "m2"})
    for i in range(3):
        await js.add_stream(name=f"S{i}", subjects=[f"s{i}"])
    names = json.loads((await nc.request("$JS.API.STREAM.NAMES", json.dumps({"offset": 2}).encode(), timeout=2)).data)
    out.append((names["total"], names["offset"], names["streams"]))
    listed = json.loads((await nc.request("$JS.API.STREAM.LIST", json.dumps({"subject": "s1"}).encode(), timeout=2)).data)
    out.append((listed["total"], [s["config"]["name"] for s in listed["streams"]]))
    await nc.close()
    return out


EXPECTED = [(10070, "wrong last msg ID: "), 1, (10070, "wrong last msg ID: m1"), 2, 3, (10070, "wrong last msg ID: "),
            (4, 2, ["S2", "X"]), (1, ["S1"])]


@pytest.mark.parametrize("kind", ["strata", "reference"])
async def test_expected_last_msg_id_and_paging(kind):
    server = start_jetstream(kind)
    if server is None:
        pytest.skip("nats-server is not installed")
    try:
        assert await outcomes(server.url) == EXPECTED
    finally:
        server.stop()
