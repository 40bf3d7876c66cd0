package api

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the server's, the engine's and the feeds' counters at
// scrape time, so the hot paths only touch atomics.
type collector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ticker_"+name, help, labels, nil)
}

var (
	descConnections     = desc("connections", "Open WebSocket connections and event streams.")
	descStreams         = desc("streams", "Open event streams (GET /stream); they count in ticker_connections too.")
	descConnsTotal      = desc("connections_total", "WebSocket connections and event streams accepted.")
	descQueued          = desc("queued_bytes", "Bytes waiting in all connections' outbound queues.")
	descClients         = desc("clients", "Clients registered with the fanout engine.")
	descSubscriptions   = desc("subscriptions", "Symbol subscriptions (wildcards count once).")
	descUpdates         = desc("updates_sent_total", "Update messages queued to connections.")
	descSnapshots       = desc("snapshots_sent_total", "Snapshot messages queued, by reason.", "reason")
	descBytes           = desc("bytes_sent_total", "Bytes written to WebSocket connections and event streams (wire bytes, compressed where negotiated).")
	descDrops           = desc("drops_total", "Data frames dropped from overflowing connection queues.")
	descSlow            = desc("slow_consumer_closes_total", "Connections closed 1008 as slow consumers.")
	descCloses          = desc("closes_total", "Connections closed by the server with a close code, by code (counted as the close frame goes out, or when the socket had to be cut before it could).", "code")
	descQuotesIn        = desc("quotes_ingested_total", "Feed updates taken in by the engine.")
	descQuotesRejected  = desc("quotes_rejected_total", "Feed updates with an invalid symbol.")
	descVersions        = desc("versions_published_total", "Symbol versions published (seq increments).")
	descFramesBuilt     = desc("frames_built_total", "Distinct messages encoded.")
	descFramesShared    = desc("frames_shared_total", "Times an encoded update was reused for another connection.")
	descFramesDeflated  = desc("frames_deflated_total", "Distinct messages compressed whole (snapshots, and updates splicing could not code).")
	descFramesAssembled = desc("frames_assembled_total", "Distinct updates spliced for deflate clients from their window's coded entries (one Huffman code per window; package splice).")
	descDeflateIn       = desc("deflate_in_bytes_total", "Payload bytes compressed.")
	descDeflateOut      = desc("deflate_out_bytes_total", "Compressed frame bytes produced.")
	descFlush           = desc("window_flush_seconds", "Time to publish and fan out one coalescing window.")
	descInterval        = desc("window_interval_seconds", "Time from one window's flush to the next: the coalescing window as clients get it (longer than --coalesce when a flush overruns it).")
	descRingLen         = desc("ring_length", "Quotes waiting in the feed ring.")
	descRingFull        = desc("ring_full_waits_total", "Feed pushes that found the ring full and waited.")
	descFeedQuotes      = desc("feed_quotes_total", "Quotes delivered by a feed.", "feed")
	descFeedErrors      = desc("feed_errors_total", "Malformed inputs a feed skipped.", "feed")
	descRefused         = desc("handshakes_refused_total", "WebSocket handshakes and event stream requests refused before the upgrade or stream, by reason: origin, token, token_expired (these two count refused REST requests too), limit_total, limit_address; limit_race: accepted, then closed 1013 (503 for a stream) when the limit was taken meanwhile.", "reason")
	descPanics          = desc("connection_panics_total", "Panics recovered while handling one connection (it was closed 1011).")
	descFeedUp          = desc("feed_up", "1 while a feed runs, 0 once it has finished or failed.", "feed")
	descFeedConnected   = desc("feed_connected", "Venue feeds: 1 while connected and receiving, 0 while reconnecting.", "feed")
	descFeedMessages    = desc("feed_messages_total", "Venue feeds: messages received (data, acks, heartbeats, bad ones).", "feed")
	descFeedReconnects  = desc("feed_reconnects_total", "Venue feeds: connections started after the first.", "feed")
	descFeedSeqGaps     = desc("feed_sequence_gaps_total", "Venue feeds: gaps in the venue's sequence numbers.", "feed")
	descFeedLag         = desc("feed_lag_seconds", "Venue feeds: delay from the venue's event time to ingest.", "feed")
)

