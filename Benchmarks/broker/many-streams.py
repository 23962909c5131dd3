"""Many small streams against one running server: create N file streams (one subject each) with one durable
pull consumer each, publish M messages of 256 B to every stream, and print how long that took, the server's
RSS and open files, and the store's allocated and apparent size. Used by many-streams.sh, which runs it
against strata-server and nats-server side by side and then restarts each server on its store and times
how long until JetStream lists every stream again.

Usage: python many-streams.py URL STORE_DIR PID N M
       python many-streams.py curve URL PID N C M STEP
       python many-streams.py bulk URL STORE_DIR PID N M CONCURRENCY
       python many-streams.py check URL PID N
The bulk form (streams-at-scale.sh) creates the N streams, each with one durable pull consumer and M messages,
CONCURRENCY at a time; the check form, after a restart, reads every stream's info and fetches one message from
a sample of 100 consumers, and prints the server's open files.
The curve form (memory-curve.sh) creates N streams with C durable pull consumers and M messages each, and
prints the server's RSS and open files after every STEP streams: the memory curve with streams and consumers.
"""
import asyncio
import json
import os
import subprocess
import sys
import time

import nats
from nats.js.api import ConsumerConfig, StreamConfig


def du(path, flag):
    return int(subprocess.run(["du", flag, path], capture_output=True, text=True).stdout.split()[0])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


async def main(url, store, pid, n, m):
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    payload = b"x" * 256
    start = time.monotonic()
    for i in range(n):
        await js.add_stream(StreamConfig(name=f"S{i}", subjects=[f"s.{i}"]))
        await js.pull_subscribe(f"s.{i}", durable="D", stream=f"S{i}")
        for _ in range(m):
            await js.publish(f"s.{i}", payload)
    elapsed = time.monotonic() - start
    await nc.close()
    print(f"streams={n} messages_each={m} seconds={elapsed:.2f} rss_mib={rss_kib(pid) / 1024:.0f} "
          f"open_files={len(os.listdir(f'/proc/{pid}/fd'))} du_kib={du(store, '-sk')} "
          f"apparent_kib={du(store, '-sb') // 1024}")


async def curve(url, pid, n, c, m, step):
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    payload = b"x" * 256
    print(f"streams=0 consumers=0 rss_mib={rss_kib(pid) / 1024:.1f} open_files={len(os.listdir(f'/proc/{pid}/fd'))}", flush=True)
    start = time.monotonic()
    for i in range(n):
        await js.add_stream(StreamConfig(name=f"S{i}", subjects=[f"s.{i}"]))
        for j in range(c):
            await js.add_consumer(f"S{i}", ConsumerConfig(durable_name=f"D{j}", ack_policy="explicit"))
        for _ in range(m):
            await js.publish(f"s.{i}", payload)
        if (i + 1) % step == 0:
            print(f"streams={i + 1} consumers={(i + 1) * c} seconds={time.monotonic() - start:.1f} "
                  f"rss_mib={rss_kib(pid) / 1024:.1f} open_files={len(os.listdir(f'/proc/{pid}/fd'))}", flush=True)
    await nc.close()


async def bulk(url, store, pid, n, m, concurrency):
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=60)
    payload = b"x" * 256
    gate = asyncio.Semaphore(concurrency)
    failures = []

    async def one(i):
        async with gate:
            try:
                await js.add_stream(StreamConfig(name=f"S{i}", subjects=[f"s.{i}"]))
                await js.add_consumer(f"S{i}", ConsumerConfig(durable_name="D", ack_policy="explicit"))
                for _ in range(m):
                    await js.publish(f"s.{i}", payload)
            except Exception as error:  # reported: a server that refuses streams (too many open files) is a result
                failures.append(f"S{i}: {error!r}")

    start = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.monotonic() - start
    await nc.close()
    # The rate counts the streams made: a refusal (too many open files) comes back at once and would
    # inflate a rate over every attempt.
    print(f"streams={n} messages_each={m} failed={len(failures)} seconds={elapsed:.2f} "
          f"created_per_s={(n - len(failures)) / elapsed:.0f} rss_mib={rss_kib(pid) / 1024:.0f} "
          f"open_files={len(os.listdir(f'/proc/{pid}/fd'))} du_kib={du(store, '-sk')} "
          f"apparent_kib={du(store, '-sb') // 1024}" + (f" first_failure={failures[0]}" if failures else ""))


async def check(url, pid, n):
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=60)
    start = time.monotonic()
    missing = 0
    for i in range(n):
        try:
            info = await js.stream_info(f"S{i}")
        except Exception:  # a stream the load could not create (the first n are not always the ones made)
            missing += 1
            continue
        if info.state.messages < 1:
            missing += 1
    infos = time.monotonic() - start
    fetched = 0
    for i in range(0, n, max(1, n // 100)):
        try:
            sub = await js.pull_subscribe_bind("D", stream=f"S{i}")
            msgs = await sub.fetch(1, timeout=10)
        except Exception:
            continue
        for msg in msgs:
            await msg.ack_sync()
            fetched += 1
    await nc.close()
    print(f"stream_infos={n} missing_or_empty={missing} info_seconds={infos:.2f} fetched={fetched} "
          f"rss_mib={rss_kib(pid) / 1024:.0f} open_files={len(os.listdir(f'/proc/{pid}/fd'))}")


async def quiet(_error):
    pass


async def ready(url, n):
    """Seconds from now until the server lists n streams (polled: the server is starting)."""
    start = time.monotonic()
    while True:
        try:
            nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False, max_reconnect_attempts=0, reconnect_time_wait=0,
                                    error_cb=quiet)
            try:
                reply = await nc.request("$JS.API.STREAM.NAMES", b"{}", timeout=30)
                if json.loads(reply.data).get("total", 0) >= n:
                    return time.monotonic() - start
            finally:
                await nc.close()
        except Exception:
            pass
        await asyncio.sleep(0.02)


if __name__ == "__main__":
    if sys.argv[1] == "curve":
        asyncio.run(curve(sys.argv[2], *map(int, sys.argv[3:8])))
    elif sys.argv[1] == "bulk":
        asyncio.run(bulk(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8])))
    elif sys.argv[1] == "check":
        asyncio.run(check(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    elif sys.argv[1] == "ready":
        print(f"ready_seconds={asyncio.run(ready(sys.argv[2], int(sys.argv[3]))):.2f}")
    else:
        asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
