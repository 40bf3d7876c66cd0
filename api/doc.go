// Package api is ticker's HTTP face: a Fiber v2 app serving the ticker.v1
// WebSocket at /ws (gofiber/contrib/websocket for the handshake and reading;
// frames built by the fanout engine are written as they are), the REST
// endpoints under /api, health and readiness, Prometheus metrics, and the
// embedded dashboard at /.
//
// Each WebSocket connection has two goroutines, both owned by its handler:
// the handler itself reads and parses client messages; a writer drains the
// connection's fanout.Client queue with a write deadline and sends pings.
// Server.Shutdown closes every connection with 1001 and waits for the
// handlers to return.
package api
