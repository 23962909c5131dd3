"""A failing fsync and a store that becomes read-only, at the server level (issue 13). strata-server's debug build
injects them into its streams' log I/O on request (STRATA_TEST_FAULTS names a trigger file: Sources/Broker/
JetStream/InjectedFaults.swift); a store on a file system that is read-only before the server starts is a real
read-only tmpfs mount (root only). The promises: publishes get an error pub ack, nothing acknowledged is lost, the
server keeps serving reads, and it says what happened in its log and in /healthz (503, naming the stream) and
/jsz (`x_strata.write_failure`)."""
import asyncio, os, shutil, subprocess, tempfile
import pytest
import nats
from nats.js.api import StreamConfig, ConsumerConfig, AckPolicy
from conftest import StoreServer, mounted_tmpfs


@pytest.fixture
def store():
    directory = tempfile.mkdtemp(prefix="strata-faults-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def inject(trigger, fault):
    """Asks the server for a fault and waits until it has taken it (the server removes the trigger file then)."""
    with open(trigger, "w") as f:
        f.write(fault)
    for _ in range(500):
        if not os.path.exists(trigger):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the server did not take the fault {fault}: is it a debug build?")


async def publish_acked(js, subject, count, acked):
    for i in range(count):
        payload = f"{subject} {i} {len(acked)}".encode()
        ack = await js.publish(subject, payload, timeout=10)
        acked[ack.seq] = payload


def write_failure(server, stream):
    _, jsz = server.get("/jsz?streams=true")
    details = {s["name"]: s for a in jsz["account_details"] for s in a["stream_detail"]}
    return details[stream]["x_strata"].get("write_failure")


async def all_served(url, stream, acked):
    nc = await nats.connect(url)
    js = nc.jetstream()
    for sequence, payload in acked.items():
        assert (await js.get_msg(stream, sequence)).data == payload, sequence
    info = await js.stream_info(stream)
    await nc.close()
    return info


async def test_a_failed_fsync_refuses_writes_until_restart_and_loses_nothing_acknowledged(store):
    trigger = os.path.join(store, "fault")
    server = StoreServer(os.path.join(store, "js"), env={"STRATA_TEST_FAULTS": trigger})
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="SYNC", subjects=["sync.>"]))
        await js.add_stream(StreamConfig(name="OTHER", subjects=["other.>"]))
        acked, other = {}, {}
        await publish_acked(js, "sync.a", 40, acked)
        assert server.get("/healthz") == (200, {"status": "ok"})

        await inject(trigger, "fail-sync")
        with pytest.raises(nats.js.errors.APIError) as refused:
            await js.publish("sync.a", b"not durable", timeout=10)
        assert refused.value.code == 503 and refused.value.err_code == 10077, refused.value
        # The stream refuses writes from now on (its log's tail is unknown until it is checked at start) ...
        with pytest.raises(nats.js.errors.APIError):
            await js.publish("sync.a", b"refused", timeout=10)
        # ... and says so; it serves what was acknowledged, and other streams go on.
        status, health = server.get("/healthz")
        assert status == 503 and "SYNC cannot store messages" in health["error"] and "sync" in health["error"], health
        assert "fdatasync" in write_failure(server, "SYNC")
        for sequence, payload in acked.items():
            assert (await js.get_msg("SYNC", sequence)).data == payload
        await publish_acked(js, "other.a", 10, other)
        assert write_failure(server, "OTHER") is None
        await nc.close()
        log = server.stop()
        assert "stream SYNC refuses writes until the server restarts" in log and "fdatasync" in log, log

        server = StoreServer(os.path.join(store, "js"))
        info = await all_served(server.url, "SYNC", acked)
        assert info.state.last_seq >= max(acked)
        await all_served(server.url, "OTHER", other)
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await publish_acked(js, "sync.a", 5, acked)
        await nc.close()
        assert server.get("/healthz") == (200, {"status": "ok"})
        assert "could not store" not in server.stop()
    finally:
        if server.process.poll() is None:
            server.process.kill()


