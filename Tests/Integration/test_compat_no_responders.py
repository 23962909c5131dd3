"""No responders, side by side: a request that nothing takes fails at once (nats-py's NoRespondersError)
rather than waiting out its timeout, on strata-server and on the reference alike."""
import asyncio
import pytest
import nats
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError


async def test_request_to_nobody_fails_at_once(js_both):
    nc = await nats.connect(js_both.url, allow_reconnect=False)
    with pytest.raises(NoRespondersError):
        await nc.request("nobody.home", b"x", timeout=30)
    # A responder that auto-unsubscribes after one reply leaves nobody for the second request.
    async def respond(msg):
        await msg.respond(b"pong")

    sub = await nc.subscribe("once", cb=respond)
    await sub.unsubscribe(1)
    assert (await nc.request("once", b"ping", timeout=5)).data == b"pong"
    with pytest.raises(NoRespondersError):
        await nc.request("once", b"ping", timeout=30)
    await nc.close()


async def test_jetstream_publish_to_uncaptured_subject(js_both):
    nc = await nats.connect(js_both.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s.>"])
    assert (await js.publish("s.1", b"kept")).seq == 1
    with pytest.raises(NoStreamResponseError):
        await js.publish("elsewhere", b"lost", timeout=30)
    await js.delete_stream("S")
    with pytest.raises(NoStreamResponseError):
        await js.publish("s.1", b"after delete", timeout=30)
    await nc.close()


async def test_pull_and_ack_sync_after_consumer_is_gone(js_both):
    nc = await nats.connect(js_both.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="P", subjects=["p"])
    await js.publish("p", b"one")
    sub = await js.pull_subscribe("p", durable="d")
    [msg] = await sub.fetch(1, timeout=5)
    await js.delete_consumer("P", "d")
    # An ack goes to the consumer's own subscription: nobody takes it now.
    with pytest.raises(NoRespondersError):
        await nc.request(msg.reply, b"+ACK", timeout=30)
    # A pull request goes to the API, which takes every $JS.API subject and answers nothing for a
    # consumer that does not exist: the request times out on both servers.
    with pytest.raises(nats.errors.TimeoutError):
        await nc.request("$JS.API.CONSUMER.MSG.NEXT.P.d", b'{"batch":1}', timeout=0.5)
    await nc.close()


async def test_header_less_client_gets_jetstream_deliveries_without_headers(js_both):
    """A push consumer's deliveries (messages published with headers) and its idle heartbeats (status
    messages, header-only) reach a client that did not ask for headers as plain MSG."""
    import socket
    nc = await nats.connect(js_both.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="H", subjects=["h"])
    await js.publish("h", b"hello", headers={"X-Kind": "greeting"})
    plain = socket.create_connection(("127.0.0.1", js_both.port), timeout=5)
    def receive(until):
        data = b""
        while not until(data):
            chunk = plain.recv(65536)
            assert chunk, f"closed early: {data!r}"
            data += chunk
        return data

    receive(lambda data: b"\r\n" in data)
    plain.sendall(b'CONNECT {"verbose":false}\r\nSUB plain.deliver 1\r\nPING\r\n')
    receive(lambda data: data.endswith(b"PONG\r\n"))
    await js.add_consumer("H", durable_name="p", deliver_subject="plain.deliver", ack_policy="explicit", idle_heartbeat=0.2)
    # The message, then (nothing else to send) heartbeats: read until two messages have arrived.
    data = receive(lambda data: data.count(b"MSG ") >= 2)
    plain.close()
    await nc.close()
    assert b"HMSG" not in data
    first_line, _, rest = data.partition(b"\r\n")
    assert first_line.startswith(b"MSG h 1 $JS.ACK.H.p.1.1.1.") and first_line.endswith(b" 5")
    assert rest.startswith(b"hello\r\nMSG plain.deliver 1 ")
    heartbeat_line = rest[len(b"hello\r\n"):].partition(b"\r\n")[0]
    assert heartbeat_line.endswith(b" 0")
