"""The operator's long-running load, against one running server: a limits stream capped at 10,000
messages and a work-queue stream drained by a pull consumer that fetches and acks everything, while a
publisher sends TOTAL messages of 256 B (one in ten also to the work queue). Prints the store's allocated
size (du -sk) after each quarter of the load, the work queue's count once the load is done and the queue
is drained, the store's size then and 12 s later, and then the rate at which the same consumer drains a 50,000-message backlog with explicit
acks. Used by reclaim.sh, which runs it against strata-server and nats-server side by side.

Usage: python reclaim.py URL STORE_DIR TOTAL
"""
import asyncio
import subprocess
import sys
import time

import nats
from nats.js.api import RetentionPolicy, StreamConfig


def allocated_kib(path):
    return int(subprocess.run(["du", "-sk", path], capture_output=True, text=True).stdout.split()[0])


async def main(url, store, total):
    nc = await nats.connect(url, pending_size=256 << 20)
    js = nc.jetstream(timeout=30)
    await js.add_stream(StreamConfig(name="CAP", subjects=["cap.>"], max_msgs=10_000))
    await js.add_stream(StreamConfig(name="WQ", subjects=["wq.>"], retention=RetentionPolicy.WORK_QUEUE))
    sub = await js.pull_subscribe("wq.>", durable="W", stream="WQ")
    acked = 0
    stop = asyncio.Event()

    async def drain(until_empty=False, limit=None):
        nonlocal acked
        start = acked
        while not stop.is_set():
            try:
                batch = await sub.fetch(500, timeout=0.5)
            except nats.errors.TimeoutError:
                if until_empty:
                    return acked - start
                continue
            for message in batch:
                await message.ack()
            acked += len(batch)
            if limit is not None and acked - start >= limit:
                return acked - start
        return acked - start

    consumer = asyncio.create_task(drain())
    payload = b"x" * 256
    quarter = total // 4
    sizes = []
    for i in range(total):
        await nc.publish(f"cap.{i % 100}", payload)
        if i % 10 == 0:
            await nc.publish(f"wq.{i % 7}", payload)
        if i % 5000 == 4999:
            await nc.flush(timeout=60)  # a publisher paced by the server, as a real one is
        if (i + 1) % quarter == 0:
            await nc.flush(timeout=60)
            sizes.append(allocated_kib(store))
            print(f"quarter {len(sizes)}: store_kib={sizes[-1]} acked={acked}", flush=True)
    await nc.flush(timeout=60)
    # Wait until the consumer has acked everything published to the work queue.
    expected = (total + 9) // 10
    deadline = time.monotonic() + 120
    while acked < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await consumer
    left = None
    for _ in range(60):  # the queue's count once every ack has been applied (2 s at most on the reference)
        left = (await js.stream_info("WQ")).state.messages
        if left == 0:
            break
        await asyncio.sleep(0.05)
    print(f"drained: acked={acked}/{expected} wq_left={left} store_kib={allocated_kib(store)}", flush=True)
    await asyncio.sleep(12)  # background work of both servers (Strata checks its indexes every 10 s)
    print(f"settled: store_kib={allocated_kib(store)}", flush=True)

    # Work-queue consume rate: a 50,000-message backlog, fetched 500 at a time, each acked.
    backlog = 50_000
    for i in range(backlog):
        await nc.publish(f"wq.{i % 7}", payload)
        if i % 5000 == 4999:
            await nc.flush(timeout=60)
    await nc.flush(timeout=60)
    stop.clear()
    began = time.monotonic()
    got = await drain(limit=backlog)
    elapsed = time.monotonic() - began
    print(f"wq_consume: {got} msgs in {elapsed:.2f}s rate={got / elapsed:.0f}/s", flush=True)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
