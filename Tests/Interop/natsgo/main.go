// natsgo-interop drives a server with nats.go (Debian's golang-github-nats-io-go-nats-dev) through the
// code paths applications use: core messaging, JetStream, KV and the object store. It prints one line per
// check and exits 1 if any failed. The same program runs against strata-server and nats-server
// (Tests/Integration/test_nats_go.py); both must pass.
//
//	natsgo-interop nats://127.0.0.1:4222
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

var failed bool

func check(name string, err error) {
	if err != nil {
		failed = true
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	fmt.Printf("ok   %s\n", name)
}

func expect(cond bool, format string, args ...interface{}) error {
	if cond {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: natsgo-interop URL")
		os.Exit(2)
	}
	url := os.Args[1]
	nc, err := nats.Connect(url, nats.Name("natsgo-interop"), nats.NoReconnect())
	if err != nil {
		fmt.Printf("FAIL connect: %v\n", err)
		os.Exit(1)
	}
	defer nc.Close()

	check("connect and INFO", func() error {
		return expect(nc.ConnectedServerVersion() != "" && nc.MaxPayload() == 1<<20 && nc.HeadersSupported(),
			"version %q, max payload %d, headers %v", nc.ConnectedServerVersion(), nc.MaxPayload(), nc.HeadersSupported())
	}())
	check("flush and RTT", func() error {
		if err := nc.Flush(); err != nil {
			return err
		}
		rtt, err := nc.RTT()
		if err != nil {
			return err
		}
		return expect(rtt > 0, "rtt %v", rtt)
	}())
	check("pub/sub and wildcards", coreWildcards(nc))
	check("queue groups", queueGroups(nc))
	check("request/reply and no responders", requestReply(nc))
	check("headers", headers(nc))
	check("auto-unsubscribe", autoUnsubscribe(nc))
	check("drain", drain(url))

	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	check("jetstream context", err)
	if err == nil {
		check("stream and consumer management", streams(js))
		check("publish with acks and dedup", publishDedup(js))
		check("publish to no stream (ErrNoStreamResponse)", noStream(js))
		check("pull fetch and AckSync", pullFetch(js))
		check("push subscribe", pushSubscribe(js))
		check("ordered consumer", orderedConsumer(js))
		check("key-value", keyValue(js))
		check("object store", objectStore(js))
	}
	if failed {
		os.Exit(1)
	}
}

func nextMsg(sub *nats.Subscription) (*nats.Msg, error) { return sub.NextMsg(5 * time.Second) }

func coreWildcards(nc *nats.Conn) error {
	star, _ := nc.SubscribeSync("go.*.x")
	full, _ := nc.SubscribeSync("go.>")
	defer star.Unsubscribe()
	defer full.Unsubscribe()
	for _, s := range []string{"go.a.x", "go.b.y", "go.c.x"} {
		if err := nc.Publish(s, []byte(s)); err != nil {
			return err
		}
	}
	var gotStar, gotFull []string
	for i := 0; i < 2; i++ {
		m, err := nextMsg(star)
		if err != nil {
			return fmt.Errorf("star: %v", err)
		}
		gotStar = append(gotStar, m.Subject)
	}
	for i := 0; i < 3; i++ {
		m, err := nextMsg(full)
		if err != nil {
			return fmt.Errorf("full: %v", err)
		}
		gotFull = append(gotFull, string(m.Data))
	}
	return expect(strings.Join(gotStar, ",") == "go.a.x,go.c.x" && strings.Join(gotFull, ",") == "go.a.x,go.b.y,go.c.x",
		"star %v full %v", gotStar, gotFull)
}

func queueGroups(nc *nats.Conn) error {
	var a, b int64
	var wg sync.WaitGroup
	wg.Add(100)
	s1, _ := nc.QueueSubscribe("work", "g", func(*nats.Msg) { atomic.AddInt64(&a, 1); wg.Done() })
	s2, _ := nc.QueueSubscribe("work", "g", func(*nats.Msg) { atomic.AddInt64(&b, 1); wg.Done() })
	defer s1.Unsubscribe()
	defer s2.Unsubscribe()
	nc.Flush()
	for i := 0; i < 100; i++ {
		nc.Publish("work", []byte("job"))
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("got %d+%d of 100", atomic.LoadInt64(&a), atomic.LoadInt64(&b))
	}
	nc.Flush()
	return expect(a+b == 100 && a > 0 && b > 0, "split %d/%d", a, b)
}

func requestReply(nc *nats.Conn) error {
	sub, _ := nc.Subscribe("svc.echo", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
	defer sub.Unsubscribe()
	reply, err := nc.Request("svc.echo", []byte("hi"), 5*time.Second)
	if err != nil {
		return err
	}
	if string(reply.Data) != "re:hi" {
		return fmt.Errorf("reply %q", reply.Data)
	}
	// (a server without no-responders support makes this ErrTimeout after the whole 30 s)
	_, err = nc.Request("svc.nobody", []byte("x"), 30*time.Second)
	return expect(errors.Is(err, nats.ErrNoResponders), "request to nobody: %v", err)
}

func headers(nc *nats.Conn) error {
	sub, _ := nc.SubscribeSync("hdr")
	defer sub.Unsubscribe()
	msg := nats.NewMsg("hdr")
	msg.Header.Set("X-Trace", "abc")
	msg.Header.Add("X-Multi", "1")
	msg.Header.Add("X-Multi", "2")
	msg.Data = []byte("body")
	if err := nc.PublishMsg(msg); err != nil {
		return err
	}
	got, err := nextMsg(sub)
	if err != nil {
		return err
	}
	return expect(got.Header.Get("X-Trace") == "abc" && len(got.Header.Values("X-Multi")) == 2 && string(got.Data) == "body",
		"header %v data %q", got.Header, got.Data)
}

func autoUnsubscribe(nc *nats.Conn) error {
	sub, _ := nc.SubscribeSync("auto")
	if err := sub.AutoUnsubscribe(2); err != nil {
		return err
	}
	for i := 0; i < 5; i++ {
		nc.Publish("auto", []byte{byte('0' + i)})
	}
	nc.Flush()
	var got []string
	for {
		m, err := sub.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		got = append(got, string(m.Data))
	}
	return expect(strings.Join(got, "") == "01", "got %v", got)
}

func drain(url string) error {
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		return err
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	var count int64
	nc.Subscribe("drain.x", func(*nats.Msg) { time.Sleep(time.Millisecond); atomic.AddInt64(&count, 1) })
	pub, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		return err
	}
	defer pub.Close()
	nc.Flush()
	for i := 0; i < 50; i++ {
		pub.Publish("drain.x", []byte("m"))
	}
	pub.Flush()
	// A round trip on the subscriber's connection: every message sent before it has reached the client.
	if err := nc.Flush(); err != nil {
		return err
	}
	if err := nc.Drain(); err != nil {
		return err
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("drain did not close the connection")
	}
	return expect(atomic.LoadInt64(&count) == 50, "handled %d of 50 before closing", count)
}

func streams(js nats.JetStreamContext) error {
	info, err := js.AddStream(&nats.StreamConfig{Name: "GOS", Subjects: []string{"gos.>"}})
	if err != nil {
		return err
	}
	if info.Config.Name != "GOS" || info.Config.Storage != nats.FileStorage {
		return fmt.Errorf("created %+v", info.Config)
	}
	if _, err := js.UpdateStream(&nats.StreamConfig{Name: "GOS", Subjects: []string{"gos.>", "more.>"}, MaxMsgs: 100}); err != nil {
		return err
	}
	info, err = js.StreamInfo("GOS")
	if err != nil || len(info.Config.Subjects) != 2 || info.Config.MaxMsgs != 100 {
		return fmt.Errorf("after update %+v %v", info, err)
	}
	if _, err := js.AddConsumer("GOS", &nats.ConsumerConfig{Durable: "c1", AckPolicy: nats.AckExplicitPolicy, FilterSubject: "gos.a"}); err != nil {
		return err
	}
	ci, err := js.ConsumerInfo("GOS", "c1")
	if err != nil || ci.Config.FilterSubject != "gos.a" {
		return fmt.Errorf("consumer info %+v %v", ci, err)
	}
	var names []string
	for name := range js.StreamNames() {
		names = append(names, name)
	}
	if len(names) != 1 || names[0] != "GOS" {
		return fmt.Errorf("stream names %v", names)
	}
	if err := js.DeleteConsumer("GOS", "c1"); err != nil {
		return err
	}
	if _, err := js.ConsumerInfo("GOS", "c1"); !errors.Is(err, nats.ErrConsumerNotFound) {
		return fmt.Errorf("deleted consumer: %v", err)
	}
	if err := js.DeleteStream("GOS"); err != nil {
		return err
	}
	_, err = js.StreamInfo("GOS")
	return expect(errors.Is(err, nats.ErrStreamNotFound), "deleted stream: %v", err)
}

func publishDedup(js nats.JetStreamContext) error {
	if _, err := js.AddStream(&nats.StreamConfig{Name: "GOD", Subjects: []string{"god"}, Duplicates: time.Minute}); err != nil {
		return err
	}
	defer js.DeleteStream("GOD")
	first, err := js.Publish("god", []byte("a"), nats.MsgId("id-1"))
	if err != nil {
		return err
	}
	again, err := js.Publish("god", []byte("a"), nats.MsgId("id-1"))
	if err != nil {
		return err
	}
	next, err := js.Publish("god", []byte("b"), nats.ExpectLastSequence(1))
	if err != nil {
		return err
	}
	_, wrong := js.Publish("god", []byte("c"), nats.ExpectLastSequence(1))
	future, err := js.PublishAsync("god", []byte("d"))
	if err != nil {
		return err
	}
	select {
	case ack := <-future.Ok():
		if ack.Sequence != 3 {
			return fmt.Errorf("async ack %+v", ack)
		}
	case err := <-future.Err():
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("no async ack")
	}
	return expect(first.Sequence == 1 && !first.Duplicate && again.Sequence == 1 && again.Duplicate && next.Sequence == 2 && wrong != nil,
		"acks %+v %+v %+v, wrong-sequence error %v", first, again, next, wrong)
}

func noStream(js nats.JetStreamContext) error {
	_, err := js.Publish("not.captured.anywhere", []byte("x"), nats.AckWait(30*time.Second))
	return expect(errors.Is(err, nats.ErrNoStreamResponse), "publish: %v", err)
}

func pullFetch(js nats.JetStreamContext) error {
	if _, err := js.AddStream(&nats.StreamConfig{Name: "GOP", Subjects: []string{"gop.*"}}); err != nil {
		return err
	}
	defer js.DeleteStream("GOP")
	for i := 0; i < 10; i++ {
		if _, err := js.Publish(fmt.Sprintf("gop.%d", i%2), []byte(fmt.Sprint(i))); err != nil {
			return err
		}
	}
	sub, err := js.PullSubscribe("gop.*", "puller")
	if err != nil {
		return err
	}
	var seen []string
	for len(seen) < 10 {
		msgs, err := sub.Fetch(4, nats.MaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("fetch after %d: %v", len(seen), err)
		}
		for _, m := range msgs {
			seen = append(seen, string(m.Data))
			if len(seen) == 10 {
				if err := m.AckSync(); err != nil {
					return fmt.Errorf("AckSync: %v", err)
				}
			} else if err := m.Ack(); err != nil {
				return err
			}
		}
	}
	if strings.Join(seen, "") != "0123456789" {
		return fmt.Errorf("order %v", seen)
	}
	// Nothing left: a fetch ends with a timeout, not an error of another kind.
	if _, err := sub.Fetch(1, nats.MaxWait(300*time.Millisecond)); !errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("empty fetch: %v", err)
	}
	info, err := sub.ConsumerInfo()
	if err != nil {
		return err
	}
	return expect(info.AckFloor.Stream == 10 && info.NumAckPending == 0 && info.NumPending == 0, "consumer %+v", info)
}

