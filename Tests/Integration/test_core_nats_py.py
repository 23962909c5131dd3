"""Core NATS against strata-server with the unmodified nats-py client, over real loopback sockets."""
import asyncio, json, os, signal, socket, subprocess
import pytest
import nats
from nats.errors import MaxPayloadError, NoRespondersError, TimeoutError as NatsTimeout
from conftest import start_strata, free_port, STRATA, wait_for_port


async def connect(server, **kwargs):
    return await nats.connect(server.url, allow_reconnect=False, **kwargs)


async def collect(subscription, count, timeout=5):
    return [await subscription.next_msg(timeout=timeout) for _ in range(count)]


async def test_publish_subscribe_and_wildcards(strata):
    nc = await connect(strata)
    exact = await nc.subscribe("orders.eu.new")
    star = await nc.subscribe("orders.*.new")
    full = await nc.subscribe("orders.>")
    await nc.publish("orders.eu.new", b"1")
    await nc.publish("orders.us.new", b"2")
    await nc.publish("orders.us.old.x", b"3")
    await nc.publish("other", b"4")
    await nc.flush()
    assert [m.data for m in await collect(exact, 1)] == [b"1"]
    assert [m.data for m in await collect(star, 2)] == [b"1", b"2"]
    assert [m.data for m in await collect(full, 3)] == [b"1", b"2", b"3"]
    with pytest.raises(NatsTimeout):
        await exact.next_msg(timeout=0.2)
    await nc.close()


async def test_queue_group_delivers_each_message_once(strata):
    publisher = await connect(strata)
    members = [await connect(strata) for _ in range(3)]
    received = []
    all_received = asyncio.Event()
    for i, member in enumerate(members):
        async def handler(msg, i=i):
            received.append((i, msg.data))
            if len(received) == 300:
                all_received.set()
        await member.subscribe("work", queue="workers", cb=handler)
        await member.flush()
    plain = await publisher.subscribe("work")
    for n in range(300):
        await publisher.publish("work", str(n).encode())
    await publisher.flush()
    everyone = await collect(plain, 300)
    assert len(everyone) == 300
    await asyncio.wait_for(all_received.wait(), 10)
    assert sorted(int(data) for _, data in received) == list(range(300))
    assert len({i for i, _ in received}) == 3, "every member should get some"
    for nc in members + [publisher]:
        await nc.close()


async def test_request_reply(strata):
    responder = await connect(strata)
    requester = await connect(strata)

    async def echo(msg):
        await msg.respond(b"re:" + msg.data)
    await responder.subscribe("service.echo", cb=echo)
    await responder.flush()
    for i in range(20):
        reply = await requester.request("service.echo", f"q{i}".encode(), timeout=2)
        assert reply.data == f"re:q{i}".encode()
    await responder.close()
    await requester.close()


async def test_headers_round_trip(strata):
    nc = await connect(strata)
    sub = await nc.subscribe("h")
    await nc.publish("h", b"body", headers={"Trace-Id": "abc", "X-Count": "3"})
    msg = await sub.next_msg(timeout=2)
    assert msg.data == b"body"
    assert msg.headers == {"Trace-Id": "abc", "X-Count": "3"}
    await nc.close()


async def test_unsubscribe_with_max(strata):
    nc = await connect(strata)
    sub = await nc.subscribe("limited")
    await sub.unsubscribe(limit=2)
    for i in range(5):
        await nc.publish("limited", str(i).encode())
    await nc.flush()
    assert [m.data for m in await collect(sub, 2)] == [b"0", b"1"]
    with pytest.raises(Exception):
        await sub.next_msg(timeout=0.3)
    await nc.close()


async def test_no_echo(strata):
    quiet = await connect(strata, no_echo=True)
    other = await connect(strata)
    own = await quiet.subscribe("echo")
    await quiet.flush()
    await quiet.publish("echo", b"mine")
    await other.publish("echo", b"theirs")
    await other.flush()
    msg = await own.next_msg(timeout=2)
    assert msg.data == b"theirs"
    await quiet.close()
    await other.close()


