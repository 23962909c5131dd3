"""Strata as the hub of leaf nodes (issue 14), side by side with nats-server 2.9.10 as the hub: the hub (from
one config file, with JetStream domain `hub` and a leaf-node port) takes a nats-server leaf with JetStream
domain `edge`, and a second leaf (strata-server) beside it. Driven with nats-py: core messages,
request/reply and queue groups cross both ways and from leaf to leaf through the hub, each side reaches the
other's JetStream through its domain, and leaf credentials are checked."""
import asyncio, json, os, shutil, tempfile, time, urllib.request
import pytest
import nats
from nats.errors import NoRespondersError, TimeoutError as NatsTimeout
from conftest import ConfiguredServer, drain, free_port, publish_until_received
from test_leafnodes import wait_for_domain, wait_for_log

KINDS = ["strata", "reference"]

HUB_CONFIG = """
listen: 127.0.0.1:@PORT@
server_name: the-hub
http: 127.0.0.1:{http}
jetstream {{ store_dir: "@DIR@/js", domain: hub }}
leafnodes {{
  listen: 127.0.0.1:{leaf}
  {authorization}
}}
"""

LEAF_CONFIG = """
listen: 127.0.0.1:@PORT@
server_name: {name}
jetstream {{ store_dir: "@DIR@/js", domain: {domain} }}
leafnodes {{ reconnect: 1, remotes = [ {{ urls: ["nats-leaf://{credentials}127.0.0.1:{leaf}"] }} ] }}
"""


class Setup:
    def __init__(self, hub_kind, authorization="", credentials=""):
        self.directories = [tempfile.mkdtemp(prefix="strata-hubtest-") for _ in range(3)]
        self.leaf_port, self.http_port = free_port(), free_port()
        self.hub = ConfiguredServer(hub_kind, self.directories[0],
                                    HUB_CONFIG.format(leaf=self.leaf_port, http=self.http_port, authorization=authorization))
        self.servers = [self.hub]
        self.credentials = credentials

    def add_leaf(self, kind, name, domain, credentials=None):
        directory = self.directories[len(self.servers)]
        leaf = ConfiguredServer(kind, directory, LEAF_CONFIG.format(
            name=name, domain=domain, leaf=self.leaf_port, credentials=self.credentials if credentials is None else credentials))
        self.servers.append(leaf)
        return leaf

    def stop(self):
        for server in reversed(self.servers):
            server.stop()
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=KINDS)
def setup(request):
    setup = Setup(request.param)
    yield setup
    setup.stop()


async def connect(server):
    return await nats.connect(f"nats://127.0.0.1:{server.port}", allow_reconnect=False)


async def test_core_messages_requests_and_queues_cross_a_hub(setup):
    leaf = setup.add_leaf("reference", "edge-leaf", "edge")
    on_hub, on_leaf = await connect(setup.hub), await connect(leaf)
    down = await on_leaf.subscribe("down.>")
    up = await on_hub.subscribe("up.*")
    assert await publish_until_received(on_hub, down, "down.probe", b"probe") is not None
    assert await publish_until_received(on_leaf, up, "up.probe", b"probe") is not None
    await on_hub.publish("down.a.b", b"to leaf", headers={"K": "v"})
    await on_leaf.publish("up.x", b"to hub", reply="r.1")
    message = await down.next_msg(timeout=5)
    assert (message.subject, message.data, message.headers) == ("down.a.b", b"to leaf", {"K": "v"})
    message = await up.next_msg(timeout=5)
    assert (message.subject, message.data, message.reply) == ("up.x", b"to hub", "r.1")

    async def echo(message):
        await message.respond(b"echo:" + message.data)

    await on_hub.subscribe("svc.hub", cb=echo)
    await on_leaf.subscribe("svc.leaf", cb=echo)
    ready = await on_hub.subscribe("svc.ready")
    leaf_ready = await on_leaf.subscribe("svc.leaf.ready")
    assert await publish_until_received(on_leaf, ready, "svc.ready", b"probe") is not None
    assert await publish_until_received(on_hub, leaf_ready, "svc.leaf.ready", b"probe") is not None
    assert (await on_leaf.request("svc.hub", b"1", timeout=5)).data == b"echo:1"
    assert (await on_hub.request("svc.leaf", b"2", timeout=5)).data == b"echo:2"
    with pytest.raises(NoRespondersError):
        await on_leaf.request("svc.none", b"?", timeout=5)

    # A queue group on both sides: each message once, each side's to its own member.
    hub_member = await on_hub.subscribe("work", queue="q")
    leaf_member = await on_leaf.subscribe("work", queue="q")
    probe_hub, probe_leaf = await on_hub.subscribe("work.ready"), await on_leaf.subscribe("work.ready")
    assert await publish_until_received(on_leaf, probe_hub, "work.ready", b"probe") is not None
    assert await publish_until_received(on_hub, probe_leaf, "work.ready", b"probe") is not None
    for i in range(10):
        await on_hub.publish("work", b"h%d" % i)
        await on_leaf.publish("work", b"l%d" % i)
    await on_hub.flush()
    await on_leaf.flush()

    assert sorted(await drain(hub_member)) == sorted(b"h%d" % i for i in range(10))
    assert sorted(await drain(leaf_member)) == sorted(b"l%d" % i for i in range(10))
    await on_hub.close()
    await on_leaf.close()


