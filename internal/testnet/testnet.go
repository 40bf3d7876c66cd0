// Package testnet holds the loopback helpers tests share: a free address
// for a process to listen on, and listening again on an address a stopped
// server has just released.
package testnet

import (
	"net"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1 address no one listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(FreeAddr(t))
	p, _ := net.LookupPort("tcp", port)
	return p
}

// Listen listens on addr, retrying for up to 5 s while the server that
// held it lets go (addr may also be "127.0.0.1:0").
func Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}