func pushSubscribe(js nats.JetStreamContext) error {
	if _, err := js.AddStream(&nats.StreamConfig{Name: "GOH", Subjects: []string{"goh"}}); err != nil {
		return err
	}
	defer js.DeleteStream("GOH")
	got := make(chan string, 10)
	sub, err := js.Subscribe("goh", func(m *nats.Msg) { got <- string(m.Data); m.Ack() }, nats.Durable("pusher"), nats.ManualAck())
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	for i := 0; i < 3; i++ {
		js.Publish("goh", []byte(fmt.Sprint(i)))
	}
	var order []string
	for i := 0; i < 3; i++ {
		select {
		case m := <-got:
			order = append(order, m)
		case <-time.After(5 * time.Second):
			return fmt.Errorf("got %v", order)
		}
	}
	sync, err := js.SubscribeSync("goh", nats.DeliverLast())
	if err != nil {
		return err
	}
	defer sync.Unsubscribe()
	last, err := nextMsg(sync)
	if err != nil {
		return err
	}
	meta, err := last.Metadata()
	if err != nil {
		return err
	}
	return expect(strings.Join(order, "") == "012" && string(last.Data) == "2" && meta.Sequence.Stream == 3,
		"order %v, last %q at %d", order, last.Data, meta.Sequence.Stream)
}