@pytest.mark.parametrize("leaf_kind", KINDS)
async def test_each_side_uses_the_others_jetstream_through_its_domain(setup, leaf_kind):
    leaf = setup.add_leaf(leaf_kind, "edge-leaf", "edge")
    on_hub, on_leaf = await connect(setup.hub), await connect(leaf)
    # The hub's client reaches the leaf's JetStream, the leaf's client the hub's.
    edge = on_hub.jetstream(domain="edge", timeout=5)
    hub = on_leaf.jetstream(domain="hub", timeout=5)
    await wait_for_domain(edge)
    await wait_for_domain(hub)
    await edge.add_stream(name="AT_EDGE", subjects=["edge.>"])
    await hub.add_stream(name="AT_HUB", subjects=["central.>"])
    ack = await edge.publish("edge.1", b"e")
    assert (ack.stream, ack.domain) == ("AT_EDGE", "edge")
    ack = await hub.publish("central.1", b"c")
    assert (ack.stream, ack.domain) == ("AT_HUB", "hub")
    # Each side's own view, without a domain.
    assert (await on_hub.jetstream(timeout=5).stream_info("AT_HUB")).state.messages == 1
    assert (await on_leaf.jetstream(timeout=5).stream_info("AT_EDGE")).state.messages == 1
    pull = await hub.pull_subscribe("central.>", durable="from-leaf", stream="AT_HUB")
    [message] = await pull.fetch(1, timeout=5)
    assert (message.subject, message.data) == ("central.1", b"c")
    await message.ack_sync(timeout=5)
    assert (await hub.consumer_info("AT_HUB", "from-leaf")).num_ack_pending == 0
    # Push deliveries cross under the stream subject, both ways.
    for js, stream, subject in [(hub, "AT_HUB", "central.1"), (edge, "AT_EDGE", "edge.1")]:
        push = await js.subscribe(subject, durable="pusher", stream=stream, manual_ack=True)
        message = await push.next_msg(timeout=5)
        assert message.subject == subject and "@" not in message.reply
        await message.ack_sync(timeout=5)
        assert (await js.consumer_info(stream, "pusher")).num_ack_pending == 0
    await on_hub.close()
    await on_leaf.close()


async def test_two_leaves_reach_each_other_through_the_hub(setup):
    first = setup.add_leaf("reference", "leaf-one", "one")
    second = setup.add_leaf("strata", "leaf-two", "two")
    a, b = await connect(first), await connect(second)
    on_b = await b.subscribe("between.>")
    on_a = await a.subscribe("between.>")
    assert await publish_until_received(a, on_b, "between.probe", b"probe") is not None
    assert await publish_until_received(b, on_a, "between.probe", b"probe") is not None
    await a.publish("between.x", b"from one")
    message = await on_b.next_msg(timeout=5)
    while message.data == b"probe":  # (late probes of the readiness checks, b's own included)
        message = await on_b.next_msg(timeout=5)
    assert message.data == b"from one"
    # The first leaf's own subscription has it once (locally), not a second time back through the hub.
    assert [data for data in await drain(on_a) if data != b"probe"] == [b"from one"]

    async def echo(message):
        await message.respond(b"two:" + message.data)

    await b.subscribe("svc.two", cb=echo)
    ready = await b.subscribe("svc.two.ready")
    assert await publish_until_received(a, ready, "svc.two.ready", b"probe") is not None
    assert (await a.request("svc.two", b"hi", timeout=5)).data == b"two:hi"
    # The second leaf's JetStream, from the first leaf, through the hub.
    two = a.jetstream(domain="two", timeout=5)
    await wait_for_domain(two)
    await two.add_stream(name="ON_TWO", subjects=["two.>"])
    assert (await two.publish("two.1", b"x")).domain == "two"
    await a.close()
    await b.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_leaf_credentials_are_checked_by_the_hub(kind):
    setup = Setup(kind, authorization='authorization { user: leafuser, password: "pw-ok" }', credentials="leafuser:pw-ok@")
    try:
        refused = setup.add_leaf("reference", "bad-leaf", "bad", credentials="leafuser:nope@")
        wait_for_log(refused, "Authorization Violation")
        good = setup.add_leaf("strata", "good-leaf", "good")
        on_hub, on_leaf = await connect(setup.hub), await connect(good)
        sub = await on_leaf.subscribe("secured")
        assert await publish_until_received(on_hub, sub, "secured", b"probe") is not None
        await on_hub.close()
        await on_leaf.close()
        log = setup.hub.stop()
        assert "pw-ok" not in log and "nope" not in log  # (passwords never reach the log)
    finally:
        setup.stop()


