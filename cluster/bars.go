package cluster

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/ticker-io/ticker/bars"
)

// BarsSubject is where edges ask the ingest leader for a symbol's bars
// (request/reply): the leader's aggregator sees every version, an edge only
// those its clients want.
const BarsSubject = "ticker.bars"

// barRequest is the request on BarsSubject; the reply is the body of
// GET /api/bars/{symbol} (bars.AppendJSON), or {"error":"unknown symbol"}.
type barRequest struct {
	Symbol   string `json:"symbol"`
	Interval string `json:"interval"`
	Limit    int    `json:"limit"`
}

type barError struct {
	Error string `json:"error"`
}

// barReader is what ServeBars answers from: a bars.Aggregator.
type barReader interface {
	Bars(ctx context.Context, symbol string, iv bars.Interval, limit int) ([]bars.Bar, bool, error)
}

// ServeBars answers bar requests from src while leader reports true; a
// standby stays silent, so the one answer comes from the leader. The
// subscription's callback runs on nats.go's goroutine; Unsubscribe it to stop.
func ServeBars(nc *nats.Conn, src barReader, leader func() bool) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(BarsSubject, func(m *nats.Msg) {
		if !leader() {
			return
		}
		var req barRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			m.Respond(errorReply("bad request"))
			return
		}
		iv, err := bars.ParseInterval(req.Interval)
		if err != nil {
			m.Respond(errorReply(err.Error()))
			return
		}
		bs, found, _ := src.Bars(context.Background(), req.Symbol, iv, req.Limit)
		if !found {
			m.Respond(errorReply("unknown symbol"))
			return
		}
		m.Respond(bars.AppendJSON(nil, req.Symbol, iv, bs))
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", BarsSubject, err)
	}
	return sub, nil
}

func errorReply(msg string) []byte {
	b, _ := json.Marshal(barError{msg})
	return b
}

// BarClient answers an edge's bar requests (api.BarSource) by asking the
// ingest leader on BarsSubject; the request's context bounds the wait.
type BarClient struct{ nc *nats.Conn }

// NewBarClient returns a BarClient on nc.
func NewBarClient(nc *nats.Conn) *BarClient { return &BarClient{nc: nc} }

// Bars asks the ingest leader for symbol's newest bars. found is false when
// the leader has none; an error means no leader answered in time.
func (c *BarClient) Bars(ctx context.Context, symbol string, iv bars.Interval, limit int) ([]bars.Bar, bool, error) {
	req, _ := json.Marshal(barRequest{Symbol: symbol, Interval: iv.String(), Limit: limit})
	m, err := c.nc.RequestWithContext(ctx, BarsSubject, req)
	if err != nil {
		return nil, false, fmt.Errorf("asking the ingest leader for bars of %s: %w", symbol, err)
	}
	var e barError
	if json.Unmarshal(m.Data, &e) == nil && e.Error != "" {
		if e.Error == "unknown symbol" {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("the ingest leader refused bars of %s: %s", symbol, e.Error)
	}
	sym, _, bs, err := bars.ParseJSON(m.Data)
	if err != nil || sym != symbol {
		return nil, false, fmt.Errorf("a malformed bars reply for %s: %v", symbol, err)
	}
	return bs, true, nil
}
