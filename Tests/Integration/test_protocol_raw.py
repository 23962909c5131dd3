"""Exact protocol replies over raw sockets. The expected bytes were recorded from nats-server 2.9.10;
each case also runs against a live nats-server when it is installed, so the recording cannot drift."""
import socket
import pytest
from conftest import start_reference

CASES = [
    (b"CONNECT {}\r\nFOO\r\n", b"+OK\r\n-ERR 'Unknown Protocol Operation'\r\n<CLOSED>"),
    (b'CONNECT {"verbose":true}\r\nPING\r\n', b"+OK\r\nPONG\r\n"),
    (b"CONNECT {}\r\nPUB a 3\r\nabc\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    (b'CONNECT {"verbose":false}\r\nPUB a 3\r\nabc\r\nPING\r\n', b"PONG\r\n"),
    (b"CONNECT {}\r\nPUB a.* 3\r\nabc\r\nPING\r\n", b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n"),
    (b'CONNECT {"pedantic":true,"verbose":true}\r\nPUB a..b 3\r\nabc\r\nPING\r\n', b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n"),
    (b"CONNECT {}\r\nSUB a..b 1\r\nPING\r\n", b"+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n"),
    (b"CONNECT {}\r\nSUB a.> 1\r\nSUB a.>.b 2\r\nPING\r\n", b"+OK\r\n+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n"),
    (b"CONNECT {}\r\nPUB a 2000000\r\n", b"+OK\r\n-ERR 'Maximum Payload Violation'\r\n<CLOSED>"),
    (b"CONNECT {}\r\nPUB a x\r\n", b"+OK\r\n<CLOSED>"),
    (b"CONNECT {}\r\nPUB a 3\r\nabcdef\r\nPING\r\n", b"+OK\r\n-ERR 'Unknown Protocol Operation'\r\n<CLOSED>"),
    (b"CONNECT {}\r\nSUB a\r\n", b"+OK\r\n<CLOSED>"),
    (b"CONNECT {}\r\nUNSUB\r\n", b"+OK\r\n-ERR 'Unknown Protocol Operation'\r\n<CLOSED>"),
    (b"CONNECT {}\r\nUNSUB 99\r\nPING\r\n", b"+OK\r\n+OK\r\nPONG\r\n"),
    (b"CONNECT {}\r\nPUB " + b"a" * 5000 + b" 1\r\nx\r\n", b"+OK\r\n-ERR 'maximum control line exceeded'\r\n<CLOSED>"),
    (b"CONNECT {bad json\r\nPING\r\n", b"<CLOSED>"),
    # CONNECT's JSON read as Go reads it (found by the connect fuzz target): the last of a repeated key wins, keys
    # match whatever their case, a field of the wrong type closes the connection.
    (b'CONNECT {"verbose":true,"verbose":false}\r\nPING\r\n', b"PONG\r\n"),
    (b'CONNECT {"verbose":false,"verbose":true}\r\nPING\r\n', b"+OK\r\nPONG\r\n"),
    (b'CONNECT {"Verbose":false}\r\nPING\r\n', b"PONG\r\n"),
    (b'CONNECT {"protocol":1.0}\r\nPING\r\n', b"<CLOSED>"),
    (b'CONNECT {"verbose":"yes"}\r\nPING\r\n', b"<CLOSED>"),
    # Subjects are bytes: `.` before a combining mark separates tokens, and canonically equivalent spellings differ.
    (b'CONNECT {"verbose":false}\r\nSUB a.* 1\r\nPUB a.\xcc\x81 1\r\nx\r\nPING\r\n', b"MSG a.\xcc\x81 1 1\r\nx\r\nPONG\r\n"),
    (b'CONNECT {"verbose":false}\r\nSUB a.\xcc\x81 1\r\nPUB a.\xcc\x81 1\r\nx\r\nPING\r\n', b"MSG a.\xcc\x81 1 1\r\nx\r\nPONG\r\n"),
    (b'CONNECT {"verbose":false}\r\nSUB \xc3\xa9 1\r\nPUB e\xcc\x81 1\r\nx\r\nPING\r\n', b"PONG\r\n"),
    (b"PING\r\n", b"PONG\r\n"),
    (b"ping\r\n", b"PONG\r\n"),
    (b'CONNECT {"headers":true}\r\nSUB h 1\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n',
     b"+OK\r\n+OK\r\n+OK\r\nHMSG h 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n"),
    (b"CONNECT {}\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n", b"+OK\r\n<CLOSED>"),
    (b'CONNECT {"headers":true}\r\nHPUB h 20 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n', b"+OK\r\n<CLOSED>"),
    (b'CONNECT {"echo":false,"protocol":1}\r\nSUB e 1\r\nPUB e 1\r\nx\r\nPING\r\n', b"+OK\r\n+OK\r\n+OK\r\nPONG\r\n"),
    (b"CONNECT {}\r\nSUB e q 1\r\nSUB e 2\r\nPUB e r.1 1\r\nx\r\nPING\r\n",
     b"+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG e 2 r.1 1\r\nx\r\nMSG e 1 r.1 1\r\nx\r\nPONG\r\n"),
    (b"CONNECT {}\r\nSUB u 1\r\nUNSUB 1 2\r\nPUB u 1\r\na\r\nPUB u 1\r\nb\r\nPUB u 1\r\nc\r\nPING\r\n",
     b"+OK\r\n+OK\r\n+OK\r\n+OK\r\nMSG u 1 1\r\na\r\n+OK\r\nMSG u 1 1\r\nb\r\n+OK\r\nPONG\r\n"),
    # No responders: a request nothing takes is answered on the requester's own reply subscription.
    (b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB r.* 1\r\nPUB nobody r.1 1\r\nx\r\nPING\r\n',
     b"HMSG r.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n"),
    (b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB q 1\r\nPUB nobody r.1 1\r\nx\r\nPING\r\n',
     b"PONG\r\n"),
    (b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB r 1\r\nSUB svc g 2\r\nPUB svc r 1\r\nx\r\nPING\r\n',
     b"MSG svc 2 r 1\r\nx\r\nPONG\r\n"),
    (b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB r 1\r\nSUB svc 2\r\nUNSUB 2 1\r\n'
     b'PUB svc r 1\r\nx\r\nPUB svc r 1\r\ny\r\nPING\r\n',
     b"MSG svc 2 r 1\r\nx\r\nHMSG r 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n"),
    (b'CONNECT {"verbose":false,"headers":true}\r\nSUB r 1\r\nPUB nobody r 1\r\nx\r\nPING\r\n', b"PONG\r\n"),
    (b'CONNECT {"verbose":false,"headers":true,"no_responders":true,"echo":false}\r\nSUB r 1\r\nSUB me 2\r\nPUB me r 1\r\nx\r\nPING\r\n',
     b"HMSG r 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n"),
    (b'CONNECT {"no_responders":true}\r\nPING\r\n', b"-ERR 'no responders requires headers support'\r\n<CLOSED>"),
    # Split across reads at every byte is covered by the parser's unit tests; here, pipelined in one write:
    (b'CONNECT {"verbose":false}\r\nSUB p.* 9\r\nPUB p.1 1\r\n1\r\nPUB p.2 1\r\n2\r\nPUB q 1\r\n3\r\nPING\r\n',
     b"MSG p.1 9 1\r\n1\r\nMSG p.2 9 1\r\n2\r\nPONG\r\n"),
]


def exchange(port, data):
    """Sends `data` after INFO and reads until PONG, the close, or a quiet 0.3 s."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(5)
        info = b""
        while not info.endswith(b"\r\n"):
            info += s.recv(4096)
        assert info.startswith(b"INFO {")
        s.sendall(data)
        out = b""
        s.settimeout(0.3 if b"PING" not in data else 5)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out + b"<CLOSED>"
                out += chunk
                if out.endswith(b"PONG\r\n"):
                    return out
        except socket.timeout:
            return out


@pytest.mark.parametrize("data,expected", CASES, ids=[repr(c[0][:40]) for c in CASES])
def test_strata_replies_as_reference(strata, data, expected):
    assert exchange(strata.port, data) == expected


@pytest.fixture(scope="module")
def live_reference():
    server = start_reference()
    if server is None:
        pytest.skip("nats-server is not installed")
    yield server
    server.stop()


@pytest.mark.parametrize("data,expected", CASES, ids=[repr(c[0][:40]) for c in CASES])
def test_recording_matches_live_reference(live_reference, data, expected):
    assert exchange(live_reference.port, data) == expected


def test_info_fields(strata):
    import json
    with socket.create_connection(("127.0.0.1", strata.port)) as s:
        line = s.recv(4096)
    assert line.startswith(b"INFO ") and line.endswith(b" \r\n")
    info = json.loads(line[5:-3])
    for key in ["server_id", "server_name", "version", "proto", "host", "port", "headers", "max_payload", "client_id", "client_ip"]:
        assert key in info, key
    assert info["version"] == "2.9.10" and info["proto"] == 1 and info["headers"] is True
    assert info["max_payload"] == 1048576 and info["port"] == strata.port and info["client_ip"] == "127.0.0.1"


def _read_until(s, end):
    out = b""
    while not out.endswith(end):
        chunk = s.recv(65536)
        if not chunk:
            return out + b"<CLOSED>"
        out += chunk
    return out


def _connect(port, options):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    _read_until(s, b"\r\n")  # INFO
    s.sendall(b"CONNECT " + options + b"\r\nPING\r\n")
    assert _read_until(s, b"PONG\r\n").endswith(b"PONG\r\n")
    return s


@pytest.mark.parametrize("kind", ["strata", "reference"])
def test_header_less_subscriber_gets_payload_only(kind, strata, request):
    """A message with headers reaches a client that did not ask for headers as MSG with the payload only;
    a header-only message (a status) reaches it as an empty MSG."""
    server = strata if kind == "strata" else request.getfixturevalue("reference")
    plain = _connect(server.port, b'{"verbose":false}')
    modern = _connect(server.port, b'{"verbose":false,"headers":true}')
    plain.sendall(b"SUB h 1\r\nSUB s 2\r\nPING\r\n")
    _read_until(plain, b"PONG\r\n")
    modern.sendall(b"SUB h 7\r\nHPUB h 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nHPUB s 14 14\r\nNATS/1.0 100\r\n\r\nPING\r\n")
    assert _read_until(modern, b"PONG\r\n") == b"HMSG h 7 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPONG\r\n"
    plain.sendall(b"PING\r\n")
    assert _read_until(plain, b"PONG\r\n") == b"MSG h 1 2\r\nhi\r\nMSG s 2 0\r\n\r\nPONG\r\n"
    plain.close()
    modern.close()
