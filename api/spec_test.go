package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/protocol"
)

// resolveRefs checks that every "$ref" in doc points at something in doc.
func resolveRefs(t *testing.T, name string, doc map[string]any) {
	t.Helper()
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if lookup(doc, ref) == nil {
					t.Errorf("%s: $ref %s resolves to nothing", name, ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
}

// lookup follows a local JSON pointer ("#/components/messages/update").
func lookup(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// deref follows v's $ref, if it has one.
func deref(doc map[string]any, v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		m, _ = lookup(doc, ref).(map[string]any)
	}
	return m
}

func fetchYAML(t *testing.T, ts *testServer, path string) map[string]any {
	t.Helper()
	code, body := ts.get(path)
	if code != 200 {
		t.Fatalf("GET %s: %d", path, code)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	resolveRefs(t, path, doc)
	return doc
}

// TestAsyncAPIDocument: /asyncapi.yaml is an AsyncAPI 3 document whose
// references resolve, and it has every message type, every top-level field
// and every error code the server really emits (collected from a live
// session of a server with a stream epoch), each message with an example
// that carries its required fields.
func TestAsyncAPIDocument(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond, Epoch: 1764000000000}, "synthetic:?symbols=5&rate=500&seed=1")
	doc := fetchYAML(t, ts, "/asyncapi.yaml")
	if v, _ := doc["asyncapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("asyncapi: %q, want 3.x", v)
	}
	channel := deref(doc, lookup(doc, "#/channels/market"))
	if channel == nil {
		t.Fatal("no channel market")
	}
	documented := map[string]map[string]any{} // message name → message
	for name, m := range channel["messages"].(map[string]any) {
		documented[name] = deref(doc, m)
	}

	// a session that makes the server emit every kind of message it has
	waitQuote(t, ts, "AAPL")
	c := dial(t, ts.wsURL(""), true, nil)
	seen := map[string]bool{}
	codes := map[string]bool{}
	fields := map[string]map[string]bool{} // message type → top-level fields sent
	record := func(m serverMsg) {
		seen[m.Type] = true
		var top map[string]json.RawMessage
		json.Unmarshal(m.Raw, &top)
		if fields[m.Type] == nil {
			fields[m.Type] = map[string]bool{}
		}
		for k := range top {
			fields[m.Type][k] = true
		}
		if m.Type == "error" {
			codes[m.Code] = true
		}
	}
	c.send(`{"op":"subscribe","id":1,"symbols":["AAPL","NOPE"]}`)
	c.send(`{"op":"ping","id":2}`)
	c.send(`not json`)
	c.send(`{"op":"dance"}`)
	c.send(`{"op":"unsubscribe","id":3,"symbols":["AAPL"]}`)
	c.send(`{"op":"subscribe","symbols":["*"]}`)
	for i := 0; i < 40; i++ {
		c.send(`{"op":"ping"}`) // past the burst: rate_limited
	}
	for deadline := time.Now().Add(10 * time.Second); !seen["update"] || !seen["snapshot"] || !seen["unsubscribed"] || !codes["rate_limited"]; {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("session: %v (seen %v)", err, seen)
		}
		record(m)
	}
	for typ := range seen {
		msg, ok := documented[typ]
		if !ok {
			t.Errorf("the server sends %q; the AsyncAPI document lacks it", typ)
			continue
		}
		checkExamples(t, doc, typ, msg, "type")
		props, _ := deref(doc, msg["payload"])["properties"].(map[string]any)
		for f := range fields[typ] {
			if _, ok := props[f]; !ok {
				t.Errorf("the server sends %q in %q; the AsyncAPI document lacks the field", f, typ)
			}
		}
	}
	if !fields["snapshot"]["epoch"] {
		t.Error("a server with a stream epoch sent a snapshot without it")
	}
	for _, op := range []string{"subscribe", "unsubscribe", "ping"} {
		msg, ok := documented[op]
		if !ok {
			t.Errorf("request %q is not documented", op)
			continue
		}
		checkExamples(t, doc, op, msg, "op")
	}
	enum := lookup(doc, "#/components/messages/error/payload/properties/code/enum")
	var listed []string
	for _, v := range enum.([]any) {
		listed = append(listed, v.(string))
	}
	for _, code := range []string{protocol.CodeBadRequest, protocol.CodeUnknownOp, protocol.CodeUnknownSymbol, protocol.CodeTooManySymbols, protocol.CodeRateLimited, protocol.CodeForbidden} {
		if !slices.Contains(listed, code) {
			t.Errorf("error code %q is not in the document", code)
		}
	}
	for code := range codes {
		if !slices.Contains(listed, code) {
			t.Errorf("the server sent error code %q; the document lacks it", code)
		}
	}
	t.Logf("server emitted %d message types and %d error codes, all documented", len(seen), len(codes))
}

// checkExamples: msg has examples whose discriminator (type or op) is
// name and which carry the payload schema's required fields.
func checkExamples(t *testing.T, doc map[string]any, name string, msg map[string]any, key string) {
	t.Helper()
	examples, _ := msg["examples"].([]any)
	if len(examples) == 0 {
		t.Errorf("%s: no example", name)
	}
	payload := deref(doc, msg["payload"])
	var required []any
	if payload != nil {
		required, _ = payload["required"].([]any)
	}
	for _, e := range examples {
		p, _ := e.(map[string]any)["payload"].(map[string]any)
		if p == nil {
			t.Errorf("%s: an example without a payload", name)
			continue
		}
		if p[key] != name {
			t.Errorf("%s: example %s is %v", name, key, p[key])
		}
		for _, r := range required {
			if _, ok := p[r.(string)]; !ok {
				t.Errorf("%s: example lacks required %q", name, r)
			}
		}
		if _, err := json.Marshal(p); err != nil {
			t.Errorf("%s: example is not JSON: %v", name, err)
		}
	}
}

// TestOpenAPIDocument: /openapi.yaml documents every GET endpoint the app
// serves (the dashboard's files, the WebSocket and profiling excepted), and
// every documented path answers.
func TestOpenAPIDocument(t *testing.T) {
	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=5&rate=500&seed=1")
	doc := fetchYAML(t, ts, "/openapi.yaml")
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi: %q", v)
	}
	paths := doc["paths"].(map[string]any)
	for _, r := range ts.srv.app.GetRoutes(true) {
		if r.Method != "GET" || r.Path == "/" || r.Path == "/ws" || strings.HasPrefix(r.Path, "/debug") {
			continue
		}
		p := strings.Replace(r.Path, "/*", "/{symbol}", 1)
		if _, ok := paths[p]; !ok {
			t.Errorf("GET %s is served but not in openapi.yaml", r.Path)
		}
	}
	waitQuote(t, ts, "AAPL")
	for p := range paths {
		if p == "/stream" {
			continue // an endless response: TestOpenAPIStream
		}
		if code, _ := ts.get(strings.Replace(p, "{symbol}", "AAPL", 1)); code != 200 {
			t.Errorf("documented GET %s answers %d", p, code)
		}
	}
	// a documented 431 is what the path answers to headers past 4 KiB
	for p, item := range paths {
		responses, _ := lookup(item.(map[string]any), "#/get/responses").(map[string]any)
		if responses["431"] == nil {
			continue
		}
		req, _ := http.NewRequest("GET", ts.url(strings.Replace(p, "{symbol}", "AAPL", 1)), nil)
		req.Header.Set("X-Padding", strings.Repeat("a", 5000))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 431 {
			t.Errorf("GET %s documents 431; with 5000 bytes of headers it answers %d", p, resp.StatusCode)
		}
	}
}
