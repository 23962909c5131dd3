"""A pull consumer's request limits (`max_batch`, `max_expires`, `max_bytes`), ack sampling (`sample_freq`) and
memory-only consumer state (`mem_storage`). Each scenario runs against strata-server and the reference nats-server
2.9.10 and must give the same answers."""
import asyncio, json, shutil, tempfile
import pytest
import nats
from conftest import Server, binary, free_port, api, error_of

KINDS = ["strata", "reference"]


def start(kind, store, port=None):
    """A JetStream server of `kind` on `store`; on `port` when given (a restart), else a free one."""
    port = port or free_port()
    return Server([binary(kind), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store], port)


@pytest.fixture(params=KINDS)
async def served(request):
    """A connection to a fresh JetStream server, its store directory and kind, and a stream S on `s.>`."""
    store = tempfile.mkdtemp(prefix="strata-limits-")
    server = start(request.param, store)
    nc = await nats.connect(server.url, allow_reconnect=False)
    await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s.>"]})
    yield nc, server, store, request.param
    await nc.close()
    server.stop()
    shutil.rmtree(store, ignore_errors=True)




async def create(nc, config):
    return await api(nc, f"$JS.API.CONSUMER.DURABLE.CREATE.S.{config['durable_name']}", {"stream_name": "S", "config": config})


async def test_request_limits_are_checked_at_create_and_echoed(served):
    nc, *_ = served
    base = {"durable_name": "p", "ack_policy": "explicit"}
    assert error_of(await create(nc, {**base, "max_expires": 999_999})) == (400, 10115, "consumer max request expires needs to be >= 1ms")
    assert error_of(await create(nc, {**base, "sample_freq": "often"})) == (
        400, 10095, 'failed to parse consumer sampling configuration: strconv.Atoi: parsing "often": invalid syntax')
    assert error_of(await create(nc, {**base, "sample_freq": "-5%"})) == (
        400, 10095, "failed to parse consumer sampling configuration: <nil>")
    created = await create(nc, {**base, "max_batch": 5, "max_expires": 1_500_000_000, "max_bytes": 1000, "sample_freq": "50%",
                                "mem_storage": True})
    config = created["config"]
    assert (config["max_batch"], config["max_expires"], config["max_bytes"], config["sample_freq"], config["mem_storage"]) == (
        5, 1_500_000_000, 1000, "50%", True)
    # Unset, they are left out of the config, as the reference's omitempty fields are.
    plain = (await create(nc, {"durable_name": "q", "ack_policy": "explicit"}))["config"]
    assert not {"max_expires", "max_bytes", "sample_freq", "mem_storage"} & set(plain)
    # They may change on update.
    updated = await api(nc, "$JS.API.CONSUMER.CREATE.S.p", {"stream_name": "S", "config": {
        **base, "max_batch": 5, "max_expires": 3_000_000_000, "max_bytes": 2000, "sample_freq": "100", "mem_storage": True}})
    assert error_of(updated) is None
    assert (updated["config"]["max_expires"], updated["config"]["max_bytes"], updated["config"]["sample_freq"]) == (3_000_000_000, 2000, "100")


async def test_pull_requests_beyond_the_limits_end_with_409(served):
    nc, *_ = served
    await create(nc, {"durable_name": "p", "ack_policy": "explicit", "max_batch": 5, "max_expires": 1_500_000_000, "max_bytes": 1000})
    for i in range(3):
        await nc.request(f"s.{i}", b"x" * 100, timeout=3)
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)

    async def answer(request):
        await nc.publish("$JS.API.CONSUMER.MSG.NEXT.S.p", json.dumps(request).encode(), reply=inbox)
        message = await sub.next_msg(timeout=3)
        return message.headers.get("Status") if message.headers else None, \
            message.headers.get("Description") if message.headers else None, message.data

    assert await answer({"batch": 6}) == ("409", "Exceeded MaxRequestBatch of 5", b"")
    assert await answer({"batch": 1, "expires": 2_000_000_000}) == ("409", "Exceeded MaxRequestExpires of 1.5s", b"")
    assert await answer({"batch": 1, "max_bytes": 1001}) == ("409", "Exceeded MaxRequestMaxBytes of 1000", b"")
    # Within every limit, the request is served.
    assert await answer({"batch": 1, "expires": 1_500_000_000, "max_bytes": 1000}) == (None, None, b"x" * 100)
    # A request without expires is not held to max_expires.
    assert await answer({"batch": 1}) == (None, None, b"x" * 100)


async def test_sampled_acks_publish_ack_metrics(served):
    nc, *_ = served
    await create(nc, {"durable_name": "m", "ack_policy": "explicit", "sample_freq": "100%"})
    await create(nc, {"durable_name": "n", "ack_policy": "explicit"})
    metrics = await nc.subscribe("$JS.EVENT.METRIC.CONSUMER.ACK.>")
    for i in range(3):
        await nc.request(f"s.{i}", f"m{i}".encode(), timeout=3)
    js = nc.jetstream()
    for durable in ("m", "n"):
        sub = await js.pull_subscribe_bind(durable, stream="S")
        for message in await sub.fetch(3, timeout=3):
            await message.ack_sync()
    events = [(m.subject, json.loads(m.data)) for m in [await metrics.next_msg(timeout=3) for _ in range(3)]]
    assert [subject for subject, _ in events] == ["$JS.EVENT.METRIC.CONSUMER.ACK.S.m"] * 3
    for n, (_, event) in enumerate(events, start=1):
        assert event["type"] == "io.nats.jetstream.metric.v1.consumer_ack"
        assert (event["stream"], event["consumer"], event["stream_seq"], event["consumer_seq"], event["deliveries"]) == ("S", "m", n, n, 1)
        assert event["ack_time"] > 0 and event["id"] and event["timestamp"]
    # Consumer n samples nothing: the next metric is m's for a fourth message, acked after n's acks were answered.
    await nc.request("s.3", b"m3", timeout=3)
    for message in await (await js.pull_subscribe_bind("m", stream="S")).fetch(1, timeout=3):
        await message.ack_sync()
    subject, event = (lambda m: (m.subject, json.loads(m.data)))(await metrics.next_msg(timeout=3))
    assert (subject, event["consumer"], event["stream_seq"]) == ("$JS.EVENT.METRIC.CONSUMER.ACK.S.m", "m", 4)


async def test_a_memory_storage_consumer_is_forgotten_at_restart(served):
    nc, server, store, kind = served
    await create(nc, {"durable_name": "mem", "ack_policy": "explicit", "mem_storage": True})
    await create(nc, {"durable_name": "file", "ack_policy": "explicit"})
    await nc.request("s.1", b"x", timeout=3)
    js = nc.jetstream()
    for durable in ("mem", "file"):
        for message in await (await js.pull_subscribe_bind(durable, stream="S")).fetch(1, timeout=3):
            await message.ack_sync()
    assert sorted((await api(nc, "$JS.API.CONSUMER.NAMES.S"))["consumers"]) == ["file", "mem"]
    await nc.close()
    server.stop()
    server = start(kind, store, port=server.port)
    try:
        nc = await nats.connect(server.url, allow_reconnect=False)
        assert (await api(nc, "$JS.API.CONSUMER.NAMES.S"))["consumers"] == ["file"]
        assert (await api(nc, "$JS.API.CONSUMER.INFO.S.file"))["ack_floor"]["stream_seq"] == 1
        await nc.close()
    finally:
        server.stop()
