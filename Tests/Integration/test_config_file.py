"""nats-server's config file format, side by side: one file starts strata-server and nats-server alike, and
both serve what it says; a malformed file is refused with its location; SIGHUP reloads limits and
authorization without dropping connections, and a malformed reload leaves the running config in force."""
import asyncio, json, os, shutil, signal, socket, subprocess, tempfile, threading, time
import pytest
import nats
from conftest import STRATA, Server, free_port, ConfiguredServer, binary, info

KINDS = ["strata", "reference"]


FULL = """
# A nats-server.conf, written as users write them.
listen: 127.0.0.1:@PORT@
server_name: conf_test
include "./limits.conf"
SECRET: "s3cr3t"
authorization {
  token: $SECRET
}
ping_interval: "2m"
write_deadline: 10s
pid_file: "@DIR@/server.pid"
jetstream {
  store_dir: "@DIR@/store"
  max_memory_store: 64MB
  max_file_store: 1GB
}
"""


@pytest.mark.parametrize("kind", KINDS)
async def test_one_config_file_starts_both_servers(kind, directory):
    with open(os.path.join(directory, "limits.conf"), "w") as f:
        f.write("max_payload: 512KB\nmax_connections = 50\n")
    server = ConfiguredServer(kind, directory, FULL)
    try:
        first, rest = info(server.port, b'CONNECT {"verbose":false,"auth_token":"wrong"}\r\nPING\r\n')
        assert first["max_payload"] == 512 * 1024 and first["auth_required"] is True
        assert first["server_name"] == "conf_test" and first["jetstream"] is True
        assert b"Authorization Violation" in rest
        with open(os.path.join(directory, "server.pid")) as f:
            assert int(f.read().strip()) == server.process.pid
        nc = await nats.connect(server.url, token="s3cr3t", allow_reconnect=False)
        js = nc.jetstream()
        await js.add_stream(name="C", subjects=["c"])
        assert (await js.publish("c", b"x")).seq == 1
        await nc.close()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text,where", [
    ("port: @PORT@\nfoo_bar: 1\n", {"strata": "server.conf:2:1: unknown field", "reference": "server.conf:2:1: unknown field"}),
    # (the reference names the line only, not the file)
    ("port: @PORT@\njetstream {\n  store_dir: /tmp/x\n", {"strata": "server.conf:4:1: unterminated block", "reference": "line 4"}),
    ("port: @PORT@\nauthorization { token: $NOT_SET_ANYWHERE }\n",
     {"strata": "server.conf:2:24: variable '$NOT_SET_ANYWHERE' is not defined", "reference": "NOT_SET_ANYWHERE"}),
    ("port: @PORT@\nping_interval: \"2x\"\n", {"strata": "server.conf:2:16: 'ping_interval' expects a duration", "reference": "server.conf:2:"}),
])
def test_malformed_file_exits_with_its_location(kind, directory, text, where):
    path = os.path.join(directory, "server.conf")
    with open(path, "w") as f:
        f.write(text.replace("@PORT@", str(free_port())))
    run = subprocess.run([binary(kind), "-c", path], capture_output=True, timeout=20)
    assert run.returncode != 0
    assert where[kind] in (run.stderr + run.stdout).decode()


def test_unserved_keys_are_named_at_start(directory):
    server = ConfiguredServer("strata", directory, "port: @PORT@\nhttp_base_path: /x\nmqtt { port: 1883 }\n")
    log = server.stop()
    assert "server.conf:2:1: 'http_base_path' is a nats-server option strata does not serve yet" in log
    assert "server.conf:3:1: 'mqtt' is a nats-server option strata does not serve yet" in log


def wait_for(predicate, timeout=20):
    """Polls a condition the server reaches on its own (a reload applied), without a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


async def eventually(predicate, timeout=20):
    """Like wait_for, letting the client's event loop run meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


RELOADABLE = """
port: @PORT@
max_payload: %s
authorization { token: %s }
"""


@pytest.mark.parametrize("kind", KINDS)
async def test_sighup_reloads_limits_and_authorization(kind, directory):
    server = ConfiguredServer(kind, directory, RELOADABLE % ("1MB", "old"))
    try:
        kept = await nats.connect(server.url, token="old", allow_reconnect=False)
        # A malformed file on reload is refused: the running configuration stays, the connection too.
        server.write("port: @PORT@\nmax_payload: 64XB\nauthorization { token: new }\n")
        server.process.send_signal(signal.SIGHUP)
        await kept.flush(timeout=5)
        assert info(server.port)[0]["max_payload"] == 1024 * 1024
        # A good one is applied: new connections see the new limit and need the new token.
        server.write(RELOADABLE % ("2KB", "new"))
        server.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: info(server.port)[0]["max_payload"] == 2048)
        _, refused = info(server.port, b'CONNECT {"verbose":false,"auth_token":"old"}\r\nPING\r\n')
        assert b"Authorization Violation" in refused
        _, accepted = info(server.port, b'CONNECT {"verbose":false,"auth_token":"new"}\r\nPING\r\n')
        assert accepted == b"PONG\r\n"
        # The connection made with the old token no longer authorizes: both servers close it.
        assert await eventually(lambda: kept.is_closed)
        assert server.process.poll() is None
    finally:
        server.stop()


