"""Interest and work-queue retention against strata-server; the same scenario runs against nats-server
(when installed) and both must give the same outcomes."""
import pytest
import nats
from nats.js.api import RetentionPolicy, ConsumerConfig
from conftest import start_jetstream


async def retention_outcomes(url):
    nc = await nats.connect(url, allow_reconnect=False)
    js = nc.jetstream()
    out = []
    await js.add_stream(name="I", subjects=["i.>"], retention=RetentionPolicy.INTEREST)
    await js.publish("i.a", b"no consumers yet")
    out.append(("interest, no consumers", (await js.stream_info("I")).state.messages))
    a = await js.pull_subscribe("i.>", durable="a")
    b = await js.pull_subscribe("i.a", durable="b")
    c = await js.pull_subscribe("i.b", durable="c")
    await js.publish("i.a", b"1")
    await js.publish("i.b", b"2")
    for name, sub, count in [("a acked both", a, 2), ("b acked i.a", b, 1), ("c acked i.b", c, 1)]:
        for m in await sub.fetch(count, timeout=2):
            await m.ack_sync()
        out.append((name, (await js.stream_info("I")).state.messages))
    await js.add_stream(name="Q", subjects=["q.>"], retention=RetentionPolicy.WORK_QUEUE)
    await js.publish("q.a", b"1")
    await js.publish("q.b", b"2")
    w = await js.pull_subscribe("q.a", durable="w1")
    for name, config in [("overlap", ConsumerConfig(durable_name="w2", filter_subject="q.>")),
                         ("pull ack none", ConsumerConfig(durable_name="w3", filter_subject="q.b", ack_policy="none")),
                         ("deliver new", ConsumerConfig(durable_name="w4", filter_subject="q.b", deliver_policy="new"))]:
        try:
            await js.add_consumer("Q", config)
            out.append((name, "accepted"))
        except Exception as e:
            out.append((name, getattr(e, "err_code", type(e).__name__)))
    m = await w.fetch(1, timeout=2)
    await m[0].ack_sync()
    out.append(("work queue after ack", (await js.stream_info("Q")).state.messages))
    await nc.close()
    return out


EXPECTED = [("interest, no consumers", 0), ("a acked both", 2), ("b acked i.a", 1), ("c acked i.b", 0),
            ("overlap", 10100), ("pull ack none", 10084), ("deliver new", 10101), ("work queue after ack", 1)]


@pytest.mark.parametrize("kind", ["strata", "reference"])
async def test_retention_matches_reference(kind):
    server = start_jetstream(kind)
    if server is None:
        pytest.skip("nats-server is not installed")
    try:
        assert await retention_outcomes(server.url) == EXPECTED
    finally:
        server.stop()


async def drained_work_queue(url):
    """2,000 messages through a work queue with plain acks (no AckSync), fetched 250 at a time; then
    what the stream holds once the acks are in (the server applies them as they arrive: a request after
    a flush sees them, at most a few round trips later)."""
    import asyncio
    nc = await nats.connect(url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="W", subjects=["w.>"], retention=RetentionPolicy.WORK_QUEUE)
    for i in range(2000):
        await js.publish(f"w.{i % 5}", b"x" * 100)
    sub = await js.pull_subscribe("w.>", durable="d")
    got = 0
    while got < 2000:
        batch = await sub.fetch(250, timeout=2)
        for m in batch:
            await m.ack()
        got += len(batch)
    await nc.flush()
    state = (await js.stream_info("W")).state
    for _ in range(100):  # bounded: each stream info is a round trip behind the acks' removal
        if state.messages == 0:
            break
        await asyncio.sleep(0.01)
        state = (await js.stream_info("W")).state
    await nc.close()
    return got, state.messages, state.bytes


@pytest.mark.parametrize("kind", ["strata", "reference"])
async def test_plain_acks_empty_a_work_queue(kind):
    server = start_jetstream(kind)
    if server is None:
        pytest.skip("nats-server is not installed")
    try:
        assert await drained_work_queue(server.url) == (2000, 0, 0)
    finally:
        server.stop()
