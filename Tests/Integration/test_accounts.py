"""Accounts side by side: one config file with three accounts (JetStream with limits, none, enabled) and
their imports and exports, given to strata-server and nats-server 2.9.10 and driven with nats-py: each
account is its own subject space and its own JetStream, a service import calls another account's service
and gets its reply, a stream import receives another account's messages under its prefix, and nothing
else crosses. The offline tool reads a store with accounts."""
import asyncio, json, os, subprocess
import pytest
import nats
from nats.errors import NoRespondersError, TimeoutError as NatsTimeout
from conftest import ConfiguredServer, ROOT

KINDS = ["strata", "reference"]

CONFIG = """
listen: 127.0.0.1:@PORT@
jetstream { store_dir: "@DIR@/js" }
accounts {
  A: { users: [ { user: a, password: a } ], jetstream: { max_streams: 1, max_consumers: 2 },
       exports: [ { service: "svc.>" }, { stream: "events.>" }, { stream: "private.>", accounts: [C] } ] }
  B: { users: [ { user: b, password: b } ],
       imports: [ { service: { account: A, subject: "svc.echo" }, to: "a.echo" },
                  { stream: { account: A, subject: "events.>" }, prefix: "fromA" } ] }
  C: { users: [ { user: c, password: c, permissions: { publish: { deny: "blocked" } } } ], jetstream: enabled }
}
"""


@pytest.fixture(params=KINDS)
def server(request, directory):
    server = ConfiguredServer(request.param, directory, CONFIG)
    yield server
    server.stop()


async def connect(server, user):
    return await nats.connect(f"nats://{user}:{user}@127.0.0.1:{server.port}", allow_reconnect=False)


async def test_each_account_is_its_own_subject_space(server):
    a, b, c = [await connect(server, u) for u in "abc"]
    subs = {name: await nc.subscribe("shared.subject") for name, nc in [("a", a), ("b", b), ("c", c)]}
    for nc in (a, b, c):
        await nc.flush()
    await a.publish("shared.subject", b"from a")
    await a.flush()
    assert (await subs["a"].next_msg(timeout=5)).data == b"from a"
    await c.publish("shared.subject", b"from c")
    await c.flush()
    assert (await subs["c"].next_msg(timeout=5)).data == b"from c"
    await b.flush()
    for name in "bac":  # b got nothing; a did not get c's, c did not get a's
        with pytest.raises(NatsTimeout):
            await subs[name].next_msg(timeout=0.3)
    # A request to a subject only another account serves reaches no one.
    async def ignore(msg):
        pass
    await a.subscribe("only.in.a", cb=ignore)
    await a.flush()
    with pytest.raises(NoRespondersError):
        await c.request("only.in.a", b"?", timeout=2)
    for nc in (a, b, c):
        await nc.close()


async def test_service_import_calls_the_exporter_and_the_reply_comes_back(server):
    a, b = await connect(server, "a"), await connect(server, "b")

    async def echo(msg):
        assert msg.subject == "svc.echo" and msg.reply.startswith("_R_.")
        await msg.respond(b"echo:" + msg.data)
    await a.subscribe("svc.echo", cb=echo)
    await a.flush()
    for i in range(3):
        assert (await b.request("a.echo", f"hi {i}".encode(), timeout=5)).data == f"echo:hi {i}".encode()
    # Only what is imported crosses: svc.echo itself is not a subject of B, svc.other is not imported.
    with pytest.raises(NoRespondersError):
        await b.request("svc.echo", b"direct", timeout=2)
    with pytest.raises(NoRespondersError):
        await b.request("a.other", b"x", timeout=2)
    await a.close()
    await b.close()


async def test_stream_import_delivers_under_the_prefix_and_nothing_else(server):
    a, b, c = [await connect(server, u) for u in "abc"]
    imported = await b.subscribe("fromA.>")
    plain = await b.subscribe("events.>")
    other = await c.subscribe(">")
    await b.flush()
    await c.flush()
    await a.publish("events.order.new", b"ev1")
    await a.publish("unexported.x", b"no")
    await a.flush()
    message = await imported.next_msg(timeout=5)
    assert (message.subject, message.data) == ("fromA.events.order.new", b"ev1")
    await b.flush()
    with pytest.raises(NatsTimeout):
        await imported.next_msg(timeout=0.3)
    with pytest.raises(NatsTimeout):
        await plain.next_msg(timeout=0.1)
    with pytest.raises(NatsTimeout):
        await other.next_msg(timeout=0.1)  # C imports nothing
    for nc in (a, b, c):
        await nc.close()


