"""Fixtures that start real servers on free loopback ports: the built strata-server, and the reference
nats-server (Debian package) when it is installed."""
import json, os, shutil, signal, socket, subprocess, time, tempfile, urllib.error, urllib.request
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STRATA = os.environ.get("STRATA_SERVER", os.path.join(ROOT, ".build", "debug", "strata-server"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stderr.read().decode()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.recv(4096)  # INFO
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server did not start listening")


class Server:
    def __init__(self, command, port, preexec_fn=None):
        self.port = port
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=preexec_fn)
        wait_for_port(port, self.process)

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "store", None):
            shutil.rmtree(self.store, ignore_errors=True)


class mounted_tmpfs:
    """A small tmpfs the test mounts (root only): `with mounted_tmpfs("8m") as path`; skips the test where
    mounting is not allowed."""
    def __init__(self, size):
        self.size = size

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="strata-tmpfs-")
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", self.path]).returncode != 0:
            os.rmdir(self.path)
            pytest.skip("cannot mount a small tmpfs here")
        return self.path

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", self.path])
        os.rmdir(self.path)


class StoreServer:
    """strata-server with JetStream on a given store, a monitoring port, and its log (stderr) kept for `stop()`."""
    def __init__(self, store, env=None, extra=()):
        self.port, self.http = free_port(), free_port()
        self.process = subprocess.Popen([STRATA, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.http), "-js", "-sd", store,
                                         *extra],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env=None if env is None else {**os.environ, **env})
        wait_for_port(self.port, self.process)
        self.url = f"nats://127.0.0.1:{self.port}"

    def get(self, path):
        """(status, decoded JSON) of a monitoring endpoint."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        """SIGTERM; the server's log."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)
        return self.process.stderr.read().decode()


def start_strata(*extra):
    port = free_port()
    return Server([STRATA, "-a", "127.0.0.1", "-p", str(port), *extra], port)


def start_reference(*extra):
    binary = shutil.which("nats-server")
    if binary is None:
        return None
    port = free_port()
    return Server([binary, "-a", "127.0.0.1", "-p", str(port), *extra], port)


def start_jetstream(kind="strata", *extra):
    """A server with JetStream on a fresh store directory (removed on stop): strata, or the reference
    nats-server (None when it is not installed)."""
    store = tempfile.mkdtemp(prefix="strata-js-")
    start = start_strata if kind == "strata" else start_reference
    server = start("-js", "-sd", store, *extra)
    if server is None:
        shutil.rmtree(store, ignore_errors=True)
        return None
    server.store = store
    return server


@pytest.fixture
def js_server():
    server = start_jetstream()
    yield server
    server.stop()


@pytest.fixture
def strata():
    server = start_strata()
    yield server
    server.stop()


@pytest.fixture
def reference():
    server = start_reference()
    if server is None:
        pytest.skip("nats-server is not installed")
    yield server
    server.stop()


@pytest.fixture(params=["strata", "reference"])
def js_both(request):
    """The same scenario against a JetStream strata-server and against the reference nats-server: a test
    taking this fixture asserts one behaviour, and both servers must show it."""
    server = start_jetstream(request.param)
    if server is None:
        pytest.skip("nats-server is not installed")
    server.kind = request.param
    yield server
    server.stop()


def binary(kind):
    if kind == "strata":
        return STRATA
    path = shutil.which("nats-server")
    if path is None:
        pytest.skip("nats-server is not installed")
    return path


class ConfiguredServer(Server):
    """A server started with `-c FILE` only (everything it serves comes from the file)."""

    def __init__(self, kind, directory, text, port=None):
        self.kind, self.directory = kind, directory
        self.port = port or free_port()
        self.config = os.path.join(directory, "server.conf")
        self.write(text)
        super().__init__([binary(kind), "-c", self.config], self.port)

    def write(self, text):
        with open(self.config + ".tmp", "w") as f:
            f.write(text.replace("@PORT@", str(self.port)).replace("@DIR@", self.directory))
        os.replace(self.config + ".tmp", self.config)

    def stop(self):
        """Stops the server; returns what it logged."""
        super().stop()
        return self.process.stderr.read().decode()


