package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseEvent is one event (or comment block) as an EventSource parser reads
// it (WHATWG HTML, "Parsing an event stream").
type sseEvent struct {
	ID       string
	HasID    bool
	Event    string
	Data     string
	Retry    int // -1: no retry field
	Comments []string
}

// streamClient is a test client of GET /stream on a raw TCP connection:
// it writes the request itself, reads the response with net/http's
// parser (which undoes the chunked framing) and parses the event stream.
type streamClient struct {
	t    testing.TB
	nc   net.Conn
	resp *http.Response
	body *bufio.Reader
	book *client // applies snapshots and updates, checking each symbol's seq
}

// openStream sends GET path over HTTP/1.1 with the header lines given and
// reads the response head.
func openStream(t testing.TB, addr, path string, header ...string) *streamClient {
	t.Helper()
	return openStreamLine(t, addr, "GET "+path+" HTTP/1.1", header...)
}

// openStreamLine is openStream with the request line given.
func openStreamLine(t testing.TB, addr, requestLine string, header ...string) *streamClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := requestLine + "\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("%s: %v", requestLine, err)
	}
	return &streamClient{t: t, nc: nc, resp: resp, body: bufio.NewReader(resp.Body),
		book: &client{t: t, book: map[string]map[string]string{}}}
}

// next reads the next event or comment block, within timeout (with a
// connection).
func (s *streamClient) next(timeout time.Duration) (sseEvent, error) {
	if s.nc != nil {
		s.nc.SetReadDeadline(time.Now().Add(timeout))
	}
	ev := sseEvent{Retry: -1}
	var data []string
	lines := 0
	for {
		line, err := s.body.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if lines == 0 {
				continue
			}
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		lines++
		if c, ok := strings.CutPrefix(line, ":"); ok {
			ev.Comments = append(ev.Comments, strings.TrimPrefix(c, " "))
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			ev.ID, ev.HasID = value, true
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.Retry, _ = strconv.Atoi(value)
		default:
			return ev, fmt.Errorf("unknown field %q", line)
		}
	}
}

// message reads events until a ticker.v1 message arrives (heartbeats are
// skipped), checks that its event name is its type and that it is one
// line of JSON, and applies it to the book.
func (s *streamClient) message(timeout time.Duration) (serverMsg, sseEvent, error) {
	deadline := time.Now().Add(timeout)
	for {
		ev, err := s.next(time.Until(deadline))
		if err != nil {
			return serverMsg{}, ev, err
		}
		if ev.Data == "" {
			continue // a comment, or the retry hint
		}
		var m serverMsg
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			return m, ev, fmt.Errorf("data %q: %v", ev.Data, err)
		}
		m.Raw = []byte(ev.Data)
		if ev.Event != m.Type {
			return m, ev, fmt.Errorf("event %q carries a %q message", ev.Event, m.Type)
		}
		if strings.Contains(ev.Data, "\n") {
			return m, ev, fmt.Errorf("data on more than one line: %q", ev.Data)
		}
		return m, ev, s.book.apply(m)
	}
}

// expect reads messages until one of type typ, failing after timeout.
func (s *streamClient) expect(typ string, timeout time.Duration) (serverMsg, sseEvent) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, ev, err := s.message(time.Until(deadline))
		if err != nil {
			s.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return m, ev
		}
	}
}
