"""Strata as a leaf node of a nats-server cluster (issue 14), side by side with nats-server 2.9.10 in the
leaf's place: a hub of three clustered nats-server processes (routes), each with a leaf-node port; the leaf
(strata-server or nats-server, from the same config file) connects with all three URLs and a JetStream
domain `edge`. Driven with nats-py on both sides: core messages and request/reply cross both ways, a
queue group spanning both sides gets each message once and prefers its local members, a client on the hub
uses the leaf's JetStream through `$JS.edge.API` (streams, publishes, pull consumers, KV), the leaf fails
over when its hub node is killed and keeps what it stored, and a restarted leaf serves its store again."""
import asyncio, json, os, shutil, signal, tempfile, time, urllib.request
import pytest
import nats
from nats.errors import NoRespondersError, TimeoutError as NatsTimeout
from conftest import ConfiguredServer, Server, free_port, binary, drain, publish_until_received

KINDS = ["strata", "reference"]

HUB_CONFIG = """
listen: 127.0.0.1:{port}
server_name: hub{index}
http: 127.0.0.1:{http}
cluster {{ name: hub, listen: 127.0.0.1:{cluster}, routes: [{routes}] }}
leafnodes {{ listen: 127.0.0.1:{leaf} }}
"""

LEAF_CONFIG = """
listen: 127.0.0.1:@PORT@
server_name: edge-leaf
jetstream {{ store_dir: "@DIR@/js", domain: edge }}
leafnodes {{ reconnect: 1, remotes = [ {{ urls: [{urls}] }} ] }}
"""