@pytest.fixture
def directory():
    path = tempfile.mkdtemp(prefix="strata-conf-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def info(port, send=b""):
    """The INFO a new connection gets, and what the server says next to `send` (until PONG or close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            assert chunk, f"closed before INFO: {data!r}"
            data += chunk
        line, _, rest = data.partition(b"\r\n")
        first = json.loads(line[5:].strip())
        if send:
            s.sendall(send)
            try:
                while not rest.endswith(b"PONG\r\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        rest += b"<CLOSED>"
                        break
                    rest += chunk
            except socket.timeout:
                pass
        return first, rest


async def publish_until_received(publisher, subscription, subject, payload, timeout=20, each=1.0):
    """Publishes `payload` on `subject` until `subscription` receives a message (nats-server 2.9.10 was
    seen, under a full suite's load, not to deliver a fresh connection's first message within 5 s), then
    drops any duplicates of the retries. Returns the message, or None after `timeout` seconds."""
    import asyncio
    from nats.errors import TimeoutError as NatsTimeout
    deadline = asyncio.get_running_loop().time() + timeout
    received = None
    while received is None and asyncio.get_running_loop().time() < deadline:
        await publisher.publish(subject, payload)
        await publisher.flush()
        try:
            received = await subscription.next_msg(timeout=each)
        except NatsTimeout:
            pass
    while received is not None:
        try:
            await subscription.next_msg(timeout=0.2)
        except NatsTimeout:
            break
    return received


async def drain(subscription, idle=0.5):
    """Every message `subscription` gets until none comes for `idle` seconds, their payloads in order."""
    from nats.errors import TimeoutError as NatsTimeout
    received = []
    while True:
        try:
            received.append((await subscription.next_msg(timeout=idle)).data)
        except NatsTimeout:
            return received


def build_go_program(name):
    """Builds `Tests/Interop/<name>` (a nats.go program) offline with Debian's Go and nats.go; its path."""
    go = shutil.which("go")
    assert go, "Go is not installed (make test-deps installs golang-go)"
    build = os.path.join(ROOT, ".build-go")
    env = dict(os.environ, GO111MODULE="off", GOPROXY="off", GOFLAGS="",
               GOPATH=f"/usr/share/gocode:{build}/gopath", GOCACHE=f"{build}/cache")
    program = os.path.join(build, name)
    result = subprocess.run([go, "build", "-o", program, "."], cwd=os.path.join(ROOT, "Tests", "Interop", name),
                            env=env, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    return program


def pytest_collection_modifyitems(config, items):
    """The reference server's runs (parametrized `reference`) are retried twice on a nats-py timeout:
    nats-server 2.9.10 was seen, about once per few full runs here, not to deliver a fresh connection's
    first message within 5 s (never in isolated reruns). Strata's runs are never retried."""
    for item in items:
        if "test_jsz_consumer_detail[reference" in item.nodeid:
            # nats-server 2.9.10 sometimes serves the pull after a NAK with a new message, not the NAK'd
            # one (seen once in a full run); the scenario's counts assume the redelivery.
            item.add_marker(pytest.mark.flaky(reruns=2, only_rerun=["TimeoutError", "AssertionError"]))
        elif "[reference" in item.nodeid or "-reference" in item.nodeid:
            item.add_marker(pytest.mark.flaky(reruns=2, only_rerun=["TimeoutError"]))


async def api(nc, subject, body=None, timeout=3):
    """The JSON answer of a JetStream API request (`body` as JSON, none when None)."""
    reply = await nc.request(subject, b"" if body is None else json.dumps(body).encode(), timeout=timeout)
    return json.loads(reply.data)


def error_of(response):
    """(code, err_code, description) of an API answer's error, or None."""
    error = response.get("error")
    return None if error is None else (error["code"], error["err_code"], error["description"])