def monitor(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


async def test_monitoring_lists_the_leaf_connections(setup):
    leaf = setup.add_leaf("reference", "edge-leaf", "edge")
    on_leaf = await connect(leaf)
    await on_leaf.subscribe("watched.>")
    on_hub = await connect(setup.hub)
    sub = await on_leaf.subscribe("watched.ready")
    assert await publish_until_received(on_hub, sub, "watched.ready", b"probe") is not None
    leafz = monitor(setup.http_port, "/leafz?subs=1")
    assert leafz["leafnodes"] == 1
    [entry] = leafz["leafs"]
    assert entry["account"] == "$G" and entry["ip"] == "127.0.0.1" and entry["in_msgs"] >= 0
    assert "watched.>" in entry["subscriptions_list"] and any(s.startswith("$LDS.") for s in entry["subscriptions_list"])
    assert entry["subscriptions"] == len(entry["subscriptions_list"])
    assert "subscriptions_list" not in monitor(setup.http_port, "/leafz")["leafs"][0]
    varz = monitor(setup.http_port, "/varz")
    assert varz["leafnodes"] == 1 and varz["leaf"]["port"] == setup.leaf_port and varz["leaf"]["host"] == "127.0.0.1"
    await on_hub.close()
    await on_leaf.close()


ACCOUNTS_HUB = """
listen: 127.0.0.1:@PORT@
server_name: accounts-hub
accounts {{
  HA: {{ users: [ {{ user: ha, password: ha }} ] }}
  HB: {{ users: [ {{ user: hb, password: hb }} ] }}
}}
leafnodes {{
  listen: 127.0.0.1:{leaf}
  authorization {{ users: [ {{ user: link, password: "link-pw", account: HA }} ] }}
}}
"""

ACCOUNTS_LEAF = """
listen: 127.0.0.1:@PORT@
server_name: accounts-leaf
accounts {{
  LA: {{ users: [ {{ user: la, password: la }} ] }}
  LB: {{ users: [ {{ user: lb, password: lb }} ] }}
}}
leafnodes {{ reconnect: 1, remotes = [ {{ urls: ["nats-leaf://link:link-pw@127.0.0.1:{leaf}"], account: LA }} ] }}
"""


@pytest.mark.parametrize("hub_kind", KINDS)
@pytest.mark.parametrize("leaf_kind", KINDS)
async def test_a_link_joins_one_account_on_each_side(hub_kind, leaf_kind):
    """The hub binds the link to the account its leaf user names (HA), the leaf to its remote's (LA): those
    two share their messages, and the other accounts on either side see none of them."""
    directories = [tempfile.mkdtemp(prefix="strata-acclink-") for _ in range(2)]
    leaf_port = free_port()
    hub = leaf = None
    try:
        hub = ConfiguredServer(hub_kind, directories[0], ACCOUNTS_HUB.format(leaf=leaf_port))
        leaf = ConfiguredServer(leaf_kind, directories[1], ACCOUNTS_LEAF.format(leaf=leaf_port))

        async def user(server, name):
            return await nats.connect(f"nats://{name}:{name}@127.0.0.1:{server.port}", allow_reconnect=False)

        ha, hb, la, lb = await user(hub, "ha"), await user(hub, "hb"), await user(leaf, "la"), await user(leaf, "lb")
        in_la, in_lb, in_hb = await la.subscribe("shared"), await lb.subscribe("shared"), await hb.subscribe("shared")
        in_ha = await ha.subscribe("back")
        assert await publish_until_received(ha, in_la, "shared", b"probe") is not None
        assert await publish_until_received(la, in_ha, "back", b"probe") is not None
        await ha.publish("shared", b"for LA only")
        await hb.publish("shared", b"HB's own")
        await lb.publish("back", b"LB's own")
        message = await in_la.next_msg(timeout=5)
        while message.data == b"probe":
            message = await in_la.next_msg(timeout=5)
        assert message.data == b"for LA only"
        assert b"for LA only" not in await drain(in_lb) + await drain(in_hb, idle=0.2)
        assert b"LB's own" not in await drain(in_ha, idle=0.2)
        for connection in (ha, hb, la, lb):
            await connection.close()
    finally:
        for server in (leaf, hub):
            if server:
                server.stop()
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)
