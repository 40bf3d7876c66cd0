// Package access decides who may connect and what they may see: allowed
// Origins (against cross-site WebSocket hijacking), bearer tokens read from
// a file, JWTs verified with keys from a file (both reloadable), the Grant
// each token carries (the symbol patterns its holder is entitled to, and
// when that ends; Authenticator turns a presented token into one), and
// connection limits in total and per client address (with X-Forwarded-For
// believed only from trusted proxies). It has no goroutines; its types are
// safe for concurrent use.
package access
