"""The `strata` tool's online commands run as a user runs them (the real binary, a shell's arguments)
against a live strata-server and against nats-server 2.9.10: server info and ping, pub and request,
stream ls/info/add/rm; failures exit 1 with the server's error text."""
import asyncio, json, os, subprocess
import pytest
import nats
from conftest import ROOT, start_jetstream

TOOL = os.path.join(ROOT, ".build", "debug", "strata")


@pytest.fixture(scope="module")
def tool():
    if not os.path.exists(TOOL):
        subprocess.run(["swift", "build", "--product", "strata"], cwd=ROOT, check=True, capture_output=True, timeout=900)
    return TOOL


@pytest.fixture(params=["strata", "reference"])
def server(request):
    server = start_jetstream(request.param)
    if server is None:
        pytest.skip("nats-server is not installed")
    yield server
    server.stop()


def run(tool, server, *args):
    return subprocess.run([tool, *args, "-s", server.url], capture_output=True, text=True, timeout=60)


def test_server_info_and_ping(tool, server):
    info = run(tool, server, "server", "info")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["port"] == server.port
    ping = run(tool, server, "server", "ping", "--count", "2")
    assert ping.returncode == 0 and ping.stdout.count("ping ") == 2, ping.stdout + ping.stderr


def test_stream_lifecycle(tool, server):
    added = run(tool, server, "stream", "add", "ORDERS", "--subjects", "orders.>,shipments.*")
    assert added.returncode == 0, added.stderr
    assert run(tool, server, "pub", "orders.new", "one", "--count", "4").returncode == 0
    assert run(tool, server, "stream", "ls").stdout.split() == ["ORDERS"]
    info = run(tool, server, "stream", "info", "ORDERS", "--json")
    assert info.returncode == 0, info.stderr
    parsed = json.loads(info.stdout)
    assert parsed["state"]["messages"] == 4 and parsed["config"]["subjects"] == ["orders.>", "shipments.*"]
    text = run(tool, server, "stream", "info", "ORDERS").stdout
    assert "messages: 4" in text
    again = run(tool, server, "stream", "add", "ORDERS", "--subjects", "other")
    assert again.returncode == 1 and "stream name already in use" in again.stderr, again.stderr
    assert run(tool, server, "stream", "rm", "ORDERS").returncode == 0
    missing = run(tool, server, "stream", "info", "ORDERS")
    assert missing.returncode == 1 and "stream not found (10059)" in missing.stderr


async def test_request_reaches_a_service(tool, server):
    nc = await nats.connect(server.url)

    async def answer(msg):
        await msg.respond(b"answer:" + msg.data)
    await nc.subscribe("svc.echo", cb=answer)
    await nc.flush()
    reply = await asyncio.to_thread(run, tool, server, "request", "svc.echo", "ping")
    assert reply.returncode == 0 and reply.stdout.strip() == "answer:ping", reply.stderr
    nobody = await asyncio.to_thread(run, tool, server, "request", "nobody.here", "x")
    assert nobody.returncode == 1 and "no responders for nobody.here" in nobody.stderr
    await nc.close()


def test_no_server_is_a_clear_failure(tool, server):
    gone = subprocess.run([tool, "server", "ping", "-s", "nats://127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    assert gone.returncode == 1 and "no server at 127.0.0.1:1" in gone.stderr


async def test_consumers_and_sub(tool, server):
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="WORK", subjects=["work.>"])
    for i in range(3):
        await js.publish("work.item", f"job {i}".encode())
    await js.add_consumer("WORK", durable_name="workers", ack_policy="explicit")
    listed = await asyncio.to_thread(run, tool, server, "consumer", "ls", "WORK")
    assert listed.returncode == 0 and listed.stdout.split() == ["workers"], listed.stderr
    fetched = await asyncio.to_thread(run, tool, server, "consumer", "next", "WORK", "workers", "--count", "2")
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.splitlines() == ["[#1] work.item: job 0", "[#2] work.item: job 1"]
    info = await asyncio.to_thread(run, tool, server, "consumer", "info", "WORK", "workers", "--json")
    parsed = json.loads(info.stdout)
    assert parsed["num_pending"] == 1 and parsed["num_ack_pending"] == 0, parsed
    missing = await asyncio.to_thread(run, tool, server, "consumer", "info", "WORK", "nobody")
    assert missing.returncode == 1 and "consumer not found" in missing.stderr

    # sub: prints what arrives; started first, then fed.
    process = await asyncio.create_subprocess_exec(tool, "sub", "feed.>", "--count", "2", "-s", server.url,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip() == "subscribed to feed.>"
    await nc.publish("feed.a", b"one")
    await nc.publish("feed.b", b"two")
    await nc.flush()
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0 and out.decode().splitlines() == ["[#1] feed.a: one", "[#2] feed.b: two"]
    await nc.close()
