"""The HTTP monitoring port side by side: strata-server and nats-server 2.9.10 with `-m`, the same traffic
from nats-py, the same answers from /varz, /connz, /subsz, /jsz, /accountz and /healthz for the fields they
share; 404 for an unknown path and 400 with the reference's text for a bad query value."""
import asyncio, json, time, urllib.error, urllib.request
import pytest
import nats
from conftest import free_port, publish_until_received, start_jetstream

KINDS = ["strata", "reference"]


@pytest.fixture(params=KINDS)
def monitored(request):
    http = free_port()
    server = start_jetstream(request.param, "-m", str(http))
    if server is None:
        pytest.skip("nats-server is not installed")
    server.kind, server.http = request.param, http
    yield server
    server.stop()


@pytest.fixture
def strata_monitored():
    """strata-server with JetStream and a monitoring port (for what only Strata serves)."""
    http = free_port()
    server = start_jetstream("strata", "-m", str(http))
    server.http = http
    yield server
    server.stop()


def get(server, path):
    """(status, parsed JSON or text) of GET path on the monitoring port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http}{path}", timeout=10) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


async def test_varz_and_connz_count_the_traffic(monitored):
    publisher = await nats.connect(monitored.url, name="publisher")
    subscriber = await nats.connect(monitored.url, name="subscriber")
    # Warm up: one message across, published until it arrives (nats-server 2.9.10 was seen, once under a
    # full suite's load, not to deliver the first message on fresh connections within 5 s). The figures
    # below are then differences from what the server reports after it.
    warm = await subscriber.subscribe("warm.up")
    await subscriber.flush()
    assert await publish_until_received(publisher, warm, "warm.up", b"w", each=0.5) is not None
    await warm.unsubscribe()
    await subscriber.flush()
    _, base = get(monitored, "/varz")
    _, base_connz = get(monitored, "/connz")
    base_by_name = {c["name"]: c for c in base_connz["connections"]}
    sub = await subscriber.subscribe("mon.data")
    await subscriber.subscribe("mon.other")
    wildcard = await subscriber.subscribe("mon.*")
    await subscriber.flush()
    for _ in range(10):
        await publisher.publish("mon.data", b"x" * 100)
    await publisher.flush()
    for _ in range(10):
        await sub.next_msg(timeout=5)
        await wildcard.next_msg(timeout=5)
    # mon.* gets the 10 messages as well: 20 deliveries to the subscriber. (nats-server 2.9.10 was seen, once
    # in a fresh-clone CI run, to report 10 of them right after they arrived: read until it counts 20.)
    deadline = time.monotonic() + 5
    while True:
        status, varz = get(monitored, "/varz")
        assert status == 200
        delta = tuple(varz[k] - base[k] for k in ["in_msgs", "in_bytes", "out_msgs", "out_bytes"])
        if delta == (10, 1000, 20, 2000) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert delta == (10, 1000, 20, 2000), (varz, base)
    assert varz["connections"] == 2 and varz["total_connections"] >= 3  # (the fixture's readiness probe counts)
    assert varz["subscriptions"] >= 3 and varz["max_payload"] == 1048576 and varz["port"] == monitored.port
    assert varz["http_port"] == monitored.http and varz["version"] == "2.9.10" and varz["slow_consumers"] == 0
    assert "jetstream" in varz and "config" in varz["jetstream"] and varz["jetstream"]["stats"]["accounts"] == 1
    for key in ["server_id", "server_name", "start", "now", "uptime", "mem", "cores", "cpu", "ping_interval", "write_deadline",
                "max_connections", "max_control_line", "max_pending", "auth_timeout", "http_req_stats", "config_load_time"]:
        assert key in varz, key

    status, connz = get(monitored, "/connz?subs=1")
    assert status == 200 and connz["num_connections"] == 2 and connz["total"] == 2 and connz["limit"] == 1024
    by_name = {c["name"]: c for c in connz["connections"]}
    def moved(name, *keys):
        return tuple(by_name[name][k] - base_by_name[name][k] for k in keys)
    assert moved("publisher", "in_msgs", "in_bytes", "out_msgs") == (10, 1000, 0)
    assert moved("subscriber", "out_msgs", "out_bytes", "in_msgs") == (20, 2000, 0)
    assert sorted(by_name["subscriber"]["subscriptions_list"]) == ["mon.*", "mon.data", "mon.other"]
    assert by_name["subscriber"]["subscriptions"] == 3 and by_name["subscriber"]["lang"] == "python3"
    for key in ["cid", "ip", "port", "start", "last_activity", "uptime", "idle", "pending_bytes"]:
        assert key in by_name["subscriber"], key
    ids = [c["cid"] for c in connz["connections"]]
    assert ids == sorted(ids)
    _, page = get(monitored, "/connz?limit=1&offset=1")
    assert page["num_connections"] == 1 and page["total"] == 2 and page["connections"][0]["cid"] == ids[1]
    _, one = get(monitored, f"/connz?cid={ids[0]}")
    assert [c["cid"] for c in one["connections"]] == [ids[0]]
    _, by_messages = get(monitored, "/connz?sort=msgs_to")
    assert by_messages["connections"][0]["name"] == "subscriber"
    await publisher.close()
    await subscriber.close()


async def test_subsz_jsz_accountz_and_healthz(monitored):
    nc = await nats.connect(monitored.url)
    await nc.subscribe("orders.*")
    await nc.subscribe("orders.eu.>")
    await nc.flush()
    status, subsz = get(monitored, "/subsz")
    assert status == 200 and subsz["num_subscriptions"] >= 2
    _, listed = get(monitored, "/subsz?subs=1&test=orders.new")
    assert [s["subject"] for s in listed["subscriptions_list"]] == ["orders.*"]

    js = nc.jetstream()
    await js.add_stream(name="MON", subjects=["mon.js.>"])
    for i in range(5):
        await js.publish("mon.js.x", b"y" * 10)
    await js.add_consumer("MON", durable_name="c1")
    status, jsz = get(monitored, "/jsz")
    assert status == 200 and (jsz["streams"], jsz["consumers"], jsz["messages"]) == (1, 1, 5), jsz
    assert jsz["bytes"] > 50 and jsz["storage"] == jsz["bytes"] and jsz["memory"] == 0 and jsz["accounts"] == 1
    assert jsz["api"]["total"] >= 2 and "config" in jsz
    _, detailed = get(monitored, "/jsz?streams=1")
    [account] = detailed["account_details"]
    [stream] = account["stream_detail"]
    assert stream["name"] == "MON" and stream["state"]["messages"] == 5 and stream["state"]["last_seq"] == 5
    assert stream["state"]["consumer_count"] == 1

    status, accountz = get(monitored, "/accountz")
    assert status == 200 and "$G" in accountz["accounts"]
    assert get(monitored, "/healthz") == (200, {"status": "ok"})
    assert get(monitored, "/healthz?js-enabled-only=true") == (200, {"status": "ok"})
    await nc.close()


def test_unknown_paths_and_bad_queries(monitored):
    status, _ = get(monitored, "/nothing-here")
    assert status == 404
    assert get(monitored, "/connz?limit=abc") == (400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax")
    status, _ = get(monitored, "/connz?subs=maybe")
    assert status == 400
    status, varz = get(monitored, "/varz")
    # A refused query is not counted; /varz counts itself.
    assert status == 200 and varz["http_req_stats"]["/varz"] == 1 and "/connz" not in varz["http_req_stats"]


async def test_metrics_in_prometheus_text_format_with_the_exporters_names(strata_monitored):
    from prometheus_client.parser import text_string_to_metric_families
    server = strata_monitored
    nc = await nats.connect(server.url)
    sub = await nc.subscribe("m.x")
    await nc.flush()
    for _ in range(7):
        await nc.publish("m.x", b"z" * 50)
    await nc.flush()
    for _ in range(7):
        await sub.next_msg(timeout=5)
    js = nc.jetstream()
    await js.add_stream(name="PROM", subjects=["prom.>"])
    for _ in range(3):
        await js.publish("prom.a", b"p")
    await js.add_stream(name="OTHER", subjects=["other.>"])
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        histograms = {"strata_stream_fsync_seconds", "strata_stream_append_batch_seconds", "strata_stream_append_batch_messages"}
        counters = {"strata_stream_written_bytes", "strata_stream_synced_bytes"}
        assert family.type == ("histogram" if family.name in histograms else "counter" if family.name in counters else "gauge"), family.name
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    _, varz = get(server, "/varz")
    id_label = (("server_id", varz["server_id"]),)
    # In: 7 core messages, two stream-create requests, 3 stream publishes. Out: 7 deliveries, their two
    # replies, 3 pub acks.
    assert samples[("gnatsd_varz_in_msgs", id_label)] == 12
    assert samples[("gnatsd_varz_out_msgs", id_label)] == 12
    assert samples[("gnatsd_varz_in_bytes", id_label)] > 7 * 50 + 3
    assert samples[("gnatsd_varz_connections", id_label)] == 1
    assert samples[("gnatsd_varz_jetstream_stats_accounts", id_label)] == 1
    assert samples[("gnatsd_varz_version", (("server_id", varz["server_id"]), ("value", "2.9.10")))] == 1
    assert samples[("gnatsd_connz_num_connections", id_label)] == 1
    assert samples[("gnatsd_connz_subscriptions", id_label)] >= 1
    assert samples[("gnatsd_healthz_status", id_label)] == 0
    streams = {dict(labels)["stream_name"]: value for (name, labels), value in samples.items() if name == "jetstream_stream_total_messages"}
    assert streams == {"PROM": 3, "OTHER": 0}
    server_samples = [v for (name, labels), v in samples.items() if name == "jetstream_server_total_streams"]
    assert server_samples == [2]
    # Strata's own figures: the log holds the 3 messages, the index exists.
    own = {dict(labels)["stream_name"]: value for (name, labels), value in samples.items() if name == "strata_stream_log_disk_bytes"}
    assert own["PROM"] > 0
    lost = [v for (name, labels), v in samples.items() if name == "strata_stream_records_lost_at_start"]
    assert lost == [0, 0]
    start = samples[("gnatsd_varz_start", id_label)]
    assert 1.7e12 < start < 4e12  # Unix milliseconds, as the exporter makes of `start`
    await nc.close()


async def deliver_and_ack(server):
    """A stream of 6 messages and a pull consumer that fetched 4 (acked 2, nak'd 1 and redelivered, 1
    left pending): what /jsz and /metrics are checked against."""
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="CONS", subjects=["cons.>"])
    for i in range(6):
        await js.publish("cons.item", f"m{i}".encode())
    await js.add_consumer("CONS", durable_name="worker", ack_policy="explicit", description="the worker", ack_wait=30)
    sub = await js.pull_subscribe("cons.item", durable="worker", stream="CONS")
    messages = await sub.fetch(4, timeout=5)
    assert [m.data for m in messages] == [b"m0", b"m1", b"m2", b"m3"]
    await messages[0].ack_sync()
    await messages[1].ack_sync()
    await messages[2].nak()
    await nc.flush()  # (the NAK is taken before the next pull request)
    [again] = await sub.fetch(1, timeout=5)
    assert again.data == b"m2" and again.metadata.num_delivered == 2
    await nc.flush()
    return nc


async def test_jsz_consumer_detail(monitored):
    nc = await deliver_and_ack(monitored)
    status, jsz = get(monitored, "/jsz?consumers=true&config=true")
    assert status == 200
    [account] = jsz["account_details"]
    [stream] = account["stream_detail"]
    [consumer] = stream["consumer_detail"]
    assert consumer["stream_name"] == "CONS" and consumer["name"] == "worker"
    assert consumer["config"]["description"] == "the worker" and consumer["config"]["ack_policy"] == "explicit"
    assert consumer["delivered"]["consumer_seq"] == 5 and consumer["delivered"]["stream_seq"] == 4
    assert consumer["ack_floor"]["stream_seq"] == 2 and consumer["ack_floor"]["consumer_seq"] == 2
    assert (consumer["num_ack_pending"], consumer["num_redelivered"], consumer["num_pending"]) == (2, 1, 2), consumer
    _, plain = get(monitored, "/jsz?consumers=true")
    assert "config" not in plain["account_details"][0]["stream_detail"][0]["consumer_detail"][0]
    _, streams_only = get(monitored, "/jsz?streams=true")
    assert "consumer_detail" not in streams_only["account_details"][0]["stream_detail"][0]
    await nc.close()


async def test_metrics_of_consumers_and_of_the_write_path(strata_monitored):
    from prometheus_client.parser import text_string_to_metric_families
    server = strata_monitored
    nc = await deliver_and_ack(server)
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http}/metrics", timeout=10) as response:
        text = response.read().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}

    def value(name, **labels):
        family = next(families[f] for f in (name, name.removesuffix("_total"), name.removesuffix("_bucket"), name.removesuffix("_sum"),
                                            name.removesuffix("_count")) if f in families)
        found = [s.value for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(found) == 1, (name, labels, family.samples)
        return found[0]
    # The exporter's consumer metrics, with its labels.
    worker = {"stream_name": "CONS", "consumer_name": "worker", "consumer_desc": "the worker", "is_consumer_leader": "true"}
    assert value("jetstream_consumer_num_ack_pending", **worker) == 2
    assert value("jetstream_consumer_num_redelivered", **worker) == 1
    assert value("jetstream_consumer_num_pending", **worker) == 2
    assert value("jetstream_consumer_delivered_stream_seq", **worker) == 4
    assert value("jetstream_consumer_delivered_consumer_seq", **worker) == 5
    assert value("jetstream_consumer_ack_floor_stream_seq", **worker) == 2
    assert value("jetstream_consumer_num_waiting", **worker) >= 0
    assert 0 <= value("jetstream_consumer_last_delivery_seconds", **worker) < 600
    assert value("jetstream_stream_subject_count", stream_name="CONS") == 1
    assert value("jetstream_stream_limit_messages", stream_name="CONS") == -1
    assert value("jetstream_account_storage_used", account="$G") > 0
    # Strata's own: two +ACKs timed, one redelivery sent.
    own = {"stream_name": "CONS", "consumer_name": "worker"}
    assert value("strata_consumer_ack_seconds_count", **own) == 2
    assert value("strata_consumer_ack_seconds_bucket", le="+Inf", **own) == 2
    assert value("strata_consumer_redeliveries_total", **own) == 1
    # The write path: six appends in some batches, each synced (sync always), every byte written synced.
    stream = {"stream_name": "CONS"}
    assert value("strata_stream_append_batch_messages_sum", **stream) == 6
    batches = value("strata_stream_append_batch_messages_count", **stream)
    assert 1 <= batches <= 6 and value("strata_stream_append_batch_seconds_count", **stream) == batches
    assert value("strata_stream_fsync_seconds_count", **stream) >= 1
    written = value("strata_stream_written_bytes_total", **stream)
    assert written > 6 * 2 and value("strata_stream_synced_bytes_total", **stream) == written
    assert value("strata_stream_open_seconds", **stream) >= 0
    await nc.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_closed_connections_are_kept_with_their_reason(kind):
    import socket, time
    http = free_port()
    server = start_jetstream(kind, "-m", str(http), "--user", "u", "--pass", "p")
    if server is None:
        pytest.skip("nats-server is not installed")
    server.http = http
    try:
        nc = await nats.connect(f"nats://u:p@127.0.0.1:{server.port}", name="leaver")
        await nc.publish("x", b"1")
        await nc.flush()
        await nc.close()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.recv(4096)
            s.sendall(b'CONNECT {"verbose":false,"user":"u","pass":"wrong"}\r\nPING\r\n')
            while s.recv(4096):
                pass
        deadline = time.monotonic() + 20
        closed = []
        while time.monotonic() < deadline:
            _, connz = get(server, "/connz?state=closed")
            closed = [c for c in connz["connections"] if c.get("name") == "leaver" or c.get("reason") == "Authentication Failure"]
            if len(closed) == 2:
                break
            await asyncio.sleep(0.05)
        reasons = sorted(c["reason"] for c in closed)
        assert reasons == ["Authentication Failure", "Client Closed"], connz
        leaver = next(c for c in closed if c.get("name") == "leaver")
        assert leaver["in_msgs"] == 1 and "stop" in leaver
        _, anyone = get(server, "/connz?state=any")
        assert anyone["total"] >= 2
        _, open_only = get(server, "/connz")
        assert all("reason" not in c for c in open_only["connections"])
        assert get(server, "/connz?state=sideways")[0] == 400
    finally:
        server.stop()


async def test_jsz_stream_detail_has_strata_own_figures(strata_monitored):
    server = strata_monitored
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="DISK", subjects=["disk.>"])
    for i in range(200):
        await js.publish("disk.x", json.dumps({"order": i, "status": "new", "customer": "c-1"}).encode())
    _, jsz = get(server, "/jsz?streams=1")
    [stream] = jsz["account_details"][0]["stream_detail"]
    own = stream["x_strata"]
    assert own["segments"] >= 1 and own["log_disk_bytes"] > 0 and own["index_disk_bytes"] > 0
    assert own["compression_ratio"] > 0 and own["damaged_regions_at_start"] == 0
    await nc.close()


async def test_endpoints_answer_while_publishers_load_the_server(monitored):
    """While two connections publish as fast as they can (JetStream and core), every GET of /varz and
    /jsz is answered, and each shows the traffic moving on: the endpoints read snapshots and are not
    queued behind the write path."""
    nc = await nats.connect(monitored.url)
    js = nc.jetstream()
    await js.add_stream(name="LOAD", subjects=["load.>"])
    core = await nats.connect(monitored.url)
    stop = asyncio.Event()

    async def publish_js():
        while not stop.is_set():
            acks = [js.publish("load.js", b"x" * 256) for _ in range(200)]
            await asyncio.gather(*acks)

    async def publish_core():
        while not stop.is_set():
            for _ in range(1000):
                await core.publish("load.core", b"y" * 256)
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(publish_js()), asyncio.create_task(publish_core())]
    try:
        seen_in, seen_messages = [], []
        deadline = asyncio.get_running_loop().time() + 60
        # At least 8 rounds, and on until both figures have moved (a loaded machine may take a while to
        # store the first JetStream batches); every answer is a 200.
        while len(seen_in) < 8 or seen_in[-1] == seen_in[0] or seen_messages[-1] == seen_messages[0]:
            assert asyncio.get_running_loop().time() < deadline, (seen_in, seen_messages, [t for t in tasks if t.done()])
            status, varz = await asyncio.to_thread(get, monitored, "/varz")
            assert status == 200
            seen_in.append(varz["in_msgs"])
            status, jsz = await asyncio.to_thread(get, monitored, "/jsz?streams=true")
            assert status == 200
            seen_messages.append(jsz["messages"])
            await asyncio.sleep(0.05)
        # The figures moved while the load ran: the answers were live, not one stale copy.
        assert seen_in == sorted(seen_in) and seen_messages == sorted(seen_messages)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    await core.close()
    await nc.close()


async def test_healthz_is_unavailable_while_jetstream_recovers():
    """The monitor listens before the streams are recovered (as nats-server's does): a probe during a
    recovery gets 503 with nats-server 2.9's "not ready for connections" error, not a refused connection,
    and 200 once the client port is up. The recovery is made long by removing a 100,000-message stream's
    index, which the server then rebuilds from the log. Strata only: nats-server recovers such a store too
    quickly for a probe to catch it."""
    import os, shutil, subprocess
    from conftest import STRATA, wait_for_port
    tool = os.path.join(os.path.dirname(STRATA), "strata")
    server = start_jetstream("strata")
    store, server.store = server.store, None  # (kept: stop removes the store it names)
    try:
        client = await nats.connect(server.url)
        await client.jetstream().add_stream(name="R", subjects=["events.>"])
        await client.close()
    finally:
        server.stop()
    subprocess.run([tool, "demo", os.path.join(store, "streams", "R"), "100000", "--fast"], check=True, capture_output=True)
    shutil.rmtree(os.path.join(store, "streams", "R", "index"))

    port, http = free_port(), free_port()
    process = subprocess.Popen([STRATA, "-a", "127.0.0.1", "-p", str(port), "-m", str(http), "-js", "-sd", store],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    probe = type("Probe", (), {"http": http})()
    try:
        answers = []
        while True:  # until the monitor answers at all (a refused connection is the moment before it listens)
            assert process.poll() is None, process.stderr.read().decode()
            try:
                answers.append(get(probe, "/healthz"))
                break
            except urllib.error.URLError:
                await asyncio.sleep(0.005)
        status, body = answers[0]
        assert status == 503, answers
        assert json.loads(body) == {"status": "error", "error": "failed to be ready for connections after 1ms: server"}
        wait_for_port(port, process, timeout=120)
        assert get(probe, "/healthz") == (200, {"status": "ok"})
        client = await nats.connect(f"nats://127.0.0.1:{port}")
        info = await client.jetstream().stream_info("R")
        assert info.state.messages == 100000
        await client.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(store, ignore_errors=True)