class Hub:
    """Three nats-server processes in one cluster, each with a client, monitoring and leaf-node port."""

    def __init__(self, count=3):
        self.directory = tempfile.mkdtemp(prefix="strata-hub-")
        self.nodes = []
        ports = [dict(port=free_port(), http=free_port(), cluster=free_port(), leaf=free_port()) for _ in range(count)]
        for index, p in enumerate(ports):
            routes = ", ".join(f'"nats-route://127.0.0.1:{q["cluster"]}"' for j, q in enumerate(ports) if j != index)
            path = os.path.join(self.directory, f"hub{index}.conf")
            with open(path, "w") as f:
                f.write(HUB_CONFIG.format(index=index, routes=routes, **p))
            server = Server([binary("reference"), "-c", path], p["port"])
            server.http, server.leaf, server.index = p["http"], p["leaf"], index
            self.nodes.append(server)
        self.wait_for_routes()

    def leafz(self, node):
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http}/leafz?subs=1", timeout=5) as response:
            return json.loads(response.read())

    def routez(self, node):
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http}/routez", timeout=5) as response:
            return json.loads(response.read())

    def wait_for_routes(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [n for n in self.nodes if n.process.poll() is None]
            if all(self.routez(n)["num_routes"] >= len(alive) - 1 for n in alive):
                return
            time.sleep(0.05)
        raise AssertionError("the hub's routes did not form")

    def node_with_leaf(self, timeout=20, exclude=None):
        """The hub node the (one) leaf is connected to (waits for it; nats-server 2.9's /leafz names no
        leaf, so the test's leaf is the only one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node is exclude or node.process.poll() is not None:
                    continue
                if self.leafz(node)["leafnodes"] > 0:
                    return node
            time.sleep(0.05)
        raise AssertionError("the leaf did not connect to the hub")

    def wait_for_no_leaf(self, timeout=20):
        deadline = time.monotonic() + timeout
        while any(self.leafz(n)["leafnodes"] > 0 for n in self.nodes if n.process.poll() is None):
            assert time.monotonic() < deadline, "a leaf connection stayed after the leaf stopped"
            time.sleep(0.05)

    @property
    def urls(self):
        return ", ".join(f'"nats-leaf://127.0.0.1:{n.leaf}"' for n in self.nodes)

    def stop(self):
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def hub():
    hub = Hub()
    yield hub
    hub.stop()


@pytest.fixture(params=KINDS)
def leaf(request, hub, directory):
    server = ConfiguredServer(request.param, directory, LEAF_CONFIG.format(urls=hub.urls))
    try:
        server.hub_node = hub.node_with_leaf()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()
    hub.wait_for_no_leaf()


async def connect(port):
    return await nats.connect(f"nats://127.0.0.1:{port}", allow_reconnect=False)


def other_node(hub, node):
    return next(n for n in hub.nodes if n is not node and n.process.poll() is None)


async def test_core_messages_cross_both_ways(hub, leaf):
    on_hub = await connect(other_node(hub, leaf.hub_node).port)  # (one route away from the leaf's node)
    on_leaf = await connect(leaf.port)
    from_leaf = await on_hub.subscribe("up.>")
    from_hub = await on_leaf.subscribe("down.*")
    assert await publish_until_received(on_leaf, from_leaf, "up.probe", b"probe") is not None
    assert await publish_until_received(on_hub, from_hub, "down.probe", b"probe") is not None

    await on_leaf.publish("up.a.b", b"one", headers={"X-Side": "leaf"})
    await on_hub.publish("down.c", b"two", reply="reply.here")
    await on_hub.publish("down.c.too.deep", b"not for down.*")
    message = await from_leaf.next_msg(timeout=5)
    assert (message.subject, message.data, message.headers) == ("up.a.b", b"one", {"X-Side": "leaf"})
    message = await from_hub.next_msg(timeout=5)
    assert (message.subject, message.data, message.reply) == ("down.c", b"two", "reply.here")
    with pytest.raises(NatsTimeout):
        await from_hub.next_msg(timeout=0.3)

    # An unsubscribe on the leaf is carried to the hub: nothing more crosses for it.
    await from_hub.unsubscribe()
    await on_leaf.flush()
    late = await on_leaf.subscribe("down.other")
    assert await publish_until_received(on_hub, late, "down.other", b"probe") is not None
    await on_hub.close()
    await on_leaf.close()


async def test_request_reply_and_no_responders_across(hub, leaf):
    on_hub = await connect(leaf.hub_node.port)
    on_leaf = await connect(leaf.port)

    async def echo(message):
        await message.respond(b"echo:" + message.data)

    hub_service = await on_hub.subscribe("svc.hub", cb=echo)
    leaf_service = await on_leaf.subscribe("svc.leaf", cb=echo)
    probe_hub = await on_hub.subscribe("svc.ready.hub")
    probe_leaf = await on_leaf.subscribe("svc.ready.leaf")
    assert await publish_until_received(on_leaf, probe_hub, "svc.ready.hub", b"probe") is not None
    assert await publish_until_received(on_hub, probe_leaf, "svc.ready.leaf", b"probe") is not None

    assert (await on_leaf.request("svc.hub", b"from leaf", timeout=5)).data == b"echo:from leaf"
    assert (await on_hub.request("svc.leaf", b"from hub", timeout=5)).data == b"echo:from hub"
    with pytest.raises(NoRespondersError):
        await on_leaf.request("svc.nobody", b"?", timeout=5)
    with pytest.raises(NoRespondersError):
        await on_hub.request("svc.nobody", b"?", timeout=5)
    await hub_service.unsubscribe()
    await leaf_service.unsubscribe()
    await on_hub.close()
    await on_leaf.close()


async def test_queue_group_across_gets_each_message_once_preferring_local_members(hub, leaf):
    on_hub = await connect(leaf.hub_node.port)
    on_leaf = await connect(leaf.port)
    hub_member = await on_hub.subscribe("work", queue="workers")
    leaf_member = await on_leaf.subscribe("work", queue="workers")
    # Interest in both directions first (a plain subscription on each side, same subject).
    hub_probe = await on_hub.subscribe("work.ready")
    leaf_probe = await on_leaf.subscribe("work.ready")
    assert await publish_until_received(on_leaf, hub_probe, "work.ready", b"probe") is not None
    assert await publish_until_received(on_hub, leaf_probe, "work.ready", b"probe") is not None
    await asyncio.sleep(0)

    for i in range(20):
        await on_leaf.publish("work", b"leaf-%d" % i)
        await on_hub.publish("work", b"hub-%d" % i)
    await on_leaf.flush()
    await on_hub.flush()
    on_leaf_side, on_hub_side = await drain(leaf_member), await drain(hub_member)
    # Each message once, and each side's publishes to its own member.
    assert sorted(on_leaf_side) == sorted(b"leaf-%d" % i for i in range(20))
    assert sorted(on_hub_side) == sorted(b"hub-%d" % i for i in range(20))

    # With no member left on the leaf, the leaf's publishes go to the hub's member.
    await leaf_member.unsubscribe()
    await on_leaf.flush()
    received = None
    deadline = asyncio.get_running_loop().time() + 10
    n = 0
    while received is None and asyncio.get_running_loop().time() < deadline:
        await on_leaf.publish("work", b"after-%d" % n)
        n += 1
        await on_leaf.flush()
        try:
            received = await hub_member.next_msg(timeout=0.5)
        except NatsTimeout:
            pass
    assert received is not None and received.data.startswith(b"after-")
    await on_hub.close()
    await on_leaf.close()


async def test_jetstream_of_the_leaf_through_its_domain(hub, leaf):
    on_hub = await connect(other_node(hub, leaf.hub_node).port)
    js = on_hub.jetstream(domain="edge", timeout=5)
    await wait_for_domain(js)
    await js.add_stream(name="ORDERS", subjects=["orders.>"])
    ack = await js.publish("orders.1", b"first")
    assert (ack.stream, ack.seq, ack.domain) == ("ORDERS", 1, "edge")
    # A plain publish on the hub to the stream's subject is captured by the leaf's stream.
    deadline = asyncio.get_running_loop().time() + 10
    await on_hub.publish("orders.2", b"plain")
    await on_hub.flush()
    while (await js.stream_info("ORDERS")).state.messages < 2:
        assert asyncio.get_running_loop().time() < deadline, "the plain publish was not captured"
        await asyncio.sleep(0.05)
    pull = await js.pull_subscribe("orders.>", durable="worker", stream="ORDERS")
    messages = await pull.fetch(2, timeout=5)
    assert [(m.subject, m.data) for m in messages] == [("orders.1", b"first"), ("orders.2", b"plain")]
    for message in messages:
        await message.ack_sync(timeout=5)
    info = await js.consumer_info("ORDERS", "worker")
    assert info.num_ack_pending == 0 and info.delivered.stream_seq == 2
    # A push consumer delivering to the hub client's inbox: each message is shown under its stream subject
    # (it crosses as `LMSG <inbox> $JS.ACK.…@orders.N`), and acks cross back.
    push = await js.subscribe("orders.>", durable="pusher", stream="ORDERS", manual_ack=True)
    pushed = [await push.next_msg(timeout=5) for _ in range(2)]
    assert [(m.subject, m.data) for m in pushed] == [("orders.1", b"first"), ("orders.2", b"plain")]
    for message in pushed:
        assert message.reply.startswith("$JS.ACK.ORDERS.pusher.") and "@" not in message.reply
        await message.ack_sync(timeout=5)
    assert (await js.consumer_info("ORDERS", "pusher")).num_ack_pending == 0

    # A bucket made from the hub, written on the leaf, read from the hub (nats-py puts to `$KV.…` without
    # the domain prefix, which no leaf connection carries: nats.go's domain puts are in the Go test).
    kv = await js.create_key_value(bucket="settings")
    on_leaf = await connect(leaf.port)
    local = on_leaf.jetstream(timeout=5)
    await (await local.key_value("settings")).put("colour", b"blue")
    assert (await kv.get("colour")).value == b"blue"
    # The leaf's own clients see the same stream (no domain needed there).
    assert (await local.stream_info("ORDERS")).state.messages == 2
    await on_leaf.close()
    await on_hub.close()


async def wait_for_domain(js, timeout=20):
    """Waits until the leaf's JetStream answers through the domain (its interest has reached the hub)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await js.account_info()
        except (NoRespondersError, NatsTimeout, nats.js.errors.ServiceUnavailableError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", KINDS)
async def test_leaf_fails_over_to_another_hub_node_and_keeps_its_streams(kind, directory):
    hub = Hub()
    server = None
    try:
        server = ConfiguredServer(kind, directory, LEAF_CONFIG.format(urls=hub.urls))
        first = hub.node_with_leaf()
        on_hub = await nats.connect(f"nats://127.0.0.1:{other_node(hub, first).port}", allow_reconnect=False)
        js = on_hub.jetstream(domain="edge", timeout=5)
        await wait_for_domain(js)
        await js.add_stream(name="KEPT", subjects=["kept.>"])
        for i in range(50):
            await js.publish("kept.%d" % i, b"%d" % i)
        # A publisher on a surviving node keeps publishing through the fail-over; what it is told was stored
        # must be there afterwards (publishes in the gap fail: no responders or a timeout, never a false ack).
        acked, stop, resumed = [], asyncio.Event(), asyncio.Event()
        failover_at = None

        async def publish_through():
            n = 0
            while not stop.is_set():
                payload = b"live-%d" % n
                n += 1
                try:
                    ack = await js.publish("kept.live", payload, timeout=1)
                    acked.append((ack.seq, payload))
                    if failover_at is not None and len(acked) >= failover_at + 20:
                        resumed.set()
                except (NatsTimeout, NoRespondersError, nats.js.errors.NoStreamResponseError, nats.js.errors.APIError):
                    await on_hub.flush()  # (a round trip paces the retries)

        publisher = asyncio.ensure_future(publish_through())
        while len(acked) < 20:
            await on_hub.flush()
        # The node the leaf is connected to dies; it connects to another within a bounded time.
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        failover_at = len(acked)
        second = await asyncio.get_running_loop().run_in_executor(None, lambda: hub.node_with_leaf(exclude=first))
        assert second is not first
        await asyncio.wait_for(resumed.wait(), 30)
        stop.set()
        await publisher
        sequences = [seq for seq, _ in acked]
        assert sequences == sorted(set(sequences)), "an acknowledged sequence repeated or went back"
        info = await js.stream_info("KEPT")
        assert info.state.messages >= 50 + len(acked)
        for seq, payload in acked:
            assert (await js.get_msg("KEPT", seq=seq)).data == payload
        ack = await js.publish("kept.after", b"after")
        assert ack.seq == info.state.last_seq + 1
        on_leaf = await nats.connect(f"nats://127.0.0.1:{server.port}", allow_reconnect=False)
        down = await on_leaf.subscribe("down")
        assert await publish_until_received(on_hub, down, "down", b"probe") is not None
        await on_leaf.close()
        await on_hub.close()
    finally:
        if server:
            server.stop()
        hub.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_restarted_leaf_serves_its_store_to_the_hub(kind, hub, directory):
    server = ConfiguredServer(kind, directory, LEAF_CONFIG.format(urls=hub.urls))
    try:
        node = hub.node_with_leaf()
        on_hub = await nats.connect(f"nats://127.0.0.1:{node.port}", allow_reconnect=False)
        js = on_hub.jetstream(domain="edge", timeout=5)
        await wait_for_domain(js)
        await js.add_stream(name="DURABLE", subjects=["durable.>"])
        for i in range(10):
            await js.publish("durable.%d" % i, b"%d" % i)
        server.stop()
        hub.wait_for_no_leaf()
        server = ConfiguredServer(kind, directory, LEAF_CONFIG.format(urls=hub.urls), port=server.port)
        hub.node_with_leaf()
        await wait_for_domain(js)
        info = await js.stream_info("DURABLE")
        assert (info.state.messages, info.state.last_seq) == (10, 10)
        message = await js.get_msg("DURABLE", seq=10)
        assert message.data == b"9"
        await on_hub.close()
    finally:
        server.stop()
        hub.wait_for_no_leaf()


@pytest.fixture(scope="module")
def natsgo_leaf():
    from conftest import build_go_program
    return build_go_program("natsgo-leaf")


def test_nats_go_uses_the_leafs_jetstream_and_kv_through_the_domain(natsgo_leaf, hub, leaf):
    import subprocess
    run = subprocess.run([natsgo_leaf, f"nats://127.0.0.1:{other_node(hub, leaf.hub_node).port}", "edge"],
                         capture_output=True, timeout=120)
    out = run.stdout.decode()
    assert run.returncode == 0, out + run.stderr.decode()
    assert out.count("ok   ") == 3, out


SECURED_HUB = """
listen: 127.0.0.1:{port}
server_name: secured-hub
http: 127.0.0.1:{http}
leafnodes {{ listen: 127.0.0.1:{leaf}, authorization {{ user: leaf, password: "s3cret" }} }}
"""


def single_hub(directory, text):
    ports = dict(port=free_port(), http=free_port(), leaf=free_port())
    path = os.path.join(directory, "hub.conf")
    with open(path, "w") as f:
        f.write(text.format(**ports))
    node = Server([binary("reference"), "-c", path], ports["port"])
    node.http, node.leaf = ports["http"], ports["leaf"]
    hub = Hub.__new__(Hub)
    hub.directory, hub.nodes = tempfile.mkdtemp(prefix="strata-hub-"), [node]
    return hub


@pytest.mark.parametrize("kind", KINDS)
async def test_credentials_in_the_url_are_sent_and_a_wrong_password_is_refused(kind, directory):
    hub = single_hub(directory, SECURED_HUB)
    leaf_dir = tempfile.mkdtemp(prefix="strata-leaf-")
    wrong = right = None
    try:
        wrong = ConfiguredServer(kind, leaf_dir, LEAF_CONFIG.format(urls=f'"nats-leaf://leaf:nope@127.0.0.1:{hub.nodes[0].leaf}"'))
        # The hub refuses it with -ERR 'Authorization Violation', which the leaf logs (and keeps trying).
        wait_for_log(wrong, "Authorization Violation")
        assert hub.leafz(hub.nodes[0])["leafnodes"] == 0
        assert "nope" not in wrong.stop() + wrong.log  # (the password is never logged)
        right = ConfiguredServer(kind, leaf_dir, LEAF_CONFIG.format(urls=f'"nats-leaf://leaf:s3cret@127.0.0.1:{hub.nodes[0].leaf}"'))
        hub.node_with_leaf()
        on_hub = await connect(hub.nodes[0].port)
        on_leaf = await connect(right.port)
        sub = await on_leaf.subscribe("secured")
        assert await publish_until_received(on_hub, sub, "secured", b"probe") is not None
        await on_hub.close()
        await on_leaf.close()
        assert "s3cret" not in right.stop()
    finally:
        for server in (wrong, right):
            if server:
                server.stop()
        hub.stop()
        shutil.rmtree(leaf_dir, ignore_errors=True)


def wait_for_log(server, text, timeout=15):
    """Waits until `server` has logged `text` (its standard error, read without blocking; kept in `.log`)."""
    os.set_blocking(server.process.stderr.fileno(), False)
    server.log = getattr(server, "log", "")
    deadline = time.monotonic() + timeout
    while text not in server.log:
        assert time.monotonic() < deadline, f"{text!r} was not logged: " + server.log[-2000:]
        time.sleep(0.05)
        chunk = server.process.stderr.read()
        server.log += chunk.decode() if chunk else ""


@pytest.mark.parametrize("kind", KINDS)
def test_a_loop_through_the_hub_cluster_is_detected(kind, directory):
    """Two remotes of one account to two nodes of one hub cluster: each connection's `$LDS.` interest
    comes back over the other, a loop; the leaf says so, waits 30 s before that remote tries again, and
    keeps serving."""
    hub = Hub()
    server = None
    try:
        config = LEAF_CONFIG.replace("remotes = [ {{ urls: [{urls}] }} ]", "remotes = [ {{ urls: [{first}] }}, {{ urls: [{second}] }} ]")
        server = ConfiguredServer(kind, directory, config.format(first=f'"nats-leaf://127.0.0.1:{hub.nodes[0].leaf}"',
                                                                  second=f'"nats-leaf://127.0.0.1:{hub.nodes[1].leaf}"'))
        wait_for_log(server, "Loop detected")
        assert server.process.poll() is None
    finally:
        if server:
            server.stop()
        hub.stop()
