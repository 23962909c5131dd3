"""Stream and consumer update rules, consumer create checks, sealed streams, push and pull idle heartbeats,
flow control with nats-py's ordered consumer, and the removal of inactive ephemeral consumers. Each scenario runs against
strata-server and the reference nats-server 2.9.10 and must give the same answers."""
import asyncio, json
import pytest
import nats
from conftest import start_jetstream, api, error_of


@pytest.fixture(params=["strata", "reference"])
async def nc(request):
    """A connection to a fresh JetStream server: strata-server, then the reference."""
    server = start_jetstream(request.param)
    if server is None:
        pytest.skip("nats-server is not installed")
    connection = await nats.connect(server.url, allow_reconnect=False)
    yield connection
    await connection.close()
    server.stop()




async def test_stream_update_rules_and_sealing(nc):
    base = {"name": "U", "subjects": ["u.>"]}
    created = await api(nc, "$JS.API.STREAM.CREATE.U", base)
    assert created.get("did_create") is True
    refused = {}
    for change in [{"storage": "memory"}, {"retention": "workqueue"}, {"max_consumers": 5}]:
        refused[next(iter(change))] = error_of(await api(nc, "$JS.API.STREAM.UPDATE.U", {**base, **change}))
    assert refused == {
        "storage": (500, 10052, "stream configuration update can not change storage type"),
        "retention": (500, 10052, "stream configuration update can not change retention policy"),
        "max_consumers": (500, 10052, "stream configuration update can not change MaxConsumers"),
    }
    for change in [{"subjects": ["u.>", "v.>"]}, {"max_msgs": 10, "discard": "new"}, {"description": "d"}, {"num_replicas": 3},
                   {"deny_delete": True}]:
        updated = await api(nc, "$JS.API.STREAM.UPDATE.U", {**base, **change})
        assert error_of(updated) is None and all(updated["config"][k] == v for k, v in change.items()), change
    assert error_of(await api(nc, "$JS.API.STREAM.UPDATE.U", base)) == (
        500, 10052, "stream configuration update can not cancel deny message deletes")

    assert error_of(await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s"], "sealed": True})) == (
        500, 10052, "stream configuration for create can not be sealed")
    await api(nc, "$JS.API.STREAM.CREATE.S", {"name": "S", "subjects": ["s"]})
    await nc.request("s", b"kept", timeout=3)
    sealed = await api(nc, "$JS.API.STREAM.UPDATE.S", {"name": "S", "subjects": ["s"], "sealed": True})
    assert [sealed["config"][k] for k in ("sealed", "deny_delete", "deny_purge", "discard")] == [True, True, True, "new"]
    assert error_of(await api(nc, "$JS.API.STREAM.UPDATE.S", {"name": "S", "subjects": ["s"]})) == (
        500, 10052, "stream configuration update can not unseal a sealed stream")
    ack = json.loads((await nc.request("s", b"refused", timeout=3)).data)
    assert (ack["error"]["err_code"], ack["error"]["description"]) == (10109, "invalid operation on sealed stream")
    assert error_of(await api(nc, "$JS.API.STREAM.MSG.DELETE.S", {"seq": 1})) == (400, 10109, "invalid operation on sealed stream")
    assert error_of(await api(nc, "$JS.API.STREAM.PURGE.S")) == (400, 10109, "invalid operation on sealed stream")
    assert (await api(nc, "$JS.API.STREAM.INFO.S"))["state"]["messages"] == 1


async def test_consumer_update_rules(nc):
    await api(nc, "$JS.API.STREAM.CREATE.C", {"name": "C", "subjects": ["c.>"]})
    config = {"durable_name": "d", "ack_policy": "explicit", "ack_wait": 30_000_000_000, "max_ack_pending": 100}
    subject = "$JS.API.CONSUMER.DURABLE.CREATE.C.d"
    await api(nc, subject, {"stream_name": "C", "config": config})
    allowed = {"ack_wait": 5_000_000_000, "max_ack_pending": 7, "description": "x", "max_deliver": 3,
               "filter_subject": "c.1", "headers_only": True}
    for key, value in allowed.items():
        config[key] = value
        response = await api(nc, subject, {"stream_name": "C", "config": config})
        assert error_of(response) is None and response["config"][key] == value, key
    refused = {}
    for change in [{"deliver_policy": "new"}, {"ack_policy": "all"}, {"max_waiting": 10}, {"replay_policy": "original"}]:
        refused[next(iter(change))] = error_of(await api(nc, subject, {"stream_name": "C", "config": {**config, **change}}))
    assert refused == {
        "deliver_policy": (500, 10012, "deliver policy can not be updated"),
        "ack_policy": (500, 10012, "ack policy can not be updated"),
        "max_waiting": (500, 10012, "max waiting can not be updated"),
        "replay_policy": (500, 10012, "replay policy can not be updated"),
    }
    info = await api(nc, "$JS.API.CONSUMER.INFO.C.d")
    assert {k: info["config"][k] for k in allowed} == allowed


