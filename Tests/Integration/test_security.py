"""Authentication and permissions, side by side: one config file (users with plain and bcrypt passwords,
NKeys, permissions, no_auth_user, allow_responses) given to strata-server and to nats-server 2.9.10, driven
with nats-py and raw protocol, with the same answers byte for byte where the wire is compared."""
import asyncio, base64, json, socket
import bcrypt, nkeys, pytest
import nats
from nats.errors import NoRespondersError, TimeoutError as NatsTimeout
from conftest import ConfiguredServer, info, publish_until_received

KINDS = ["strata", "reference"]

ALICE_HASH = bcrypt.hashpw(b"alice-pw", bcrypt.gensalt(rounds=4)).decode()          # $2b$
CAROL_HASH = "$2a$" + bcrypt.hashpw(b"carol-pw", bcrypt.gensalt(rounds=4)).decode()[4:]  # the same under $2a$
SEED = nkeys.encode_seed(bytes(range(32)), nkeys.PREFIX_BYTE_USER) if hasattr(nkeys, "encode_seed") else None
SEED = SEED or b"SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"
NKEY = nkeys.from_seed(SEED).public_key.decode()

CONFIG = f"""
listen: 127.0.0.1:@PORT@
authorization {{
  default_permissions {{ publish: {{ deny: "forbidden.>" }} }}
  users = [
    {{ user: admin, password: admin-pw }}
    {{ user: alice, password: "{ALICE_HASH}" }}
    {{ user: carol, password: "{CAROL_HASH}" }}
    {{ user: limited, password: limited-pw,
      permissions {{
        publish {{ allow: ["orders.>", "_INBOX.>"], deny: "orders.secret" }}
        subscribe {{ allow: ["orders.*", "_INBOX.>", "work q1"], deny: "orders.hidden" }}
      }} }}
    {{ user: service, password: service-pw,
      permissions {{ subscribe: "svc.>", allow_responses: true }} }}
    {{ user: wsonly, password: ws-pw, allowed_connection_types: ["WEBSOCKET"] }}
    {{ user: std, password: std-pw, allowed_connection_types: ["STANDARD", "WEBSOCKET"] }}
    {{ nkey: {NKEY}, permissions {{ publish: "nkey.>", subscribe: ["nkey.>", "_INBOX.>"] }} }}
  ]
}}
"""


@pytest.fixture(params=KINDS)
def secured(request, directory):
    server = ConfiguredServer(request.param, directory, CONFIG)
    yield server
    server.log = server.stop()


def connect_options(**credentials):
    return json.dumps({"verbose": False, "pedantic": False, "headers": True, **credentials}).encode()


def exchange(port, send, until=b"PONG\r\n"):
    """What the server answers to `send` after INFO, until `until` or close (INFO itself left out)."""
    _, rest = info(port, send)
    return rest


async def test_users_with_plain_and_bcrypt_passwords(secured):
    for user, password in [("admin", "admin-pw"), ("alice", "alice-pw"), ("carol", "carol-pw")]:
        nc = await nats.connect(secured.url, user=user, password=password, allow_reconnect=False)
        await nc.publish("hello", b"x")
        await nc.flush()
        await nc.close()
    nc = await nats.connect(secured.url, user="std", password="std-pw", allow_reconnect=False)
    await nc.close()
    for user, password in [("alice", "wrong"), ("alice", ""), ("nobody", "admin-pw"), ("carol", CAROL_HASH), ("wsonly", "ws-pw")]:
        answer = exchange(secured.port, b"CONNECT " + connect_options(user=user, **{"pass": password}) + b"\r\nPING\r\n")
        assert answer == b"-ERR 'Authorization Violation'\r\n<CLOSED>", (user, answer)
    answer = exchange(secured.port, b"CONNECT " + connect_options() + b"\r\nPING\r\n")
    assert answer == b"-ERR 'Authorization Violation'\r\n<CLOSED>"


