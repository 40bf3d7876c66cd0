package protocol

// CodeForbidden is the error code of a subscribe naming symbols the
// connection's token does not entitle it to; the error's "symbols" lists
// them, and none of them is subscribed.
const CodeForbidden = "forbidden"

// CloseTokenExpired is the WebSocket close code (from the range RFC 6455
// leaves to applications) of a connection whose token expired: its reason
// is "token expired". A client may reconnect at once with a fresh token.
const CloseTokenExpired = 4001