async def test_stream_create_checks(nc):
    cases = {
        "name mismatch": ("A", {"name": "B", "subjects": ["ab"]}),
        "bad subject": ("C", {"name": "C", "subjects": ["a b"]}),
        "empty subject": ("D", {"name": "D", "subjects": [""]}),
        "overlapping own subjects": ("E", {"name": "E", "subjects": ["e.>", "e.a"]}),
        "api subjects": ("I", {"name": "I", "subjects": ["$JS.API.>"]}),
        "wider than the api": ("W", {"name": "W", "subjects": [">"]}),
        "dup window over max age": ("J", {"name": "J", "subjects": ["j"], "max_age": 1_000_000_000, "duplicate_window": 2_000_000_000}),
        "dup window defaults to max age": ("K", {"name": "K", "subjects": ["k"], "max_age": 1_000_000_000}),
        "replicas": ("H", {"name": "H", "subjects": ["h"], "num_replicas": 3}),
    }
    outcomes = {}
    for label, (name, body) in cases.items():
        response = await api(nc, f"$JS.API.STREAM.CREATE.{name}", body)
        outcomes[label] = error_of(response) or ("ok", response["config"]["duplicate_window"])
        if "error" not in response:
            await api(nc, f"$JS.API.STREAM.DELETE.{name}")
    assert outcomes == {
        "name mismatch": (400, 10056, "stream name in subject does not match request"),
        "bad subject": (500, 10052, "invalid subject"),
        "empty subject": (500, 10052, "invalid subject"),
        "overlapping own subjects": (500, 10052, 'subject "e.>" overlaps with "e.a"'),
        "api subjects": (500, 10052, "subjects overlap with jetstream api"),
        "wider than the api": ("ok", 120_000_000_000),
        "dup window over max age": (500, 10052, "duplicates window can not be larger then max age"),
        "dup window defaults to max age": ("ok", 1_000_000_000),
        "replicas": (500, 10074, "replicas > 1 not supported in non-clustered mode"),
    }


async def test_consumer_create_checks(nc):
    await api(nc, "$JS.API.STREAM.CREATE.F", {"name": "F", "subjects": ["f.>"]})
    explicit = {"ack_policy": "explicit"}
    outcomes = {}
    for label, subject, body in [
        ("filter f.*", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "F", "config": {**explicit, "filter_subject": "f.*"}}),
        ("filter >", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "F", "config": {**explicit, "filter_subject": ">"}}),
        ("filter f..x", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "F", "config": {**explicit, "filter_subject": "f..x"}}),
        ("filter g.>", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "F", "config": {**explicit, "filter_subject": "g.>"}}),
        ("filter *", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "F", "config": {**explicit, "filter_subject": "*"}}),
        ("pull ack none", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "F", "config": {"ack_policy": "none"}}),
        ("durable in ephemeral create", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "F", "config": {**explicit, "durable_name": "d"}}),
        ("durable mismatch", "$JS.API.CONSUMER.DURABLE.CREATE.F.x", {"stream_name": "F", "config": {**explicit, "durable_name": "y"}}),
        ("stream mismatch", "$JS.API.CONSUMER.CREATE.F", {"stream_name": "G", "config": explicit}),
        ("filter token mismatch", "$JS.API.CONSUMER.CREATE.F.z.f.a", {"stream_name": "F", "config": {**explicit, "filter_subject": "f.b"}}),
        ("name from subject", "$JS.API.CONSUMER.CREATE.F.n", {"stream_name": "F", "config": {**explicit, "name": "other"}}),
    ]:
        response = await api(nc, subject, body)
        outcomes[label] = error_of(response) or ("ok", response["name"] if label == "name from subject" else None)
    assert outcomes == {
        "filter f.*": ("ok", None), "filter >": ("ok", None),
        "filter f..x": (400, 10093, "consumer filter subject is not a valid subset of the interest subjects"),
        "filter g.>": (400, 10093, "consumer filter subject is not a valid subset of the interest subjects"),
        "filter *": (400, 10093, "consumer filter subject is not a valid subset of the interest subjects"),
        "pull ack none": ("ok", None),
        "durable in ephemeral create": (400, 10020, "consumer expected to be ephemeral but a durable name was set in request"),
        "durable mismatch": (400, 10017, "consumer name in subject does not match durable name in request"),
        "stream mismatch": (400, 10056, "stream name in subject does not match request"),
        "filter token mismatch": (400, 10131, "Consumer create request did not match filtered subject from create subject"),
        "name from subject": ("ok", "n"),
    }


