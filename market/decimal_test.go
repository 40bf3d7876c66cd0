package market

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"0", "0"},
		{"-0", "0"},
		{"0.000", "0"},
		{"64000.10", "64000.1"},
		{"64000.15", "64000.15"},
		{"189.12", "189.12"},
		{"007.50", "7.5"},
		{"-12.340", "-12.34"},
		{"0.00000001", "0.00000001"},
		{"100", "100"},
		{"1.5e-7", "0.00000015"},
		{"1.5E+3", "1500"},
		{"25e0", "25"},
		{"123456789012345678", "123456789012345678"},                               // 18 digits: fast form
		{"1234567890123456789", "1234567890123456789"},                             // 19 digits: text form
		{"99999999999999999999999.000000001", "99999999999999999999999.000000001"}, // big
		{"-0.0000000000000000000000000001", "-0.0000000000000000000000000001"},
		{"1e30", "1000000000000000000000000000000"},
	}
	for _, tt := range tests {
		d, err := ParseDecimal([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", tt.in, err)
			continue
		}
		if got := d.String(); got != tt.want {
			t.Errorf("ParseDecimal(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// shopspring agrees on the exact value
		if !d.Big().Equal(decimal.RequireFromString(tt.in)) {
			t.Errorf("ParseDecimal(%q).Big() = %s, shopspring says %s", tt.in, d.Big(), decimal.RequireFromString(tt.in))
		}
	}
}

func TestParseDecimalErrors(t *testing.T) {
	for _, in := range []string{"", "-", ".5", "5.", "1.2.3", "+1", "1e", "1e+", "1e999", "9e64", "1e-45", "NaN", "Inf", " 1", "1 ", "0x10", "1,5", "١", "1e-70",
		"1234567890123456789012345678901234567890123456789012345678901234567890"} {
		if d, err := ParseDecimal([]byte(in)); err == nil {
			t.Errorf("ParseDecimal(%q) = %s, want error", in, d)
		} else if !errors.Is(err, ErrDecimal) {
			t.Errorf("ParseDecimal(%q) error %v does not wrap ErrDecimal", in, err)
		}
	}
}

func TestDecimalEqualityIsCanonical(t *testing.T) {
	pairs := [][2]string{{"1.50", "1.5"}, {"0.0", "-0"}, {"15e-1", "1.5"}, {"1234567890123456789.0", "1234567890123456789"}}
	for _, p := range pairs {
		if MustDecimal(p[0]) != MustDecimal(p[1]) {
			t.Errorf("%s != %s", p[0], p[1])
		}
	}
	if MustDecimal("1.5") == MustDecimal("1.50001") {
		t.Error("1.5 == 1.50001")
	}
}

func TestNewDecimal(t *testing.T) {
	if got := NewDecimal(6400010, 2).String(); got != "64000.1" {
		t.Errorf("got %s", got)
	}
	if NewDecimal(6400010, 2) != MustDecimal("64000.10") {
		t.Error("NewDecimal not canonical")
	}
	if got := NewDecimal(-5, 3).String(); got != "-0.005" {
		t.Errorf("got %s", got)
	}
	if NewDecimal(0, 5) != (Decimal{}) {
		t.Error("zero not canonical")
	}
}

func TestFromBig(t *testing.T) {
	v := decimal.RequireFromString("12.3400").Mul(decimal.New(3, 0))
	d, err := FromBig(v)
	if err != nil || d.String() != "37.02" {
		t.Fatalf("FromBig = %v, %v", d, err)
	}
}

// FuzzParseDecimal checks that every accepted input round-trips through its
// canonical text and agrees exactly with shopspring/decimal.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-1.50", "64000.10", "1.5e-7", "1e30", "0.00000001", "123456789012345678901", "-", "1..2", "9e38", "1e-40"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal([]byte(s))
		if err != nil {
			return
		}
		text := d.String()
		d2, err := ParseDecimal([]byte(text))
		if err != nil {
			t.Fatalf("canonical text %q of %q does not parse: %v", text, s, err)
		}
		if d2 != d || d2.String() != text {
			t.Fatalf("round trip %q -> %q -> %q", s, text, d2.String())
		}
		ref, err := decimal.NewFromString(s)
		if err != nil {
			t.Fatalf("we accept %q, shopspring rejects it: %v", s, err)
		}
		if !ref.Equal(d.Big()) {
			t.Fatalf("%q: we say %s, shopspring says %s", s, text, ref.String())
		}
	})
}

func BenchmarkParseDecimal(b *testing.B) {
	in := []byte("64000.10")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDecimal(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkShopspringParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decimal.NewFromString("64000.10"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecimalAppendText(b *testing.B) {
	d := MustDecimal("64000.15")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = d.AppendText(buf[:0])
	}
}
