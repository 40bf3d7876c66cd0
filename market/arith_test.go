package market

import "testing"

func TestArith(t *testing.T) {
	big := "123456789012345678901234567890.5"
	for _, tt := range []struct {
		a, b      string
		cmp       int
		sum, half string
	}{
		{"1", "2", -1, "3", "0.5"},
		{"64000.1", "64000.15", -1, "128000.25", "32000.05"},
		{"0.0001", "0.00010", 0, "0.0002", "0.00005"},
		{"-1.5", "1.5", -1, "0", "-0.75"},
		{"9223372036854775807", "1", 1, "9223372036854775808", "4611686018427387903.5"},
		{big, "0.5", 1, "123456789012345678901234567891", "61728394506172839450617283945.25"},
		{"0.000000000000000001", "9", -1, "9.000000000000000001", "0.0000000000000000005"},
	} {
		a, b := MustDecimal(tt.a), MustDecimal(tt.b)
		if got := a.Cmp(b); got != tt.cmp {
			t.Errorf("%s cmp %s = %d, want %d", tt.a, tt.b, got, tt.cmp)
		}
		if got := b.Cmp(a); got != -tt.cmp {
			t.Errorf("%s cmp %s = %d, want %d", tt.b, tt.a, got, -tt.cmp)
		}
		if got := a.Add(b); got != MustDecimal(tt.sum) {
			t.Errorf("%s + %s = %s, want %s", tt.a, tt.b, got, tt.sum)
		}
		if got := a.Half(); got != MustDecimal(tt.half) {
			t.Errorf("%s / 2 = %s, want %s", tt.a, got, tt.half)
		}
	}
}

func BenchmarkAddCmp(b *testing.B) {
	x, y := MustDecimal("64000.15"), MustDecimal("0.00125")
	b.ReportAllocs()
	for b.Loop() {
		s := x.Add(y)
		if s.Cmp(x) <= 0 {
			b.Fatal("sum not greater")
		}
	}
}
