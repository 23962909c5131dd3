"""Mirrors and sources (issue 14), side by side with nats-server 2.9.10: on one server, a mirror keeps its
origin's sequences, times and headers (a gap included), sources gather filtered origins with a
`Nats-Stream-Source` header each, configs the reference refuses are refused alike, and both resume after a
restart with nothing lost or stored twice. Across a leaf connection (every pairing of hub and leaf), a
stream on the leaf mirrors and sources a stream of the hub's domain through `external.api`, and keeps up
through the hub's restart and the leaf's SIGKILL. Driven with nats-py over real sockets."""
import asyncio, json, os, shutil, signal, tempfile
import pytest
import nats
from conftest import ConfiguredServer, build_go_program, free_port
from test_leafnodes import wait_for_domain

KINDS = ["strata", "reference"]

CONFIG = """
listen: 127.0.0.1:@PORT@
jetstream {{ store_dir: "@DIR@/js"{domain} }}
{leaf}
"""


async def api(nc, subject, body=None):
    reply = await nc.request(subject, b"" if body is None else json.dumps(body).encode(), timeout=10)
    return json.loads(reply.data)


async def stream_info(nc, name, prefix="$JS.API"):
    return await api(nc, f"{prefix}.STREAM.INFO.{name}")


async def wait_for_last(nc, name, last, timeout=30, prefix="$JS.API"):
    """Waits until stream `name` holds a message at sequence `last` or later; returns its info."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await stream_info(nc, name, prefix)
        if "state" in info and info["state"]["last_seq"] >= last:
            return info
        assert asyncio.get_running_loop().time() < deadline, f"{name} did not reach {last}: {info}"
        await asyncio.sleep(0.05)


async def wait_for_count(nc, name, count, timeout=30):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await stream_info(nc, name)
        if info.get("state", {}).get("messages", 0) >= count:
            return info
        assert asyncio.get_running_loop().time() < deadline, f"{name} did not get {count} messages: {info}"
        await asyncio.sleep(0.05)


async def contents(nc, name, prefix="$JS.API"):
    """Every message of a stream, by sequence: (subject, payload, headers without the source header, time, source header)."""
    state = (await stream_info(nc, name, prefix))["state"]
    found = {}
    for sequence in range(max(state["first_seq"], 1), state["last_seq"] + 1):
        answer = await api(nc, f"{prefix}.STREAM.MSG.GET.{name}", {"seq": sequence})
        if "message" not in answer:
            continue
        message = answer["message"]
        import base64
        headers = base64.b64decode(message.get("hdrs", "")).decode()
        lines = [line for line in headers.split("\r\n")[1:] if line]
        source = [line.split(": ", 1)[1] for line in lines if line.startswith("Nats-Stream-Source:")]
        rest = sorted(line for line in lines if not line.startswith("Nats-Stream-Source:"))
        found[sequence] = (message["subject"], base64.b64decode(message.get("data", "")), rest, message["time"], source[0] if source else None)
    return found


def start(kind, directory, domain="", leaf="", port=None):
    text = CONFIG.format(domain=f", domain: {domain}" if domain else "", leaf=leaf)
    return ConfiguredServer(kind, directory, text, port=port)


@pytest.fixture(params=KINDS)
def single(request):
    directory = tempfile.mkdtemp(prefix="strata-mirror-")
    server = start(request.param, directory)
    server.directory = directory
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


async def publish(js, subject, payload, **kwargs):
    ack = await js.publish(subject, payload, **kwargs)
    return ack.seq


async def test_a_mirror_keeps_the_origins_sequences_times_and_headers(single):
    nc = await nats.connect(single.url)
    js = nc.jetstream()
    await js.add_stream(name="O", subjects=["o.>"])
    for i in range(10):
        await publish(js, f"o.{i % 3}", f"m{i}".encode(), headers={"H": str(i)})
    await js.delete_msg("O", 4)  # a gap the mirror skips as the origin has
    created = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    assert "error" not in created, created
    assert created["config"]["mirror"] == {"name": "O"} and not created["config"].get("subjects")
    info = await wait_for_last(nc, "M", 10)
    assert info["state"]["messages"] == 9 and info["state"]["first_seq"] == 1
    assert info["mirror"]["name"] == "O" and info["mirror"]["lag"] == 0 and info["mirror"]["active"] >= 0
    origin, mirror = await contents(nc, "O"), await contents(nc, "M")
    assert 4 not in mirror and mirror == origin
    # New messages follow, at the origin's sequences.
    for i in range(10, 15):
        await publish(js, f"o.{i % 3}", f"m{i}".encode())
    await wait_for_last(nc, "M", 15)
    assert await contents(nc, "M") == await contents(nc, "O")
    # A mirror starting at a given origin sequence.
    created = await api(nc, "$JS.API.STREAM.CREATE.M5", {"name": "M5", "mirror": {"name": "O", "opt_start_seq": 12}})
    assert "error" not in created, created
    info = await wait_for_last(nc, "M5", 15)
    assert (info["state"]["first_seq"], info["state"]["messages"]) == (12, 4)
    # And at a given time (the origin's 13th message's): the messages from then on.
    start = (await contents(nc, "O"))[13][3]
    created = await api(nc, "$JS.API.STREAM.CREATE.MT", {"name": "MT", "mirror": {"name": "O", "opt_start_time": start}})
    assert "error" not in created and created["config"]["mirror"]["opt_start_time"] == start, created
    info = await wait_for_last(nc, "MT", 15)
    assert (info["state"]["first_seq"], info["state"]["messages"]) == (13, 3)
    await nc.close()


async def test_sources_gather_filtered_origins_with_a_source_header(single):
    nc = await nats.connect(single.url)
    js = nc.jetstream()
    await js.add_stream(name="A", subjects=["a.*"])
    await js.add_stream(name="B", subjects=["b.*"])
    for i in range(6):
        await publish(js, f"a.{i % 2}", f"a{i}".encode(), headers={"Nats-Msg-Id": f"a-{i}"})
        await publish(js, f"b.{i}", f"b{i}".encode())
    created = await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "A", "filter_subject": "a.1"}, {"name": "B"}]})
    assert "error" not in created, created
    assert not created["config"].get("subjects")  # a stream with sources gets no subject of its own
    info = await wait_for_count(nc, "S", 9)
    assert sorted(source["name"] for source in info["sources"]) == ["A", "B"]
    assert all(source["lag"] == 0 for source in info["sources"])
    stored = await contents(nc, "S")
    assert len(stored) == 9
    from_a = sorted((s[4], s[0], s[1], s[2]) for s in stored.values() if s[0].startswith("a."))
    assert from_a == [(f"A {seq}", "a.1", f"a{i}".encode(), [f"Nats-Msg-Id: a-{i}"]) for i, seq in ((1, 2), (3, 4), (5, 6))]
    from_b = sorted(s[4] for s in stored.values() if s[0].startswith("b."))
    assert from_b == sorted(f"B {i + 1}" for i in range(6))
    # Later messages follow.
    await publish(js, "a.1", b"late")
    info = await wait_for_count(nc, "S", 10)
    await nc.close()


async def test_mirror_and_source_configs_are_refused_as_the_reference_refuses_them(single):
    nc = await nats.connect(single.url)
    js = nc.jetstream()
    await js.add_stream(name="O", subjects=["o.>"])

    async def refusal(name, config, operation="CREATE"):
        answer = await api(nc, f"$JS.API.STREAM.{operation}.{name}", {"name": name, **config})
        assert "error" in answer, answer
        return answer["error"]["err_code"]

    assert await refusal("M", {"mirror": {"name": "O"}, "subjects": ["m"]}) == 10034
    assert await refusal("M", {"mirror": {"name": "O"}, "sources": [{"name": "O"}]}) == 10031
    assert await refusal("M", {"mirror": {"name": "M"}}) == 10052  # detected cycle
    assert await refusal("M", {"mirror": {"name": "O", "external": {"api": "$JS.API"}}}) == 10021
    created = await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
    assert "error" not in created, created
    assert await refusal("M", {"mirror": {"name": "O", "opt_start_seq": 3}}, "UPDATE") == 10055
    assert await refusal("M", {"mirror": {"name": "O"}, "subjects": ["m.>"]}, "UPDATE") == 10034
    created = await api(nc, "$JS.API.STREAM.CREATE.S1", {"name": "S1", "subjects": ["s1"], "sources": [{"name": "O"}]})
    assert "error" not in created, created
    assert await refusal("S2", {"subjects": ["s2"], "sources": [{"name": "S1"}, {"name": "S2"}]}) == 10052  # detected cycle
    # A publish naming the mirror as its stream is refused (the subject is the origin's).
    with pytest.raises(nats.js.errors.BadRequestError):
        await js.publish("o.1", b"x", stream="M")
    await nc.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_mirror_and_a_source_resume_after_a_restart_without_loss_or_duplicates(kind):
    directory = tempfile.mkdtemp(prefix="strata-mirror-")
    server = start(kind, directory)
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="O", subjects=["o.*"])
        assert "error" not in await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "O"}})
        assert "error" not in await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "O"}]})
        for i in range(20):
            await publish(js, f"o.{i % 4}", f"m{i}".encode())
        await wait_for_last(nc, "M", 20)
        await wait_for_count(nc, "S", 20)
        await nc.close()
        server.stop()
        server = start(kind, directory, port=server.port)
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        for i in range(20, 40):
            await publish(js, f"o.{i % 4}", f"m{i}".encode())
        await wait_for_last(nc, "M", 40)
        await wait_for_count(nc, "S", 40)
        assert await contents(nc, "M") == await contents(nc, "O")
        sourced = await contents(nc, "S")
        assert sorted(s[4] for s in sourced.values()) == sorted(f"O {n}" for n in range(1, 41))
        assert len(sourced) == 40
        await nc.close()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


LEAF_REMOTE = """leafnodes {{ reconnect: 1, remotes = [ {{ urls: ["nats-leaf://127.0.0.1:{port}"] }} ] }}"""
HUB_LISTEN = """leafnodes {{ listen: 127.0.0.1:{port} }}"""


@pytest.mark.parametrize("hub_kind,leaf_kind", [("reference", "strata"), ("reference", "reference"),
                                                ("strata", "reference"), ("strata", "strata")])
async def test_a_leaf_mirrors_and_sources_a_hub_stream_through_a_hub_restart_and_a_leaf_kill(hub_kind, leaf_kind):
    directories = [tempfile.mkdtemp(prefix="strata-mirror-hub-"), tempfile.mkdtemp(prefix="strata-mirror-leaf-")]
    leaf_port = free_port()
    servers = {}

    def start_hub(port=None):
        servers["hub"] = start(hub_kind, directories[0], domain="hub", leaf=HUB_LISTEN.format(port=leaf_port), port=port)
        return servers["hub"]

    def start_leaf(port=None):
        servers["leaf"] = start(leaf_kind, directories[1], domain="edge", leaf=LEAF_REMOTE.format(port=leaf_port), port=port)
        return servers["leaf"]

    async def publish_on_hub(numbers):
        nc = await nats.connect(servers["hub"].url)
        js = nc.jetstream()
        for i in numbers:
            await publish(js, f"orders.{i % 3}", f"order {i}".encode(), headers={"N": str(i)})
        expected = await contents(nc, "ORDERS")
        await nc.close()
        return expected

    try:
        hub, leaf = start_hub(), start_leaf()
        on_hub = await nats.connect(hub.url)
        await on_hub.jetstream().add_stream(name="ORDERS", subjects=["orders.*"])
        await on_hub.close()
        on_leaf = await nats.connect(leaf.url)
        await wait_for_domain(on_leaf.jetstream(domain="hub"))
        external = {"api": "$JS.hub.API"}
        created = await api(on_leaf, "$JS.API.STREAM.CREATE.COPY", {"name": "COPY", "mirror": {"name": "ORDERS", "external": external}})
        assert "error" not in created, created
        created = await api(on_leaf, "$JS.API.STREAM.CREATE.SOME",
                            {"name": "SOME", "sources": [{"name": "ORDERS", "filter_subject": "orders.1", "external": external}]})
        assert "error" not in created, created
        expected = await publish_on_hub(range(30))
        info = await wait_for_last(on_leaf, "COPY", 30)
        assert info["mirror"]["external"]["api"] == "$JS.hub.API"
        await on_leaf.close()

        # The hub goes away and comes back on its store: the leaf reconnects, and its streams catch up.
        servers["hub"].stop()
        start_hub(port=hub.port)
        expected = await publish_on_hub(range(30, 60))
        on_leaf = await nats.connect(leaf.url)
        await wait_for_last(on_leaf, "COPY", 60)
        await on_leaf.close()

        # The leaf is killed while the hub takes more, and restarted on its store.
        os.kill(servers["leaf"].process.pid, signal.SIGKILL)
        servers["leaf"].process.wait()
        expected = await publish_on_hub(range(60, 80))
        start_leaf(port=leaf.port)
        on_leaf = await nats.connect(servers["leaf"].url)
        await wait_for_last(on_leaf, "COPY", 80)
        assert await contents(on_leaf, "COPY") == expected
        info = await wait_for_count(on_leaf, "SOME", len([i for i in range(80) if i % 3 == 1]))
        sourced = await contents(on_leaf, "SOME")
        origin_sequences = sorted(int(s[4].split(" ")[1]) for s in sourced.values())
        assert origin_sequences == sorted(seq for seq, m in expected.items() if m[0] == "orders.1")
        assert all(s[4].startswith("ORDERS:") for s in sourced.values())  # the index name carries the API's hash
        assert [s[1] for s in sorted(sourced.values(), key=lambda s: int(s[4].split(" ")[1]))] == \
            [m[1] for seq, m in sorted(expected.items()) if m[0] == "orders.1"]
        await on_leaf.close()
    finally:
        for server in servers.values():
            server.stop()
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)


async def test_a_mirror_and_a_source_take_a_backlog_larger_than_the_flow_control_window(single):
    """4 MiB of messages waiting in the origin: the origin's consumer asks for flow control every 256 KiB
    (Strata) or so (nats-server), and the mirror and the source answer once what came before is stored."""
    nc = await nats.connect(single.url)
    js = nc.jetstream()
    await js.add_stream(name="BIG", subjects=["big.*"])
    payload = os.urandom(1024)
    acks = [js.publish(f"big.{i % 8}", payload + i.to_bytes(4, "big")) for i in range(4000)]
    for chunk in range(0, len(acks), 500):
        await asyncio.gather(*acks[chunk:chunk + 500])
    assert "error" not in await api(nc, "$JS.API.STREAM.CREATE.BIGM", {"name": "BIGM", "mirror": {"name": "BIG"}})
    assert "error" not in await api(nc, "$JS.API.STREAM.CREATE.BIGS", {"name": "BIGS", "sources": [{"name": "BIG"}]})
    info = await wait_for_last(nc, "BIGM", 4000, timeout=60)
    assert info["state"]["messages"] == 4000
    info = await wait_for_count(nc, "BIGS", 4000, timeout=60)
    assert info["state"]["messages"] == 4000
    for sequence in (1, 1234, 4000):
        answer = await api(nc, "$JS.API.STREAM.MSG.GET.BIGM", {"seq": sequence})
        import base64
        assert base64.b64decode(answer["message"]["data"]) == payload + (sequence - 1).to_bytes(4, "big")
    await nc.close()


async def test_a_mirror_and_a_source_of_an_origin_made_later_fill_once_it_exists(single):
    """The origin need not exist yet: the consumer requests fail (stream info shows no error hidden as
    data) and are made again until it does; then everything it holds arrives. An empty `sources` list
    asks for nothing: that stream gets its own name as subject."""
    nc = await nats.connect(single.url)
    js = nc.jetstream()
    assert "error" not in await api(nc, "$JS.API.STREAM.CREATE.M", {"name": "M", "mirror": {"name": "LATER"}})
    assert "error" not in await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "sources": [{"name": "LATER"}]})
    empty = await api(nc, "$JS.API.STREAM.CREATE.E", {"name": "E", "sources": []})
    assert empty["config"]["subjects"] == ["E"] and "sources" not in empty
    info = await stream_info(nc, "M")
    assert info["state"]["messages"] == 0 and info["mirror"]["name"] == "LATER"
    await js.add_stream(name="LATER", subjects=["later.*"])
    for i in range(5):
        await publish(js, f"later.{i}", b"x")
    await wait_for_last(nc, "M", 5)
    await wait_for_count(nc, "S", 5)
    await nc.close()


@pytest.fixture(scope="module")
def natsgo_mirror():
    return build_go_program("natsgo-mirror")


def test_nats_go_reads_mirrors_and_sources_with_its_types(natsgo_mirror, single):
    """nats.go 1.22's StreamSource, StreamSourceInfo (lag, active as a Duration), GetMsg and APIError."""
    import subprocess
    run = subprocess.run([natsgo_mirror, single.url], capture_output=True, timeout=120)
    out = run.stdout.decode()
    assert run.returncode == 0, out + run.stderr.decode()
    assert out.count("ok   ") == 3, out
