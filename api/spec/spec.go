// Package spec embeds the API documents the server publishes: the AsyncAPI
// 3 document of the WebSocket API (GET /asyncapi.yaml) and the OpenAPI 3.1
// document of the REST endpoints (GET /openapi.yaml).
package spec

import _ "embed"

// AsyncAPI is asyncapi.yaml.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte

// OpenAPI is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