async def test_max_consumers(nc):
    await api(nc, "$JS.API.STREAM.CREATE.K", {"name": "K", "subjects": ["k"], "max_consumers": 1})
    create = lambda name: api(nc, f"$JS.API.CONSUMER.DURABLE.CREATE.K.{name}",
                              {"stream_name": "K", "config": {"durable_name": name, "ack_policy": "explicit"}})
    assert error_of(await create("a")) is None
    assert error_of(await create("b")) == (400, 10026, "maximum consumers limit reached")
    assert error_of(await create("a")) is None  # the same consumer again is not a new one


async def test_consumer_names_and_list_are_paged(nc):
    await api(nc, "$JS.API.STREAM.CREATE.P", {"name": "P", "subjects": ["p"]})
    for name in ["c", "a", "b"]:
        await api(nc, f"$JS.API.CONSUMER.DURABLE.CREATE.P.{name}", {"stream_name": "P", "config": {"durable_name": name, "ack_policy": "explicit"}})
    names = await api(nc, "$JS.API.CONSUMER.NAMES.P", {"offset": 1})
    assert (names["total"], names["offset"], len(names["consumers"])) == (3, 1, 2)
    assert set(names["consumers"]) < {"a", "b", "c"}
    listed = await api(nc, "$JS.API.CONSUMER.LIST.P", {"offset": 0})
    assert (listed["total"], listed["limit"], len(listed["consumers"])) == (3, 256, 3)
    assert sorted(c["name"] for c in listed["consumers"]) == ["a", "b", "c"]


async def next_status(sub, code, timeout=5):
    """The next message on `sub` whose status is `code` (other messages are skipped)."""
    while True:
        message = await sub.next_msg(timeout=timeout)
        if (message.headers or {}).get("Status") == code:
            return message


async def test_push_and_pull_idle_heartbeats(nc):
    await api(nc, "$JS.API.STREAM.CREATE.H", {"name": "H", "subjects": ["h.>"]})
    await nc.request("h.1", b"one", timeout=3)
    push = await nc.subscribe("hb.push")
    await api(nc, "$JS.API.CONSUMER.DURABLE.CREATE.H.push", {"stream_name": "H", "config": {
        "durable_name": "push", "deliver_subject": "hb.push", "ack_policy": "none", "idle_heartbeat": 200_000_000}})
    first = await push.next_msg(timeout=5)
    assert first.data == b"one"
    beat = await next_status(push, "100")
    assert beat.headers.get("Description") == "Idle Heartbeat"
    assert (beat.headers.get("Nats-Last-Consumer"), beat.headers.get("Nats-Last-Stream")) == ("1", "1")

    await api(nc, "$JS.API.CONSUMER.DURABLE.CREATE.H.pull", {"stream_name": "H", "config": {
        "durable_name": "pull", "ack_policy": "explicit", "deliver_policy": "new"}})
    inbox = nc.new_inbox()
    pull = await nc.subscribe(inbox)
    await nc.publish("$JS.API.CONSUMER.MSG.NEXT.H.pull",
                     json.dumps({"batch": 5, "expires": 1_000_000_000, "idle_heartbeat": 200_000_000}).encode(), reply=inbox)
    beat = await next_status(pull, "100")
    assert beat.headers.get("Description") == "Idle Heartbeat"
    timeout = await next_status(pull, "408")
    assert timeout.headers.get("Description") == "Request Timeout"
    assert timeout.headers.get("Nats-Pending-Messages") == "5"


async def test_ordered_consumer_with_flow_control(nc):
    js = nc.jetstream()
    await js.add_stream(name="O", subjects=["o.>"])
    payload = b"x" * 4096
    for i in range(300):  # 1.2 MB: several flow-control windows
        await js.publish(f"o.{i % 3}", payload + str(i).encode())
    sub = await js.subscribe("o.>", ordered_consumer=True)
    received = [await sub.next_msg(timeout=5) for _ in range(300)]
    assert [m.data[4096:] for m in received] == [str(i).encode() for i in range(300)]
    assert [m.metadata.sequence.stream for m in received] == list(range(1, 301))
    await sub.unsubscribe()


