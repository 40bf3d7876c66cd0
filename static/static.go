// Package static embeds the browser dashboard served at "/": index.html, its
// script and style, and the vendored TradingView lightweight-charts build
// (vendor/, with its licence). It has no code of its own beyond the embed.
package static

import "embed"

// Files holds the dashboard, rooted at this folder.
//
//go:embed index.html *.js style.css vendor
var Files embed.FS