async def test_max_payload_is_enforced(strata):
    nc = await connect(strata)
    assert nc.max_payload == 1048576
    with pytest.raises(MaxPayloadError):
        await nc.publish("big", b"x" * (1048576 + 1))
    await nc.publish("ok", b"x" * 1048576)
    await nc.flush()
    await nc.close()


async def test_many_clients_at_once(strata):
    clients = await asyncio.gather(*[connect(strata) for _ in range(50)])
    subs = [await c.subscribe("fan") for c in clients]
    for c in clients:
        await c.flush()
    await clients[0].publish("fan", b"hello")
    await clients[0].flush()
    messages = await asyncio.gather(*[s.next_msg(timeout=5) for s in subs])
    assert all(m.data == b"hello" for m in messages)
    await asyncio.gather(*[c.close() for c in clients])


async def test_no_responders(strata):
    nc = await connect(strata)
    with pytest.raises((NoRespondersError, NatsTimeout)):
        await nc.request("nobody.home", b"?", timeout=0.5)
    await nc.close()


@pytest.mark.parametrize("flags,good,bad", [
    (["--auth", "s3cret"], {"token": "s3cret"}, {"token": "wrong"}),
    (["--user", "alice", "--pass", "pw"], {"user": "alice", "password": "pw"}, {"user": "alice", "password": "nope"}),
])
async def test_authentication(flags, good, bad):
    server = start_strata(*flags)
    try:
        nc = await connect(server, **good)
        sub = await nc.subscribe("auth")
        await nc.publish("auth", b"in")
        assert (await sub.next_msg(timeout=2)).data == b"in"
        await nc.close()
        errors = []

        async def on_error(e):
            errors.append(e)
        with pytest.raises(Exception):
            await nats.connect(server.url, allow_reconnect=False, error_cb=on_error, **bad)
        # Raw: the exact reply and a close.
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.settimeout(5)
            info = json.loads(s.recv(4096)[5:-3])
            assert info["auth_required"] is True
            s.sendall(b'CONNECT {"verbose":false,"auth_token":"x","user":"x","pass":"x"}\r\nPING\r\n')
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
            assert out == b"-ERR 'Authorization Violation'\r\n"
    finally:
        server.stop()


def test_stale_connection_is_closed():
    server = start_strata("--ping_interval", "1")
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.settimeout(10)
            s.recv(4096)
            s.sendall(b'CONNECT {"verbose":false}\r\n')
            out = b""
            while True:  # PINGs go unanswered until the server gives up
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
            assert out == b"PING\r\nPING\r\n-ERR 'Stale Connection'\r\n"
    finally:
        server.stop()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def test_slow_consumer_is_cut_off_and_memory_stays_bounded():
    server = start_strata("--max_pending", "1048576")
    try:
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.recv(4096)
        slow.sendall(b'CONNECT {"verbose":false}\r\nSUB flood 1\r\nPING\r\n')
        pub = socket.create_connection(("127.0.0.1", server.port))
        pub.recv(4096)
        pub.sendall(b'CONNECT {"verbose":false}\r\n')
        payload = b"x" * 8192
        frame = b"PUB flood 8192\r\n" + payload + b"\r\n"
        for _ in range(4096):  # 32 MiB towards a client that reads nothing (kernel buffers hold a few MiB)
            pub.sendall(frame)
        pub.sendall(b"PING\r\n")
        pub.settimeout(20)
        got = b""
        while not got.endswith(b"PONG\r\n"):
            got += pub.recv(4096)
        # The publisher is still served; the slow client was disconnected.
        slow.settimeout(20)
        data = b""
        while True:
            chunk = slow.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        assert len(data) < 32 * 1024 * 1024, "the slow consumer should be cut off before receiving everything"
        assert rss_kib(server.process.pid) < 200 * 1024
        pub.close()
        slow.close()
    finally:
        server.stop()


def test_sigterm_shuts_down_cleanly():
    server = start_strata()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0
