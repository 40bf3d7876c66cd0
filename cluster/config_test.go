package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/ticker-io/ticker/internal/field"
)

func TestLeaseTimeRange(t *testing.T) {
	for _, tt := range []struct {
		d     time.Duration
		lease bool // CheckLeaseTime and NewLease accept it
		store bool // StoreConfig.Validate accepts it (0: no lease bucket)
	}{
		{0, false, true},
		{-time.Second, false, false},
		{299 * time.Millisecond, false, false},
		{MinLeaseTime, true, true},
		{DefaultLeaseTime, true, true},
		{MaxLeaseTime, true, true},
		{MaxLeaseTime + time.Millisecond, false, false},
	} {
		err := CheckLeaseTime(tt.d)
		if (err == nil) != tt.lease {
			t.Errorf("CheckLeaseTime(%v) = %v, want ok=%v", tt.d, err, tt.lease)
		}
		var fe *field.Error
		if err != nil && (!errors.As(err, &fe) || fe.Field != "LeaseTime") {
			t.Errorf("CheckLeaseTime(%v) = %#v, want a field.Error naming LeaseTime", tt.d, err)
		}
		if err := (StoreConfig{LeaseTime: tt.d}).Validate(); (err == nil) != tt.store {
			t.Errorf("StoreConfig{LeaseTime: %v}.Validate() = %v, want ok=%v", tt.d, err, tt.store)
		}
		if _, err := NewLease(nil, "n1", tt.d); tt.lease == (err != nil && err.Error() != "no lease bucket: open the store with a lease time") {
			t.Errorf("NewLease(%v) = %v, want range ok=%v", tt.d, err, tt.lease)
		}
	}
}
