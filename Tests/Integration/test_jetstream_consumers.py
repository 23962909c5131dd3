"""Pull consumers over strata-server with nats-py: fetch, ack, nak, term, in-progress, ack-wait redelivery,
max deliver, deliver policies, filters, AckSync, and positions surviving a kill -9 restart."""
import asyncio, json, signal, shutil, tempfile
import pytest
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy, AckPolicy, StreamConfig
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import NotFoundError
from conftest import start_strata, Server, free_port, STRATA


async def setup(server, count=5, subjects=None):
    nc = await nats.connect(server.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="W", subjects=["w.>"])
    for i in range(count):
        subject = subjects(i) if subjects else "w.a"
        await js.publish(subject, f"m{i + 1}".encode())
    return nc, js


async def test_fetch_ack_and_consumer_info(js_server):
    nc, js = await setup(js_server)
    sub = await js.pull_subscribe("w.>", durable="d")
    msgs = await sub.fetch(3, timeout=2)
    assert [m.data for m in msgs] == [b"m1", b"m2", b"m3"]
    assert [m.metadata.sequence.stream for m in msgs] == [1, 2, 3]
    assert [m.metadata.num_pending for m in msgs] == [4, 3, 2]
    for m in msgs:
        await m.ack()
    rest = await sub.fetch(5, timeout=1)
    assert [m.data for m in rest] == [b"m4", b"m5"]
    await rest[0].ack_sync()  # AckSync: the server answers the ack
    info = await js.consumer_info("W", "d")
    assert info.delivered.stream_seq == 5 and info.ack_floor.stream_seq == 4
    assert info.num_ack_pending == 1 and info.num_pending == 0
    assert info.delivered.last_active is not None and info.ack_floor.last_active is not None
    assert (await js.stream_info("W")).state.consumer_count == 1
    with pytest.raises(NatsTimeout):
        await sub.fetch(1, timeout=0.5)
    await js.delete_consumer("W", "d")
    with pytest.raises(NotFoundError):
        await js.consumer_info("W", "d")
    await nc.close()


async def test_nak_term_and_ack_wait_redelivery(js_server):
    nc, js = await setup(js_server, count=3)
    sub = await js.pull_subscribe("w.>", durable="r", config=ConsumerConfig(ack_wait=1.0))
    m1, m2, m3 = await sub.fetch(3, timeout=2)
    await m1.nak()
    await m2.term()
    await m3.in_progress()
    again = await sub.fetch(1, timeout=2)
    assert again[0].data == b"m1" and again[0].metadata.num_delivered == 2
    await again[0].ack()
    # m3 was never acked: it comes back after ack_wait (1 s), m2 (terminated) never does.
    late = await sub.fetch(1, timeout=5)
    assert late[0].data == b"m3" and late[0].metadata.num_delivered == 2
    await late[0].ack()
    with pytest.raises(NatsTimeout):
        await sub.fetch(1, timeout=1.5)
    await nc.close()


async def test_max_deliver_stops_redelivery(js_server):
    nc, js = await setup(js_server, count=1)
    advisories = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.W.md")
    sub = await js.pull_subscribe("w.>", durable="md", config=ConsumerConfig(ack_wait=0.5, max_deliver=2))
    first = await sub.fetch(1, timeout=2)
    second = await sub.fetch(1, timeout=5)
    assert second[0].metadata.num_delivered == 2
    advisory = json.loads((await advisories.next_msg(timeout=5)).data)
    assert advisory["stream_seq"] == 1 and advisory["deliveries"] == 2
    with pytest.raises(NatsTimeout):
        await sub.fetch(1, timeout=1)
    await nc.close()


async def test_deliver_policies_and_filters(js_server):
    nc, js = await setup(js_server, count=6, subjects=lambda i: "w.eu" if i % 2 else "w.us")
    new = await js.pull_subscribe("w.>", durable="new", config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW))
    last = await js.pull_subscribe("w.>", durable="last", config=ConsumerConfig(deliver_policy=DeliverPolicy.LAST))
    start = await js.pull_subscribe("w.>", durable="start", config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=4))
    eu = await js.pull_subscribe("w.eu", durable="eu")
    assert [m.metadata.sequence.stream for m in await last.fetch(1, timeout=2)] == [6]
    assert [m.metadata.sequence.stream for m in await start.fetch(10, timeout=1)] == [4, 5, 6]
    assert [m.subject for m in await eu.fetch(10, timeout=1)] == ["w.eu"] * 3
    await js.publish("w.us", b"fresh")
    assert [m.data for m in await new.fetch(1, timeout=2)] == [b"fresh"]
    names = await js.consumers_info("W")
    assert sorted(c.name for c in names) == ["eu", "last", "new", "start"]
    await nc.close()


async def test_positions_survive_kill9():
    store = tempfile.mkdtemp(prefix="strata-js-")
    port = free_port()
    server = Server([STRATA, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store], port)
    try:
        nc, js = await setup(server, count=6)
        sub = await js.pull_subscribe("w.>", durable="k", config=ConsumerConfig(ack_wait=1.0))
        msgs = await sub.fetch(4, timeout=2)
        for m in msgs[:2]:
            await m.ack_sync()
        await nc.close()
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server = Server([STRATA, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store], port)
        nc = await nats.connect(server.url, allow_reconnect=False)
        js = nc.jetstream()
        info = await js.consumer_info("W", "k")
        assert info.delivered.stream_seq == 4 and info.ack_floor.stream_seq == 2 and info.num_ack_pending == 2
        sub = await js.pull_subscribe("w.>", durable="k", config=ConsumerConfig(ack_wait=1.0))
        got = await sub.fetch(4, timeout=5)
        # New messages first, then the two unacknowledged ones once their ack wait passes; never 1 or 2.
        seen = [m.metadata.sequence.stream for m in got]
        while len(seen) < 4:
            seen += [m.metadata.sequence.stream for m in await sub.fetch(4 - len(seen), timeout=5)]
        assert sorted(seen) == [3, 4, 5, 6]
        await nc.close()
    finally:
        server.stop()
        shutil.rmtree(store, ignore_errors=True)


async def test_a_stream_on_the_advisory_subjects_keeps_the_consumer_advisories(js_both):
    """An audit stream on `$JS.EVENT.ADVISORY.>` stores the advisories the server sends (both servers)."""
    nc = await nats.connect(js_both.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="AUDIT", subjects=["$JS.EVENT.ADVISORY.>"]))
    await js.add_stream(StreamConfig(name="WORK", subjects=["work.>"]))
    await js.add_consumer("WORK", ConsumerConfig(durable_name="W", ack_policy=AckPolicy.EXPLICIT))
    await js.delete_consumer("WORK", "W")
    reader = await js.pull_subscribe("$JS.EVENT.ADVISORY.CONSUMER.>", "READER", stream="AUDIT")
    seen = {}
    while len(seen) < 2:
        for message in await reader.fetch(10, timeout=5):
            await message.ack()
            if message.subject.endswith(".WORK.W"):
                seen[message.subject] = json.loads(message.data)
    assert set(seen) == {"$JS.EVENT.ADVISORY.CONSUMER.CREATED.WORK.W", "$JS.EVENT.ADVISORY.CONSUMER.DELETED.WORK.W"}
    created = seen["$JS.EVENT.ADVISORY.CONSUMER.CREATED.WORK.W"]
    assert created["type"] == "io.nats.jetstream.advisory.v1.consumer_action" and created["action"] == "create"
    assert created["stream"] == "WORK" and created["consumer"] == "W"
    await nc.close()
