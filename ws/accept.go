package ws

import (
	"crypto/sha1"
	"encoding/base64"
	"strings"
)

// acceptGUID is the GUID of RFC 6455 §1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept answer to a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// ValidKey reports whether a Sec-WebSocket-Key is the base64 of 16 bytes
// (§4.1).
func ValidKey(key string) bool {
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// HasToken reports whether a comma-separated header value lists token,
// compared case-insensitively (Connection: keep-alive, Upgrade).
func HasToken(header, token string) bool {
	for _, t := range strings.Split(header, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// SelectProtocol returns want if the client's Sec-WebSocket-Protocol
// values offer it (subprotocol names are compared exactly), else "": the
// server then names none (§4.2.2).
func SelectProtocol(values []string, want string) string {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.TrimSpace(t) == want {
				return want
			}
		}
	}
	return ""
}
