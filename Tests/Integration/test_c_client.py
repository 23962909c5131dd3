"""The official C client (libnats, Debian's libnats-dev) against strata-server and the reference: the
JetStream load generator of the benchmarks, run small: js_AddStream, js_Publish, js_PublishAsync with
js_PublishAsyncComplete, a pull subscription with Fetch and Ack, and a push subscription with acks. Every
message must come back through both consumers."""
import os, re, shutil, subprocess
import pytest
from conftest import ROOT, start_jetstream


@pytest.fixture(scope="module")
def jsbench():
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not os.path.exists("/usr/include/nats/nats.h"):
        pytest.skip("the C client (libnats-dev) or a C compiler is not installed (make test-deps installs them)")
    binary = os.path.join(ROOT, ".build", "nats-jsbench-test")
    subprocess.run([compiler, "-O1", "-o", binary, os.path.join(ROOT, "Benchmarks", "broker", "nats-jsbench.c"), "-lnats", "-lpthread"],
                   check=True)
    return binary


@pytest.mark.parametrize("kind", ["strata", "reference"])
def test_c_client_publishes_and_consumes_everything(jsbench, kind):
    server = start_jetstream(kind)
    if server is None:
        pytest.skip("nats-server is not installed")
    try:
        run = subprocess.run([jsbench, server.url, "300", "400", "40"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        figures = dict(re.findall(r"(\w+)=(\d+)", run.stdout))
        assert (figures["pulled"], figures["pushed"]) == ("440", "440"), run.stdout
    finally:
        server.stop()
