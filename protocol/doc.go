// Package protocol is ticker.v1's one home (the contract in docs/protocol.md):
// the error codes, the encoders of the server's messages (acks, pongs,
// errors, the head of snapshots and updates; a Quote's and a Delta's JSON
// is market.Quote.AppendJSON), the parser of client requests
// (ParseRequest), the decoders of quotes as fixtures and cluster nodes
// write them (ParseLine, ParseVersion), and the fixture line encoder that
// ticker record writes with (AppendLine, LineError).
//
// fanout encodes with it, api parses requests with it, feeds reads
// fixtures with it and cluster decodes versions with it. Every function is
// pure: no goroutine, no state beyond the fastjson.Parser a caller passes.
package protocol