// allDescs is every metric the collector may export, samples yet or not.
var allDescs = []*prometheus.Desc{descConnections, descStreams, descConnsTotal, descQueued, descClients, descSubscriptions, descUpdates, descSnapshots, descBytes, descDrops, descSlow, descCloses, descQuotesIn, descQuotesRejected, descVersions, descFramesBuilt, descFramesShared, descFramesDeflated, descFramesAssembled, descDeflateIn, descDeflateOut, descFlush, descInterval, descRingLen, descRingFull, descFeedQuotes, descFeedErrors, descRefused, descPanics, descFeedUp, descFeedConnected, descFeedMessages, descFeedReconnects, descFeedSeqGaps, descFeedLag}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	st := s.engine.Stats()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(descConnections, float64(s.Connections()))
	gauge(descStreams, float64(s.streams.Load()))
	counter(descConnsTotal, s.connsTotal.Load())
	gauge(descQueued, float64(s.QueuedBytes()))
	gauge(descClients, float64(st.Clients.Load()))
	gauge(descSubscriptions, float64(st.Subscriptions.Load()))
	counter(descUpdates, st.UpdatesQueued.Load())
	counter(descSnapshots, st.SnapshotsQueued.Load(), "subscribe")
	counter(descSnapshots, st.Resyncs.Load(), "resync")
	counter(descBytes, s.bytesSent.Load())
	counter(descDrops, st.Drops.Load())
	counter(descSlow, st.SlowClosed.Load())
	s.closes.Range(func(k, v any) bool {
		counter(descCloses, v.(*atomic.Uint64).Load(), strconv.Itoa(k.(int)))
		return true
	})
	s.refused.Range(func(k, v any) bool {
		counter(descRefused, v.(*atomic.Uint64).Load(), k.(string))
		return true
	})
	counter(descPanics, s.panics.Load())
	counter(descQuotesIn, st.QuotesIn.Load())
	counter(descQuotesRejected, st.QuotesRejected.Load())
	counter(descVersions, st.Versions.Load())
	counter(descFramesBuilt, st.FramesBuilt.Load())
	counter(descFramesShared, st.FramesShared.Load())
	counter(descFramesDeflated, st.FramesDeflated.Load())
	counter(descFramesAssembled, st.FramesAssembled.Load())
	counter(descDeflateIn, st.DeflateIn.Load())
	counter(descDeflateOut, st.DeflateOut.Load())
	buckets, count, sum := st.Flush.Snapshot()
	ch <- prometheus.MustNewConstHistogram(descFlush, count, sum, buckets)
	buckets, count, sum = st.Interval.Snapshot()
	ch <- prometheus.MustNewConstHistogram(descInterval, count, sum, buckets)
	if s.ring != nil {
		gauge(descRingLen, float64(s.ring.Len()))
		counter(descRingFull, s.ring.FullWaits())
	}
	for _, f := range s.feeds.Statuses() {
		counter(descFeedQuotes, f.Quotes, f.Name)
		counter(descFeedErrors, f.Errors, f.Name)
		up := 1.0
		if f.Finished {
			up = 0
		}
		gauge(descFeedUp, up, f.Name)
		if u := f.Upstream; u != nil {
			connected := 0.0
			if u.Connected {
				connected = 1
			}
			gauge(descFeedConnected, connected, f.Name)
			counter(descFeedMessages, u.Messages, f.Name)
			counter(descFeedReconnects, u.Reconnects, f.Name)
			counter(descFeedSeqGaps, u.SeqGaps, f.Name)
			buckets, count, sum := u.Lag.Snapshot()
			ch <- prometheus.MustNewConstHistogram(descFeedLag, count, sum, buckets, f.Name)
		}
	}
}
