"""TLS side by side: certificates made at run time with openssl (a CA, the server's, clients' signed by it,
one by another CA, one expired), one config file given to strata-server and nats-server 2.9.10, driven
with nats-py (core, request/reply, JetStream) and nats.go; refusals for a wrong CA, no client certificate,
an expired certificate and plain text to a TLS port; verify_and_map maps a certificate to a user."""
import asyncio, json, os, socket, ssl, subprocess, tempfile
import pytest
import nats
from conftest import ConfiguredServer

KINDS = ["strata", "reference"]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki():
    """A CA, a server certificate for 127.0.0.1, client certificates (alice: e-mail SAN; bob: subject only),
    one from a stranger CA and one that expired."""
    d = tempfile.mkdtemp(prefix="strata-pki-")
    for ca in ["ca", "other-ca"]:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=Test {ca}", cwd=d)

    def leaf(name, subject, ext, ca="ca", days="2"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", days, "-extfile", f"{name}.ext", cwd=d)

    leaf("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("alice", "/CN=alice/O=Acme", "subjectAltName=email:alice@example.com\nextendedKeyUsage=clientAuth\n")
    leaf("bob", "/CN=bob/OU=eng/O=Acme", "extendedKeyUsage=clientAuth\n")
    leaf("carol", "/CN=carol/O=Acme", "extendedKeyUsage=clientAuth\n")
    leaf("stranger", "/CN=stranger", "extendedKeyUsage=clientAuth\n", ca="other-ca")
    # An expired client certificate: `openssl ca` takes explicit start and end dates.
    os.makedirs(os.path.join(d, "db"))
    open(os.path.join(d, "db", "index.txt"), "w").close()
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=t\n[t]\ndatabase=db/index.txt\nnew_certs_dir=db\nserial=db/serial\n"
                "default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n")
    with open(os.path.join(d, "db", "serial"), "w") as f:
        f.write("1000\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=expired", cwd=d)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "expired.csr",
            "-out", "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", cwd=d)
    yield d
    subprocess.run(["rm", "-rf", d])


def config(pki, verify=False, extra=""):
    return f"""
listen: 127.0.0.1:@PORT@
tls {{
  cert_file: "{pki}/server.pem"
  key_file: "{pki}/server.key"
  ca_file: "{pki}/ca.pem"
  {"verify: true" if verify else ""}
  timeout: 2
}}
{extra}
"""


def client_context(pki, cert=None):
    context = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
    if cert:
        context.load_cert_chain(os.path.join(pki, f"{cert}.pem"), os.path.join(pki, f"{cert}.key"))
    return context


def raw_tls(port, context, send=b"PING\r\n"):
    """INFO in plain text, then the handshake, then `send`; returns INFO and what came back (or the error)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        data = b""
        while b"\r\n" not in data:
            data += s.recv(4096)
        first = json.loads(data.split(b"\r\n")[0][5:])
        try:
            with context.wrap_socket(s, server_hostname="127.0.0.1") as t:
                t.sendall(b"CONNECT {\"verbose\":false}\r\n" + send)
                reply = b""
                while not reply.endswith(b"PONG\r\n"):
                    chunk = t.recv(4096)
                    if not chunk:
                        return first, reply + b"<CLOSED>"
                    reply += chunk
                return first, reply
        except (ssl.SSLError, ConnectionError, OSError) as error:
            return first, error


@pytest.mark.parametrize("kind", KINDS)
async def test_core_request_reply_and_jetstream_over_tls(kind, pki, directory):
    server = ConfiguredServer(kind, directory, config(pki, extra=f'jetstream {{ store_dir: "{directory}/js" }}'))
    try:
        first, reply = raw_tls(server.port, client_context(pki))
        assert first["tls_required"] is True and "tls_verify" not in first
        assert reply == b"PONG\r\n"
        url = f"tls://127.0.0.1:{server.port}"
        nc = await nats.connect(url, tls=client_context(pki), allow_reconnect=False)
        sub = await nc.subscribe("greet")
        async def answer(m):
            await m.respond(b"answer:" + m.data)
        await nc.subscribe("service", cb=answer)
        await nc.publish("greet", b"over tls")
        assert (await sub.next_msg(timeout=5)).data == b"over tls"
        assert (await nc.request("service", b"q", timeout=5)).data == b"answer:q"
        js = nc.jetstream()
        await js.add_stream(name="T", subjects=["t.>"])
        assert (await js.publish("t.1", b"stored")).seq == 1
        psub = await js.pull_subscribe("t.>", durable="d")
        [msg] = await psub.fetch(1, timeout=5)
        assert msg.data == b"stored"
        await msg.ack()
        await nc.close()
        # Plain text to a TLS-only port: the connection is closed, the server keeps serving.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.recv(4096)
            s.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            rest = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            assert b"PONG" not in rest
        assert raw_tls(server.port, client_context(pki))[1] == b"PONG\r\n"
    finally:
        log = server.stop()
    if kind == "strata":
        assert "TLS handshake error" in log


@pytest.mark.parametrize("kind", KINDS)
def test_verify_refuses_missing_foreign_and_expired_certificates(kind, pki, directory):
    server = ConfiguredServer(kind, directory, config(pki, verify=True))
    try:
        first, reply = raw_tls(server.port, client_context(pki, "alice"))
        assert first["tls_required"] is True and first["tls_verify"] is True
        assert reply == b"PONG\r\n"
        for cert in [None, "stranger", "expired"]:
            _, reply = raw_tls(server.port, client_context(pki, cert))
            assert reply != b"PONG\r\n" and (isinstance(reply, Exception) or reply.endswith(b"<CLOSED>")), (cert, reply)
        assert raw_tls(server.port, client_context(pki, "bob"))[1] == b"PONG\r\n"
    finally:
        log = server.stop()
    if kind == "strata":
        assert log.count("TLS handshake error") >= 3, log


@pytest.mark.parametrize("kind", KINDS)
def test_verify_and_map_takes_the_user_from_the_certificate(kind, pki, directory):
    extra = """
authorization { users = [
  { user: "alice@example.com", permissions { publish: "alice.>", subscribe: "alice.>" } }
  { user: "O=Acme,OU=eng,CN=bob" }
] }
"""
    text = config(pki, extra=extra).replace("timeout: 2", "timeout: 2\n  verify_and_map: true")
    server = ConfiguredServer(kind, directory, text)
    try:
        _, reply = raw_tls(server.port, client_context(pki, "alice"),
                           b"SUB alice.x 1\r\nPUB alice.x 2\r\nhi\r\nPUB bob.x 2\r\nno\r\nPING\r\n")
        assert reply == b"MSG alice.x 1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"bob.x\"'\r\nPONG\r\n", reply
        _, reply = raw_tls(server.port, client_context(pki, "bob"), b"PUB bob.x 2\r\nok\r\nPING\r\n")
        assert reply == b"PONG\r\n", reply
        # A certificate the CA signed whose names are not a user: refused after the handshake.
        _, reply = raw_tls(server.port, client_context(pki, "carol"))
        assert reply == b"-ERR 'Authorization Violation'\r\n<CLOSED>", reply
    finally:
        server.stop()


GO_TLS = r'''
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	dir := os.Args[2]
	nc, err := nats.Connect(os.Args[1], nats.RootCAs(dir+"/ca.pem"), nats.ClientCert(dir+"/alice.pem", dir+"/alice.key"))
	if err != nil {
		fmt.Println("connect:", err)
		os.Exit(1)
	}
	defer nc.Close()
	nc.Subscribe("svc", func(m *nats.Msg) { m.Respond(append([]byte("go:"), m.Data...)) })
	reply, err := nc.Request("svc", []byte("ping"), 5*time.Second)
	if err != nil {
		fmt.Println("request:", err)
		os.Exit(1)
	}
	fmt.Println(string(reply.Data), nc.ConnectedUrl() != "")
}
'''


@pytest.mark.parametrize("kind", KINDS)
def test_nats_go_over_tls_with_a_client_certificate(kind, pki, directory):
    if subprocess.run(["go", "version"], capture_output=True).returncode != 0:
        pytest.skip("go is not installed")
    source = os.path.join(directory, "tlsclient.go")
    with open(source, "w") as f:
        f.write(GO_TLS)
    env = dict(os.environ, GO111MODULE="off", GOPROXY="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(directory, "gocache"))
    binary = os.path.join(directory, "tlsclient")
    subprocess.run(["go", "build", "-o", binary, source], check=True, env=env, capture_output=True)
    server = ConfiguredServer(kind, directory, config(pki, verify=True))
    try:
        out = subprocess.run([binary, f"tls://127.0.0.1:{server.port}", pki], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "go:ping true", out.stdout + out.stderr
    finally:
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_a_reload_takes_a_new_server_certificate(kind, pki, directory):
    import signal, time
    # A second server certificate, from the other CA: after the reload, only a client trusting it connects.
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server2.key", "-out", "server2.csr", "-subj", "/CN=localhost", cwd=pki)
    with open(os.path.join(pki, "server2.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server2.csr", "-CA", "other-ca.pem", "-CAkey", "other-ca.key", "-CAcreateserial",
            "-out", "server2.pem", "-days", "2", "-extfile", "server2.ext", cwd=pki)
    server = ConfiguredServer(kind, directory, config(pki))
    trusts_other = ssl.create_default_context(cafile=os.path.join(pki, "other-ca.pem"))
    try:
        assert raw_tls(server.port, client_context(pki))[1] == b"PONG\r\n"
        assert isinstance(raw_tls(server.port, trusts_other)[1], Exception)
        server.write(config(pki).replace("server.pem", "server2.pem").replace("server.key", "server2.key"))
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while raw_tls(server.port, trusts_other)[1] != b"PONG\r\n" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert raw_tls(server.port, trusts_other)[1] == b"PONG\r\n"
        assert isinstance(raw_tls(server.port, client_context(pki))[1], Exception)
        # A reload naming a certificate that does not exist is refused; the server keeps the one it has.
        server.write(config(pki).replace("server.pem", "missing.pem"))
        server.process.send_signal(signal.SIGHUP)
        assert raw_tls(server.port, trusts_other)[1] == b"PONG\r\n"
        assert server.process.poll() is None
    finally:
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_https_monitoring_with_the_servers_certificate(kind, pki, directory):
    import urllib.request
    from conftest import free_port
    https = free_port()
    server = ConfiguredServer(kind, directory, config(pki, extra=f"https_port: {https}"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{https}/varz", context=client_context(pki), timeout=10) as response:
            varz = json.loads(response.read())
        assert varz["https_port"] == https and varz["tls_required"] is True
        with urllib.request.urlopen(f"https://127.0.0.1:{https}/healthz", context=client_context(pki), timeout=10) as response:
            assert json.loads(response.read()) == {"status": "ok"}
        # Plain HTTP to the HTTPS port gets no answer.
        with pytest.raises(Exception):
            urllib.request.urlopen(f"http://127.0.0.1:{https}/varz", timeout=5).read()
    finally:
        server.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_the_strata_tool_speaks_tls(kind, pki, directory):
    """`strata` upgrades after the plain INFO as clients do, trusts --tlsca, presents --tlscert/--tlskey, and
    fails with one clear line for a CA it does not trust, a missing client certificate, or a plain server."""
    from test_admin_cli import TOOL
    assert os.path.exists(TOOL), "the strata tool is built by the unit tests' build"
    server = ConfiguredServer(kind, directory, config(pki, verify=True))
    url = f"nats://127.0.0.1:{server.port}"

    def check(*args):
        return subprocess.run([TOOL, "server", "check", "--no-jetstream", "-s", url, *args], capture_output=True, text=True, timeout=60)
    try:
        alice = ["--tlsca", f"{pki}/ca.pem", "--tlscert", f"{pki}/alice.pem", "--tlskey", f"{pki}/alice.key"]
        ok = check(*alice)
        assert ok.returncode == 0 and ok.stdout.startswith("OK: connected to "), ok.stdout + ok.stderr
        sent = subprocess.run([TOOL, "pub", "t.x", "over tls", "-s", url, *alice], capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        stranger = check("--tlsca", f"{pki}/other-ca.pem", "--tlscert", f"{pki}/alice.pem", "--tlskey", f"{pki}/alice.key")
        assert stranger.returncode == 1 and "CRITICAL: TLS handshake failed" in stranger.stdout, stranger.stdout
        no_certificate = check("--tlsca", f"{pki}/ca.pem")
        assert no_certificate.returncode == 1 and no_certificate.stdout.startswith("CRITICAL: "), no_certificate.stdout
        missing_key = check("--tlsca", f"{pki}/ca.pem", "--tlscert", f"{pki}/alice.pem")
        assert missing_key.returncode == 1 and "--tlscert needs --tlskey" in missing_key.stdout
    finally:
        server.stop()
    plain = ConfiguredServer(kind, directory, "listen: 127.0.0.1:@PORT@\n")
    try:
        refused = subprocess.run([TOOL, "server", "check", "--no-jetstream", "-s", f"nats://127.0.0.1:{plain.port}", "--tlsca", f"{pki}/ca.pem"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "does not serve TLS" in refused.stdout, refused.stdout
    finally:
        plain.stop()
