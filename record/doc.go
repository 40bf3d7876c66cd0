// Package record writes what feeds deliver into a fixture: every
// normalized quote of a feeds.Set, in arrival order, as one line of the
// NDJSON fixture format (protocol.AppendLine), with the ts the feed gave it
// (the venue's event time where the venue sends one). A replay of the file
// (feeds.Replay) folds the same quotes in the same order, so it ends in the
// state the recording ended in. `ticker record` is this package on the
// command line.
//
// A Recorder is built from a Config (New checks it and creates the file)
// and runs once: Run starts the Set's feeds, stops them when the count or
// the duration is reached, the context ends (SIGINT, SIGTERM) or every feed
// has finished, waits for their goroutines and flushes and closes the file
// before it returns. It owns no goroutine after Run returns.
package record
