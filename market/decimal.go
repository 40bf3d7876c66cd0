package market

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"
)

// Decimal is an exact base-10 number in canonical form: no exponent, no
// trailing zeros after the point, no leading zeros, no negative zero. Because
// the form is canonical, two Decimals are equal exactly when == says so.
//
// Values with at most 18 significant digits (every price and size seen on real
// venues) live in an int64 mantissa and a scale and cost no allocation to
// parse, compare or print; larger values keep their canonical text.
type Decimal struct {
	mant  int64  // value = mant / 10^scale, when text == ""
	scale int32  // digits after the point, 0..40
	text  string // canonical text of a value that does not fit mant
}

const (
	maxDecimalLen = 80 // bytes of input text, and the most canonical text can take
	maxExponent   = 40 // |e| in 1.5e-7 forms
	maxScale      = 40 // digits after the point
	maxIntDigits  = 38 // digits before the point
	maxMantDigits = 18 // always fits an int64
)

// ErrDecimal is wrapped by every error ParseDecimal returns.
var ErrDecimal = errors.New("invalid decimal")

// NewDecimal returns mant × 10^-scale in canonical form. scale must be in
// 0..40; it panics otherwise, as it is only called with constants.
func NewDecimal(mant int64, scale int32) Decimal {
	if scale < 0 || scale > maxScale {
		panic("market: NewDecimal scale out of range")
	}
	for scale > 0 && mant%10 == 0 {
		mant /= 10
		scale--
	}
	if mant == 0 {
		scale = 0
	}
	return Decimal{mant: mant, scale: scale}
}

// MustDecimal parses s and panics on error. For tests and constants.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal([]byte(s))
	if err != nil {
		panic(err)
	}
	return d
}

// ParseDecimal parses a decimal such as "64000.10", "-0.5" or "1.5e-7".
// It accepts an optional leading minus sign, digits with an optional
// fractional part (digits on both sides of the point) and an optional
// exponent of at most two digits. It allocates only for values with more
// than 18 significant digits.
func ParseDecimal(b []byte) (Decimal, error) {
	if len(b) == 0 {
		return Decimal{}, fmt.Errorf("%w: empty", ErrDecimal)
	}
	if len(b) > maxDecimalLen {
		return Decimal{}, fmt.Errorf("%w: longer than %d bytes", ErrDecimal, maxDecimalLen)
	}
	i := 0
	neg := false
	if b[0] == '-' {
		neg = true
		i++
	}
	var digits [maxDecimalLen]byte // significant digits, leading zeros dropped
	nd := 0
	intDigits, fracDigits := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		intDigits++
		if nd > 0 || b[i] != '0' {
			digits[nd] = b[i]
			nd++
		}
	}
	if intDigits == 0 {
		return Decimal{}, fmt.Errorf("%w: %q has no digits before the point", ErrDecimal, b)
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			fracDigits++
			if nd > 0 || b[i] != '0' {
				digits[nd] = b[i]
				nd++
			}
		}
		if fracDigits == 0 {
			return Decimal{}, fmt.Errorf("%w: %q has no digits after the point", ErrDecimal, b)
		}
	}
	exp := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		expNeg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			expNeg = b[i] == '-'
			i++
		}
		n := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			exp = exp*10 + int(b[i]-'0')
			n++
			if exp > maxExponent {
				return Decimal{}, fmt.Errorf("%w: %q exponent beyond ±%d", ErrDecimal, b, maxExponent)
			}
		}
		if n == 0 {
			return Decimal{}, fmt.Errorf("%w: %q has an empty exponent", ErrDecimal, b)
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(b) {
		return Decimal{}, fmt.Errorf("%w: unexpected %q in %q", ErrDecimal, b[i], b)
	}
	// value = digits[:nd] × 10^e
	e := exp - fracDigits
	for nd > 0 && digits[nd-1] == '0' {
		nd--
		e++
	}
	if nd == 0 {
		return Decimal{}, nil
	}
	if -e > maxScale {
		return Decimal{}, fmt.Errorf("%w: %q has more than %d digits after the point", ErrDecimal, b, maxScale)
	}
	if nd+e > maxIntDigits {
		return Decimal{}, fmt.Errorf("%w: %q has more than %d digits before the point", ErrDecimal, b, maxIntDigits)
	}
	if e >= 0 && nd+e <= maxMantDigits || e < 0 && nd <= maxMantDigits {
		var m int64
		for _, c := range digits[:nd] {
			m = m*10 + int64(c-'0')
		}
		for k := 0; k < e; k++ {
			m *= 10
		}
		scale := int32(0)
		if e < 0 {
			scale = int32(-e)
		}
		if neg {
			m = -m
		}
		return Decimal{mant: m, scale: scale}, nil
	}
	// Too many digits for the mantissa: keep canonical text.
	var buf [maxDecimalLen]byte
	out := buf[:0]
	if e >= 0 {
		out = appendDigits(out, neg, digits[:nd], 0)
		for k := 0; k < e; k++ {
			out = append(out, '0')
		}
	} else {
		out = appendDigits(out, neg, digits[:nd], -e)
	}
	return Decimal{text: string(out)}, nil
}

// appendDigits appends the decimal with significant digits ds (no leading
// zeros) and scale digits after the point.
func appendDigits(dst []byte, neg bool, ds []byte, scale int) []byte {
	if neg {
		dst = append(dst, '-')
	}
	if scale == 0 {
		return append(dst, ds...)
	}
	if len(ds) <= scale {
		dst = append(dst, '0', '.')
		for k := len(ds); k < scale; k++ {
			dst = append(dst, '0')
		}
		return append(dst, ds...)
	}
	dst = append(dst, ds[:len(ds)-scale]...)
	dst = append(dst, '.')
	return append(dst, ds[len(ds)-scale:]...)
}

// AppendText appends the canonical text of d to dst.
func (d Decimal) AppendText(dst []byte) []byte {
	if d.text != "" {
		return append(dst, d.text...)
	}
	if d.scale == 0 {
		return strconv.AppendInt(dst, d.mant, 10)
	}
	var buf [24]byte
	m := d.mant
	neg := m < 0
	var ds []byte
	if neg {
		ds = strconv.AppendUint(buf[:0], uint64(-m), 10)
	} else {
		ds = strconv.AppendUint(buf[:0], uint64(m), 10)
	}
	return appendDigits(dst, neg, ds, int(d.scale))
}

// String returns the canonical text of d, e.g. "64000.1".
func (d Decimal) String() string { return string(d.AppendText(nil)) }

// IsZero reports whether d is 0.
func (d Decimal) IsZero() bool { return d.text == "" && d.mant == 0 }

// Sign returns -1, 0 or 1.
func (d Decimal) Sign() int {
	switch {
	case d.text != "" && d.text[0] == '-':
		return -1
	case d.text != "":
		return 1
	case d.mant < 0:
		return -1
	case d.mant > 0:
		return 1
	}
	return 0
}

// Big returns d as a shopspring decimal, for arithmetic off the hot path.
func (d Decimal) Big() decimal.Decimal {
	if d.text != "" {
		return decimal.RequireFromString(d.text)
	}
	return decimal.New(d.mant, -d.scale)
}

// FromBig converts a shopspring decimal to a Decimal, exactly.
func FromBig(v decimal.Decimal) (Decimal, error) {
	return ParseDecimal([]byte(v.String()))
}
