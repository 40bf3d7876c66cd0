package access

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// Tokens is the set of accepted bearer tokens, each with the symbols it
// may see, read from a file and reloadable while connections stay up. Only
// SHA-256 digests of the tokens are kept; a presented token is compared
// with each in constant time. A nil *Tokens accepts every request.
type Tokens struct {
	path    string
	entries atomic.Pointer[[]tokenEntry]
}

// tokenEntry is one line of the token file.
type tokenEntry struct {
	digest [sha256.Size]byte
	grant  *Grant
}

// maxTokenFile bounds the token file.
const maxTokenFile = 1 << 20

// LoadTokens reads path: one token a line, optionally followed by the
// symbol patterns it may see (see Grant), separated by spaces or commas:
//
//	bot-7f3a9c                    # everything, as before patterns existed
//	desk-c01e55  BTC-* ETH-*      # crypto against anything
//	app-91d2e0   AAPL,MSFT,NVDA
//
// Blank lines are skipped; a word that starts with # starts a comment, to
// the end of its line (so a token cannot start with #). A file with no token is an error (it would lock every
// client out).
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the file again. On error the tokens in force stay, and the
// error says why (it never contains a token). Connections opened before
// keep the grant they were opened with.
func (t *Tokens) Reload() error {
	st, err := os.Stat(t.path)
	if err != nil {
		return err
	}
	if st.Size() > maxTokenFile {
		return fmt.Errorf("%s: %d bytes, more than %d", t.path, st.Size(), maxTokenFile)
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return err
	}
	entries, err := parseTokens(t.path, data)
	if err != nil {
		return err
	}
	t.entries.Store(&entries)
	return nil
}

// parseTokens reads a token file's contents (the format of LoadTokens). An
// error names the file and line, and the pattern by its position; it never
// quotes the file.
func parseTokens(path string, data []byte) ([]tokenEntry, error) {
	var entries []tokenEntry
	lineOf := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxTokenFile)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if strings.HasPrefix(f, "#") {
				fields = fields[:i] // a comment, to the end of the line
				break
			}
		}
		if len(fields) == 0 {
			continue
		}
		tok := fields[0]
		var patterns []string
		for _, f := range fields[1:] {
			for _, p := range strings.Split(f, ",") {
				if p != "" {
					patterns = append(patterns, p)
				}
			}
		}
		grant := Everything
		if len(patterns) > 0 {
			for i, p := range patterns {
				if _, err := ParseGrant([]string{p}); err != nil {
					return nil, fmt.Errorf("%s:%d: pattern %d is %v", path, line, i+1, err)
				}
			}
			grant, _ = ParseGrant(patterns)
		}
		d := sha256.Sum256([]byte(tok))
		if first, dup := lineOf[d]; dup {
			return nil, fmt.Errorf("%s:%d: the token of line %d again", path, line, first)
		}
		lineOf[d] = line
		entries = append(entries, tokenEntry{digest: d, grant: grant})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no tokens (one a line, then its symbol patterns if any; # starts a comment)", path)
	}
	return entries, nil
}

// Count returns how many tokens are in force.
func (t *Tokens) Count() int {
	if t == nil {
		return 0
	}
	return len(*t.entries.Load())
}

// Lookup returns the grant of token, and whether the token is listed. The
// time it takes depends on the number of tokens, not on which one matched
// or how much of it did. A nil *Tokens grants Everything to anyone.
func (t *Tokens) Lookup(token string) (*Grant, bool) {
	if t == nil {
		return Everything, true
	}
	if token == "" {
		return nil, false
	}
	d := sha256.Sum256([]byte(token))
	var grant *Grant
	for _, e := range *t.entries.Load() {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			grant = e.grant
		}
	}
	return grant, grant != nil
}

// Valid reports whether token is accepted (Lookup, without the grant).
func (t *Tokens) Valid(token string) bool {
	_, ok := t.Lookup(token)
	return ok
}

// FromRequest returns the token a request presents: the Authorization
// header's Bearer credential, else the token query parameter.
func FromRequest(authorization, queryToken string) string {
	if scheme, cred, ok := strings.Cut(strings.TrimSpace(authorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(cred)
	}
	return queryToken
}
