"""`make dist`'s binaries run on a machine without the Swift toolchain: each is started inside a chroot
that holds nothing but the binary and the shared libraries readelf says it needs (libc, libm, libstdc++,
libgcc_s and the loader), so no Swift runtime, Foundation, ICU, LMDB or zstd can be found. The root has
/proc and /dev as every host has them (Foundation reads the arguments from /proc/self/cmdline). A nats-py
client outside connects over loopback, publishes into a stream and reads it back; the tool, chrooted the
same way, checks the server."""
import asyncio, os, shutil, socket, subprocess, tempfile, time
import pytest
import nats

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIST = os.path.join(ROOT, "dist")
ALLOWED = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2"}


def needed(binary):
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    return {line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line}


def make_root(binaries):
    """A directory with the binaries in /bin and, in their paths, only the libraries ldd resolves for them."""
    root = tempfile.mkdtemp(prefix="strata-dist-root-")
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "data"))
    os.makedirs(os.path.join(root, "tmp"))
    for binary in binaries:
        shutil.copy2(binary, os.path.join(root, "bin"))
        for line in subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 and parts[2].startswith("/") else parts[0] if parts[0].startswith("/") else None
            if path:
                target = os.path.join(root, path.lstrip("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(os.path.realpath(path), target)
    return root


@pytest.fixture(scope="module")
def root():
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    binaries = [os.path.join(DIST, name) for name in ("strata-server", "strata")]
    for binary in binaries:
        assert os.path.exists(binary), "run make dist first"
    path = make_root(binaries)
    mounted = []
    try:
        for source, target, options in (("proc", "proc", ["-t", "proc"]), ("/dev", "dev", ["--bind"])):
            os.makedirs(os.path.join(path, target), exist_ok=True)
            if subprocess.run(["mount", *options, source, os.path.join(path, target)], capture_output=True).returncode != 0:
                pytest.skip("mount is not allowed here")
            mounted.append(os.path.join(path, target))
        yield path
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", target], check=True)
        shutil.rmtree(path, ignore_errors=True)


def test_the_binaries_need_only_libc_and_the_cpp_runtime():
    for name in ("strata-server", "strata"):
        libraries = needed(os.path.join(DIST, name))
        assert libraries <= ALLOWED, (name, libraries - ALLOWED)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_server_serves_jetstream_from_a_bare_root(root):
    port = free_port()
    server = subprocess.Popen(["chroot", root, "/bin/strata-server", "-js", "-sd", "/data", "-a", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the dist server did not listen"
                await asyncio.sleep(0.1)
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream()
        await js.add_stream(name="DIST", subjects=["dist.>"])
        for i in range(10):
            ack = await js.publish("dist.x", f"m{i}".encode())
            assert ack.seq == i + 1
        sub = await js.pull_subscribe("dist.x", durable="d")
        messages = await sub.fetch(10, timeout=5)
        assert [m.data for m in messages] == [f"m{i}".encode() for i in range(10)]
        await nc.close()
        check = subprocess.run(["chroot", root, "/bin/strata", "server", "check", "-s", f"nats://127.0.0.1:{port}"],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0 and "JetStream: 1 stream(s), 1 consumer(s)" in check.stdout, check.stdout + check.stderr
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0
    # The store it wrote is a Strata store the offline tool verifies (inside the same bare root).
    verify = subprocess.run(["chroot", root, "/bin/strata", "verify", "/data"], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
