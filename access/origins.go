package access

import (
	"fmt"
	"net/url"
	"strings"
)

// Origins is the set of Origins accepted on /ws. A nil *Origins accepts
// every request.
type Origins struct {
	set map[string]bool
	raw []string
}

// ParseOrigins reads a comma-separated list of origins, each
// scheme://host[:port] (as browsers send them: no path, no trailing
// slash). An empty list means no restriction and returns nil.
func ParseOrigins(list string) (*Origins, error) {
	o := &Origins{set: map[string]bool{}}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		norm, err := normalizeOrigin(item)
		if err != nil {
			return nil, fmt.Errorf("origin %q: %v", item, err)
		}
		o.set[norm] = true
		o.raw = append(o.raw, norm)
	}
	if len(o.set) == 0 {
		return nil, nil
	}
	return o, nil
}

func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("want http:// or https://")
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("want scheme://host[:port] only")
	}
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	case u.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	}
	return u.Scheme + "://" + host, nil
}

// Allowed reports whether a request with this Origin header may upgrade.
// A request without an Origin is not from a browser page (browsers always
// send one on a WebSocket handshake) and cannot be a cross-site hijack, so
// it is allowed; so is every request when o is nil.
func (o *Origins) Allowed(origin string) bool {
	if o == nil || origin == "" {
		return true
	}
	norm, err := normalizeOrigin(origin)
	return err == nil && o.set[norm]
}

// List returns the accepted origins, normalized.
func (o *Origins) List() []string {
	if o == nil {
		return nil
	}
	return append([]string(nil), o.raw...)
}
