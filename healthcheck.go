package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

const healthcheckUsage = `Usage: ticker healthcheck [flags]

Asks the ticker server on this host for /readyz and exits 0 if it answers
200 within 3 s, 1 otherwise (2 for a bad flag). It finds the server as the
server itself would read its configuration: --addr (TICKER_ADDR; a host of
0.0.0.0, :: or none means 127.0.0.1), and https when --tls-cert
(TICKER_TLS_CERT) is set; the certificate is not verified. It takes every
flag and variable the server takes (ticker --help), so a container's
HEALTHCHECK can run it with the server's environment unchanged; the others
are checked but not used.
`

// healthcheck is `ticker healthcheck [flags]`: it asks the server that the
// same flags and environment describe (its --addr, and https when
// --tls-cert is set) for /readyz on loopback, and exits 0 when it answers
// 200, 1 otherwise. A container HEALTHCHECK runs it: the image has no
// shell and no curl.
func healthcheck(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, io.Discard) // the server's usage is not printed
	if errors.Is(err, errHelp) {
		fmt.Fprint(stderr, healthcheckUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ticker healthcheck: %v\n", err)
		return 2
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "ticker healthcheck: --addr %q: %v\n", cfg.Addr, err)
		return 2
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		// the check runs beside the server; the certificate is for its public name
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	url := scheme + "://" + net.JoinHostPort(host, port) + "/readyz"
	resp, err := hc.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "ticker healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "ticker healthcheck: %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}
