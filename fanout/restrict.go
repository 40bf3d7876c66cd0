package fanout

// filteredWindow is one window's (or tick's) changed symbols that a
// Restriction key allows, shared by every restricted "*" subscriber with
// that key.
type filteredWindow struct {
	epoch uint64 // the window it was built in
	syms  []*symbol
}

// filters are the filtered windows of one cadence (the window's own, or a
// conflated one's), by Restriction key.
type filters map[string]*filteredWindow

// allowed returns the symbols of changed that the restricted wildcard
// subscriber c may see, filtering them once per window (epoch) for all
// the subscribers whose restrictions share a key.
func (fs *filters) allowed(c *Client, changed []*symbol, epoch uint64) []*symbol {
	key := c.allow.Key()
	if *fs == nil {
		*fs = filters{}
	}
	fw := (*fs)[key]
	if fw == nil {
		fw = &filteredWindow{}
		(*fs)[key] = fw
	}
	if fw.epoch != epoch {
		fw.epoch = epoch
		fw.syms = fw.syms[:0]
		for _, s := range changed {
			if c.allow.Allows(s.name) {
				fw.syms = append(fw.syms, s)
			}
		}
	}
	return fw.syms
}

// trim bounds the filtered windows kept for reuse: once they outnumber
// the wildcard subscribers (keys of clients long gone), they are dropped,
// to be built again as needed.
func (fs filters) trim(wildcards int) {
	if len(fs) > 2*wildcards+64 {
		clear(fs)
	}
}
