package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layout is README's "Layout" table as rules: the packages of ticker each
// package may import (internal/field, the error of a Config's Validate,
// is allowed everywhere). A package not listed may import none.
var layout = map[string][]string{
	"market":            {},
	"protocol":          {"market"},
	"feeds":             {"market", "protocol", "stats"},
	"record":            {"feeds", "market", "protocol"},
	"fanout":            {"market", "protocol", "ws", "stats", "splice"},
	"splice":            {},
	"bars":              {"market"},
	"access":            {"market"},
	"api":               {"access", "api/spec", "bars", "fanout", "feeds", "market", "protocol", "static", "ws"},
	"cluster":           {"bars", "fanout", "market", "protocol"},
	"client":            {"market", "protocol"},
	"internal/natstest": {"internal/testnet"},
	"internal/service":  {"feeds", "market"},
	"internal/assemble": {"api", "bars", "fanout", "feeds", "market", "internal/service"},
	"internal/stepper":  {"fanout", "feeds", "market", "protocol"},
	"tickertest":        {"api", "fanout", "market", "protocol", "internal/assemble", "internal/service", "internal/stepper"},
	"bench/baseline":    {"feeds", "market"},
	"bench/raw":         {"ws"},
	"examples/":         {"client"}, // every example: a bot on the client, as users write them
	".":                 nil,        // main: everything
}

// TestLayout: every package imports only what README's Layout table says
// it may (production code; tests may reach further), so data flows one way.
func TestLayout(t *testing.T) {
	const module = "github.com/ticker-io/ticker"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imports, _ := strings.Cut(line, ":")
		pkg := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		if pkg == "" {
			pkg = "."
		}
		allowed, listed := layout[pkg]
		if !listed && strings.HasPrefix(pkg, "examples/") {
			allowed, listed = layout["examples/"], true
		}
		if listed && allowed == nil {
			continue // main
		}
		checked++
		for _, imp := range strings.Fields(imports) {
			dep, ours := strings.CutPrefix(imp, module+"/")
			if !ours || dep == "internal/field" {
				continue
			}
			if !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which README's Layout does not allow it (allowed: %v)", pkg, dep, allowed)
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked %d packages; go list gave:\n%s", checked, out)
	}
}
