package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ticker-io/ticker/fanout"
)

// TestOpenAPIStream: what openapi.yaml says of GET /stream is what the
// server does: its example stream parses into events named after their
// messages' types, a stream of the documented example symbols starts with
// those events in that order, and the documented 400 is the server's.
func TestOpenAPIStream(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Epoch: 1764000000000}, "synthetic:?symbols=8&rate=400&seed=3")
	doc := fetchYAML(t, ts, "/openapi.yaml")
	get := doc["paths"].(map[string]any)["/stream"].(map[string]any)["get"].(map[string]any)
	responses := get["responses"].(map[string]any)
	ok := responses["200"].(map[string]any)["content"].(map[string]any)["text/event-stream"].(map[string]any)
	example := ok["example"].(string)

	// the example, read as a client reads a stream
	var names []string
	ex := &streamClient{t: t, body: bufio.NewReader(strings.NewReader(example)), book: &client{t: t, book: map[string]map[string]string{}}}
	for {
		ev, err := ex.next(0)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the example: %v", err)
		}
		if ev.Data == "" {
			if ev.Retry < 0 && (len(ev.Comments) != 1 || ev.Comments[0] != "ping") {
				t.Errorf("the example has a block %+v", ev)
			}
			continue
		}
		var m struct{ Type string }
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil || m.Type != ev.Event {
			t.Errorf("the example's event %q carries %s (%v)", ev.Event, ev.Data, err)
		}
		if (ev.Event == "snapshot" || ev.Event == "update") != ev.HasID {
			t.Errorf("the example's %s event: id %q", ev.Event, ev.ID)
		}
		names = append(names, ev.Event)
	}
	if strings.Join(names, ",") != "subscribed,snapshot,update" {
		t.Errorf("the example's events %v", names)
	}

	// the server, with the documented example symbols
	var symbols string
	for _, p := range get["parameters"].([]any) {
		if p := p.(map[string]any); p["name"] == "symbols" {
			symbols = p["example"].(string)
		}
	}
	for _, sym := range strings.Split(symbols, ",") {
		waitQuote(t, ts, sym)
	}
	s := openStream(t, ts.addr, "/stream?symbols="+url.QueryEscape(symbols))
	if first, err := s.next(time.Second); err != nil || first.Retry != 5000 {
		t.Errorf("first block %+v (%v), want retry 5000 as documented", first, err)
	}
	var got []string
	for len(got) < len(names) {
		m, _, err := s.message(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Type)
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("the stream starts %v, the example %v", got, names)
	}

	bad := responses["400"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["example"].(map[string]any)
	code, body := ts.get("/stream?symbols=" + url.QueryEscape("BT C"))
	var answer map[string]any
	json.Unmarshal([]byte(body), &answer)
	if code != 400 || answer["error"] != bad["error"] {
		t.Errorf("documented 400 %q; the server answers %d %s", bad["error"], code, body)
	}
}
