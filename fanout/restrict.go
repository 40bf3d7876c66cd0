package fanout

// filteredWindow is one window's changed symbols that a Restriction key
// allows, shared by every restricted "*" subscriber with that key.
type filteredWindow struct {
	epoch uint64 // the window it was built in
	syms  []*symbol
}

// allowedFor returns the symbols of this window's changed ones that the
// restricted wildcard subscriber c may see, filtering them once per window
// for all the subscribers whose restrictions share a key.
func (e *Engine) allowedFor(c *Client, changed []*symbol) []*symbol {
	key := c.allow.Key()
	if e.filtered == nil {
		e.filtered = map[string]*filteredWindow{}
	}
	fw := e.filtered[key]
	if fw == nil {
		fw = &filteredWindow{}
		e.filtered[key] = fw
	}
	if fw.epoch != e.epoch {
		fw.epoch = e.epoch
		fw.syms = fw.syms[:0]
		for _, s := range changed {
			if c.allow.Allows(s.name) {
				fw.syms = append(fw.syms, s)
			}
		}
	}
	return fw.syms
}

// trimFiltered bounds the filtered windows kept for reuse: once they
// outnumber the wildcard subscribers (keys of clients long gone), they are
// dropped, to be built again as needed.
func (e *Engine) trimFiltered() {
	if len(e.filtered) > 2*len(e.wildcards)+64 {
		clear(e.filtered)
	}
}
