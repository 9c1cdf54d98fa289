package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is the element type of a stored tensor, spelled as in the
// safetensors header ("F32", "BF16", ...).
type DType string

// The element types this package reads. F64, F32, F16 and BF16 convert to
// float32; I64 and I32 convert to float32 (exactly up to 2^24 in magnitude)
// or are read unchanged with File.Int64s.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
)

// Size is the number of bytes of one element, or 0 for an unsupported type.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// Valid reports whether d is one of the supported element types.
func (d DType) Valid() bool { return d.Size() != 0 }

func (d DType) isFloat() bool { return d == F64 || d == F32 || d == F16 || d == BF16 }

// decodeFloat32 converts little-endian raw values of type d into dst;
// len(raw) must be len(dst)*d.Size().
func decodeFloat32(dst []float32, raw []byte, d DType) {
	le := binary.LittleEndian
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
	case F16:
		for i := range dst {
			dst[i] = HalfToFloat32(le.Uint16(raw[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BFloat16ToFloat32(le.Uint16(raw[2*i:]))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(raw[8*i:])))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(raw[4*i:])))
		}
	default:
		panic(fmt.Sprintf("safetensors: decodeFloat32 called with dtype %q", d))
	}
}

// encodeFloat32 writes src as little-endian values of float type d.
func encodeFloat32(dst []byte, src []float32, d DType) {
	le := binary.LittleEndian
	switch d {
	case F32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	case F16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], Float32ToHalf(v))
		}
	case BF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], Float32ToBFloat16(v))
		}
	default:
		panic(fmt.Sprintf("safetensors: encodeFloat32 called with dtype %q", d))
	}
}

// BFloat16ToFloat32 widens a bfloat16 (the top 16 bits of a float32).
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 rounds f to the nearest bfloat16, ties to even.
// NaN stays NaN (quiet), infinities stay infinite.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f { // NaN: keep the sign, force a quiet-NaN mantissa bit
		return uint16(b>>16) | 0x0040
	}
	// Add 0x7FFF plus the lowest kept bit: rounds to nearest, ties to even.
	b += 0x7FFF + (b>>16)&1
	return uint16(b >> 16)
}

// HalfToFloat32 widens an IEEE 754 binary16 value, subnormals, infinities
// and NaN included.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h) & 0x3FF
	switch {
	case exp == 0 && mant == 0: // ±0
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant * 2^-24
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1F: // inf or NaN
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp-15+127)<<23 | mant<<13)
}

// Float32ToHalf rounds f to the nearest IEEE 754 binary16, ties to even;
// values too large become ±Inf, tiny ones become subnormals or ±0.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xFF
	mant := b & 0x7FFFFF
	if exp == 0xFF { // inf or NaN
		if mant != 0 {
			return sign | 0x7E00
		}
		return sign | 0x7C00
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1F {
		return sign | 0x7C00 // overflow to infinity
	}
	if e <= 0 {
		// Subnormal half (or zero): value = m * 2^-24 with m < 1024.
		if e < -10 {
			return sign // rounds to ±0
		}
		m := mant | 0x800000 // implicit leading 1, 24 significant bits
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++ // may carry into the smallest normal, which is still correct
		}
		return sign | uint16(r)
	}
	// Normal: keep 10 mantissa bits, round the 13 dropped ones.
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1FFF
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // a carry into the exponent rounds up to the next binade or Inf
	}
	return sign | uint16(r)
}
