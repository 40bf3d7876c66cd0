package market

import (
	"math"

	"github.com/shopspring/decimal"
)

// Arithmetic for aggregating quotes (bars): exact, without allocation when
// both operands fit the int64 mantissa at a common scale, through
// shopspring/decimal otherwise.

// Cmp returns -1, 0 or 1 as d is less than, equal to or greater than o.
func (d Decimal) Cmp(o Decimal) int {
	if d.text == "" && o.text == "" {
		if a, b, _, ok := align(d, o); ok {
			switch {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		}
	}
	return d.Big().Cmp(o.Big())
}

// Add returns d + o.
func (d Decimal) Add(o Decimal) Decimal {
	if d.text == "" && o.text == "" {
		if a, b, scale, ok := align(d, o); ok && !(b > 0 && a > math.MaxInt64-b) && !(b < 0 && a < math.MinInt64-b) {
			return fromMant(a+b, scale)
		}
	}
	v, _ := FromBig(d.Big().Add(o.Big()))
	return v
}

// Half returns d / 2 (exact: one more digit after the point at most).
func (d Decimal) Half() Decimal {
	if d.text == "" && d.scale < maxScale && d.mant <= math.MaxInt64/5 && d.mant >= math.MinInt64/5 {
		return fromMant(d.mant*5, d.scale+1)
	}
	v, _ := FromBig(d.Big().Mul(decimal.New(5, -1)))
	return v
}

// align returns the mantissas of d and o at their larger scale; ok is false
// when one does not fit an int64 there.
func align(d, o Decimal) (a, b int64, scale int32, ok bool) {
	scale = max(d.scale, o.scale)
	if a, ok = scaleUp(d.mant, scale-d.scale); !ok {
		return 0, 0, 0, false
	}
	b, ok = scaleUp(o.mant, scale-o.scale)
	return a, b, scale, ok
}

func scaleUp(m int64, n int32) (int64, bool) {
	for ; n > 0; n-- {
		if m > math.MaxInt64/10 || m < math.MinInt64/10 {
			return 0, false
		}
		m *= 10
	}
	return m, true
}

// fromMant is m × 10^-scale in canonical form: in the mantissa when it has
// at most 18 digits, as text otherwise (as ParseDecimal would keep it).
func fromMant(m int64, scale int32) Decimal {
	const lim = 999_999_999_999_999_999
	if m >= -lim && m <= lim {
		return NewDecimal(m, scale)
	}
	v, _ := FromBig(decimal.New(m, -scale))
	return v
}
