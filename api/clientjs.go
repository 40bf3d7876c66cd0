package api

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/gofiber/fiber/v2"

	"github.com/ticker-io/ticker/static"
)

// clientJS serves GET /ticker.js, the JavaScript client (static/ticker.js),
// as an ES module that any page may import, from any origin: a module
// script fetched across origins needs Access-Control-Allow-Origin, and the
// file is as public as the dashboard. It is revalidated on every load
// (no-cache, with a strong ETag of its bytes), so that a page always runs
// the client of the server it talks to.
func clientJS() fiber.Handler {
	body := static.TickerJS
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set(fiber.HeaderETag, etag)
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		if c.Get(fiber.HeaderIfNoneMatch) == etag {
			return c.SendStatus(fiber.StatusNotModified)
		}
		return c.Send(body)
	}
}
