"""Expected-* headers, rollups, direct get and nats-py's KeyValue basics against strata-server; the KV
scenario also runs against nats-server when installed, and both must give the same outcomes."""
import asyncio
import pytest
import nats
from nats.js.errors import APIError, KeyWrongLastSequenceError, KeyNotFoundError
from conftest import start_jetstream


async def kv_outcomes(url):
    nc = await nats.connect(url, allow_reconnect=False)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="CFG", history=3)
    outcomes = []
    r1 = await kv.put("color", b"red")
    entry = await kv.get("color")
    outcomes.append(("get", entry.key, entry.value, entry.revision))
    outcomes.append(("update", await kv.update("color", b"blue", last=r1)))
    for name, call in [("stale update", kv.update("color", b"green", last=r1)),
                       ("create", kv.create("size", b"L")),
                       ("double create", kv.create("size", b"M"))]:
        try:
            outcomes.append((name, await call))
        except Exception as e:
            outcomes.append((name, type(e).__name__))
    await kv.delete("size")
    await kv.purge("color")
    for key in ["size", "color"]:
        try:
            await kv.get(key)
            outcomes.append((key, "found"))
        except KeyNotFoundError:
            outcomes.append((key, "not found"))
    outcomes.append(("values", (await kv.status()).values))
    await nc.close()
    return outcomes


async def test_key_value_basics_match_the_reference():
    server = start_jetstream("strata")
    try:
        ours = await kv_outcomes(server.url)
    finally:
        server.stop()
    assert ours == [("get", "color", b"red", 1), ("update", 2), ("stale update", "KeyWrongLastSequenceError"),
                    ("create", 3), ("double create", "KeyWrongLastSequenceError"),
                    ("size", "not found"), ("color", "not found"), ("values", 3)]
    reference = start_jetstream("reference")
    if reference is None:
        pytest.skip("nats-server is not installed")
    try:
        assert await kv_outcomes(reference.url) == ours
    finally:
        reference.stop()


async def test_expected_headers_rollup_and_direct_get(js_server):
    server = js_server
    nc = await nats.connect(server.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="E", subjects=["e.>"], allow_rollup_hdrs=True, allow_direct=True)
    await js.publish("e.a", b"1")
    with pytest.raises(APIError) as e:
        await js.publish("e.a", b"2", headers={"Nats-Expected-Last-Sequence": "5"})
    assert e.value.err_code == 10071 and "wrong last sequence: 1" in e.value.description
    assert (await js.publish("e.a", b"2", headers={"Nats-Expected-Last-Sequence": "1"})).seq == 2
    assert (await js.publish("e.b", b"b", headers={"Nats-Expected-Last-Subject-Sequence": "0"})).seq == 3
    with pytest.raises(APIError):
        await js.publish("e.a", b"x", headers={"Nats-Expected-Stream": "OTHER"})
    await js.publish("e.a", b"rolled", headers={"Nats-Rollup": "sub"})
    info = await js.stream_info("E")
    assert info.state.messages == 2
    direct = await js.get_msg("E", subject="e.a", direct=True)
    assert direct.data == b"rolled" and direct.seq == 4
    await nc.close()


async def test_key_value_keys_history_and_watch(js_server):
    server = js_server
    nc = await nats.connect(server.url, allow_reconnect=False)
    js = nc.jetstream()
    kv = await js.create_key_value(bucket="W", history=5)
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.put("a", b"3")
    assert sorted(await kv.keys()) == ["a", "b"]
    assert [e.value for e in await kv.history("a")] == [b"1", b"3"]
    watcher = await kv.watchall()
    initial = []
    async for entry in watcher:
        if entry is None:
            break
        initial.append((entry.key, entry.value))
    assert initial == [("b", b"2"), ("a", b"3")]
    await kv.put("c", b"4")
    update = await watcher.updates(timeout=5)
    assert (update.key, update.value) == ("c", b"4")
    await watcher.stop()
    await nc.close()


async def test_push_subscription_with_queue_group_and_acks(js_server):
    server = js_server
    nc = await nats.connect(server.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="PUSH", subjects=["push.>"])
    for i in range(10):
        await js.publish("push.x", f"{i}".encode())
    got = []
    done = asyncio.Event()

    async def handler(msg):
        got.append(int(msg.data))
        await msg.ack()
        if len(got) == 12:
            done.set()
    await js.subscribe("push.>", queue="pd", durable="pd", cb=handler, manual_ack=True)
    await js.subscribe("push.>", queue="pd", durable="pd", cb=handler, manual_ack=True)
    await js.publish("push.x", b"10")
    await js.publish("push.x", b"11")
    await asyncio.wait_for(done.wait(), 10)
    assert sorted(got) == list(range(12))
    info = await js.consumer_info("PUSH", "pd")
    assert info.delivered.stream_seq == 12
    await nc.close()
