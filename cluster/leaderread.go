package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A key-value bucket's Get is a "direct get", which any of the stream's
// replicas may answer, the nearest first. A replica on a NATS server that
// has just restarted answers once it is 90 % caught up (nats-server's
// monitorStream), so for a while it returns values older than the
// bucket's: a node that goes on from such a value issues seqs that another
// node already issued, with other contents. Every read that decides a seq,
// and every other read of the quotes, goes to the stream's leader instead,
// which alone answers the JetStream API's message get (jsMsgGetRequest),
// and holds every write the cluster committed.

// leaderReads is a bucket whose Get asks the stream's leader.
type leaderReads struct {
	jetstream.KeyValue
	nc     *nats.Conn
	bucket string
}

// readFromLeader wraps kv, the bucket named bucket on nc.
func readFromLeader(kv jetstream.KeyValue, nc *nats.Conn, bucket string) jetstream.KeyValue {
	return leaderReads{KeyValue: kv, nc: nc, bucket: bucket}
}

// leaderGetTimeout bounds a read whose context has no deadline.
const leaderGetTimeout = 5 * time.Second

// errCodeNoMessage is JetStream's error code for "no message found".
const errCodeNoMessage = 10037

// Get returns key's latest value, as the stream's leader has it;
// jetstream.ErrKeyNotFound when it has none or the key was deleted.
func (b leaderReads) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, leaderGetTimeout)
		defer cancel()
	}
	req, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{"$KV." + b.bucket + "." + key})
	if err != nil {
		return nil, err
	}
	m, err := b.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+b.bucket, req)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the bucket's leader: %w", key, err)
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Seq    uint64    `json:"seq"`
			Header []byte    `json:"hdrs"`
			Data   []byte    `json:"data"`
			Time   time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, fmt.Errorf("reading %s from the bucket's leader: %w", key, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == errCodeNoMessage:
		return nil, jetstream.ErrKeyNotFound
	case resp.Error != nil:
		return nil, fmt.Errorf("reading %s from the bucket's leader: %s (%d)", key, resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, fmt.Errorf("reading %s from the bucket's leader: an answer with no message", key)
	}
	if len(resp.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Header)
		if err != nil {
			return nil, fmt.Errorf("reading %s from the bucket's leader: %w", key, err)
		}
		switch h.Get("KV-Operation") {
		case "DEL", "PURGE":
			return nil, jetstream.ErrKeyNotFound
		case "":
		default:
			return nil, fmt.Errorf("reading %s from the bucket's leader: unknown operation %q", key, h.Get("KV-Operation"))
		}
	}
	return leaderEntry{bucket: b.bucket, key: key, value: resp.Message.Data, rev: resp.Message.Seq, at: resp.Message.Time}, nil
}

// leaderEntry is a value read from the stream's leader: always a put
// (Get answers deletes as not found).
type leaderEntry struct {
	bucket, key string
	value       []byte
	rev         uint64
	at          time.Time
}

func (e leaderEntry) Bucket() string                  { return e.bucket }
func (e leaderEntry) Key() string                     { return e.key }
func (e leaderEntry) Value() []byte                   { return e.value }
func (e leaderEntry) Revision() uint64                { return e.rev }
func (e leaderEntry) Created() time.Time              { return e.at }
func (e leaderEntry) Delta() uint64                   { return 0 }
func (e leaderEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }
