"""TLS on leaf-node connections (issue 14): every pairing of strata-server and nats-server 2.9.10 as hub and
leaf, the hub's leaf-node port with `tls { cert_file, key_file, ca_file, verify }` and the leaf's remote with
`tls { ca_file, cert_file, key_file }`; messages cross both ways. A leaf that does not trust the hub's CA, or
that presents no certificate to a hub that verifies leaves, is refused with a logged TLS error, and the hub
keeps serving."""
import os, shutil, tempfile
import pytest
import nats
from conftest import ConfiguredServer, free_port, publish_until_received
from test_leafnodes import wait_for_log
from test_tls import pki  # noqa: F401 (the certificates fixture)

KINDS = ["strata", "reference"]

HUB = """
listen: 127.0.0.1:@PORT@
server_name: tls-hub
leafnodes {{
  listen: 127.0.0.1:{leaf}
  tls {{ cert_file: "{pki}/server.pem", key_file: "{pki}/server.key", ca_file: "{pki}/ca.pem", verify: {verify} }}
}}
"""

LEAF = """
listen: 127.0.0.1:@PORT@
server_name: tls-leaf
leafnodes {{ reconnect: 1, remotes = [ {{ urls: ["nats-leaf://{host}:{leaf}"], tls {{ {tls} }} }} ] }}
"""


def client_tls(pki, ca="ca", certificate="alice"):
    files = f'ca_file: "{pki}/{ca}.pem"'
    if certificate:
        files += f', cert_file: "{pki}/{certificate}.pem", key_file: "{pki}/{certificate}.key"'
    return files


class Pair:
    def __init__(self, pki, hub_kind, leaf_kind, verify=True, tls=None, host="localhost"):
        self.directories = [tempfile.mkdtemp(prefix="strata-tlsleaf-") for _ in range(2)]
        self.leaf_port = free_port()
        self.servers = []
        self.hub = ConfiguredServer(hub_kind, self.directories[0], HUB.format(leaf=self.leaf_port, pki=pki, verify=str(verify).lower()))
        self.servers.append(self.hub)
        self.leaf = ConfiguredServer(leaf_kind, self.directories[1], LEAF.format(leaf=self.leaf_port, host=host,
                                                                                   tls=tls if tls is not None else client_tls(pki)))
        self.servers.append(self.leaf)

    def stop(self):
        for server in reversed(self.servers):
            server.stop()
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("hub_kind", KINDS)
@pytest.mark.parametrize("leaf_kind", KINDS)
async def test_messages_cross_a_tls_leaf_connection(pki, hub_kind, leaf_kind):
    pair = Pair(pki, hub_kind, leaf_kind)
    try:
        on_hub = await nats.connect(f"nats://127.0.0.1:{pair.hub.port}", allow_reconnect=False)
        on_leaf = await nats.connect(f"nats://127.0.0.1:{pair.leaf.port}", allow_reconnect=False)
        down, up = await on_leaf.subscribe("down"), await on_hub.subscribe("up")
        assert await publish_until_received(on_hub, down, "down", b"probe") is not None
        assert await publish_until_received(on_leaf, up, "up", b"probe") is not None
        await on_hub.publish("down", b"secret payload", headers={"H": "1"})
        message = await down.next_msg(timeout=5)
        while message.data == b"probe":
            message = await down.next_msg(timeout=5)
        assert (message.data, message.headers) == (b"secret payload", {"H": "1"})
        await on_hub.close()
        await on_leaf.close()
    finally:
        pair.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_leaf_that_does_not_trust_the_hub_is_refused(pki, kind):
    """The leaf trusts another CA: its handshake fails (it logs it and keeps trying); the hub serves on."""
    pair = Pair(pki, "strata" if kind == "reference" else "reference", kind, tls=client_tls(pki, ca="other-ca"))
    try:
        wait_for_log(pair.leaf, "certificate" if kind == "reference" else "TLS handshake error")
        on_hub = await nats.connect(f"nats://127.0.0.1:{pair.hub.port}", allow_reconnect=False)
        await on_hub.flush()
        await on_hub.close()
        assert pair.leaf.process.poll() is None and pair.hub.process.poll() is None
    finally:
        pair.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_hub_that_verifies_leaves_refuses_one_without_a_certificate(pki, kind):
    pair = Pair(pki, kind, "reference", tls=client_tls(pki, certificate=None))
    try:
        wait_for_log(pair.hub, "handshake error")  # (strata: "leafnode TLS handshake error", nats-server: "TLS leafnode …")
        on_hub = await nats.connect(f"nats://127.0.0.1:{pair.hub.port}", allow_reconnect=False)
        await on_hub.close()
    finally:
        pair.stop()
