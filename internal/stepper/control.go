package stepper

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/ticker-io/ticker/fanout"
	"github.com/ticker-io/ticker/market"
	"github.com/ticker-io/ticker/protocol"
)

// MaxPublishBytes bounds one POST /control/publish body.
const MaxPublishBytes = 16 << 20

// stepTimeout bounds one step: a flush takes milliseconds.
const stepTimeout = 10 * time.Second

// Control serves the stepper over HTTP, at /control/… (the paths are
// matched in full: mount it at /control). It answers only requests from
// a loopback address (403 otherwise): it is a test aid, never to be
// exposed.
//
//	POST /control/publish   body: NDJSON fixture lines; all published, or none (400)
//	POST /control/step      one window; ?to=TS (Unix µs) steps to TS, ?next=true to the next fixture ts
//	GET  /control/state     the clock's time, whether fixture lines remain, clients, subscriptions
//
// Every answer is JSON; errors are {"error":"…"}. The state's clients and
// subscriptions are the engine's (its Stats), so that a test can wait for
// its bot to have subscribed before it steps.
func Control(s *Stepper, e *fanout.Engine) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /control/publish", func(w http.ResponseWriter, r *http.Request) {
		qs, err := parseLines(http.MaxBytesReader(w, r.Body, MaxPublishBytes))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.Publish(qs...); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, map[string]any{"published": len(qs)})
	})
	mux.HandleFunc("POST /control/step", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), stepTimeout)
		defer cancel()
		q := r.URL.Query()
		var win Window
		var err error
		switch to, next := q.Get("to"), q.Get("next"); {
		case to != "" && next != "":
			writeError(w, http.StatusBadRequest, errors.New("give to or next, not both"))
			return
		case to != "":
			us, perr := strconv.ParseInt(to, 10, 64)
			if perr != nil || us <= 0 {
				writeError(w, http.StatusBadRequest, fmt.Errorf("to=%q: want a time in Unix microseconds", to))
				return
			}
			win, err = s.StepTo(ctx, time.UnixMicro(us))
		case next != "":
			if b, perr := strconv.ParseBool(next); perr != nil || !b {
				writeError(w, http.StatusBadRequest, fmt.Errorf("next=%q: want true", next))
				return
			}
			win, err = s.StepNext(ctx)
		default:
			win, err = s.Step(ctx)
		}
		if err != nil {
			writeError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, map[string]any{"time": win.Time.UnixMicro(), "quotes": win.Quotes, "more": win.More})
	})
	mux.HandleFunc("GET /control/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"time": s.Now().UnixMicro(), "more": s.More(), "malformed": s.Malformed(),
			"clients": e.Stats().Clients.Load(), "subscriptions": e.Stats().Subscriptions.Load()})
	})
	methods := map[string]string{"/control/publish": "POST", "/control/step": "POST", "/control/state": "GET"}
	mux.HandleFunc("/control/", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := methods[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: want %s", r.Method, r.URL.Path, m))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Errorf("%s %s: not a control endpoint (POST /control/publish, POST /control/step, GET /control/state)", r.Method, r.URL.Path))
	})
	return loopbackOnly(mux)
}

// loopbackOnly refuses every request whose peer is not a loopback address.
// X-Forwarded-For is not looked at: a proxy in front means it is exposed.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			writeError(w, http.StatusForbidden, errors.New("the control endpoint answers only loopback clients"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// parseLines reads NDJSON fixture lines (protocol.ParseLine), skipping
// blank and comment lines; a bad line's error names its number.
func parseLines(r io.Reader) ([]market.Quote, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var p fastjson.Parser
	var out []market.Quote
	for n := 1; sc.Scan(); n++ {
		var q market.Quote
		err := protocol.ParseLine(&p, sc.Bytes(), &q)
		if errors.Is(err, protocol.ErrSkip) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, q)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
