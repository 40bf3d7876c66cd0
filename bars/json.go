package bars

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ticker-io/ticker/market"
)

// AppendJSON appends the answer of GET /api/bars/{symbol}:
//
//	{"symbol":"AAPL","interval":"1s","bars":[{"time":1764000000,"open":"189.12",
//	 "high":"189.14","low":"189.1","close":"189.13","volume":"300"},…]}
//
// time is the bar's start in Unix seconds; the decimals are exact strings.
func AppendJSON(dst []byte, symbol string, iv Interval, bs []Bar) []byte {
	dst = append(dst, `{"symbol":`...)
	dst = strconv.AppendQuote(dst, symbol) // symbols are plain ASCII (market.ValidateSymbol)
	dst = append(dst, `,"interval":"`...)
	dst = append(dst, iv.String()...)
	dst = append(dst, `","bars":[`...)
	for i := range bs {
		b := &bs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"time":`...)
		dst = strconv.AppendInt(dst, b.Time, 10)
		for _, f := range [...]struct {
			key string
			v   market.Decimal
		}{{`,"open":"`, b.Open}, {`","high":"`, b.High}, {`","low":"`, b.Low}, {`","close":"`, b.Close}, {`","volume":"`, b.Volume}} {
			dst = append(dst, f.key...)
			dst = f.v.AppendText(dst)
		}
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// ParseJSON reads what AppendJSON writes.
func ParseJSON(data []byte) (symbol string, iv Interval, bs []Bar, err error) {
	var doc struct {
		Symbol   string `json:"symbol"`
		Interval string `json:"interval"`
		Bars     []struct {
			Time                           int64
			Open, High, Low, Close, Volume string
		} `json:"bars"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", 0, nil, fmt.Errorf("bars: %w", err)
	}
	if iv, err = ParseInterval(doc.Interval); err != nil {
		return "", 0, nil, fmt.Errorf("bars: %w", err)
	}
	bs = make([]Bar, len(doc.Bars))
	for i, b := range doc.Bars {
		bs[i].Time = b.Time
		for _, f := range [...]struct {
			dst *market.Decimal
			s   string
		}{{&bs[i].Open, b.Open}, {&bs[i].High, b.High}, {&bs[i].Low, b.Low}, {&bs[i].Close, b.Close}, {&bs[i].Volume, b.Volume}} {
			if *f.dst, err = market.ParseDecimal([]byte(f.s)); err != nil {
				return "", 0, nil, fmt.Errorf("bars: bar %d: %w", i, err)
			}
		}
	}
	return doc.Symbol, iv, bs, nil
}
