package main

import (
	"io"
	"os"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeFile keeps deploy/compose.yaml from drifting: every ticker
// service's environment is a configuration the binary accepts, the roles
// make a cluster (two ingest nodes, edges), and HAProxy is given every
// variable deploy/haproxy.cfg reads.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var roles []string
	for name, svc := range compose.Services {
		if svc.Build == nil {
			continue
		}
		c, err := parseConfig(nil, func(k string) string { return svc.Environment[k] }, io.Discard)
		if err != nil {
			t.Errorf("service %s: %v", name, err)
			continue
		}
		roles = append(roles, c.Role)
	}
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"edge", "edge", "ingest", "ingest"}) {
		t.Errorf("ticker roles %v, want two edges and two ingest nodes", roles)
	}
	cfg, err := os.ReadFile("deploy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	lb, ok := compose.Services["haproxy"]
	if !ok {
		t.Fatal("no haproxy service")
	}
	for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(string(cfg), -1) {
		if lb.Environment[m[1]] == "" {
			t.Errorf("haproxy.cfg reads %s; the compose haproxy service does not set it", m[1])
		}
	}
}
