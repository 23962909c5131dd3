"""Load (issue 13): many connections, a wide fan-out, and a slow consumer under JetStream push delivery, against
strata-server and nats-server side by side. Every connection is a raw socket speaking the protocol (so that the
client side is cheap); the server's resident memory is read from /proc and printed (RELIABILITY.md has the
figures). `make test` runs 1,000 connections and 200 subscribers; `make load` runs STRATA_LOAD_CONNECTIONS
(10,000) and STRATA_LOAD_SUBSCRIBERS (1,000)."""
import asyncio, os, resource, shutil, signal, subprocess, tempfile
import pytest
import nats
from nats.js.api import StreamConfig, ConsumerConfig, AckPolicy
from conftest import STRATA, free_port, wait_for_port

CONNECTIONS = int(os.environ.get("STRATA_LOAD_CONNECTIONS", "1000"))
SUBSCRIBERS = int(os.environ.get("STRATA_LOAD_SUBSCRIBERS", "200"))
FANOUT_MESSAGES = 50


def raise_open_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Served:
    def __init__(self, kind):
        binary = STRATA if kind == "strata" else shutil.which("nats-server")
        if binary is None:
            pytest.skip("nats-server is not installed")
        self.store = tempfile.mkdtemp(prefix="strata-load-")
        self.port = free_port()
        # (max_payload default; no connection limit below the test's: nats-server's default max_connections is 64K)
        self.process = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=raise_open_files)
        wait_for_port(self.port, self.process)
        self.url = f"nats://127.0.0.1:{self.port}"

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.store, ignore_errors=True)


@pytest.fixture(params=["strata", "reference"])
def served(request):
    if raise_open_files() < CONNECTIONS + 200:
        pytest.skip("the open-file limit is below the test's connections")
    server = Served(request.param)
    server.kind = request.param
    yield server
    server.stop()


async def open_connection(port, after_connect=b""):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()  # INFO
    writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\n' + after_connect + b"PING\r\n")
    await writer.drain()
    await until_pong(reader, writer)
    return reader, writer


async def until_pong(reader, writer):
    """Reads until the server's PONG, answering the keepalive PINGs an idle connection gets meanwhile."""
    while (line := await reader.readline()) != b"PONG\r\n":
        assert line, "connection closed by the server"
        if line == b"PING\r\n":
            writer.write(b"PONG\r\n")


async def test_many_connections_are_served_and_memory_is_reported(served):
    base = rss_kib(served.process.pid)
    connections = []
    for start in range(0, CONNECTIONS, 250):
        connections += await asyncio.gather(*(open_connection(served.port) for _ in range(min(250, CONNECTIONS - start))))
    loaded = rss_kib(served.process.pid)
    # Every connection still answers, and a new client works as before.
    for reader, writer in connections[:: max(1, CONNECTIONS // 100)]:
        writer.write(b"PING\r\n")
        await writer.drain()
        await until_pong(reader, writer)
    nc = await nats.connect(served.url)
    sub = await nc.subscribe("after")
    await nc.publish("after", b"x")
    assert (await sub.next_msg(timeout=5)).data == b"x"
    await nc.close()
    for _, writer in connections:
        writer.close()
    print(f"\n{served.kind}: {CONNECTIONS} connections, RSS {base} KiB idle -> {loaded} KiB, "
          f"{(loaded - base) / CONNECTIONS:.1f} KiB per connection")


async def test_fan_out_reaches_every_subscriber(served):
    subscribers = []
    for start in range(0, SUBSCRIBERS, 250):
        subscribers += await asyncio.gather(*(open_connection(served.port, b"SUB fan.> 1\r\n") for _ in range(min(250, SUBSCRIBERS - start))))
    nc = await nats.connect(served.url)
    for i in range(FANOUT_MESSAGES):
        await nc.publish("fan.out", b"%05d" % i)
    await nc.flush()

    async def receive(reader):
        got = []
        while len(got) < FANOUT_MESSAGES:
            line = await reader.readline()
            if line.startswith(b"MSG "):
                got.append((await reader.readline()).strip())
        return got
    everything = await asyncio.wait_for(asyncio.gather(*(receive(reader) for reader, _ in subscribers)), timeout=60)
    expected = [b"%05d" % i for i in range(FANOUT_MESSAGES)]
    assert all(got == expected for got in everything)
    print(f"\n{served.kind}: {FANOUT_MESSAGES} messages to {SUBSCRIBERS} subscribers, RSS {rss_kib(served.process.pid)} KiB")
    await nc.close()
    for _, writer in subscribers:
        writer.close()


async def test_a_slow_push_consumer_does_not_hold_back_a_fast_one(served):
    """Two push consumers on one stream: one whose subscriber never reads its socket, one that acks everything.
    The fast one gets every message, the server's memory stays bounded, and nothing stored is lost."""
    count = 3000
    nc = await nats.connect(served.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="LOAD", subjects=["load.>"]))
    # The slow subscriber: a raw connection that subscribes to the slow consumer's deliver subject, then never reads.
    slow_reader, slow_writer = await open_connection(served.port, b"SUB deliver.slow 1\r\n")
    await js.add_consumer("LOAD", ConsumerConfig(durable_name="SLOW", deliver_subject="deliver.slow", ack_policy=AckPolicy.EXPLICIT,
                                                 max_ack_pending=-1))
    received = asyncio.Event()
    fast = set()

    async def on_fast(msg):
        fast.add(msg.metadata.sequence.stream)
        await msg.ack()
        if len(fast) == count:
            received.set()
    await js.subscribe("load.>", durable="FAST", cb=on_fast, manual_ack=True)
    payload = os.urandom(2048)
    base = rss_kib(served.process.pid)
    acks = await asyncio.gather(*(js.publish("load.x", payload) for _ in range(count)))
    assert sorted(a.seq for a in acks) == list(range(1, count + 1))
    await asyncio.wait_for(received.wait(), timeout=60)
    peak = rss_kib(served.process.pid)
    info = await js.stream_info("LOAD")
    assert info.state.messages == count
    slow = await js.consumer_info("LOAD", "SLOW")
    print(f"\n{served.kind}: slow push consumer delivered {slow.delivered.stream_seq} of {count} (2 KiB each) while the fast one "
          f"got all; RSS {base} KiB -> {peak} KiB")
    slow_writer.close()
    await nc.close()
