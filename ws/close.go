package ws

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Close codes (RFC 6455 §7.4.1, and 1012–1014 from the IANA registry).
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001 // server shutdown
	CloseProtocolError   = 1002
	CloseUnsupported     = 1003 // a binary frame: ticker.v1 is text only
	CloseNoStatus        = 1005 // never sent: a close frame without a code
	CloseAbnormal        = 1006 // never sent: the connection ended without a close frame
	CloseInvalidData     = 1007 // invalid UTF-8, or compressed data that does not inflate
	ClosePolicy          = 1008 // slow consumer, flooding, idle
	CloseTooBig          = 1009 // a message over the size limit
	CloseMandatoryExt    = 1010
	CloseInternalError   = 1011
	CloseServiceRestart  = 1012
	CloseTryAgainLater   = 1013 // a lost race for the last connection place
	CloseBadGateway      = 1014
	closeTLSHandshake    = 1015 // never sent
	closeFirstPrivateUse = 3000
	closeLastValid       = 4999
)

// ValidCloseCode reports whether a peer may send code in a close frame:
// the codes RFC 6455 and the registry define for use on the wire, and the
// ranges 3000–4999 kept for libraries and applications (§7.4.2).
func ValidCloseCode(code int) bool {
	switch {
	case code >= CloseNormal && code <= CloseUnsupported:
		return true
	case code >= CloseInvalidData && code <= CloseBadGateway:
		return true
	case code >= closeFirstPrivateUse && code <= closeLastValid:
		return true
	}
	return false
}

// CloseFrame builds a server close frame; a reason too long for a control
// frame is cut at a rune boundary.
func CloseFrame(code int, reason string) []byte {
	const maxReason = MaxControlPayload - 2
	if len(reason) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return ControlFrame(OpClose, append(p, reason...))
}

// ParseClose reads a peer's close payload (§5.5.1): empty (no code: 1005),
// or a valid code and a UTF-8 reason. A payload of one byte, or a code no
// peer may send, is a protocol error (1002); a reason that is not UTF-8 is
// invalid data (1007, §8.1).
func ParseClose(p []byte) (code int, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", protocolError("close frame with a 1-byte body")
	}
	code = int(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return 0, "", protocolError(fmt.Sprintf("close code %d may not be sent", code))
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", &CloseError{Code: CloseInvalidData, Reason: "close reason is not valid UTF-8"}
	}
	return code, string(p[2:]), nil
}

// CloseError is a violation the connection must be closed for: Code and
// Reason are what the server sends.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket: close %d: %s", e.Code, e.Reason) }

func protocolError(reason string) *CloseError {
	return &CloseError{Code: CloseProtocolError, Reason: reason}
}

// PeerClose is returned by Reader.Next when the peer sent a valid close
// frame; the server answers with the same code (§5.5.1), or 1000 for 1005.
type PeerClose struct {
	Code   int
	Reason string
}

func (e *PeerClose) Error() string {
	return fmt.Sprintf("websocket: peer closed %d %q", e.Code, e.Reason)
}

// EchoCode is the code to answer the peer's close with.
func (e *PeerClose) EchoCode() int {
	if e.Code == CloseNoStatus {
		return CloseNormal
	}
	return e.Code
}
