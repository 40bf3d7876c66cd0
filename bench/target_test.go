package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheckTarget: a --target that cannot be a ticker server fails before
// any load starts, with what is wrong (a typo'd port once ran 27 s of
// zeros).
func TestCheckTarget(t *testing.T) {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/symbols" {
			fmt.Fprint(w, `{"symbols":["AAPL"]}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer good.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"symbols":[]}`)
	}))
	defer empty.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	for _, tc := range []struct {
		target, want string
	}{
		{host(good.URL), ""},
		{"127.0.0.1:81159", `port "81159" is not 1..65535`},
		{"127.0.0.1:http", `port "http" is not 1..65535`},
		{"10.0.0.1:8080", "loopback only"},
		{"example.com:8080", "loopback only"},
		{"nonsense", "want host:port"},
		{closed, "no ticker server answers there"},
		{host(empty.URL), "no symbols"},
	} {
		err := checkTarget(tc.target)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.target, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.target, err, tc.want)
		}
	}
}
