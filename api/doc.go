// Package api is ticker's HTTP face: a Fiber v2 app serving the ticker.v1
// WebSocket at /ws (the upgrade answered by ws on a connection hijacked
// from fasthttp, read by ws's strict reader; frames built by the fanout
// engine are written as they are), the same messages as Server-Sent Events
// at /stream (sse.go, on the same connection type, queue and slow-consumer
// policy), the REST endpoints under /api, health and readiness, Prometheus
// metrics, and the embedded dashboard at /.
//
// Each WebSocket connection has one goroutine for its life, its handler,
// which reads and parses client messages. Writing is done by a flusher
// goroutine that the connection's fanout.Client starts when it gains
// something to write and that ends when the queue is empty, each write
// bounded by a deadline; the handler waits for it before returning. One
// goroutine of the Server, started by Serve (New starts none), pings every
// connection. Server.Shutdown closes every connection with 1001 and waits
// for the handlers and the pinger. A connection opened with a JWT also has
// a timer (entitle.go) that closes it with 4001 at the token's exp; its
// handler stops it on return.
//
// Entitlements live in entitle.go: every request's token goes through
// authenticate once, and the *access.Grant it yields limits what the
// request or connection sees (docs/entitlements.md).
package api
