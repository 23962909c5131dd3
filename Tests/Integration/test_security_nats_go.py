"""nats.go 1.22 through authentication, permissions and accounts: a bcrypt user, an NKey user signing the
nonce (nkeys from Debian), a permission violation reported to the error handler while the connection
stays, and a service import across accounts; against strata-server and nats-server with one config."""
import os, shutil, subprocess
import bcrypt, nkeys, pytest
from conftest import ConfiguredServer

SEED = nkeys.encode_seed(bytes(range(1, 33)), nkeys.PREFIX_BYTE_USER).decode()
NKEY = nkeys.from_seed(SEED.encode()).public_key.decode()
HASH = bcrypt.hashpw(b"go-pw", bcrypt.gensalt(rounds=4)).decode()

CONFIG = f"""
listen: 127.0.0.1:@PORT@
accounts {{
  SVC: {{ users: [ {{ user: svc, password: svc-pw }} ], exports: [ {{ service: "time.now" }} ] }}
  APP: {{ users: [
           {{ user: gouser, password: "{HASH}", permissions {{ publish: ["app.>", "now", "_INBOX.>"], subscribe: ["app.>", "_INBOX.>"] }} }}
           {{ nkey: {NKEY} }}
         ]
         imports: [ {{ service: {{ account: SVC, subject: "time.now" }}, to: "now" }} ] }}
}}
"""

PROGRAM = r'''
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

func fail(format string, args ...interface{}) { fmt.Printf("FAIL "+format+"\n", args...); os.Exit(1) }

func main() {
	url, seed := os.Args[1], os.Args[2]
	svc, err := nats.Connect(url, nats.UserInfo("svc", "svc-pw"))
	if err != nil { fail("svc connect: %v", err) }
	svc.Subscribe("time.now", func(m *nats.Msg) { m.Respond([]byte("tick:" + string(m.Data))) })
	svc.Flush()

	violations := make(chan string, 4)
	app, err := nats.Connect(url, nats.UserInfo("gouser", "go-pw"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, e error) { violations <- e.Error() }))
	if err != nil { fail("bcrypt user connect: %v", err) }
	reply, err := app.Request("now", []byte("1"), 5*time.Second)
	if err != nil || string(reply.Data) != "tick:1" { fail("service import: %v %v", reply, err) }
	app.Publish("forbidden.x", []byte("no"))
	app.Flush()
	select {
	case text := <-violations:
		if !strings.Contains(strings.ToLower(text), `permissions violation for publish to "forbidden.x"`) { fail("violation text %q", text) }
	case <-time.After(5 * time.Second):
		fail("no permissions violation reported")
	}
	if !app.IsConnected() { fail("the connection did not stay") }

	if _, err := nats.Connect(url, nats.UserInfo("gouser", "wrong")); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		fail("a wrong password was not refused: %v", err)
	}

	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil { fail("seed: %v", err) }
	pub, _ := kp.PublicKey()
	nk, err := nats.Connect(url, nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) }))
	if err != nil { fail("nkey connect: %v", err) }
	reply, err = nk.Request("now", []byte("2"), 5*time.Second)
	if err != nil || string(reply.Data) != "tick:2" { fail("nkey user request: %v %v", reply, err) }
	other, _ := nkeys.CreateUser()
	opub, _ := other.PublicKey()
	if _, err := nats.Connect(url, nats.Nkey(opub, func(nonce []byte) ([]byte, error) { return other.Sign(nonce) })); err == nil {
		fail("an unknown nkey was let in")
	}
	fmt.Println("ok")
}
'''


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    go = shutil.which("go")
    assert go, "Go is not installed (make test-deps installs golang-go)"
    directory = tmp_path_factory.mktemp("gosec")
    source = directory / "main.go"
    source.write_text(PROGRAM)
    env = dict(os.environ, GO111MODULE="off", GOPROXY="off", GOFLAGS="", GOPATH="/usr/share/gocode",
               GOCACHE=str(directory / "cache"))
    binary = directory / "gosec"
    build = subprocess.run([go, "build", "-o", str(binary), str(source)], env=env, capture_output=True, timeout=600)
    assert build.returncode == 0, build.stderr.decode()
    return str(binary)


@pytest.mark.parametrize("kind", ["strata", "reference"])
def test_nats_go_authenticates_and_is_held_to_its_permissions(program, kind, directory):
    server = ConfiguredServer(kind, directory, CONFIG)
    try:
        run = subprocess.run([program, f"nats://127.0.0.1:{server.port}", SEED], capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert run.stdout.strip() == "ok", run.stdout + run.stderr
