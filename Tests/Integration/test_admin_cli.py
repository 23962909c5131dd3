"""The `strata` tool's online commands run as a user runs them (the real binary, a shell's arguments)
against a live strata-server and against nats-server 2.9.10: server info/ping/check, pub/sub/request/reply,
stream ls/info/add/edit/rm/purge/get/view, consumer ls/info/add/rm/next, kv ls/add/get/put/del/watch/history,
bench pub/sub/js, and the credentials (user and password, NKey seed file); failures exit 1 with the
server's error text."""
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


def test_stream_edit_purge_get_and_view(tool, server):
    assert run(tool, server, "stream", "add", "LOG", "--subjects", "log.>", "--max-msgs", "100").returncode == 0
    for i in range(5):
        subject = "log.a" if i % 2 == 0 else "log.b"
        published = run(tool, server, "pub", subject, f"entry {i}", "-H", f"Index: {i}")
        assert published.returncode == 0, published.stderr
    edited = run(tool, server, "stream", "edit", "LOG", "--max-msgs", "50", "--description", "the log", "--json")
    assert edited.returncode == 0, edited.stderr
    config = json.loads(edited.stdout)["config"]
    assert config["max_msgs"] == 50 and config["description"] == "the log" and config["subjects"] == ["log.>"]
    got = run(tool, server, "stream", "get", "LOG", "3", "--json")
    assert got.returncode == 0, got.stderr
    message = json.loads(got.stdout)
    assert (message["subject"], message["seq"], message["data"]) == ("log.a", 3, "entry 2")
    assert "Index: 2" in message["headers"]
    last = run(tool, server, "stream", "get", "LOG", "--last-for", "log.b", "--raw")
    assert last.returncode == 0 and last.stdout == "entry 3", last.stderr
    missing = run(tool, server, "stream", "get", "LOG", "99")
    assert missing.returncode == 1 and "no message found" in missing.stderr
    view = run(tool, server, "stream", "view", "LOG")
    assert view.returncode == 0, view.stderr
    assert view.stdout.splitlines() == [f"[{i + 1}] log.{'a' if i % 2 == 0 else 'b'}: entry {i}" for i in range(5)]
    filtered = run(tool, server, "stream", "view", "LOG", "--subject", "log.b", "--count", "1")
    assert filtered.stdout.splitlines() == ["[2] log.b: entry 1"], filtered.stdout + filtered.stderr
    purged = run(tool, server, "stream", "purge", "LOG", "--subject", "log.a", "--json")
    assert purged.returncode == 0 and json.loads(purged.stdout)["purged"] == 3, purged.stdout + purged.stderr
    assert run(tool, server, "stream", "purge", "LOG").stdout.strip() == "purged 2 message(s) from LOG"
    empty = run(tool, server, "stream", "view", "LOG")
    assert empty.returncode == 0 and empty.stdout == ""
    # The view's consumers are gone when it ends.
    assert run(tool, server, "consumer", "ls", "LOG").stdout.split() == []
    refused = run(tool, server, "stream", "edit", "LOG", "--max-age", "soon")
    assert refused.returncode == 1 and "not a duration" in refused.stderr


def test_consumer_add_and_rm(tool, server):
    assert run(tool, server, "stream", "add", "JOBS", "--subjects", "jobs.>").returncode == 0
    assert run(tool, server, "pub", "jobs.x", "one", "--count", "3").returncode == 0
    added = run(tool, server, "consumer", "add", "JOBS", "pullers", "--filter", "jobs.x", "--ack", "explicit",
                "--deliver", "all", "--max-deliver", "5", "--wait", "10s", "--json")
    assert added.returncode == 0, added.stderr
    config = json.loads(added.stdout)["config"]
    assert (config["durable_name"], config["filter_subject"], config["ack_policy"], config["max_deliver"], config["ack_wait"]) == \
        ("pullers", "jobs.x", "explicit", 5, 10_000_000_000)
    # Without a terminal, what is not given takes the defaults (no prompt).
    defaults = run(tool, server, "consumer", "add", "JOBS", "plain")
    assert defaults.returncode == 0 and "pull, ack: explicit, deliver: all" in defaults.stdout, defaults.stdout + defaults.stderr
    assert run(tool, server, "consumer", "next", "JOBS", "pullers", "--count", "3").stdout.count("jobs.x: one") == 3
    assert sorted(run(tool, server, "consumer", "ls", "JOBS").stdout.split()) == ["plain", "pullers"]
    assert run(tool, server, "consumer", "rm", "JOBS", "pullers").returncode == 0
    gone = run(tool, server, "consumer", "rm", "JOBS", "pullers")
    assert gone.returncode == 1 and "consumer not found" in gone.stderr
    assert run(tool, server, "consumer", "ls", "JOBS").stdout.split() == ["plain"]


