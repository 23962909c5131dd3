"""nats.go 1.22 (Debian's golang-github-nats-io-go-nats-dev, built offline in GOPATH mode) through core
messaging, JetStream, KV and the object store: the program Tests/Interop/natsgo runs against strata-server
and against nats-server, and both must pass every check."""
import os, shutil, subprocess
import pytest
from conftest import ROOT, start_jetstream

SOURCE = os.path.join(ROOT, "Tests", "Interop", "natsgo")
BUILD = os.path.join(ROOT, ".build-go")
PROGRAM = os.path.join(BUILD, "natsgo-interop")


@pytest.fixture(scope="module")
def natsgo():
    go = shutil.which("go")
    assert go, "Go is not installed (make test-deps installs golang-go)"
    assert os.path.isdir("/usr/share/gocode/src/github.com/nats-io/nats.go"), "golang-github-nats-io-go-nats-dev is not installed"
    env = dict(os.environ, GO111MODULE="off", GOPROXY="off", GOFLAGS="",
               GOPATH=f"/usr/share/gocode:{BUILD}/gopath", GOCACHE=f"{BUILD}/cache")
    build = subprocess.run([go, "build", "-o", PROGRAM, "."], cwd=SOURCE, env=env, capture_output=True, timeout=600)
    assert build.returncode == 0, build.stderr.decode()
    return PROGRAM


@pytest.mark.parametrize("kind", ["strata", "reference"])
def test_nats_go_program(natsgo, kind):
    server = start_jetstream(kind)
    if server is None:
        pytest.skip("nats-server is not installed")
    try:
        run = subprocess.run([natsgo, server.url], capture_output=True, timeout=300)
    finally:
        server.stop()
    out = run.stdout.decode()
    assert run.returncode == 0, out + run.stderr.decode()
    assert out.count("\nok   ") + out.startswith("ok   ") == 17, out
