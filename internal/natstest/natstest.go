// Package natstest runs real NATS servers inside a test process: n
// embedded nats-server instances with JetStream, clustered over loopback
// routes, stopped when the test ends.
package natstest

import (
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ticker-io/ticker/internal/testnet"
)

// Cluster is n embedded NATS servers with JetStream, clustered on loopback.
type Cluster struct {
	t       testing.TB
	servers []*server.Server
	opts    []*server.Options
}

// Start runs n servers (JetStream on, stores in temporary folders) and
// stops them when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = testnet.FreePort(t)
	}
	c := &Cluster{t: t}
	for i := 0; i < n; i++ {
		var routes []*url.URL
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
			}
		}
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       testnet.FreePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      os.Getenv("TICKER_TEST_LOG") == "",
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "ticker", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     routes,
		}
		if n == 1 {
			o.Cluster, o.Routes = server.ClusterOpts{}, nil // a single server is no cluster
		}
		c.opts = append(c.opts, o)
		c.servers = append(c.servers, c.start(o))
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
	})
	return c
}

func (c *Cluster) start(o *server.Options) *server.Server {
	s, err := server.NewServer(o)
	if err != nil {
		c.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		c.t.Fatal("nats server not ready")
	}
	return s
}

// URL is server i's client URL.
func (c *Cluster) URL(i int) string { return c.servers[i].ClientURL() }

// Kill stops server i.
func (c *Cluster) Kill(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
	c.servers[i] = nil
}

// Restart stops server i (if it runs), waits down, and starts it again on
// the same port with the same store directory, as an operator restarting
// nats-server would.
func (c *Cluster) Restart(i int, down time.Duration) {
	c.t.Helper()
	if c.servers[i] != nil {
		c.Kill(i)
	}
	time.Sleep(down)
	o := *c.opts[i]
	c.servers[i] = c.start(&o)
}
