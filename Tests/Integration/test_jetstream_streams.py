"""JetStream streams over strata-server with nats-py's JetStream API: CRUD, publish acks, de-duplication,
message get/delete, purge, errors, and a kill -9 restart in the middle."""
import asyncio, json, os, signal, tempfile, shutil
import pytest
import nats
from nats.js.api import StreamConfig, RetentionPolicy, StorageType
from nats.js.errors import BadRequestError, NotFoundError, APIError
from conftest import start_strata, Server, free_port, STRATA


async def connect(server):
    nc = await nats.connect(server.url, allow_reconnect=False)
    return nc, nc.jetstream()


async def test_stream_lifecycle_and_publish_acks(js_server):
    nc, js = await connect(js_server)
    info = await js.add_stream(name="ORDERS", subjects=["orders.>"])
    assert info.config.name == "ORDERS" and info.state.messages == 0
    for i in range(5):
        ack = await js.publish(f"orders.{i % 2}", f"m{i}".encode())
        assert ack.stream == "ORDERS" and ack.seq == i + 1 and not ack.duplicate
    info = await js.stream_info("ORDERS")
    assert info.state.messages == 5 and info.state.first_seq == 1 and info.state.last_seq == 5
    raw = json.loads((await nc.request("$JS.API.STREAM.INFO.ORDERS", b"", timeout=2)).data)
    assert raw["type"] == "io.nats.jetstream.api.v1.stream_info_response" and raw["state"]["num_subjects"] == 2
    assert await js.streams_info() and (await js.streams_info())[0].config.name == "ORDERS"
    # Same config again is fine; a different one is refused with 10058; overlapping subjects with 10065.
    await js.add_stream(name="ORDERS", subjects=["orders.>"])
    with pytest.raises(BadRequestError) as e:
        await js.add_stream(name="ORDERS", subjects=["orders.>"], max_msgs=3)
    assert e.value.err_code == 10058
    with pytest.raises(BadRequestError) as e:
        await js.add_stream(name="OTHER", subjects=["orders.eu"])
    assert e.value.err_code == 10065
    with pytest.raises(NotFoundError):
        await js.stream_info("NOPE")
    await nc.close()


async def test_dedup_get_delete_purge(js_server):
    nc, js = await connect(js_server)
    await js.add_stream(name="D", subjects=["d.*"])
    first = await js.publish("d.a", b"one", headers={"Nats-Msg-Id": "id-1"})
    again = await js.publish("d.a", b"one", headers={"Nats-Msg-Id": "id-1"})
    assert again.duplicate and again.seq == first.seq
    await js.publish("d.b", b"two", headers={"X-Trace": "t"})
    msg = await js.get_msg("D", 2)
    assert msg.subject == "d.b" and msg.data == b"two" and msg.headers["X-Trace"] == "t"
    last = await js.get_last_msg("D", "d.a")
    assert last.seq == 1
    assert await js.delete_msg("D", 1)
    with pytest.raises(NotFoundError):
        await js.get_msg("D", 1)
    await js.publish("d.c", b"three")
    await js.purge_stream("D", subject="d.b")
    info = await js.stream_info("D")
    assert info.state.messages == 1 and info.state.last_seq == 3
    await js.purge_stream("D")
    info = await js.stream_info("D")
    assert info.state.messages == 0 and info.state.first_seq == 4
    assert await js.delete_stream("D")
    with pytest.raises(NotFoundError):
        await js.stream_info("D")
    await nc.close()


async def test_last_by_subject_after_its_newest_is_deleted(js_server):
    """Deleting a subject's newest message makes the one before it the subject's last. nats-server 2.15.1
    answers so (checked by hand); 2.9.10 answers 404 "no message found" for a file stream, a bug of its own."""
    nc, js = await connect(js_server)
    for storage in (StorageType.FILE, StorageType.MEMORY):
        name = f"L{storage.value}"
        await js.add_stream(name=name, subjects=[f"{name}.*"], storage=storage)
        for i in range(6):
            await js.publish(f"{name}.{i % 2}", f"m{i + 1}".encode())
        assert await js.delete_msg(name, 5)
        last = await js.get_last_msg(name, f"{name}.0")
        assert (last.seq, last.data) == (3, b"m3"), storage
        assert (await js.get_last_msg(name, f"{name}.1")).seq == 6
        assert await js.delete_msg(name, 3) and await js.delete_msg(name, 1)
        with pytest.raises(NotFoundError):
            await js.get_last_msg(name, f"{name}.0")
        raw = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=2)).data)
        assert raw["state"]["messages"] == 3 and raw["state"]["num_subjects"] == 1, storage
    await nc.close()


async def test_limits_and_errors(js_server):
    nc, js = await connect(js_server)
    await js.add_stream(name="L", subjects=["l"], max_msgs=3)
    for i in range(5):
        await js.publish("l", str(i).encode())
    info = await js.stream_info("L")
    assert info.state.messages == 3 and info.state.first_seq == 3
    await js.add_stream(name="SMALL", subjects=["small"], max_msg_size=10)
    with pytest.raises(APIError) as e:
        await js.publish("small", b"x" * 20)
    assert e.value.err_code == 10054
    with pytest.raises(APIError) as e:
        await js.add_stream(name="R", subjects=["r"], num_replicas=3)
    assert e.value.err_code == 10074
    mem = await js.add_stream(name="M", subjects=["m"], storage=StorageType.MEMORY)
    assert mem.config.storage == StorageType.MEMORY
    assert (await js.publish("m", b"in memory")).seq == 1
    await nc.close()


async def test_kill9_restart_keeps_streams_messages_and_dedup():
    store = tempfile.mkdtemp(prefix="strata-js-")
    port = free_port()
    server = Server([STRATA, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store], port)
    try:
        nc, js = await connect(server)
        await js.add_stream(name="K", subjects=["k.>"])
        acks = [await js.publish("k.x", f"v{i}".encode(), headers={"Nats-Msg-Id": f"k-{i}"}) for i in range(50)]
        await nc.close()
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server = Server([STRATA, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store], port)
        nc, js = await connect(server)
        info = await js.stream_info("K")
        assert info.state.messages == 50 and info.state.last_seq == 50
        for ack in acks[::7]:
            assert (await js.get_msg("K", ack.seq)).data == f"v{ack.seq - 1}".encode()
        dup = await js.publish("k.x", b"again", headers={"Nats-Msg-Id": "k-3"})
        assert dup.duplicate and dup.seq == 4
        assert (await js.publish("k.x", b"new")).seq == 51
        await nc.close()
    finally:
        server.stop()
        shutil.rmtree(store, ignore_errors=True)


async def test_invalid_rollup_value_is_answered(js_server):
    """nats-server 2.9.10 leaves such a publish unanswered (its client waits out its timeout); Strata
    answers with the reference's rollup error family and stores nothing."""
    nc = await nats.connect(js_server.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="RB", subjects=["rb"], allow_rollup_hdrs=True)
    reply = json.loads((await nc.request("rb", b"x", headers={"Nats-Rollup": "bogus"}, timeout=5)).data)
    assert reply["error"] == {"code": 500, "err_code": 10111, "description": 'rollup value invalid: "bogus"'}
    assert (await js.stream_info("RB")).state.messages == 0
    await nc.close()