func orderedConsumer(js nats.JetStreamContext) error {
	if _, err := js.AddStream(&nats.StreamConfig{Name: "GOO", Subjects: []string{"goo"}}); err != nil {
		return err
	}
	defer js.DeleteStream("GOO")
	for i := 0; i < 20; i++ {
		js.Publish("goo", []byte(fmt.Sprint(i)))
	}
	sub, err := js.SubscribeSync("goo", nats.OrderedConsumer())
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	for i := 0; i < 20; i++ {
		m, err := nextMsg(sub)
		if err != nil {
			return fmt.Errorf("message %d: %v", i, err)
		}
		if string(m.Data) != fmt.Sprint(i) {
			return fmt.Errorf("message %d is %q", i, m.Data)
		}
	}
	return nil
}

func keyValue(js nats.JetStreamContext) error {
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "gokv", History: 5})
	if err != nil {
		return err
	}
	defer js.DeleteKeyValue("gokv")
	watcher, err := kv.Watch("color.*")
	if err != nil {
		return err
	}
	defer watcher.Stop()
	r1, err := kv.Put("color.sky", []byte("blue"))
	if err != nil {
		return err
	}
	if _, err := kv.Put("color.grass", []byte("green")); err != nil {
		return err
	}
	entry, err := kv.Get("color.sky")
	if err != nil || string(entry.Value()) != "blue" || entry.Revision() != r1 {
		return fmt.Errorf("get %v %v", entry, err)
	}
	r3, err := kv.Update("color.sky", []byte("grey"), r1)
	if err != nil {
		return fmt.Errorf("update: %v", err)
	}
	if _, err := kv.Update("color.sky", []byte("red"), r1); err == nil {
		return fmt.Errorf("update with a stale revision succeeded")
	}
	if _, err := kv.Create("color.sky", []byte("x")); err == nil {
		return fmt.Errorf("create of an existing key succeeded")
	}
	history, err := kv.History("color.sky")
	if err != nil || len(history) != 2 || string(history[1].Value()) != "grey" || history[1].Revision() != r3 {
		return fmt.Errorf("history %v %v", history, err)
	}
	if err := kv.Delete("color.grass"); err != nil {
		return err
	}
	if _, err := kv.Get("color.grass"); !errors.Is(err, nats.ErrKeyNotFound) {
		return fmt.Errorf("get deleted: %v", err)
	}
	keys, err := kv.Keys()
	if err != nil {
		return err
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "color.sky" {
		return fmt.Errorf("keys %v", keys)
	}
	if err := kv.Purge("color.sky"); err != nil {
		return err
	}
	if _, err := kv.Keys(); !errors.Is(err, nats.ErrNoKeysFound) {
		return fmt.Errorf("keys after purge: %v", err)
	}
	// The watcher saw: the initial nil (nothing yet), then every change in order.
	var ops []string
	deadline := time.After(5 * time.Second)
	for len(ops) < 6 {
		select {
		case e := <-watcher.Updates():
			if e == nil {
				ops = append(ops, "init")
				continue
			}
			ops = append(ops, fmt.Sprintf("%s:%s:%s", e.Operation(), e.Key(), e.Value()))
		case <-deadline:
			return fmt.Errorf("watch saw %v", ops)
		}
	}
	want := "init|KeyValuePutOp:color.sky:blue|KeyValuePutOp:color.grass:green|KeyValuePutOp:color.sky:grey|KeyValueDeleteOp:color.grass:|KeyValuePurgeOp:color.sky:"
	return expect(strings.Join(ops, "|") == want, "watch saw %v", ops)
}

