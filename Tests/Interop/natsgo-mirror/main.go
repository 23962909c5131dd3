// natsgo-mirror drives mirrors and sources with nats.go's typed JetStream API: nats.StreamSource in the
// stream config, StreamInfo's Mirror and Sources (lag, active as a time.Duration), the mirrored messages
// read back with GetMsg, and a refusal read as an *nats.APIError. It prints one line per check and exits 1
// if any failed. It runs with strata-server and with nats-server (Tests/Integration/test_mirrors_sources.py);
// both must pass.
//
//	natsgo-mirror nats://server:4222
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

// waitFor reads the stream's info until done says so (at most 20 s).
func waitFor(js nats.JetStreamContext, name string, done func(*nats.StreamInfo) bool) (*nats.StreamInfo, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := js.StreamInfo(name)
		if err == nil && done(info) {
			return info, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%s: state %+v", name, info.State)
			}
			return info, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mirror(js nats.JetStreamContext) error {
	for i := 0; i < 20; i++ {
		msg := nats.NewMsg(fmt.Sprintf("orders.%d", i%4))
		msg.Data = []byte(fmt.Sprintf("order %d", i))
		msg.Header.Set("N", fmt.Sprint(i))
		if _, err := js.PublishMsg(msg); err != nil {
			return err
		}
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "COPY", Mirror: &nats.StreamSource{Name: "ORDERS"}}); err != nil {
		return err
	}
	info, err := waitFor(js, "COPY", func(i *nats.StreamInfo) bool { return i.State.LastSeq == 20 })
	if err != nil {
		return err
	}
	if info.Mirror == nil || info.Mirror.Name != "ORDERS" || info.Mirror.Lag != 0 || info.Mirror.Active < 0 || info.Mirror.Active > time.Minute {
		return fmt.Errorf("mirror info %+v", info.Mirror)
	}
	if info.Config.Mirror == nil || info.Config.Mirror.Name != "ORDERS" || len(info.Config.Subjects) != 0 {
		return fmt.Errorf("mirror config %+v", info.Config)
	}
	for _, seq := range []uint64{1, 7, 20} {
		original, err := js.GetMsg("ORDERS", seq)
		if err != nil {
			return err
		}
		copied, err := js.GetMsg("COPY", seq)
		if err != nil {
			return err
		}
		if copied.Subject != original.Subject || string(copied.Data) != string(original.Data) ||
			copied.Header.Get("N") != original.Header.Get("N") || !copied.Time.Equal(original.Time) {
			return fmt.Errorf("message %d: %+v, origin %+v", seq, copied, original)
		}
	}
	return nil
}

func source(js nats.JetStreamContext) error {
	_, err := js.AddStream(&nats.StreamConfig{Name: "SOME", Sources: []*nats.StreamSource{{Name: "ORDERS", FilterSubject: "orders.1"}}})
	if err != nil {
		return err
	}
	info, err := waitFor(js, "SOME", func(i *nats.StreamInfo) bool { return i.State.Msgs == 5 })
	if err != nil {
		return err
	}
	if len(info.Sources) != 1 || info.Sources[0].Name != "ORDERS" || info.Sources[0].Lag != 0 {
		return fmt.Errorf("sources info %+v", info.Sources)
	}
	message, err := js.GetMsg("SOME", 1)
	if err != nil {
		return err
	}
	if message.Subject != "orders.1" || message.Header.Get("Nats-Stream-Source") != "ORDERS 2" {
		return fmt.Errorf("sourced message %s %v", message.Subject, message.Header)
	}
	return nil
}

func refusal(js nats.JetStreamContext) error {
	_, err := js.AddStream(&nats.StreamConfig{Name: "BAD", Subjects: []string{"bad"}, Mirror: &nats.StreamSource{Name: "ORDERS"}})
	var apiError *nats.APIError
	if !errors.As(err, &apiError) || apiError.ErrorCode != 10034 {
		return fmt.Errorf("a mirror with subjects: %v", err)
	}
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "COPY", Mirror: &nats.StreamSource{Name: "ORDERS", OptStartSeq: 5}})
	if !errors.As(err, &apiError) || apiError.ErrorCode != 10055 {
		return fmt.Errorf("a changed mirror: %v", err)
	}
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: natsgo-mirror URL")
		os.Exit(2)
	}
	nc, err := nats.Connect(os.Args[1], nats.NoReconnect())
	if err != nil {
		fmt.Printf("FAIL connect: %v\n", err)
		os.Exit(1)
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err == nil {
		_, err = js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.*"}})
	}
	if err != nil {
		fmt.Printf("FAIL setup: %v\n", err)
		os.Exit(1)
	}
	check("mirror", mirror(js))
	check("source", source(js))
	check("refusal", refusal(js))
	if failed {
		os.Exit(1)
	}
}
