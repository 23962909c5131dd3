"""JetStream API answers, side by side: each scenario runs against strata-server and against nats-server
2.9.10, and what the two answer must be the same (the reference's answer is the specification)."""
import asyncio, json
import pytest
import nats
from conftest import start_jetstream


async def api(nc, subject, body=None):
    reply = await nc.request(subject, json.dumps(body).encode() if body is not None else b"", timeout=5)
    return json.loads(reply.data)


def error_of(answer):
    """(err_code, description) of an API error answer, or None."""
    error = answer.get("error")
    return (error["err_code"], error["description"]) if error else None


async def both(scenario):
    """Runs `scenario(nc)` against each server; returns (strata, reference) observations."""
    results = []
    for kind in ["strata", "reference"]:
        server = start_jetstream(kind)
        if server is None:
            pytest.skip("nats-server is not installed")
        try:
            nc = await nats.connect(server.url, allow_reconnect=False)
            try:
                results.append(await scenario(nc))
            finally:
                await nc.close()
        finally:
            server.stop()
    return results


async def test_stream_info_subjects_filter_and_deleted_details():
    async def scenario(nc):
        js = nc.jetstream()
        await js.add_stream(name="F", subjects=["f.>"])
        for subject in ["f.a", "f.b", "f.a", "f.c.x", "f.a"]:
            await js.publish(subject, b"x")
        await js.delete_msg("F", 2)
        await js.delete_msg("F", 4)
        everything = await api(nc, "$JS.API.STREAM.INFO.F", {"subjects_filter": ">", "deleted_details": True})
        some = await api(nc, "$JS.API.STREAM.INFO.F", {"subjects_filter": "f.a"})
        plain = await api(nc, "$JS.API.STREAM.INFO.F")
        return (everything["state"].get("subjects"), everything["state"].get("deleted"), everything["state"].get("num_deleted"),
                some["state"].get("subjects"), "subjects" in plain["state"], "deleted" in plain["state"],
                everything["state"]["num_subjects"])
    strata, reference = await both(scenario)
    assert reference[0] == {"f.a": 3} and reference[1] == [2, 4]
    assert strata == reference


CONSUMER_CASES = [
    {"deliver_policy": "by_start_sequence"},
    {"deliver_policy": "by_start_sequence", "opt_start_seq": 2},
    {"deliver_policy": "all", "opt_start_seq": 2},
    {"deliver_policy": "last", "opt_start_seq": 2},
    {"deliver_policy": "by_start_time"},
    {"deliver_policy": "by_start_time", "opt_start_time": "2026-12-01T20:23:56.659123Z"},
    {"deliver_policy": "by_start_time", "opt_start_time": "2026-12-01T20:23:56+02:00"},
    {"deliver_policy": "by_start_time", "opt_start_time": "2026-12-01T20:23:56.1Z"},
    {"deliver_policy": "all", "opt_start_time": "2026-12-01T20:23:56Z"},
    {"deliver_policy": "new", "opt_start_seq": 1},
    {"deliver_policy": "last_per_subject"},
    {"deliver_policy": "last_per_subject", "filter_subject": "q.a"},
    {"deliver_policy": "by_start_sequence", "opt_start_seq": 1, "opt_start_time": "2026-12-01T20:23:56Z"},
]


async def test_consumer_create_checks():
    async def scenario(nc):
        js = nc.jetstream()
        await js.add_stream(name="Q", subjects=["q.>"])
        await js.add_stream(name="WQ", subjects=["wq.>"], retention="workqueue")
        answers = []
        for i, case in enumerate(CONSUMER_CASES):
            config = dict(case, durable_name=f"c{i}", ack_policy="explicit")
            answer = await api(nc, f"$JS.API.CONSUMER.DURABLE.CREATE.Q.c{i}", {"stream_name": "Q", "config": config})
            answers.append(error_of(answer) or ("ok", answer["config"].get("deliver_policy")))
        for ack in ["none", "all", "explicit"]:
            answer = await api(nc, f"$JS.API.CONSUMER.DURABLE.CREATE.WQ.p{ack}", {"stream_name": "WQ", "config": {
                "durable_name": f"p{ack}", "ack_policy": ack, "deliver_subject": f"deliver.{ack}"}})
            answers.append(error_of(answer) or "ok")
        return answers
    strata, reference = await both(scenario)
    for case, ours, theirs in zip(CONSUMER_CASES + ["wq none", "wq all", "wq explicit"], strata, reference):
        assert ours == theirs, case


