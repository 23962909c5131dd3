"""A push consumer without flow control over a stored backlog, against one running server: fill stream BIG with
N messages of SIZE bytes (nats-py, async publishes), then subscribe with an ack-none push consumer while asking
for stream info every 50 ms; print the delivery rate, the server's RSS before and at its peak, and the slowest
stream info. How the server paces a backlog it must push (Strata: a step of 1 MiB at a time) shows in the peak
RSS and in the stream info latency.

Usage: python push-backlog.py URL PID N SIZE     (e.g. 200000 1024; one fresh server per run)
"""
import asyncio
import sys
import time

import nats
from nats.js.api import ConsumerConfig, StreamConfig


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) // 1024


async def main(url, pid, n, size):
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=60)
    await js.add_stream(StreamConfig(name="BIG", subjects=["big.>"]))
    payload = b"x" * size
    acks = []
    for i in range(n):
        acks.append(await js.publish_async(f"big.{i % 10}", payload))
        if len(acks) >= 1000:
            await asyncio.gather(*acks)
            acks = []
    await asyncio.gather(*acks)
    before = peak = rss_mib(pid)
    got = 0
    done = asyncio.Event()

    async def received(msg):
        nonlocal got
        got += 1
        if got >= n:
            done.set()

    start = time.monotonic()
    await js.subscribe("big.>", cb=received, config=ConsumerConfig(ack_policy="none"),
                       pending_msgs_limit=-1, pending_bytes_limit=-1)
    slowest = 0.0
    while not done.is_set():
        asked = time.monotonic()
        await js.stream_info("BIG")
        slowest = max(slowest, time.monotonic() - asked)
        peak = max(peak, rss_mib(pid))
        try:
            await asyncio.wait_for(done.wait(), 0.05)
        except asyncio.TimeoutError:
            pass
    elapsed = time.monotonic() - start
    print(f"got={got} rate={n / elapsed:.0f} rss_before_mib={before} peak_rss_mib={peak} "
          f"slowest_info_ms={slowest * 1000:.0f}")
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