func objectStore(js nats.JetStreamContext) error {
	store, err := js.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: "goobj"})
	if err != nil {
		return err
	}
	defer js.DeleteObjectStore("goobj")
	data := make([]byte, 300*1024+17) // three chunks of 128 KiB, the last one short
	for i := range data {
		data[i] = byte(i * 7)
	}
	info, err := store.PutBytes("blob.bin", data)
	if err != nil {
		return err
	}
	if info.Chunks != 3 || info.Size != uint64(len(data)) {
		return fmt.Errorf("put %+v", info)
	}
	if _, err := store.PutString("small.txt", "hello"); err != nil {
		return err
	}
	back, err := store.GetBytes("blob.bin")
	if err != nil || !bytes.Equal(back, data) {
		return fmt.Errorf("get: %d bytes, %v", len(back), err)
	}
	list, err := store.List()
	if err != nil {
		return err
	}
	var names []string
	for _, o := range list {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "blob.bin,small.txt" {
		return fmt.Errorf("list %v", names)
	}
	if err := store.Delete("blob.bin"); err != nil {
		return err
	}
	if _, err := store.GetBytes("blob.bin"); !errors.Is(err, nats.ErrObjectNotFound) {
		return fmt.Errorf("get deleted: %v", err)
	}
	return nil
}