async def test_nkey_signs_the_nonce(secured):
    first, _ = info(secured.port)
    assert first["auth_required"] is True and len(first["nonce"]) == 15
    second, _ = info(secured.port)
    assert second["nonce"] != first["nonce"]
    nc = await nats.connect(secured.url, nkeys_seed_str=SEED.decode(), allow_reconnect=False)
    sub = await nc.subscribe("nkey.echo")
    await nc.publish("nkey.echo", b"signed")
    assert (await sub.next_msg(timeout=5)).data == b"signed"
    await nc.close()

    # A signature of another nonce, a signature by another key, no signature, and a malformed key: refused.
    with socket.create_connection(("127.0.0.1", secured.port), timeout=5) as s:
        line = s.recv(65536).split(b"\r\n")[0]
        nonce = json.loads(line[5:])["nonce"].encode()
    stale = base64.urlsafe_b64encode(nkeys.from_seed(SEED).sign(nonce)).rstrip(b"=").decode()
    other = nkeys.from_seed(nkeys.encode_seed(bytes(32), nkeys.PREFIX_BYTE_USER)) if hasattr(nkeys, "encode_seed") else None
    cases = [dict(nkey=NKEY, sig=stale), dict(nkey=NKEY), dict(nkey=NKEY[:-1] + ("A" if NKEY[-1] != "A" else "B"), sig=stale)]
    if other is not None:
        cases.append(dict(nkey=other.public_key.decode(), sig=stale))
    for credentials in cases:
        answer = exchange(secured.port, b"CONNECT " + connect_options(**credentials) + b"\r\nPING\r\n")
        assert answer == b"-ERR 'Authorization Violation'\r\n<CLOSED>", credentials


def test_permission_violations_have_the_reference_texts(secured):
    send = (b"CONNECT " + connect_options(user="limited", **{"pass": "limited-pw"}) + b"\r\n"
            b"SUB orders.* 1\r\nSUB orders.hidden 3\r\nSUB work 4\r\nSUB work q1 5\r\nSUB work q2 6\r\n"
            b"SUB other 7\r\nPUB orders.new 2\r\nok\r\nPUB orders.secret 2\r\nno\r\nPUB other 2\r\nno\r\n"
            b"PUB orders.hidden 4\r\nhide\r\nPUB forbidden.x 2\r\nno\r\nPING\r\n")
    answer = exchange(secured.port, send)
    assert answer == (
        b"-ERR 'Permissions Violation for Subscription to \"orders.hidden\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"work\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"work\" using queue \"q2\"'\r\n"
        b"-ERR 'Permissions Violation for Subscription to \"other\"'\r\n"
        b"MSG orders.new 1 2\r\nok\r\n"
        b"-ERR 'Permissions Violation for Publish to \"orders.secret\"'\r\n"
        b"-ERR 'Permissions Violation for Publish to \"other\"'\r\n"
        b"-ERR 'Permissions Violation for Publish to \"forbidden.x\"'\r\n"
        b"PONG\r\n"), answer


def test_verbose_connection_gets_no_ok_for_a_refused_operation(secured):
    send = (b"CONNECT " + json.dumps({"verbose": True, "user": "limited", "pass": "limited-pw"}).encode() + b"\r\n"
            b"SUB other 1\r\nPUB other 1\r\nx\r\nSUB orders.new 2\r\nPING\r\n")
    assert exchange(secured.port, send) == (
        b"+OK\r\n-ERR 'Permissions Violation for Subscription to \"other\"'\r\n"
        b"-ERR 'Permissions Violation for Publish to \"other\"'\r\n+OK\r\nPONG\r\n")


