#!/usr/bin/env python3
"""Seeds the fuzz corpora with real client traffic: nats-py runs a core and JetStream session through a
recording proxy in front of strata-server, and what the client sent becomes seeds for the client-protocol,
connect, jetstream-api and ack targets (Tests/Fuzz/Corpus/<target>/seed-*). Run by hand (`make fuzz-seeds`);
the seeds are kept in the repository."""
import asyncio, hashlib, os, re, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "Tests", "Fuzz", "Corpus")
SERVER = os.path.join(ROOT, ".build", "debug", "strata-server")

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def keep(target, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(CORPUS, target, name), "wb") as f: f.write(data)

async def proxy(listen_port, server_port, sent):
    async def pipe(reader, writer, record):
        while data := await reader.read(65536):
            if record is not None: record.append(data)
            writer.write(data); await writer.drain()
        writer.close()
    async def accept(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", server_port)
        record = []
        sent.append(record)
        await asyncio.gather(pipe(client_reader, server_writer, record), pipe(server_reader, client_writer, None))
    return await asyncio.start_server(accept, "127.0.0.1", listen_port)

async def session(url):
    import nats
    from nats.js.api import StreamConfig, ConsumerConfig, AckPolicy
    nc = await nats.connect(url, name="seed")
    sub = await nc.subscribe("core.>", queue="q")
    await nc.publish("core.a", b"hello", reply="reply.x", headers={"K": "v"})
    await nc.publish("core.b", b"")
    await nc.flush()
    await sub.next_msg(timeout=2); await sub.unsubscribe()
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="S", subjects=["s.>"], max_msgs=1000, allow_rollup_hdrs=True))
    for i in range(5):
        await js.publish(f"s.{i % 2}", f"m{i}".encode(), headers={"Nats-Msg-Id": f"id{i}"})
    await js.publish("s.9", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "0", "Nats-Rollup": "sub"})
    psub = await js.pull_subscribe("s.>", "P", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_deliver=3))
    msgs = await psub.fetch(4, timeout=2)
    await msgs[0].ack(); await msgs[1].nak(delay=0.5); await msgs[2].in_progress(); await msgs[3].term()
    await js.stream_info("S"); await js.consumer_info("S", "P")
    await js.get_msg("S", 1); await js.get_last_msg("S", "s.1")
    await js.delete_msg("S", 2)
    push = await js.subscribe("s.1", durable="PUSH", manual_ack=True)
    await (await push.next_msg(timeout=2)).ack_sync()
    await js.streams_info(); await js.purge_stream("S", subject="s.1")
    kv = await js.create_key_value(bucket="B", history=2)
    await kv.put("k", b"v"); await kv.get("k"); await kv.delete("k")
    await js.delete_consumer("S", "P"); await js.delete_stream("S")
    await nc.close()

def main():
    with tempfile.TemporaryDirectory() as store:
        server_port, proxy_port = free_port(), free_port()
        server = subprocess.Popen([SERVER, "-js", "-sd", store, "-p", str(server_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try: socket.create_connection(("127.0.0.1", server_port)).close(); break
                except OSError: time.sleep(0.05)
            sent = []
            async def run():
                server_socket = await proxy(proxy_port, server_port, sent)
                await session(f"nats://127.0.0.1:{proxy_port}")
                server_socket.close()
            asyncio.run(run())
            time.sleep(0.2)
        finally:
            server.kill(); server.wait()
    stream = b"".join(b"".join(chunks) for chunks in sent)
    # Whole sessions cut into pieces of a few operations each (the parser's seeds).
    lines = re.split(rb"(?<=\r\n)", stream)
    for start in range(0, len(lines), 6): keep("client-protocol", b"".join(lines[start:start + 6]))
    for match in re.finditer(rb"CONNECT (\{.*?\})\r\n", stream): keep("connect", match.group(1))
    # PUB/HPUB to the API and to ack subjects: subject (after the prefix) and body.
    for match in re.finditer(rb"(H?PUB)[ \t]+(\S+)[ \t]+(?:(\S+)[ \t]+)?(?:(\d+)[ \t]+)?(\d+)\r\n", stream):
        verb, subject, total = match.group(1), match.group(2), int(match.group(5))
        header = int(match.group(4)) if verb == b"HPUB" and match.group(4) else 0
        body = stream[match.end() + header: match.end() + total]
        if subject.startswith(b"$JS.API."): keep("jetstream-api", subject[len(b"$JS.API."):] + b"\n" + body)
        if subject.startswith(b"$JS.ACK."): keep("ack", subject + b"\n" + body)
    for target in ("client-protocol", "connect", "jetstream-api", "ack"):
        print(target, len(os.listdir(os.path.join(CORPUS, target))))

if __name__ == "__main__":
    main()
