"""The whole server killed under load, again and again (issue 13): publishers send JetStream messages with unique
`Nats-Msg-Id`s and record every acknowledged sequence; a pull and a push consumer (explicit acks, AckSync) record
what they acknowledged; strata-server is killed with SIGKILL when a randomly chosen number of publishes has been
acknowledged, restarted on the same store, and checked:
- every acknowledged message is in the stream exactly once, at its sequence, with its content;
- a re-publish of an acknowledged id within the duplicate window is answered as a duplicate of that sequence;
- no consumer delivers again a message whose AckSync was answered;
- stream state and consumer info agree with what the clients saw.
A graceful SIGTERM under load must lose nothing and exit 0.

`make test` runs STRATA_CRASH_LOOP_ROUNDS (default 4) rounds; `make crash-loop` runs 50 (figures in
RELIABILITY.md)."""
import asyncio, json, os, random, shutil, signal, subprocess, tempfile
import pytest
import nats
from nats.js.api import StreamConfig, ConsumerConfig, AckPolicy
from conftest import STRATA, free_port, wait_for_port

ROUNDS = int(os.environ.get("STRATA_CRASH_LOOP_ROUNDS", "4"))
SEED = int(os.environ.get("STRATA_CRASH_LOOP_SEED", "1"))
PUBLISHERS = 4


class Ledger:
    """What the clients were told: acknowledged publishes (id -> sequence, payload), and the sequences each
    consumer's AckSync confirmed."""
    def __init__(self):
        self.acked = {}
        self.confirmed = {"PULL": set(), "PUSH": set()}
        self.redelivered_after_ack = []
        self.published = 0