async def settled(js, stream, expected, timeout=5.0):
    """The stream's message count once it is down to `expected` (the reference's answer), or whatever it
    is after `timeout`: retention removes in the background on both servers."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        messages = (await js.stream_info(stream)).state.messages
        if messages <= expected or asyncio.get_running_loop().time() > deadline:
            return messages
        await asyncio.sleep(0.02)


async def test_interest_retention():
    async def scenario(nc):
        js = nc.jetstream()
        await js.add_stream(name="I", subjects=["i.>"], retention="interest")
        await js.add_consumer("I", durable_name="a", filter_subject="i.a", ack_policy="explicit")
        await js.add_consumer("I", durable_name="b", filter_subject="i.b", ack_policy="explicit")
        await js.add_consumer("I", durable_name="n", filter_subject="i.n", ack_policy="none")
        for subject in ["i.a", "i.b", "i.z", "i.a", "i.n"]:
            await js.publish(subject, b"x")
        after_publish = (await js.stream_info("I")).state.messages  # i.z: nobody's filter matches it
        # Deleting b releases the message only b held (removed in the background: waited for up to 5 s).
        await js.delete_consumer("I", "b")
        after_delete = await settled(js, "I", 3)
        # An ack-none consumer's delivery is its acknowledgement.
        sub = await js.pull_subscribe("i.n", durable="n")
        got = await sub.fetch(1, timeout=5)
        after_fetch = await settled(js, "I", 2)
        info = await js.stream_info("I")
        return (after_publish, after_delete, len(got), after_fetch, info.state.first_seq)
    strata, reference = await both(scenario)
    assert strata == reference


async def test_byte_accounting_and_discard_new_on_bytes():
    async def scenario(nc):
        js = nc.jetstream()
        await js.add_stream(name="B", subjects=["b.>"])
        await js.publish("b.one", b"12345")
        await js.publish("b.two", b"", headers={"K": "v"})
        plain = (await js.stream_info("B")).state.bytes
        # Discard new on bytes, on a memory stream: nats-server 2.9.10's file store does not enforce it (it
        # drops the oldest instead, Specs/Retention.md), so the side-by-side answer is the memory store's.
        config = {"name": "N", "subjects": ["n"], "max_bytes": 200, "discard": "new", "storage": "memory", "retention": "limits",
                  "num_replicas": 1}
        await api(nc, "$JS.API.STREAM.CREATE.N", config)
        answers = []
        for i in range(6):
            reply = await nc.request("n", b"x" * 40, timeout=5)
            answers.append(json.loads(reply.data).get("error"))
        return plain, (await js.stream_info("N")).state.bytes, answers
    strata, reference = await both(scenario)
    assert reference[2][3]["description"] == "maximum bytes exceeded"
    assert strata == reference


async def test_pull_fetch_on_an_empty_consumer():
    async def scenario(nc):
        js = nc.jetstream()
        await js.add_stream(name="E", subjects=["e"])
        sub = await js.pull_subscribe("e", durable="d")
        outcomes = []
        for batch in [1, 5, 1]:
            try:
                msgs = await sub.fetch(batch, timeout=0.5)
                outcomes.append(len(msgs))
            except Exception as error:
                outcomes.append(type(error).__name__)
        await js.publish("e", b"late")
        msgs = await sub.fetch(5, timeout=2)
        outcomes.append([m.data for m in msgs])
        return outcomes
    strata, reference = await both(scenario)
    assert strata == reference


async def test_no_wait_pull_requests():
    """no_wait as nats-server 2.9 serves it: with expires on an empty consumer it waits (408 when it
    expires, with what it wanted); without, 404 at once; a partly served one ends with 408."""
    async def scenario(nc):
        js = nc.jetstream()
        await js.add_stream(name="NW", subjects=["nw"])
        await js.add_consumer("NW", durable_name="d", ack_policy="explicit")
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)

        async def request(body):
            await nc.publish("$JS.API.CONSUMER.MSG.NEXT.NW.d", json.dumps(body).encode(), reply=inbox)
            seen = []
            while True:
                msg = await sub.next_msg(timeout=5)
                if msg.header and msg.header.get("Status"):
                    seen.append((msg.header["Status"], msg.header.get("Description"), msg.header.get("Nats-Pending-Messages")))
                    return seen
                seen.append(msg.data)

        waited = await request({"batch": 5, "no_wait": True, "expires": 300_000_000})
        empty = await request({"batch": 5, "no_wait": True})
        await js.publish("nw", b"one")
        await js.publish("nw", b"two")
        partly = await request({"batch": 5, "no_wait": True})
        return waited, empty, partly
    strata, reference = await both(scenario)
    assert reference[0] == [("408", "Request Timeout", "5")]
    assert strata == reference


async def filtered_pending_scenario(nc, deletes):
    js = nc.jetstream()
    await js.add_stream(name="PC", subjects=["pc.*"])
    for i in range(30):
        await js.publish(f"pc.{i % 3}", str(i).encode())  # pc.0 at sequences 1, 4, … 28
    sub = await js.pull_subscribe("pc.0", durable="d")
    first = await sub.fetch(4, timeout=5)
    for i in range(30, 36):
        await js.publish(f"pc.{i % 3}", str(i).encode())  # pc.0 at 31, 34
    for sequence in deletes:
        await js.delete_msg("PC", sequence)
    rest = await sub.fetch(20, timeout=1)
    for m in first + rest:
        await m.ack()
    info = await js.consumer_info("PC", "d")
    return [m.metadata.num_pending for m in first + rest], info.num_pending, [m.metadata.sequence.stream for m in rest]


async def test_filtered_consumer_pending_counts():
    """num_pending in each delivery of a filtered consumer, through appends between fetches (Strata keeps
    a running count: it must stay exact)."""
    async def scenario(nc):
        return await filtered_pending_scenario(nc, deletes=[27])  # (27 is a pc.2: no effect on the count)
    strata, reference = await both(scenario)
    assert reference[0] == [9, 8, 7, 6, 7, 6, 5, 4, 3, 2, 1, 0]
    assert strata == reference


async def test_filtered_consumer_pending_counts_after_removals(js_server):
    """Removed messages leave the count at once. (nats-server 2.9.10 keeps counting the two deleted pc.0
    messages until the end: its answer here is 7, 6, 5, 4, 3, 2 for the second fetch.)"""
    nc = await nats.connect(js_server.url, allow_reconnect=False)
    pending, left, sequences = await filtered_pending_scenario(nc, deletes=[25, 28])
    assert pending == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] and left == 0 and sequences == [13, 16, 19, 22, 31, 34]
    await nc.close()
