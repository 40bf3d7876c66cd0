// Package access decides who may open a WebSocket before the upgrade:
// allowed Origins (against cross-site WebSocket hijacking), bearer tokens
// read from a file and reloadable, and connection limits in total and per
// client address (with X-Forwarded-For believed only from trusted proxies).
// It has no goroutines; its types are safe for concurrent use.
package access
