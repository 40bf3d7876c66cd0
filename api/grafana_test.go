package api

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticker-io/ticker/cluster"
	"github.com/ticker-io/ticker/fanout"
)

// TestGrafanaDashboard keeps deploy/grafana-dashboard.json from drifting:
// every metric its queries name is one a server exports (the server's own
// collector, the Go and process collectors, and the cluster collectors of
// ingest and edge nodes).
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}

	ts := startServer(t, Config{}, fanout.Config{Window: 10 * time.Millisecond}, "synthetic:?symbols=3&rate=100&seed=1")
	_, body := ts.get("/metrics")
	exported := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			exported[strings.Fields(line)[2]] = true
		}
	}
	descs := make(chan *prometheus.Desc, 128)
	(&collector{s: ts.srv}).Describe(descs) // every ticker_ metric, with samples yet or not
	for _, col := range cluster.Collectors("edge", &cluster.Publisher{}, &cluster.Receiver{}, &cluster.Ingest{}) {
		col.Describe(descs)
	}
	close(descs)
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range descs {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			exported[m[1]] = true
		}
	}

	name := regexp.MustCompile(`\b(?:ticker|process|go)_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if !exported[m] && !exported[base] {
					t.Errorf("panel %q queries %s, which no ticker node exports", p.Title, m)
				}
			}
		}
	}
	t.Logf("%d panels, %d queries, all on exported metrics", len(dash.Panels), queries)
}
