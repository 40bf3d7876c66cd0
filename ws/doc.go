// Package ws is ticker's WebSocket wire layer, RFC 6455 and RFC 7692 read
// strictly: the server's side of the opening handshake (accept.go), the
// permessage-deflate negotiation and inflation (deflate.go), frame headers
// (frame.go), close codes and close payloads (close.go), and the reader
// that turns a client's frames into messages or into the close code the
// connection must end with (read.go).
//
// The server writes its own frames: the fanout builds each message's
// frame once, header included, with PutHeader and the control frames here,
// and hands the same bytes to every connection. The HTTP upgrade itself is
// done by the api package on fasthttp; this package says what to answer.
//
// Nothing here starts a goroutine; a Reader belongs to the goroutine that
// reads its connection.
package ws