async def test_jetstream_per_account_with_limits(server):
    a, b, c = [await connect(server, u) for u in "abc"]
    info = json.loads((await a.request("$JS.API.INFO", b"", timeout=5)).data)
    assert info["limits"]["max_streams"] == 1 and info["limits"]["max_consumers"] == 2 and info["streams"] == 0
    refused = json.loads((await b.request("$JS.API.INFO", b"", timeout=5)).data)
    assert refused["error"] == {"code": 503, "err_code": 10039, "description": "JetStream not enabled for account"}
    refused = json.loads((await b.request("$JS.API.STREAM.CREATE.X", b'{"name":"X","subjects":["x"]}', timeout=5)).data)
    assert refused["type"] == "io.nats.jetstream.api.v1.stream_create_response" and refused["error"]["err_code"] == 10039

    # The same stream name in two accounts: two streams, each with its own messages.
    ja, jc = a.jetstream(), c.jetstream()
    await ja.add_stream(name="ORDERS", subjects=["orders.>"])
    await jc.add_stream(name="ORDERS", subjects=["orders.>"])
    await ja.publish("orders.1", b"a's order")
    for i in range(2):
        await jc.publish("orders.1", f"c's order {i}".encode())
    assert (await ja.stream_info("ORDERS")).state.messages == 1
    assert (await jc.stream_info("ORDERS")).state.messages == 2
    assert (await ja.get_msg("ORDERS", 1)).data == b"a's order"

    second = json.loads((await a.request("$JS.API.STREAM.CREATE.MORE", b'{"name":"MORE","subjects":["more"]}', timeout=5)).data)
    assert second["error"] == {"code": 400, "err_code": 10027, "description": "maximum number of streams reached"}
    for i in range(3):
        body = json.dumps({"stream_name": "ORDERS", "config": {"durable_name": f"d{i}", "ack_policy": "explicit"}}).encode()
        reply = json.loads((await a.request(f"$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.d{i}", body, timeout=5)).data)
        if i < 2:
            assert "error" not in reply, reply
        else:
            assert reply["error"] == {"code": 400, "err_code": 10026, "description": "maximum consumers limit reached"}
    info = json.loads((await a.request("$JS.API.INFO", b"", timeout=5)).data)
    assert info["streams"] == 1 and info["consumers"] == 2
    info = json.loads((await c.request("$JS.API.INFO", b"", timeout=5)).data)
    assert info["streams"] == 1 and info["consumers"] == 0 and info["limits"]["max_streams"] == -1
    for nc in (a, b, c):
        await nc.close()


@pytest.mark.parametrize("text,message", [
    ("accounts { A: { users: [ { user: a, password: a } ] }\n B: { imports: [ { stream: { account: A, subject: x } } ] } }",
     "not exported"),
    ("accounts { A: { exports: [ { stream: p } ] , users: [ { user: a, password: a } ] }\n C: { }\n"
     " B: { imports: [ { stream: { account: Z, subject: p } } ] } }", "unknown account"),
])
def test_an_import_of_what_is_not_exported_is_refused(text, message, directory):
    path = os.path.join(directory, "bad.conf")
    with open(path, "w") as f:
        f.write("port: 4999\n" + text + "\n")
    from conftest import STRATA
    result = subprocess.run([STRATA, "-t", "-c", path], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and message in result.stderr + result.stdout, result


async def test_the_offline_tool_reads_a_store_with_accounts(directory):
    server = ConfiguredServer("strata", directory, CONFIG)
    try:
        a, c = await connect(server, "a"), await connect(server, "c")
        await a.jetstream().add_stream(name="ORDERS", subjects=["orders.>"])
        await c.jetstream().add_stream(name="ORDERS", subjects=["orders.>"])
        await c.jetstream().publish("orders.1", b"x")
        await a.close()
        await c.close()
    finally:
        server.stop()
    tool = os.path.join(ROOT, ".build", "debug", "strata")
    if not os.path.exists(tool):
        subprocess.run(["swift", "build", "--product", "strata"], cwd=ROOT, check=True, capture_output=True)
    result = subprocess.run([tool, "verify", os.path.join(directory, "js")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ORDERS") >= 2, result.stdout


SHARED_JS = """
listen: 127.0.0.1:@PORT@
jetstream { store_dir: "@DIR@/js" }
accounts {
  OWNER: { users: [ { user: owner, password: owner } ], jetstream: enabled,
           exports: [ { service: "$JS.API.>" }, { service: "orders.>" } ] }
  CLIENT: { users: [ { user: client, password: client } ],
            imports: [ { service: { account: OWNER, subject: "$JS.API.>" }, to: "JSO.API.>" },
                       { service: { account: OWNER, subject: "orders.>" } } ] }
}
"""


@pytest.mark.parametrize("kind", KINDS)
async def test_another_accounts_jetstream_through_service_imports(kind, directory):
    server = ConfiguredServer(kind, directory, SHARED_JS)
    try:
        owner, client = await connect(server, "owner"), await connect(server, "client")
        await owner.jetstream().add_stream(name="ORDERS", subjects=["orders.>"])
        # The owner's JetStream API, imported under a prefix: the client reads the owner's stream.
        remote = client.jetstream(prefix="JSO.API")
        assert (await remote.stream_info("ORDERS")).config.name == "ORDERS"
        # A publish on an imported stream subject is stored in the owner's stream; the pub ack comes back.
        for i in range(3):
            ack = await remote.publish("orders.new", f"from client {i}".encode())
            assert (ack.stream, ack.seq) == ("ORDERS", i + 1)
        info = await owner.jetstream().stream_info("ORDERS")
        assert info.state.messages == 3
        assert (await owner.jetstream().get_msg("ORDERS", 2)).data == b"from client 1"
        # The client's own account still has no JetStream.
        refused = json.loads((await client.request("$JS.API.INFO", b"", timeout=5)).data)
        assert refused["error"]["err_code"] == 10039
        await owner.close()
        await client.close()
    finally:
        server.stop()
