package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// control serves Config.Control at /control/…: the step control of
// ticker --step-control (internal/stepper), which refuses every peer but
// a loopback one. Without it, the paths answer 404 saying so.
func (s *Server) control() fiber.Handler {
	if s.cfg.Control == nil {
		return func(c *fiber.Ctx) error {
			return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": "no control endpoint: ticker serves one only with --step-control"})
		}
	}
	return adaptor.HTTPHandler(s.cfg.Control)
}
