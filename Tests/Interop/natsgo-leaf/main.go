// natsgo-leaf drives a leaf node's JetStream from a client of its hub with nats.go's JetStream domain
// (nats.Domain): streams, publishes with acks, pull consumers and KV, every request crossing the leaf
// connection through $JS.<domain>.API. It prints one line per check and exits 1 if any failed. It runs with
// strata-server and with nats-server as the leaf (Tests/Integration/test_leafnodes.py); both must pass.
//
//	natsgo-leaf nats://hub:4222 edge
package main

import (
	"errors"
	"fmt"
	"os"
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

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: natsgo-leaf HUB-URL DOMAIN")
		os.Exit(2)
	}
	nc, err := nats.Connect(os.Args[1], nats.NoReconnect())
	if err != nil {
		fmt.Printf("FAIL connect: %v\n", err)
		os.Exit(1)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.Domain(os.Args[2]), nats.MaxWait(5*time.Second))
	if err != nil {
		fmt.Printf("FAIL jetstream: %v\n", err)
		os.Exit(1)
	}
	// The leaf's interest may still be on its way to this hub node: wait for the domain to answer.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err = js.AccountInfo()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	check("account info through the domain", err)

	check("stream, publish and pull consumer", func() error {
		if _, err := js.AddStream(&nats.StreamConfig{Name: "GOLEAF", Subjects: []string{"goleaf.>"}}); err != nil {
			return err
		}
		for i := 0; i < 5; i++ {
			ack, err := js.Publish(fmt.Sprintf("goleaf.%d", i), []byte{byte('0' + i)})
			if err != nil {
				return err
			}
			if ack.Domain != os.Args[2] || ack.Sequence != uint64(i+1) {
				return fmt.Errorf("pub ack %+v", ack)
			}
		}
		sub, err := js.PullSubscribe("goleaf.>", "worker", nats.BindStream("GOLEAF"))
		if err != nil {
			return err
		}
		messages, err := sub.Fetch(5, nats.MaxWait(5*time.Second))
		if err != nil {
			return err
		}
		if len(messages) != 5 {
			return fmt.Errorf("fetched %d", len(messages))
		}
		for _, m := range messages {
			if err := m.AckSync(); err != nil {
				return err
			}
		}
		info, err := js.ConsumerInfo("GOLEAF", "worker")
		if err != nil {
			return err
		}
		if info.NumAckPending != 0 || info.Delivered.Stream != 5 {
			return fmt.Errorf("consumer info %+v", info)
		}
		return nil
	}())

	check("key-value put, get, update and watch through the domain", func() error {
		kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "goleaf", History: 3})
		if err != nil {
			return err
		}
		if _, err := kv.Put("colour", []byte("blue")); err != nil {
			return err
		}
		entry, err := kv.Get("colour")
		if err != nil {
			return err
		}
		if string(entry.Value()) != "blue" {
			return fmt.Errorf("got %q", entry.Value())
		}
		if _, err := kv.Update("colour", []byte("green"), entry.Revision()); err != nil {
			return err
		}
		if _, err := kv.Update("colour", []byte("stale"), entry.Revision()); err == nil {
			return errors.New("an update at an old revision was taken")
		}
		watcher, err := kv.Watch("colour")
		if err != nil {
			return err
		}
		defer watcher.Stop()
		select {
		case update := <-watcher.Updates():
			if update == nil || string(update.Value()) != "green" {
				return fmt.Errorf("watch gave %v", update)
			}
		case <-time.After(5 * time.Second):
			return errors.New("no watch update")
		}
		return nil
	}())
	if failed {
		os.Exit(1)
	}
}