async def test_a_store_gone_read_only_refuses_writes_keeps_serving_and_keeps_everything_acknowledged(store):
    trigger = os.path.join(store, "fault")
    server = StoreServer(os.path.join(store, "js"), env={"STRATA_TEST_FAULTS": trigger})
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="RO", subjects=["ro.>"]))
        acked = {}
        await publish_acked(js, "ro.a", 40, acked)

        await inject(trigger, "read-only")
        for _ in range(3):
            with pytest.raises(nats.js.errors.APIError) as refused:
                await js.publish("ro.a", b"refused", timeout=10)
            assert refused.value.code == 503 and refused.value.err_code == 10077, refused.value
        status, health = server.get("/healthz")
        assert status == 503 and "RO cannot store messages" in health["error"] and "Read-only file system" in health["error"], health
        for sequence, payload in acked.items():
            assert (await js.get_msg("RO", sequence)).data == payload
        # A new stream cannot be made on it either, and the answer says why.
        with pytest.raises(nats.js.errors.APIError) as refused:
            await js.add_stream(StreamConfig(name="NEW", subjects=["new.>"]))
        assert "Read-only file system" in refused.value.description, refused.value

        # The file system comes back (fsck, remount): the stream could not cut back the tail of its failed write,
        # so it goes on refusing, and saying so, until its log is checked again at the next start.
        await inject(trigger, "clear")
        with pytest.raises(nats.js.errors.APIError):
            await js.publish("ro.a", b"refused", timeout=10)
        status, health = server.get("/healthz")
        assert status == 503 and "needs recovery" in health["error"], health
        await nc.close()
        log = server.stop()
        assert "stream RO refuses writes until the server restarts" in log and "Read-only file system" in log, log
        assert log.count("Read-only file system") < 10, "logged once per distinct failure, not once per publish"

        server = StoreServer(os.path.join(store, "js"))
        await all_served(server.url, "RO", acked)
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await publish_acked(js, "ro.a", 5, acked)
        await nc.close()
        await all_served(server.url, "RO", acked)
        assert server.get("/healthz") == (200, {"status": "ok"})
        server.stop()
    finally:
        if server.process.poll() is None:
            server.process.kill()


@pytest.fixture
def small_fs():
    with mounted_tmpfs("16m") as path:
        yield path


async def test_a_store_read_only_at_start_is_served_read_only(small_fs):
    store = os.path.join(small_fs, "js")
    server = StoreServer(store)
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="R", subjects=["r.>"]))
        acked = {}
        await publish_acked(js, "r.a", 30, acked)
        await js.add_consumer("R", ConsumerConfig(durable_name="D", ack_policy=AckPolicy.EXPLICIT))
        sub = await js.pull_subscribe("r.a", "D", stream="R")
        for message in await sub.fetch(5, timeout=5):
            await message.ack_sync()
        await nc.close()
        server.stop()
        assert subprocess.run(["mount", "-o", "remount,ro", small_fs]).returncode == 0

        # Read-only: every stream served as its index last committed it, writes refused, and said so.
        server = StoreServer(store)
        status, health = server.get("/healthz")
        assert status == 503 and "R cannot store messages: served read-only" in health["error"], health
        await all_served(server.url, "R", acked)
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        with pytest.raises(nats.js.errors.APIError) as refused:
            await js.publish("r.a", b"refused", timeout=10)
        assert refused.value.code == 503, refused.value
        info = await js.consumer_info("R", "D")
        assert info.ack_floor.stream_seq == 5 and info.num_pending == 25, info
        # A consumer delivers; an AckSync whose state cannot be stored is not confirmed (an empty reply means
        # stored), so the message is delivered again after a restart rather than lost from the consumer's view.
        sub = await js.pull_subscribe("r.a", "D", stream="R")
        message = (await sub.fetch(1, timeout=5))[0]
        assert message.metadata.sequence.stream == 6
        with pytest.raises(nats.errors.TimeoutError):
            await message.ack_sync(timeout=1)
        await nc.close()
        log = server.stop()
        assert "stream R served read-only" in log and "consumer D: state not stored" in log, log

        assert subprocess.run(["mount", "-o", "remount,rw", small_fs]).returncode == 0
        server = StoreServer(store)
        assert server.get("/healthz") == (200, {"status": "ok"})
        await all_served(server.url, "R", acked)
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await publish_acked(js, "r.a", 3, acked)
        sub = await js.pull_subscribe("r.a", "D", stream="R")
        message = (await sub.fetch(1, timeout=5))[0]
        assert message.metadata.sequence.stream == 6
        await message.ack_sync()
        await nc.close()
        server.stop()
    finally:
        if server.process.poll() is None:
            server.process.kill()