async def test_a_wildcard_subscription_does_not_get_denied_subjects(secured):
    limited = await nats.connect(secured.url, user="limited", password="limited-pw", allow_reconnect=False)
    admin = await nats.connect(secured.url, user="admin", password="admin-pw", allow_reconnect=False)
    sub = await limited.subscribe("orders.*")
    await limited.flush()
    await admin.publish("orders.hidden", b"hidden")
    await admin.publish("orders.open", b"open")
    assert (await sub.next_msg(timeout=5)).data == b"open"
    # A request only that filtered subscription would have received reached no one.
    with pytest.raises(NoRespondersError):
        await admin.request("orders.hidden", b"?", timeout=5)
    await admin.close()
    await limited.close()


async def test_allow_responses_lets_a_service_reply_once(secured):
    service = await nats.connect(secured.url, user="service", password="service-pw", allow_reconnect=False)
    admin = await nats.connect(secured.url, user="admin", password="admin-pw", allow_reconnect=False)
    errors = []

    async def on_error(e):
        errors.append(str(e))
    service._error_cb = on_error
    replied = asyncio.Event()

    async def handler(msg):
        await msg.respond(b"first")
        await msg.respond(b"second")  # refused: one reply per request
        await service.publish("svc.elsewhere", b"x")  # refused: no publish rights
        await service.flush()
        replied.set()
    await service.subscribe("svc.echo", cb=handler)
    await service.flush()
    inbox = admin.new_inbox()
    sub = await admin.subscribe(inbox)
    await admin.publish("svc.echo", b"ping", reply=inbox)
    assert (await sub.next_msg(timeout=5)).data == b"first"
    await asyncio.wait_for(replied.wait(), 5)
    await admin.flush()
    with pytest.raises(NatsTimeout):
        await sub.next_msg(timeout=0.3)
    await admin.close()
    await service.close()


def test_no_auth_user_takes_a_client_without_credentials(directory):
    for kind in KINDS:
        server = ConfiguredServer(kind, directory, CONFIG + "no_auth_user: limited\n")
        try:
            first, answer = info(server.port, b"CONNECT " + connect_options() + b"\r\nSUB orders.a 1\r\nPUB orders.a 1\r\nx\r\n"
                                 b"PUB other 1\r\nx\r\nPING\r\n")
            assert "auth_required" not in first, kind
            assert answer == b"MSG orders.a 1 1\r\nx\r\n-ERR 'Permissions Violation for Publish to \"other\"'\r\nPONG\r\n", kind
            # Credentials that are given are still checked.
            answer = exchange(server.port, b"CONNECT " + connect_options(user="admin", **{"pass": "bad"}) + b"\r\nPING\r\n")
            assert answer == b"-ERR 'Authorization Violation'\r\n<CLOSED>", kind
        finally:
            server.stop()


def test_authentication_timeout(directory):
    for kind in KINDS:
        server = ConfiguredServer(kind, directory, CONFIG.replace("authorization {", "authorization {\n  timeout: 0.3"))
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                data = b""
                while not data.endswith(b"<CLOSED>"):
                    chunk = s.recv(4096)
                    data += chunk if chunk else b"<CLOSED>"
            assert data.split(b"\r\n", 1)[1] == b"-ERR 'Authentication Timeout'\r\n<CLOSED>", (kind, data)
        finally:
            server.stop()


