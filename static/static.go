// Package static embeds the browser dashboard served at "/": index.html, its
// script and style, the JavaScript client it is built on (ticker.js, also
// served to other pages at /ticker.js), and the vendored TradingView
// lightweight-charts build (vendor/, with its licence). It has no code of
// its own beyond the embed.
package static

import "embed"

// Files holds the dashboard, rooted at this folder.
//
//go:embed index.html *.js style.css vendor
var Files embed.FS

// TickerJS is the JavaScript client, static/ticker.js, as served at /ticker.js.
//
//go:embed ticker.js
var TickerJS []byte
