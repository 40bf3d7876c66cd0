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

// Tokens is the set of accepted bearer tokens, read from a file and
// reloadable while connections stay up. Only SHA-256 digests are kept; a
// presented token is compared with each in constant time. A nil *Tokens
// accepts every request.
type Tokens struct {
	path    string
	digests atomic.Pointer[[][sha256.Size]byte]
}

// maxTokenFile bounds the token file.
const maxTokenFile = 1 << 20

// LoadTokens reads path: one token per line; blank lines and lines starting
// with # are skipped, surrounding spaces trimmed. A file with no token is an
// error (it would lock every client out).
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the file again. On error the tokens in force stay, and the
// error says why (it never contains a token).
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
	digests, err := parseTokens(t.path, data)
	if err != nil {
		return err
	}
	t.digests.Store(&digests)
	return nil
}

// parseTokens reads a token file's contents: one token per line; blank lines
// and lines starting with # are skipped, surrounding spaces trimmed. It
// returns the tokens' SHA-256 digests; an error names the file and line and
// never contains a token.
func parseTokens(path string, data []byte) ([][sha256.Size]byte, error) {
	var digests [][sha256.Size]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxTokenFile)
	line := 0
	for sc.Scan() {
		line++
		tok := strings.TrimSpace(sc.Text())
		if tok == "" || strings.HasPrefix(tok, "#") {
			continue
		}
		if strings.ContainsAny(tok, " \t") {
			return nil, fmt.Errorf("%s:%d: a token may not contain spaces", path, line)
		}
		digests = append(digests, sha256.Sum256([]byte(tok)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(digests) == 0 {
		return nil, fmt.Errorf("%s: no tokens (one per line; # starts a comment)", path)
	}
	return digests, nil
}

// Count returns how many tokens are in force.
func (t *Tokens) Count() int {
	if t == nil {
		return 0
	}
	return len(*t.digests.Load())
}

// Valid reports whether token is accepted. The time it takes depends on the
// number of tokens, not on which one matched or how much of it did.
func (t *Tokens) Valid(token string) bool {
	if t == nil {
		return true
	}
	if token == "" {
		return false
	}
	d := sha256.Sum256([]byte(token))
	match := 0
	for _, want := range *t.digests.Load() {
		match |= subtle.ConstantTimeCompare(d[:], want[:])
	}
	return match == 1
}

// FromRequest returns the token a request presents: the Authorization
// header's Bearer credential, else the token query parameter.
func FromRequest(authorization, queryToken string) string {
	if scheme, cred, ok := strings.Cut(strings.TrimSpace(authorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(cred)
	}
	return queryToken
}
