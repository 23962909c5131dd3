"""Many streams in one store: both servers raise their soft open-file limit to the hard one at start, so a
store of more streams than a low soft limit allows files for is created, filled, restarted and served;
Strata's index files grow with their data instead of taking their whole map up front."""
import asyncio, glob, json, os, resource, shutil, tempfile, urllib.error, urllib.request

import nats
import pytest
from nats.js.api import StreamConfig

from conftest import STRATA, Server, free_port

SOFT = 256
STREAMS = 150  # each holds files open (nats-server two, Strata five): more than SOFT in all


def low_soft_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, hard))


def start(kind, store, port):
    binary = STRATA if kind == "strata" else shutil.which("nats-server")
    if binary is None:
        pytest.skip("nats-server is not installed")
    return Server([binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store], port, preexec_fn=low_soft_limit)


def soft_open_files(pid):
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max open files"))
    return int(line.split()[3])


@pytest.mark.parametrize("kind", ["strata", "reference"])
def test_more_streams_than_the_soft_limit_allows_files_for(kind):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 8 * STREAMS:
        pytest.skip(f"hard open-file limit {hard} is too low for this test")
    store = tempfile.mkdtemp(prefix="strata-many-")
    port = free_port()
    server = start(kind, store, port)
    try:
        assert soft_open_files(server.process.pid) == hard

        async def fill():
            nc = await nats.connect(server.url)
            js = nc.jetstream(timeout=10)
            for i in range(STREAMS):
                await js.add_stream(StreamConfig(name=f"S{i}", subjects=[f"s.{i}"]))
                await js.pull_subscribe(f"s.{i}", durable="D", stream=f"S{i}")
                ack = await js.publish(f"s.{i}", f"m{i}".encode())
                assert ack.stream == f"S{i}" and ack.seq == 1
            await nc.close()

        asyncio.run(fill())
        assert len(os.listdir(f"/proc/{server.process.pid}/fd")) > SOFT
        server.stop()
        server = start(kind, store, port)

        async def check():
            nc = await nats.connect(server.url)
            js = nc.jetstream(timeout=10)
            names = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"{}", timeout=10)).data)
            assert names["total"] == STREAMS
            for i in (0, STREAMS // 2, STREAMS - 1):
                assert (await js.get_msg(f"S{i}", 1)).data == f"m{i}".encode()
                sub = await js.pull_subscribe(f"s.{i}", durable="D", stream=f"S{i}")
                [msg] = await sub.fetch(1, timeout=5)
                assert msg.data == f"m{i}".encode()
            await nc.close()

        asyncio.run(check())
        if kind == "strata":
            maps = glob.glob(os.path.join(store, "**", "data.mdb"), recursive=True)
            assert len(maps) == STREAMS
            assert max(os.path.getsize(m) for m in maps) <= 1 << 20
    finally:
        server.stop()
        shutil.rmtree(store, ignore_errors=True)


async def touch(url, stream):
    nc = await nats.connect(url)
    await nc.jetstream(timeout=20).stream_info(stream)
    await nc.close()


HARD = 256
LIMITED_STREAMS = 300  # five files each while open: 1,500, far above the hard limit


def low_hard_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (HARD, HARD))


def test_streams_beyond_the_hard_open_file_limit_are_served_from_a_budget_of_open_streams():
    """With the hard limit at 256 files (nothing to raise), Strata keeps only a budget of streams open and
    opens the others on demand: 300 streams with a durable consumer each are created, filled, consumed,
    killed (SIGKILL), restarted and served, and the server never holds more files than its limit allows. (nats-server 2.9.10
    holds every stream's files open: it refuses streams there with "too many open files".)"""
    store = tempfile.mkdtemp(prefix="strata-budget-")
    port = free_port()
    command = [STRATA, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store]
    server = Server(command, port, preexec_fn=low_hard_limit)
    most_files = 0

    def files():
        nonlocal most_files
        count = len(os.listdir(f"/proc/{server.process.pid}/fd"))
        most_files = max(most_files, count)
        return count

    try:
        async def fill():
            nc = await nats.connect(server.url)
            js = nc.jetstream(timeout=20)
            for i in range(LIMITED_STREAMS):
                await js.add_stream(StreamConfig(name=f"B{i}", subjects=[f"b.{i}"]))
                await js.add_consumer(f"B{i}", durable_name="D", ack_policy="explicit")
                for n in range(2):
                    ack = await js.publish(f"b.{i}", f"m{i}.{n}".encode())
                    assert ack.stream == f"B{i}" and ack.seq == n + 1
                if i % 50 == 0:
                    files()
            # The first message of every stream consumed and acknowledged (AckSync: stored before the reply),
            # in an order that opens the streams the budget closed first.
            for i in range(LIMITED_STREAMS):
                sub = await js.pull_subscribe_bind("D", stream=f"B{i}")
                [msg] = await sub.fetch(1, timeout=10)
                assert msg.data == f"m{i}.0".encode()
                await msg.ack_sync()
                await sub.unsubscribe()
            files()
            await nc.close()

        asyncio.run(fill())
        assert most_files < HARD
        # Killed, not stopped: what was acknowledged (publishes, AckSyncs) must be there, whichever streams the
        # budget had closed and whichever were open.
        server.process.kill()
        server.process.wait()
        http = free_port()
        server = Server(command + ["-m", str(http)], port, preexec_fn=low_hard_limit)

        def get(path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        # Right after the start the warm-up may still be restoring the deferred streams: /healthz says so (it does
        # not wait for them), and /jsz counts every stream.
        status, health = get("/healthz")
        assert status == 200 or (status == 503 and "restoring" in health["error"]), health
        assert get("/jsz")[1]["streams"] == LIMITED_STREAMS

        async def check():
            nc = await nats.connect(server.url)
            js = nc.jetstream(timeout=20)
            names = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"{}", timeout=20)).data)
            assert names["total"] == LIMITED_STREAMS
            for i in range(0, LIMITED_STREAMS, 7):
                info = await js.stream_info(f"B{i}")
                assert info.state.messages == 2 and info.state.last_seq == 2
                consumer = await js.consumer_info(f"B{i}", "D")
                assert consumer.ack_floor.stream_seq == 1 and consumer.num_pending == 1
                sub = await js.pull_subscribe_bind("D", stream=f"B{i}")
                [msg] = await sub.fetch(1, timeout=10)
                assert msg.data == f"m{i}.1".encode()  # the acknowledged one is not delivered again
                await msg.ack_sync()
                await sub.unsubscribe()
                ack = await js.publish(f"b.{i}", b"after")
                assert ack.seq == 3
            files()
            await nc.close()

        asyncio.run(check())
        assert most_files < HARD
        # Every stream restored once the first request of each has been served (the warm-up's too): healthy.
        for i in range(LIMITED_STREAMS):
            asyncio.run(touch(server.url, f"B{i}"))
        assert get("/healthz") == (200, {"status": "ok"})
    finally:
        server.stop()
        shutil.rmtree(store, ignore_errors=True)