async def test_kv_commands(tool, server):
    assert run(tool, server, "kv", "add", "CFG", "--history", "5").returncode == 0
    assert run(tool, server, "kv", "ls").stdout.split() == ["CFG"]
    first = run(tool, server, "kv", "put", "CFG", "color", "red")
    assert first.returncode == 0 and first.stdout.strip() == "1", first.stderr
    assert run(tool, server, "kv", "put", "CFG", "color", "blue").stdout.strip() == "2"
    assert run(tool, server, "kv", "get", "CFG", "color", "--raw").stdout == "blue"
    got = json.loads(run(tool, server, "kv", "get", "CFG", "color", "--json").stdout)
    assert (got["value"], got["revision"]) == ("blue", 2)
    # What a client library stored is read, and what the tool stored is read by the library.
    nc = await nats.connect(server.url)
    kv = await nc.jetstream().key_value("CFG")
    assert (await kv.get("color")).value == b"blue"
    await kv.put("size", b"large")
    await nc.flush()
    assert (await asyncio.to_thread(run, tool, server, "kv", "get", "CFG", "size", "--raw")).stdout == "large"
    deleted = await asyncio.to_thread(run, tool, server, "kv", "del", "CFG", "color")
    assert deleted.returncode == 0, deleted.stderr
    missing = await asyncio.to_thread(run, tool, server, "kv", "get", "CFG", "color")
    assert missing.returncode == 1 and "key not found" in missing.stderr
    history = await asyncio.to_thread(run, tool, server, "kv", "history", "CFG", "color")
    assert history.stdout.splitlines() == ["[1] PUT CFG > color: red", "[2] PUT CFG > color: blue", "[4] DEL CFG > color"], history.stdout
    nobody = await asyncio.to_thread(run, tool, server, "kv", "put", "NOPE", "k", "v")
    assert nobody.returncode == 1 and "no bucket NOPE" in nobody.stderr

    # watch: each key's latest, then changes as they come.
    process = await asyncio.create_subprocess_exec(tool, "kv", "watch", "CFG", "--count", "3", "-s", server.url,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    lines = [(await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip() for _ in range(3)]
    assert lines[0] == "watching CFG > >"
    assert lines[1:] == ["[3] PUT CFG > size: large", "[4] DEL CFG > color"]
    await kv.put("shape", b"round")
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err
    assert out.decode().splitlines() == ["[5] PUT CFG > shape: round"]
    await nc.close()


async def test_reply_answers_requests(tool, server):
    process = await asyncio.create_subprocess_exec(tool, "reply", "svc.time", "now:{{data}}", "--count", "2", "-s", server.url,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip() == "replying on svc.time"
    nc = await nats.connect(server.url)
    assert (await nc.request("svc.time", b"a", timeout=5)).data == b"now:a"
    assert (await nc.request("svc.time", b"b", timeout=5)).data == b"now:b"
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0 and out.decode().splitlines() == ["[#1] svc.time: a", "[#2] svc.time: b"]
    await nc.close()


async def test_bench_pub_sub_and_js(tool, server):
    sub = await asyncio.create_subprocess_exec(tool, "bench", "sub", "bench.core", "--msgs", "2000", "--json", "-s", server.url,
                                               stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert (await asyncio.wait_for(sub.stdout.readline(), 30)).decode().strip() == "subscribed to bench.core"
    pub = await asyncio.to_thread(run, tool, server, "bench", "pub", "bench.core", "--msgs", "2000", "--size", "64", "--json")
    assert pub.returncode == 0, pub.stderr
    published = json.loads(pub.stdout)
    assert published["messages"] == 2000 and published["msgs_per_sec"] > 0 and published["bytes_per_sec"] == published["msgs_per_sec"] * 64
    assert "pub: 100% (2000 of 2000 messages)" in pub.stderr  # (progress, on stderr)
    out, err = await asyncio.wait_for(sub.communicate(), 60)
    assert sub.returncode == 0, err
    received = json.loads(out.decode())
    assert received["messages"] == 2000 and received["size"] == 64
    js = await asyncio.to_thread(run, tool, server, "bench", "js", "bench.js", "--msgs", "300", "--window", "8", "--stream", "BENCH")
    assert js.returncode == 0, js.stderr
    assert js.stdout.startswith("js: 300 messages of 128 bytes in ") and "latency p50 " in js.stdout and " p99 " in js.stdout
    assert run(tool, server, "stream", "ls").stdout.split() == []  # (the stream it made is gone)
    nostream = await asyncio.to_thread(run, tool, server, "bench", "js", "bench.none", "--msgs", "5")
    assert nostream.returncode == 1 and "no stream takes bench.none" in nostream.stderr


def test_server_check(tool, server):
    check = run(tool, server, "server", "check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["status"] == "OK" and report["streams"] == 0 and report["rtt_ms"] > 0
    assert run(tool, server, "server", "check").stdout.startswith("OK: connected to ")
    gone = subprocess.run([tool, "server", "check", "-s", "nats://127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    assert gone.returncode == 1 and gone.stdout.startswith("CRITICAL: no server at 127.0.0.1:1")


@pytest.mark.parametrize("kind", ["strata", "reference"])
def test_core_only_server_fails_the_jetstream_check(tool, kind):
    from conftest import start_strata, start_reference
    server = start_strata() if kind == "strata" else start_reference()
    if server is None:
        pytest.skip("nats-server is not installed")
    try:
        check = run(tool, server, "server", "check")
        assert check.returncode == 1 and "CRITICAL: JetStream is not enabled here" in check.stdout, check.stdout
        assert run(tool, server, "server", "check", "--no-jetstream").returncode == 0
    finally:
        server.stop()


NKEY_SEED = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"  # (nats-server's server/nkey_test.go)
NKEY_PUBLIC = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"


@pytest.mark.parametrize("kind", ["strata", "reference"])
def test_nkey_and_password_credentials(tool, kind, directory):
    from conftest import ConfiguredServer
    config = ("port: @PORT@\njetstream { store_dir: \"@DIR@/js\" }\n"
              f"authorization {{ users = [ {{ nkey: {NKEY_PUBLIC} }}, {{ user: admin, password: s3cret }} ] }}\n")
    server = ConfiguredServer(kind, directory, config)
    try:
        seed = os.path.join(directory, "user.nk")
        with open(seed, "w") as f:
            f.write(NKEY_SEED + "\n")
        assert run(tool, server, "server", "check", "--nkey", seed).returncode == 0
        assert run(tool, server, "server", "check", "--user", "admin", "--password", "s3cret").returncode == 0
        refused = run(tool, server, "server", "check")
        assert refused.returncode == 1 and "Authorization Violation" in refused.stdout, refused.stdout
        with open(seed, "w") as f:
            f.write("SUNOTASEED\n")
        bad = run(tool, server, "server", "check", "--nkey", seed)
        assert bad.returncode == 1 and "does not hold a user's NKey seed" in bad.stdout
    finally:
        server.stop()


def test_add_asks_for_what_is_missing_on_a_terminal(tool, server):
    """On a terminal (a pseudo-terminal here), `stream add` asks for each value not given, offering the
    default; an empty answer takes it. (Without a terminal it asks nothing: see test_consumer_add_and_rm.)"""
    import pty, select
    leader, follower = pty.openpty()
    process = subprocess.Popen([tool, "stream", "add", "ASKED", "-s", server.url], stdin=follower, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    seen = b""

    def answer(prompt, reply):
        nonlocal seen
        while prompt not in seen:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, f"no prompt {prompt!r}; saw {seen!r}"
            seen += os.read(leader, 4096)
        seen = seen.split(prompt, 1)[1]
        os.write(leader, reply)
    answer(b"Subjects [ASKED]: ", b"asked.>\n")
    answer(b"Storage (file, memory) [file]: ", b"memory\n")
    answer(b"Retention (limits, interest, workqueue) [limits]: ", b"\n")
    assert process.wait(timeout=30) == 0, process.stderr.read()
    os.close(leader)
    config = json.loads(run(tool, server, "stream", "info", "ASKED", "--json").stdout)["config"]
    assert (config["subjects"], config["storage"], config["retention"]) == (["asked.>"], "memory", "limits")
