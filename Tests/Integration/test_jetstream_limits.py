"""Server-wide JetStream limits (max_memory_store, max_file_store): stream reservations refused with
10047/10028, publishes past the limit answered with 10023 — against strata and, when installed, nats-server."""
import json, os, shutil, subprocess, tempfile
import pytest
import nats
from conftest import Server, free_port, STRATA


def start(kind, store):
    port = free_port()
    directory = tempfile.mkdtemp(prefix="strata-cfg-")
    if kind == "strata":
        path = os.path.join(directory, "strata.json")
        with open(path, "w") as f:
            json.dump({"jetstream": {"store_dir": store, "max_memory_store": 1048576, "max_file_store": 2097152}}, f)
        return Server([STRATA, "-a", "127.0.0.1", "-p", str(port), "-c", path], port)
    binary = shutil.which("nats-server")
    if binary is None:
        return None
    path = os.path.join(directory, "nats.conf")
    with open(path, "w") as f:
        f.write('jetstream { store_dir: "%s", max_memory_store: 1048576, max_file_store: 2097152 }\n' % store)
    return Server([binary, "-a", "127.0.0.1", "-p", str(port), "-c", path], port)


@pytest.mark.parametrize("kind", ["strata", "reference"])
async def test_server_limits(kind):
    store = tempfile.mkdtemp(prefix="strata-lim-")
    server = start(kind, store)
    if server is None:
        pytest.skip("nats-server is not installed")
    try:
        nc = await nats.connect(server.url, allow_reconnect=False)

        async def request(subject, body):
            return json.loads((await nc.request(subject, json.dumps(body).encode() if isinstance(body, dict) else body, timeout=2)).data)
        big = await request("$JS.API.STREAM.CREATE.BIG", {"name": "BIG", "subjects": ["big"], "max_bytes": 10485760})
        assert big["error"]["err_code"] == 10047
        memory = await request("$JS.API.STREAM.CREATE.M", {"name": "M", "subjects": ["m"], "storage": "memory", "max_bytes": 4194304})
        assert memory["error"]["err_code"] == 10028
        assert "error" not in await request("$JS.API.STREAM.CREATE.F", {"name": "F", "subjects": ["f"]})
        failed_at = None
        for i in range(60):
            reply = await request("f", b"x" * 65536)
            if "error" in reply:
                assert reply["error"]["err_code"] == 10023 and reply["error"]["description"] == "insufficient resources"
                failed_at = i
                break
        assert failed_at is not None and 28 <= failed_at <= 34  # 2 MiB of 64 KiB messages, give or take accounting
        await nc.close()
    finally:
        server.stop()
        shutil.rmtree(store, ignore_errors=True)