async def test_jetstream_requests_acks_and_pulls_are_publishes_under_permissions(directory):
    config = CONFIG.replace("listen:", "jetstream { store_dir: \"@DIR@/js\" }\nlisten:").replace(
        "    { nkey:",
        "    { user: reader, password: reader-pw, permissions {\n"
        "        publish { allow: [\"$JS.API.STREAM.INFO.*\", \"$JS.API.CONSUMER.>\", \"_INBOX.>\"], deny: \"$JS.API.CONSUMER.DELETE.>\" }\n"
        "        subscribe: \"_INBOX.>\" } }\n"
        "    { nkey:")
    for kind in KINDS:
        server = ConfiguredServer(kind, directory, config)
        try:
            url = f"nats://127.0.0.1:{server.port}"
            admin = await nats.connect(url, user="admin", password="admin-pw", allow_reconnect=False)
            ajs = admin.jetstream()
            await ajs.add_stream(name="ORDERS", subjects=["jobs.>"])
            for i in range(3):
                await ajs.publish("jobs.new", f"job {i}".encode())
            reader = await nats.connect(url, user="reader", password="reader-pw", allow_reconnect=False)
            rjs = reader.jetstream()
            refused = reader.jetstream(timeout=0.5)  # (a refused request gets no reply at all)
            assert (await rjs.stream_info("ORDERS")).state.messages == 3
            # Not allowed: creating a stream (no reply comes: the request was refused), deleting a consumer.
            with pytest.raises(NatsTimeout):
                await refused.add_stream(name="MINE", subjects=["mine"])
            pull = await rjs.pull_subscribe("jobs.>", durable="work", stream="ORDERS")
            messages = await pull.fetch(2, timeout=5)
            assert [m.data for m in messages] == [b"job 0", b"job 1"]
            for m in messages:
                await m.ack()  # refused: $JS.ACK.> is not in the reader's publish allow list
            await reader.flush()
            with pytest.raises(NatsTimeout):
                await refused.delete_consumer("ORDERS", "work")
            info_ = await ajs.consumer_info("ORDERS", "work")
            assert info_.num_ack_pending == 2 and info_.num_pending == 1, (kind, info_)
            assert [s.config.name for s in await ajs.streams_info()] == ["ORDERS"]
            await reader.close()
            await admin.close()
        finally:
            server.stop()


def test_refusals_are_logged_with_the_address_never_the_secret(directory):
    server = ConfiguredServer("strata", directory, CONFIG)
    try:
        for credentials in [dict(user="alice", **{"pass": "guess-one"}), dict(user="nobody", **{"pass": "guess-two"}),
                            dict(auth_token="guess-three")]:
            exchange(server.port, b"CONNECT " + connect_options(**credentials) + b"\r\nPING\r\n")
    finally:
        log = server.stop()
    assert log.count("authentication error") == 3, log
    assert "127.0.0.1:" in log
    assert "guess" not in log and "alice-pw" not in log and ALICE_HASH not in log


RELOAD = """
listen: 127.0.0.1:@PORT@
authorization { users = [
  { user: admin, password: admin-pw }
  { user: worker, password: worker-pw, permissions { publish: "%s", subscribe: "_INBOX.>" } }
  %s
] }
"""


async def test_a_reload_changes_permissions_and_removes_users_in_place(directory):
    import signal
    for kind in KINDS:
        server = ConfiguredServer(kind, directory, RELOAD % ("orders.>", "{ user: gone, password: gone-pw }"))
        try:
            url = f"nats://127.0.0.1:{server.port}"
            admin = await nats.connect(url, user="admin", password="admin-pw", allow_reconnect=False)
            worker = await nats.connect(url, user="worker", password="worker-pw", allow_reconnect=False)
            gone = await nats.connect(url, user="gone", password="gone-pw", allow_reconnect=False)
            orders, other = await admin.subscribe("orders.>"), await admin.subscribe("other.>")
            await admin.flush()
            before = await publish_until_received(worker, orders, "orders.1", b"before")
            assert before is not None and before.data == b"before", kind

            server.write(RELOAD % ("other.>", ""))
            server.process.send_signal(signal.SIGHUP)
            # The removed user's connection is closed; the worker's stays, with its new permissions.
            deadline = asyncio.get_running_loop().time() + 20
            while not gone.is_closed and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            assert gone.is_closed, kind
            # (The reload applies on its own: published until the new permissions let it through.)
            received = await publish_until_received(worker, other, "other.1", b"after", each=0.2)
            assert received is not None and received.data == b"after", kind
            assert worker.is_connected, kind
            await worker.publish("orders.2", b"refused now")
            await worker.flush()
            await admin.flush()
            with pytest.raises(NatsTimeout):
                await orders.next_msg(timeout=0.3)
            await worker.close()
            await admin.close()
        finally:
            server.stop()
