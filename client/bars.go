package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Bar is one OHLCV bar of a symbol (GET /api/bars): its trades' prices, or
// the mid price for a symbol that has never traded (Volume 0).
type Bar struct {
	Time                   time.Time // start of the bar
	Open, High, Low, Close decimal.Decimal
	Volume                 decimal.Decimal // sum of the trades' last_size
}

// Bars fetches symbol's newest bars, oldest first, from the server's REST
// API (the host of Options.URL, with Options.Token or TokenFunc): interval "1s" (the
// last 15 minutes) or "1m" (the last 24 hours), at most limit of them (0:
// as many as the server keeps). It does not need Run.
func (c *Client) Bars(ctx context.Context, symbol, interval string, limit int) ([]Bar, error) {
	u, err := url.Parse(c.opts.URL)
	if err != nil {
		return nil, fmt.Errorf("bars: URL %q: %w", c.opts.URL, err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path = strings.TrimSuffix(u.Path, "/ws") + "/api/bars/" + url.PathEscape(symbol)
	q := url.Values{"interval": {interval}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bars of %s: %w", symbol, err)
	}
	tok, err := c.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("bars of %s: %w", symbol, err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bars of %s: %w", symbol, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("bars of %s: %w", symbol, err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		return nil, fmt.Errorf("bars of %s: %s: %s", symbol, res.Status, e.Error)
	}
	var doc struct {
		Bars []struct {
			Time                           int64
			Open, High, Low, Close, Volume decimal.Decimal
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("bars of %s: %w", symbol, err)
	}
	out := make([]Bar, len(doc.Bars))
	for i, b := range doc.Bars {
		out[i] = Bar{Time: time.Unix(b.Time, 0), Open: b.Open, High: b.High, Low: b.Low, Close: b.Close, Volume: b.Volume}
	}
	return out, nil
}
