package cluster

import (
	"bytes"
	"strconv"
	"time"
)

// A stream's epoch names one run of seqs: it is the Unix millisecond at
// which an ingest leader with no state at all (no node had any, and the
// bucket was empty) began the stream. As long as some node or the bucket
// keeps the stream's state, its epoch stays and its seqs go on; a new
// epoch starts every symbol at seq 1 again, so (epoch, symbol, seq) names
// one version forever. Every delta and every bucket value carries it, as
// the first member of the JSON object: {"epoch":1764000000123,"s":…}.

// NewEpoch returns a new stream's epoch: now, in Unix milliseconds, and
// always above after (the last epoch this node knew, if any).
func NewEpoch(after uint64) uint64 {
	return max(uint64(time.Now().UnixMilli()), after+1)
}

const epochPrefix = `{"epoch":`

// AppendEpoch appends obj, a JSON object, with "epoch":epoch as its first
// member.
func AppendEpoch(dst []byte, epoch uint64, obj []byte) []byte {
	dst = append(dst, epochPrefix...)
	dst = strconv.AppendUint(dst, epoch, 10)
	dst = append(dst, ',')
	return append(dst, obj[1:]...)
}

// SplitEpoch returns the epoch of a message AppendEpoch wrote and the
// object without it, reusing msg's bytes (it writes into msg). A message
// without an epoch comes back whole, with epoch 0.
func SplitEpoch(msg []byte) (epoch uint64, obj []byte) {
	if !bytes.HasPrefix(msg, []byte(epochPrefix)) {
		return 0, msg
	}
	i := len(epochPrefix)
	for ; i < len(msg) && msg[i] >= '0' && msg[i] <= '9'; i++ {
		if i-len(epochPrefix) >= 19 {
			return 0, msg // too long for a uint64: left for the parser to refuse
		}
		epoch = epoch*10 + uint64(msg[i]-'0')
	}
	if i == len(epochPrefix) || i == len(msg) || msg[i] != ',' {
		return 0, msg
	}
	msg[i] = '{'
	return epoch, msg[i:]
}
