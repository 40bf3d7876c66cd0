package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// moduleExampleMarker precedes each code block of the README's bot in its
// own module, naming the file the block is.
var moduleExampleMarker = regexp.MustCompile(`^<!-- module-example: (\S+) -->$`)

// readmeModuleExample returns the README's module-example blocks by file
// name: each block is the fenced code right after its marker line.
func readmeModuleExample(t *testing.T, readme string) map[string]string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string]string{}
	sc := bufio.NewScanner(f)
	lineNo := 0
	next := func() (string, bool) {
		ok := sc.Scan()
		lineNo++
		return sc.Text(), ok
	}
	for line, ok := next(); ok; line, ok = next() {
		m := moduleExampleMarker.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		if _, dup := files[name]; dup {
			t.Fatalf("%s:%d: a second block for %s", readme, lineNo, name)
		}
		if fence, _ := next(); !strings.HasPrefix(fence, "```") {
			t.Fatalf("%s:%d: the marker for %s is not followed by a code fence but %q", readme, lineNo, name, fence)
		}
		var body strings.Builder
		for {
			l, ok := next()
			if !ok {
				t.Fatalf("%s: the block for %s never closes", readme, name)
			}
			if strings.HasPrefix(l, "```") {
				break
			}
			body.WriteString(l + "\n")
		}
		files[name] = body.String()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return files
}

// replaceTicker is the README go.mod's replace directive for this module.
var replaceTicker = regexp.MustCompile(`(?m)^replace github\.com/ticker-io/ticker => (\S+)[ \t]*$`)

// TestModuleExample builds the README's bot in its own module exactly as
// the README shows it (go.mod and main.go), in a temporary directory, its
// replace directive pointed at this repository: a bot outside the
// repository can import github.com/ticker-io/ticker/client.
func TestModuleExample(t *testing.T) {
	files := readmeModuleExample(t, "README.md")
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "go.mod main.go" {
		t.Fatalf("README's module-example blocks are %q, want go.mod and main.go", names)
	}
	gomod := files["go.mod"]
	if !regexp.MustCompile(`(?m)^require github\.com/ticker-io/ticker `).MatchString(gomod) {
		t.Fatalf("README's go.mod does not require github.com/ticker-io/ticker:\n%s", gomod)
	}
	if n := len(replaceTicker.FindAllString(gomod, -1)); n != 1 {
		t.Fatalf("README's go.mod has %d replace directives for github.com/ticker-io/ticker, want 1:\n%s", n, gomod)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	gomod = replaceTicker.ReplaceAllLiteralString(gomod, "replace github.com/ticker-io/ticker => "+root)

	dir := t.TempDir()
	for name, body := range map[string]string{"go.mod": gomod, "main.go": files["main.go"]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goTool(), "build", "-o", filepath.Join(dir, "spreadbot"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS="+withModMod(os.Getenv("GOFLAGS")), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's bot does not build in its own module: %v\n%s\ngo.mod:\n%s", err, out, gomod)
	}
	if _, err := os.Stat(filepath.Join(dir, "spreadbot")); err != nil {
		t.Fatal(err)
	}
}

// withModMod keeps the GOFLAGS the tests run with and sets -mod=mod: the
// bot's module has no go.sum and names none of the client's dependencies,
// which go fills in (from the module cache or GOPROXY) as `go mod tidy`
// would for its author.
func withModMod(goflags string) string {
	var out []string
	for _, f := range strings.Fields(goflags) {
		if !strings.HasPrefix(f, "-mod=") && !strings.HasPrefix(f, "--mod=") {
			out = append(out, f)
		}
	}
	return strings.Join(append(out, "-mod=mod"), " ")
}