def read_to_close(s):
    """Everything a server sends on `s` until it closes the connection."""
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("kind", KINDS)
def test_max_connections(kind, directory):
    server = ConfiguredServer(kind, directory, "port: @PORT@\nmax_connections: 1\n")
    try:
        # The start-up probe's connection may not be counted out yet: retry until one is served.
        first = None
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            data = b""
            try:
                s.sendall(b"CONNECT {}\r\nPING\r\n")
                while not data.endswith(b"PONG\r\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:  # refused while our CONNECT was on its way
                data += b"-ERR 'maximum connections exceeded'"
            if data.endswith(b"PONG\r\n"):
                first = s
                break
            assert b"maximum connections exceeded" in data
            s.close()
            time.sleep(0.01)
        assert first is not None
        with first:
            # The one too many gets INFO, then the error, then the close (it sends nothing: a write racing
            # the close would be answered with a reset).
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as second:
                data = read_to_close(second)
            assert data.startswith(b"INFO ") and data.endswith(b"\r\n-ERR 'maximum connections exceeded'\r\n")
    finally:
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_jetstream_domain(kind, directory):
    server = ConfiguredServer(kind, directory, "port: @PORT@\njetstream { store_dir: \"@DIR@/js\", domain: hub }\n")
    try:
        nc = await nats.connect(server.url, allow_reconnect=False)
        js = nc.jetstream(domain="hub")
        await js.add_stream(name="D", subjects=["d"])
        ack = await js.publish("d", b"x")
        assert ack.seq == 1 and ack.domain == "hub"
        assert (await js.account_info()).domain == "hub"
        assert (await nc.jetstream().stream_info("D")).state.messages == 1  # the plain API too
        await nc.close()
    finally:
        server.stop()


def wait_for_log(server, needle, timeout=30):
    """Reads the server's log until a line contains `needle` (the event awaited), or fails at `timeout`."""
    import select
    deadline = time.monotonic() + timeout
    seen = b""
    fd = server.process.stderr.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            if needle.encode() in seen:
                return seen.decode(errors="replace")
    raise AssertionError(f"{needle!r} not logged; log so far:\n{seen.decode(errors='replace')}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_fast_publisher_waits_for_a_subscriber_that_lags(kind, directory):
    """A publisher that sends 16 times max_pending at once to a subscriber that reads slowly: both servers stop
    reading the publisher while the subscriber is over half of max_pending (nats-server's fast-producer stall),
    so the subscriber gets every message and is not cut off as a slow consumer."""
    server = ConfiguredServer(kind, directory, "port: @PORT@\nmax_pending: 512KB\nmax_payload: 256KB\n")
    subscriber = socket.socket()
    subscriber.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    subscriber.connect(("127.0.0.1", server.port))
    subscriber.settimeout(20)
    publisher = socket.create_connection(("127.0.0.1", server.port))
    try:
        data = b""
        while not data.endswith(b"\r\n"):
            data += subscriber.recv(4096)
        subscriber.sendall(b'CONNECT {"verbose":false}\r\nSUB lag 1\r\nPING\r\n')
        while not data.endswith(b"PONG\r\n"):
            data += subscriber.recv(4096)
        publisher.recv(4096)
        count, size = 2048, 4096
        frame = b"PUB lag %d\r\n" % size + b"x" * size + b"\r\n"
        sender = threading.Thread(target=publisher.sendall, args=(b'CONNECT {"verbose":false}\r\n' + frame * count,))
        sender.start()
        expected = (len(b"MSG lag 1 %d\r\n" % size) + size + 2) * count
        received = 0
        while received < expected:
            chunk = subscriber.recv(16384)
            assert chunk, f"cut off after {received} of {expected} bytes"
            received += len(chunk)
            time.sleep(0.0005)  # (a reader slower than the publisher: the point of the test)
        sender.join()
        assert received == expected
    finally:
        publisher.close()
        subscriber.close()
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_write_deadline_cuts_off_a_client_that_stops_reading(kind, directory):
    """A subscriber that stops reading, with everything it was sent fitting in max_pending: once its oldest
    write has waited write_deadline, both servers close it as a slow consumer."""
    server = ConfiguredServer(kind, directory, "port: @PORT@\nwrite_deadline: \"1s\"\nmax_pending: 1GB\nmax_payload: 8MB\n")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))
    stalled.settimeout(10)
    try:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = stalled.recv(4096)
            assert chunk, f"closed before INFO: {data!r}"
            data += chunk
        stalled.sendall(b'CONNECT {"verbose":false}\r\nSUB big 1\r\nPING\r\n')
        data = b""
        while not data.endswith(b"PONG\r\n"):
            chunk = stalled.recv(4096)
            assert chunk, f"closed before PONG: {data!r}"
            data += chunk
        nc = await nats.connect(server.url, allow_reconnect=False)
        payload = b"x" * (4 << 20)
        for _ in range(16):  # 64 MB: far more than the socket buffers take, far less than max_pending
            await nc.publish("big", payload)
        await nc.flush(timeout=30)
        needle = "write deadline" if kind == "strata" else "WriteDeadline"
        wait_for_log(server, needle)
        # The server closed it: what was buffered drains, then the stream ends.
        stalled.settimeout(30)
        while stalled.recv(1 << 20):
            pass
        assert server.process.poll() is None
        await nc.close()
    finally:
        stalled.close()
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_log_file_without_times(kind, directory):
    """`log_file` and `logtime: false`: both servers write their lines to the file, as `[pid] [INF] …`."""
    import re
    path = os.path.join(directory, "server.log")
    server = ConfiguredServer(kind, directory, f"port: @PORT@\nlog_file: \"{path}\"\nlogtime: false\n")
    pid = server.process.pid
    server.stop()
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line]
    assert lines and all(re.match(rf"^\[{pid}\] \[(INF|WRN|DBG|ERR)\] ", line) for line in lines), lines
