package access

import (
	"os"
	"strings"
	"testing"
)

// TestDocExamples: the token file and key file shown in
// docs/entitlements.md load, and mean what the page says.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/entitlements.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```")
	var tokenFile, keyFile string
	for i := 1; i < len(blocks); i += 2 {
		b := strings.TrimPrefix(blocks[i], "\n")
		switch {
		case strings.HasPrefix(b, "# bots and desks"):
			tokenFile = b
		case strings.HasPrefix(b, "# HS256"):
			keyFile = b
		}
	}
	entries, err := parseTokens("doc", []byte(tokenFile))
	if err != nil || len(entries) != 3 {
		t.Fatalf("the token file example: %d tokens, %v", len(entries), err)
	}
	tk := &Tokens{}
	tk.entries.Store(&entries)
	if g, _ := tk.Lookup("bot-7f3a9c44e1"); !g.All() {
		t.Error("bot: not everything")
	}
	if g, _ := tk.Lookup("desk-c01e55b2"); !g.Allows("BTC-EUR") || g.Allows("ETH-EUR") {
		t.Error("desk")
	}
	if g, _ := tk.Lookup("app-91d2e0aa"); !g.Allows("NVDA") || g.Allows("AMZN") {
		t.Error("app")
	}
	keys, err := parseJWTKeys("doc", []byte(keyFile))
	if err != nil || len(keys) != 2 || keys[0].kid != "issuer-2026" || keys[1].alg != "EdDSA" || keys[1].kid != "partner-a" {
		t.Fatalf("the key file example: %+v, %v", keys, err)
	}
}
