"""A store on a file system that fills up during publishing (issue 13): a small tmpfs the test mounts (root only;
skipped where mounting is not allowed: the engine's fault-injecting file system covers ENOSPC below the broker).
Publishes get an error pub ack, nothing acknowledged is lost, the server keeps serving reads, and it accepts
publishes again once space is freed, without a restart."""
import os
import pytest
import nats
from nats.js.api import StreamConfig
from conftest import StoreServer, mounted_tmpfs


@pytest.fixture
def small_fs():
    with mounted_tmpfs("8m") as path:
        yield path


async def test_full_disk_refuses_publishes_keeps_serving_and_recovers_when_space_is_freed(small_fs):
    store = os.path.join(small_fs, "store")
    ballast = os.path.join(small_fs, "ballast")
    with open(ballast, "wb") as f:
        f.write(os.urandom(3 << 20))
    server = StoreServer(store)
    process = server.process
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="FULL", subjects=["full.>"]))
        acked, refusal = {}, None
        for i in range(10_000):
            payload = os.urandom(4096)  # (incompressible: each message costs its size on disk)
            try:
                ack = await js.publish("full.data", payload, timeout=10)
            except nats.js.errors.APIError as error:
                refusal = error
                break
            acked[ack.seq] = payload
        assert refusal is not None, "the file system never filled"
        assert len(acked) > 100
        print(f"\nrefused after {len(acked)} acknowledged publishes: {refusal.code} {refusal.err_code} {refusal.description}")
        assert refusal.code in (500, 503), refusal
        # Still serving: every acknowledged message reads back, and the next publish is refused the same way.
        for sequence in list(acked)[:: max(1, len(acked) // 50)] + [max(acked)]:
            assert (await js.get_msg("FULL", sequence)).data == acked[sequence]
        with pytest.raises(nats.js.errors.APIError):
            await js.publish("full.data", os.urandom(4096), timeout=10)
        assert process.poll() is None
        status, health = server.get("/healthz")
        assert status == 503 and "FULL cannot store messages" in health["error"] and "No space left" in health["error"], health
        # Space freed: publishes are accepted again, without a restart.
        os.remove(ballast)
        ack = await js.publish("full.data", b"after", timeout=10)
        acked[ack.seq] = b"after"
        assert server.get("/healthz") == (200, {"status": "ok"})
        await nc.close()

        log = server.stop()
        assert process.returncode == 0
        assert "stream FULL could not store a message" in log and "stream FULL stores messages again" in log, log
        server = StoreServer(store)
        process = server.process
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        info = await js.stream_info("FULL")
        for sequence, payload in acked.items():
            assert (await js.get_msg("FULL", sequence)).data == payload, sequence
        assert info.state.last_seq == max(acked)
        await nc.close()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