def start(store, port):
    process = subprocess.Popen([STRATA, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_port(port, process)
    return process


def payload_for(message_id):
    return json.dumps({"id": message_id, "pad": message_id * 3}).encode()


async def publisher(js, ledger, prefix, stop):
    i = 0
    while not stop.is_set():
        message_id = f"{prefix}-{i}"
        i += 1
        try:
            ack = await js.publish("cl.data", payload_for(message_id), headers={"Nats-Msg-Id": message_id}, timeout=5)
        except Exception:
            return  # the server is gone: this publish's outcome is unknown, and it is not counted
        assert not ack.duplicate, f"{message_id} is new but was answered as a duplicate"
        ledger.acked[message_id] = ack.seq
        ledger.published += 1


async def confirm(ledger, name, msg):
    sequence = msg.metadata.sequence.stream
    if sequence in ledger.confirmed[name]:
        ledger.redelivered_after_ack.append((name, sequence))
    try:
        await msg.ack_sync(timeout=5)
    except Exception:
        return
    ledger.confirmed[name].add(sequence)


async def pull_consumer(js, ledger, stop):
    sub = await js.pull_subscribe("cl.>", "PULL", stream="CL")
    while not stop.is_set():
        try:
            messages = await sub.fetch(20, timeout=0.5)
        except nats.errors.TimeoutError:
            continue
        except Exception:
            return
        for msg in messages:
            await confirm(ledger, "PULL", msg)


async def round_of_load(url, ledger, round_number, kill_after, kill):
    """Connects, checks the duplicate window for an id of an earlier round, runs the load until `kill_after`
    publishes of this round are acknowledged, then calls `kill` (the load stops when the server is gone)."""
    nc = await nats.connect(url, max_reconnect_attempts=0, allow_reconnect=False)
    js = nc.jetstream()
    if ledger.acked:
        old_id = random.choice(sorted(ledger.acked))
        ack = await js.publish("cl.data", payload_for(old_id), headers={"Nats-Msg-Id": old_id})
        assert ack.duplicate and ack.seq == ledger.acked[old_id], f"re-publish of {old_id}: {ack}"
    stop = asyncio.Event()

    async def on_push(msg):
        await confirm(ledger, "PUSH", msg)
    await js.subscribe("cl.>", durable="PUSH", stream="CL", cb=on_push, manual_ack=True,
                       config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=200))
    start_count = ledger.published
    tasks = [asyncio.create_task(publisher(js, ledger, f"r{round_number}p{p}", stop)) for p in range(PUBLISHERS)]
    tasks.append(asyncio.create_task(pull_consumer(js, ledger, stop)))
    while ledger.published - start_count < kill_after:
        done, _ = await asyncio.wait(tasks, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
        assert not any(t.done() and t.exception() for t in done), [t.exception() for t in done if t.exception()]
    await kill()
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    await nc.close()


async def read_stream(url):
    """Every message of the stream, by sequence, through direct gets (so no consumer is created)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info("CL")
    stored = {}
    sequence = info.state.first_seq
    while sequence <= info.state.last_seq:
        try:
            msg = await js.get_msg("CL", sequence)
            stored[sequence] = (msg.headers.get("Nats-Msg-Id"), msg.data)
        except nats.js.errors.NotFoundError:
            pass
        sequence += 1
    consumers = {name: await js.consumer_info("CL", name) for name in ("PULL", "PUSH")}
    await nc.close()
    return info, stored, consumers


def check(ledger, info, stored, consumers):
    ids = [message_id for message_id, _ in stored.values()]
    assert len(ids) == len(set(ids)), "an id is stored twice"
    assert info.state.messages == len(stored)
    by_id = {message_id: (sequence, data) for sequence, (message_id, data) in stored.items()}
    lost = [m for m in ledger.acked if m not in by_id]
    assert not lost, f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
    for message_id, sequence in ledger.acked.items():
        assert by_id[message_id] == (sequence, payload_for(message_id)), message_id
    assert not ledger.redelivered_after_ack, f"delivered again after their AckSync: {ledger.redelivered_after_ack[:5]}"
    for name, consumer in consumers.items():
        confirmed = ledger.confirmed[name]
        if confirmed:
            assert consumer.delivered.stream_seq >= max(confirmed), name
        assert consumer.ack_floor.stream_seq <= consumer.delivered.stream_seq, name
        assert consumer.delivered.stream_seq <= info.state.last_seq, name


async def crash_loop(rounds, seed):
    random.seed(seed)
    store = tempfile.mkdtemp(prefix="strata-crash-loop-")
    port = free_port()
    ledger = Ledger()
    process = start(store, port)
    try:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="CL", subjects=["cl.>"], duplicate_window=3600))  # (an hour: the long loop runs minutes on a busy machine)
        await js.add_consumer("CL", ConsumerConfig(durable_name="PULL", ack_policy=AckPolicy.EXPLICIT, ack_wait=2))
        await nc.close()
        for round_number in range(rounds):
            async def kill():
                process.send_signal(signal.SIGKILL)
                process.wait()
            await round_of_load(f"nats://127.0.0.1:{port}", ledger, round_number, random.randint(20, 400), kill)
            process = start(store, port)
            info, stored, consumers = await read_stream(f"nats://127.0.0.1:{port}")
            check(ledger, info, stored, consumers)
        # A graceful stop in the middle of the load: nothing lost, exit status 0.
        status = {}

        async def terminate():
            process.send_signal(signal.SIGTERM)
            status["code"] = await asyncio.get_running_loop().run_in_executor(None, process.wait)
        await round_of_load(f"nats://127.0.0.1:{port}", ledger, rounds, 200, terminate)
        assert status["code"] == 0, process.stderr.read().decode()[-2000:]
        process = start(store, port)
        info, stored, consumers = await read_stream(f"nats://127.0.0.1:{port}")
        check(ledger, info, stored, consumers)
        return ledger, info
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(store, ignore_errors=True)


async def test_sigkill_crash_loop_loses_nothing_acknowledged():
    ledger, info = await crash_loop(ROUNDS, SEED)
    print(f"\ncrash loop: {ROUNDS} SIGKILL rounds + 1 SIGTERM, {len(ledger.acked)} acknowledged publishes checked, "
          f"{info.state.messages} stored, {sum(map(len, ledger.confirmed.values()))} AckSyncs confirmed, nothing lost")
