package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/residual-go/residual/tensor"
)

// maxTensorElems bounds the element count a TensorProto may declare.
const maxTensorElems = 1 << 31

// Numel returns the number of elements the dims describe, or an error
// for negative dimensions or an absurd total.
func (t *TensorProto) Numel() (int, error) {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return 0, fmt.Errorf("tensor %q: negative dimension in %v", t.Name, t.Dims)
		}
		if d > 0 && n > maxTensorElems/d {
			return 0, fmt.Errorf("tensor %q: dims %v hold more than %d elements", t.Name, t.Dims, int64(maxTensorElems))
		}
		n *= d
	}
	return int(n), nil
}

// Shape returns the dims as ints.
func (t *TensorProto) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[i] = int(d)
	}
	return s
}

// Floats returns the values as float32, converting integer and double
// tensors. The count must match the dims.
func (t *TensorProto) Floats() ([]float32, error) {
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	if t.DataLocation == 1 {
		return nil, fmt.Errorf("tensor %q: external data is not supported (save the model with its weights inside)", t.Name)
	}
	out := make([]float32, 0, min(n, len(t.RawData)+len(t.FloatData)+len(t.Int64Data)+len(t.Int32Data)+len(t.DoubleData)))
	raw := t.RawData
	switch t.DataType {
	case TypeFloat:
		if raw != nil {
			if len(raw) != 4*n {
				return nil, t.countError(len(raw)/4, n)
			}
			for i := 0; i < n; i++ {
				out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
			}
			return out, nil
		}
		out = append(out, t.FloatData...)
	case TypeDouble:
		if raw != nil {
			if len(raw) != 8*n {
				return nil, t.countError(len(raw)/8, n)
			}
			for i := 0; i < n; i++ {
				out = append(out, float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))))
			}
			return out, nil
		}
		for _, v := range t.DoubleData {
			out = append(out, float32(v))
		}
	case TypeInt64, TypeInt32, TypeInt8, TypeUint8, TypeBool:
		ints, err := t.Ints()
		if err != nil {
			return nil, err
		}
		for _, v := range ints {
			out = append(out, float32(v))
		}
	default:
		return nil, fmt.Errorf("tensor %q: data type %d is not supported (want float, double or an integer type)", t.Name, t.DataType)
	}
	if len(out) != n {
		return nil, t.countError(len(out), n)
	}
	return out, nil
}

// Ints returns the values of an integer tensor (int64, int32, int8,
// uint8, bool) as int64.
func (t *TensorProto) Ints() ([]int64, error) {
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	raw := t.RawData
	var out []int64
	switch t.DataType {
	case TypeInt64:
		if raw != nil {
			if len(raw) != 8*n {
				return nil, t.countError(len(raw)/8, n)
			}
			out = make([]int64, n)
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			return out, nil
		}
		out = append(out, t.Int64Data...)
	case TypeInt32, TypeInt8, TypeUint8, TypeBool:
		size := map[int32]int{TypeInt32: 4, TypeInt8: 1, TypeUint8: 1, TypeBool: 1}[t.DataType]
		if raw != nil {
			if len(raw) != size*n {
				return nil, t.countError(len(raw)/size, n)
			}
			out = make([]int64, n)
			for i := range out {
				switch t.DataType {
				case TypeInt32:
					out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
				case TypeInt8:
					out[i] = int64(int8(raw[i]))
				default:
					out[i] = int64(raw[i])
				}
			}
			return out, nil
		}
		for _, v := range t.Int32Data {
			out = append(out, int64(v))
		}
	default:
		return nil, fmt.Errorf("tensor %q: data type %d is not an integer type", t.Name, t.DataType)
	}
	if len(out) != n {
		return nil, t.countError(len(out), n)
	}
	return out, nil
}

func (t *TensorProto) countError(have, want int) error {
	return fmt.Errorf("tensor %q: dims %v need %d values, the data holds %d", t.Name, t.Dims, want, have)
}

// Tensor converts t to a float32 tensor of the same (logical) shape.
func (t *TensorProto) Tensor() (*tensor.Tensor, error) {
	v, err := t.Floats()
	if err != nil {
		return nil, err
	}
	return tensor.FromData(v, t.Shape()...), nil
}

// FloatTensor makes a float TensorProto with raw little-endian data.
func FloatTensor(name string, shape []int, data []float32) *TensorProto {
	t := &TensorProto{Name: name, DataType: TypeFloat, RawData: make([]byte, 4*len(data))}
	for _, d := range shape {
		t.Dims = append(t.Dims, int64(d))
	}
	for i, v := range data {
		binary.LittleEndian.PutUint32(t.RawData[4*i:], math.Float32bits(v))
	}
	return t
}

// Int64Tensor makes an int64 TensorProto (shapes for Reshape, pads...).
func Int64Tensor(name string, shape []int, data []int64) *TensorProto {
	t := &TensorProto{Name: name, DataType: TypeInt64, Int64Data: append([]int64(nil), data...)}
	for _, d := range shape {
		t.Dims = append(t.Dims, int64(d))
	}
	return t
}
