package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// benchCluster is ticker as a cluster on loopback: an embedded NATS
// server (JetStream on), one ingest process and the edges.
type benchCluster struct {
	nats  *server.Server
	cmds  []*exec.Cmd
	edges []string // edge addresses
	pids  []int    // ingest and edges
	dir   string
}

func startCluster(c loadConfig, bins binaries) (*benchCluster, error) {
	dir, err := os.MkdirTemp("", "ticker-bench-nats-")
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("embedded NATS server not ready")
	}
	cl := &benchCluster{nats: ns, dir: dir}
	start := func(args ...string) (string, error) {
		addr, err := freePort()
		if err != nil {
			return "", err
		}
		args = append([]string{"--addr", addr, "--nats", ns.ClientURL(), "--coalesce", c.Coalesce.String(), "--log-level", "warn"}, args...)
		args = append(args, strings.Fields(c.ServerArgs)...)
		cmd := exec.Command(bins.ticker, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return "", err
		}
		cl.cmds = append(cl.cmds, cmd)
		cl.pids = append(cl.pids, cmd.Process.Pid)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return addr, nil
				}
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("%v: not ready within 30s", args)
			}
		}
	}
	feed := fmt.Sprintf("synthetic:?symbols=%d&rate=%g&seed=1", c.Symbols, c.Rate)
	if _, err := start("--role", "ingest", "--node-id", "bench-ingest", "--feed", feed); err != nil {
		cl.stop()
		return nil, err
	}
	for i := 0; i < c.Edges; i++ {
		addr, err := start("--role", "edge", "--node-id", fmt.Sprintf("bench-edge-%d", i+1))
		if err != nil {
			cl.stop()
			return nil, err
		}
		cl.edges = append(cl.edges, addr)
	}
	return cl, nil
}

func (cl *benchCluster) stop() {
	for i := len(cl.cmds) - 1; i >= 0; i-- {
		stopProcess(cl.cmds[i])
	}
	cl.nats.Shutdown()
	cl.nats.WaitForShutdown()
	os.RemoveAll(cl.dir)
}

// stopProcess sends SIGTERM and waits up to 15 s for the exit, then kills.
func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}