async def test_push_backlog_without_flow_control_arrives_whole_and_in_order(nc):
    # 5,000 messages of 1 KiB (5 MiB) wait before a push consumer without flow control (ack none) starts:
    # Strata sends them a step of 1 MiB at a time, the next once the connection has written most of the last.
    js = nc.jetstream()
    await js.add_stream(name="P", subjects=["p.>"])
    payload = b"y" * 1024
    acks = [await js.publish_async(f"p.{i % 4}", payload + str(i).encode()) for i in range(5000)]
    await asyncio.gather(*acks)
    sub = await js.subscribe("p.>", config=nats.js.api.ConsumerConfig(ack_policy="none"),
                             pending_msgs_limit=-1, pending_bytes_limit=-1)
    received = []
    while len(received) < 5000:
        received.append(await sub.next_msg(timeout=5))
        if len(received) == 2500:  # the server keeps answering meanwhile
            assert (await js.stream_info("P")).state.messages == 5000
    assert [m.metadata.sequence.stream for m in received] == list(range(1, 5001))
    assert all(m.data == payload + str(i).encode() for i, m in enumerate(received))
    info = await js.consumer_info("P", (await sub.consumer_info()).name)
    assert info.delivered.stream_seq == 5000 and info.num_pending == 0
    await sub.unsubscribe()


async def test_inactive_ephemeral_consumer_is_removed_with_an_advisory(nc):
    await api(nc, "$JS.API.STREAM.CREATE.E", {"name": "E", "subjects": ["e.>"]})
    advisories = await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.DELETED.E.>")
    created = await api(nc, "$JS.API.CONSUMER.CREATE.E", {"stream_name": "E", "config": {
        "ack_policy": "explicit", "inactive_threshold": 300_000_000}})
    name = created["name"]
    assert len(name) == 8 and created["config"]["inactive_threshold"] == 300_000_000
    default = await api(nc, "$JS.API.CONSUMER.CREATE.E", {"stream_name": "E", "config": {"ack_policy": "explicit"}})
    assert default["config"]["inactive_threshold"] == 5_000_000_000
    advisory = await advisories.next_msg(timeout=10)
    assert advisory.subject == f"$JS.EVENT.ADVISORY.CONSUMER.DELETED.E.{name}"
    body = json.loads(advisory.data)
    assert (body["type"], body["stream"], body["consumer"], body["action"]) == (
        "io.nats.jetstream.advisory.v1.consumer_action", "E", name, "delete")
    # (nats-server 2.9.10 was seen, once in a full suite, to answer INFO for the consumer just after its
    # deletion advisory: asked again until it answers "not found", for at most 5 s)
    deadline = asyncio.get_running_loop().time() + 5
    while (info := error_of(await api(nc, f"$JS.API.CONSUMER.INFO.E.{name}"))) is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert info is not None and info[1] == 10014, info


async def test_malformed_jetstream_input_is_answered_or_ignored_and_the_server_keeps_serving(nc):
    await api(nc, "$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["b.>"]})
    await api(nc, "$JS.API.CONSUMER.DURABLE.CREATE.B.d", {"stream_name": "B", "config": {"durable_name": "d", "ack_policy": "explicit"}})
    for subject, body in [
        ("$JS.ACK.B.d", b"+ACK"), ("$JS.ACK.B.d.x.y.z.w.v.u", b"+ACK"), ("$JS.ACK.B.nope.1.1.1.1.0", b"+ACK"),
        ("$JS.ACK.NOPE.d.1.1.1.1.0", b"-NAK {broken"), ("$JS.ACK.B.d.1.99999999999999999999.1.1.0", b"+TERM"),
        ("$JS.ACK.B.d.1.1.1.1.0", b"\x00\xff garbage"), ("$JS.FC.B.d", b""), ("$JS.FC.B.nope.7", b""),
        ("$JS.API.CONSUMER.MSG.NEXT.B.d", b"{\"batch\": -5, \"expires\": -1, \"max_bytes\": -3, \"idle_heartbeat\": -1}"),
        ("$JS.API.CONSUMER.MSG.NEXT.B.nope", b"1"), ("$JS.API.CONSUMER.MSG.NEXT.B.d", b"\xff\xfe"),
    ]:
        await nc.publish(subject, body, reply=nc.new_inbox())
    for subject, body in [("$JS.API.STREAM.CREATE.X", b"[1,2"), ("$JS.API.CONSUMER.CREATE.B", b"{\"config\": 7}"),
                          ("$JS.API.STREAM.MSG.GET.B", b"{\"seq\": \"one\"}"), ("$JS.API.STREAM.PURGE.B", b"{\"keep\": -1}")]:
        reply = json.loads((await nc.request(subject, body, timeout=3)).data)
        assert reply["error"]["code"] in (400, 500)
    # Still serving: the API answers and a publish is stored and acknowledged.
    assert "type" in await api(nc, "$JS.API.INFO")
    ack = json.loads((await nc.request("b.1", b"after the garbage", timeout=3)).data)
    assert ack["stream"] == "B" and ack["seq"] >= 1

