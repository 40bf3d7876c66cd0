package cluster

import "github.com/prometheus/client_golang/prometheus"

// Collectors returns the metrics of a node's cluster parts, for /metrics;
// any of them may be nil. role is "ingest" or "edge".
func Collectors(role string, pub *Publisher, recv *Receiver, in *Ingest) []prometheus.Collector {
	var cs []prometheus.Collector
	counter := func(name, help string, f func() uint64) {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ticker_cluster_" + name, Help: help,
			ConstLabels: prometheus.Labels{"role": role}}, func() float64 { return float64(f()) }))
	}
	gauge := func(name, help string, f func() float64) {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ticker_cluster_" + name, Help: help,
			ConstLabels: prometheus.Labels{"role": role}}, f))
	}
	if pub != nil {
		counter("published_total", "Versions published to the cluster.", pub.Published)
		counter("publish_failures_total", "Publishes to NATS that failed.", pub.Failed)
	}
	if recv != nil {
		st := recv.Stats()
		counter("deltas_received_total", "Deltas passed on to the engine in seq order.", st.Versions.Load)
		counter("gaps_total", "Gaps opened in a symbol already in sync (deltas lost in transit); each is repaired from the bucket.", st.Gaps.Load)
		counter("repairs_total", "Full quotes passed on from the bucket (gaps, late joins, reconnects).", st.Repairs.Load)
		counter("fetches_total", "Reads of the bucket of latest quotes.", st.Fetches.Load)
		counter("malformed_total", "Cluster messages that could not be parsed.", st.Malformed.Load)
		counter("epochs_total", "New stream epochs gone over to (every symbol read from the bucket again).", st.Epochs.Load)
		counter("stale_total", "Deltas and bucket values of an older epoch, dropped.", st.Stale.Load)
		gauge("connected", "1 while connected to NATS.", func() float64 {
			if recv.nc.IsConnected() {
				return 1
			}
			return 0
		})
	}
	if in != nil {
		gauge("leader", "1 while this ingest node publishes the stream.", func() float64 {
			if in.Leader() {
				return 1
			}
			return 0
		})
	}
	return cs
}
