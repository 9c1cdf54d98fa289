// This file holds the ONNX messages a CNN needs, read and written field
// by field with protowire (field numbers from onnx.proto):
//
//	ModelProto    ir_version(1) opset_import(8) producer_name(2) producer_version(3)
//	              domain(4) model_version(5) doc_string(6) graph(7) metadata_props(14)
//	GraphProto    node(1) name(2) initializer(5) input(11) output(12) value_info(13)
//	NodeProto     input(1) output(2) name(3) op_type(4) attribute(5) domain(7)
//	AttributeProto name(1) f(2) i(3) s(4) t(5) g(6) floats(7) ints(8) strings(9) tensors(10) type(20)
//	TensorProto   dims(1) data_type(2) float_data(4) int32_data(5) int64_data(7)
//	              name(8) raw_data(9) double_data(10) data_location(14)
//	ValueInfoProto name(1) type(2) -> TypeProto tensor_type(1) -> elem_type(1) shape(2)
//	              -> TensorShapeProto dim(1) -> dim_value(1) dim_param(2)
//
// Unknown fields are skipped. Every length is checked against the bytes
// that remain, so a truncated or corrupt file gives an error naming the
// message and field, never a panic or an allocation larger than the input.

package onnx

import (
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX tensor element types (TensorProto.DataType) handled here.
const (
	TypeFloat  = 1
	TypeUint8  = 2
	TypeInt8   = 3
	TypeInt32  = 6
	TypeInt64  = 7
	TypeBool   = 9
	TypeDouble = 11
)

// Attribute types (AttributeProto.AttributeType).
const (
	AttrFloat   = 1
	AttrInt     = 2
	AttrString  = 3
	AttrTensor  = 4
	AttrGraph   = 5
	AttrFloats  = 6
	AttrInts    = 7
	AttrStrings = 8
	AttrTensors = 9
)

// ModelProto is the top-level message of an .onnx file.
type ModelProto struct {
	IRVersion       int64
	Opsets          []OpsetID
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Graph           *GraphProto
	Metadata        []StringPair // metadata_props, in file order
}

// OpsetID names an operator set and its version; the empty domain is
// the default "ai.onnx" set.
type OpsetID struct {
	Domain  string
	Version int64
}

// StringPair is a metadata_props entry.
type StringPair struct{ Key, Value string }

// GraphProto is a computation graph: nodes in topological order, their
// constant inputs (initializers) and the graph's inputs and outputs.
type GraphProto struct {
	Name         string
	Nodes        []*NodeProto
	Initializers []*TensorProto
	Inputs       []*ValueInfo
	Outputs      []*ValueInfo
	ValueInfo    []*ValueInfo
}

// NodeProto is one operator application.
type NodeProto struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string // "" marks an omitted optional input
	Outputs []string
	Attrs   []*AttributeProto
}

// AttributeProto is a named operator attribute; Type says which field
// holds its value.
type AttributeProto struct {
	Name    string
	Type    int32
	F       float32
	I       int64
	S       []byte
	T       *TensorProto
	G       *GraphProto
	Floats  []float32
	Ints    []int64
	Strings [][]byte
	Tensors []*TensorProto
}

// TensorProto is a constant tensor. Its values are in the typed field of
// its DataType or, little-endian, in RawData.
type TensorProto struct {
	Name         string
	Dims         []int64
	DataType     int32
	FloatData    []float32
	Int32Data    []int32
	Int64Data    []int64
	DoubleData   []float64
	RawData      []byte
	DataLocation int32 // 1 = EXTERNAL (not supported)
}

// ValueInfo is a graph input or output: a name, an element type and a
// shape whose dimensions are numbers or symbolic names.
type ValueInfo struct {
	Name     string
	ElemType int32
	Shape    []Dim // nil when the shape is unknown
}

// Dim is one dimension of a ValueInfo: Value when known, else Param (a
// symbolic name such as "batch") or nothing.
type Dim struct {
	Value int64
	Param string
}

// decoder tracks an allocation budget: every message struct the input
// makes us allocate is charged, so that a file of tiny empty messages
// cannot make the decoder allocate far more than its own size.
type decoder struct{ left int }

// Struct sizes charged per decoded message (rounded up).
const (
	graphCost     = 160
	nodeCost      = 128
	attrCost      = 256
	tensorCost    = 256
	valueInfoCost = 64
)

// allocBudget allows 16 bytes of message structs per input byte, plus
// 1 MiB: real models need a few (weights dominate their size), a file
// of empty messages would need 64 to 128.
func allocBudget(n int) int { return 16*n + 1<<20 }

func (d *decoder) charge(n int) error {
	d.left -= n
	if d.left < 0 {
		return fmt.Errorf("too many messages for the input size")
	}
	return nil
}

// maxDepth bounds the nesting of graphs inside attributes.
const maxDepth = 16

// maxFileBytes is the largest model ReadModel accepts (protobuf's own
// limit for one message is 2 GiB).
const maxFileBytes = 2 << 30

// ReadModel reads an ONNX model from r.
func ReadModel(r io.Reader) (*ModelProto, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: reading model: %w", err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("onnx: model is larger than %d bytes", maxFileBytes)
	}
	return DecodeModel(b)
}

// DecodeModel parses the bytes of an ONNX ModelProto.
func DecodeModel(b []byte) (*ModelProto, error) {
	d := &decoder{left: allocBudget(len(b))}
	m := &ModelProto{}
	err := eachField(b, "ModelProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			m.IRVersion, err = varintField(typ, x, "ir_version")
		case 2:
			m.ProducerName, err = stringField(typ, v, "producer_name")
		case 3:
			m.ProducerVersion, err = stringField(typ, v, "producer_version")
		case 4:
			m.Domain, err = stringField(typ, v, "domain")
		case 5:
			m.ModelVersion, err = varintField(typ, x, "model_version")
		case 6:
			m.DocString, err = stringField(typ, v, "doc_string")
		case 7:
			if err = wantBytes(typ, "graph"); err == nil {
				m.Graph, err = d.decodeGraph(v, 0)
			}
		case 8:
			var o OpsetID
			if err = wantBytes(typ, "opset_import"); err == nil {
				o, err = d.decodeOpset(v)
				m.Opsets = append(m.Opsets, o)
			}
		case 14:
			var p StringPair
			if err = wantBytes(typ, "metadata_props"); err == nil {
				p, err = d.decodePair(v)
				m.Metadata = append(m.Metadata, p)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if m.Graph == nil {
		return nil, errors.New("onnx: ModelProto has no graph")
	}
	return m, nil
}

// eachField calls fn for every field of the message in b: v holds the
// payload of a length-delimited field, x the value of a varint or fixed
// one. Errors name the message.
func eachField(b []byte, msg string, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: bad field tag: %w", msg, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var f uint32
			f, n = protowire.ConsumeFixed32(b)
			x = uint64(f)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%s field %d: %w", msg, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return fmt.Errorf("%s: %w", msg, err)
		}
	}
	return nil
}

func wantBytes(typ protowire.Type, field string) error {
	if typ != protowire.BytesType {
		return fmt.Errorf("field %s has wire type %d, want length-delimited", field, typ)
	}
	return nil
}

func stringField(typ protowire.Type, v []byte, field string) (string, error) {
	if err := wantBytes(typ, field); err != nil {
		return "", err
	}
	return string(v), nil
}

func varintField(typ protowire.Type, x uint64, field string) (int64, error) {
	if typ != protowire.VarintType {
		return 0, fmt.Errorf("field %s has wire type %d, want varint", field, typ)
	}
	return int64(x), nil
}

func (d *decoder) decodeOpset(b []byte) (OpsetID, error) {
	var o OpsetID
	err := eachField(b, "OperatorSetIdProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			o.Domain, err = stringField(typ, v, "domain")
		case 2:
			o.Version, err = varintField(typ, x, "version")
		}
		return err
	})
	return o, err
}

func (d *decoder) decodePair(b []byte) (StringPair, error) {
	var p StringPair
	err := eachField(b, "StringStringEntryProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			p.Key, err = stringField(typ, v, "key")
		case 2:
			p.Value, err = stringField(typ, v, "value")
		}
		return err
	})
	return p, err
}

func (d *decoder) decodeGraph(b []byte, depth int) (*GraphProto, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("graphs nested more than %d deep", maxDepth)
	}
	if err := d.charge(graphCost); err != nil {
		return nil, err
	}
	g := &GraphProto{}
	err := eachField(b, "GraphProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			var n *NodeProto
			if err = wantBytes(typ, "node"); err == nil {
				n, err = d.decodeNode(v, depth)
				g.Nodes = append(g.Nodes, n)
			}
		case 2:
			g.Name, err = stringField(typ, v, "name")
		case 5:
			var t *TensorProto
			if err = wantBytes(typ, "initializer"); err == nil {
				t, err = d.decodeTensor(v)
				g.Initializers = append(g.Initializers, t)
			}
		case 11, 12, 13:
			var vi *ValueInfo
			if err = wantBytes(typ, "input/output/value_info"); err == nil {
				vi, err = d.decodeValueInfo(v)
			}
			switch num {
			case 11:
				g.Inputs = append(g.Inputs, vi)
			case 12:
				g.Outputs = append(g.Outputs, vi)
			default:
				g.ValueInfo = append(g.ValueInfo, vi)
			}
		}
		return err
	})
	return g, err
}

func (d *decoder) decodeNode(b []byte, depth int) (*NodeProto, error) {
	if err := d.charge(nodeCost); err != nil {
		return nil, err
	}
	n := &NodeProto{}
	err := eachField(b, "NodeProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		var s string
		switch num {
		case 1:
			s, err = stringField(typ, v, "input")
			n.Inputs = append(n.Inputs, s)
		case 2:
			s, err = stringField(typ, v, "output")
			n.Outputs = append(n.Outputs, s)
		case 3:
			n.Name, err = stringField(typ, v, "name")
		case 4:
			n.OpType, err = stringField(typ, v, "op_type")
		case 5:
			var a *AttributeProto
			if err = wantBytes(typ, "attribute"); err == nil {
				a, err = d.decodeAttr(v, depth)
				n.Attrs = append(n.Attrs, a)
			}
		case 7:
			n.Domain, err = stringField(typ, v, "domain")
		}
		return err
	})
	if err != nil && n.Name != "" {
		err = fmt.Errorf("node %q: %w", n.Name, err)
	}
	return n, err
}

func (d *decoder) decodeAttr(b []byte, depth int) (*AttributeProto, error) {
	if err := d.charge(attrCost); err != nil {
		return nil, err
	}
	a := &AttributeProto{}
	err := eachField(b, "AttributeProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			a.Name, err = stringField(typ, v, "name")
		case 2:
			if typ != protowire.Fixed32Type {
				return fmt.Errorf("field f has wire type %d, want fixed32", typ)
			}
			a.F = math.Float32frombits(uint32(x))
		case 3:
			a.I, err = varintField(typ, x, "i")
		case 4:
			if err = wantBytes(typ, "s"); err == nil {
				a.S = append([]byte(nil), v...)
			}
		case 5:
			if err = wantBytes(typ, "t"); err == nil {
				a.T, err = d.decodeTensor(v)
			}
		case 6:
			if err = wantBytes(typ, "g"); err == nil {
				a.G, err = d.decodeGraph(v, depth+1)
			}
		case 7:
			a.Floats, err = appendFloats(a.Floats, typ, v, x, "floats")
		case 8:
			a.Ints, err = appendVarints(a.Ints, typ, v, x, "ints")
		case 9:
			if err = wantBytes(typ, "strings"); err == nil {
				a.Strings = append(a.Strings, append([]byte(nil), v...))
			}
		case 10:
			var t *TensorProto
			if err = wantBytes(typ, "tensors"); err == nil {
				t, err = d.decodeTensor(v)
				a.Tensors = append(a.Tensors, t)
			}
		case 20:
			var t int64
			t, err = varintField(typ, x, "type")
			a.Type = int32(t)
		}
		return err
	})
	if err != nil && a.Name != "" {
		err = fmt.Errorf("attribute %q: %w", a.Name, err)
	}
	return a, err
}

// appendFloats reads a repeated float field, packed or not.
func appendFloats(dst []float32, typ protowire.Type, v []byte, x uint64, field string) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(x))), nil
	case protowire.BytesType:
		if len(v)%4 != 0 {
			return dst, fmt.Errorf("packed %s has %d bytes, not a multiple of 4", field, len(v))
		}
		dst = growCap(dst, len(v)/4)
		for i := 0; i < len(v); i += 4 {
			dst = append(dst, math.Float32frombits(uint32(v[i])|uint32(v[i+1])<<8|uint32(v[i+2])<<16|uint32(v[i+3])<<24))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("field %s has wire type %d, want fixed32 or packed", field, typ)
}

// appendDoubles reads a repeated double field, packed or not.
func appendDoubles(dst []float64, typ protowire.Type, v []byte, x uint64, field string) ([]float64, error) {
	switch typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(x)), nil
	case protowire.BytesType:
		if len(v)%8 != 0 {
			return dst, fmt.Errorf("packed %s has %d bytes, not a multiple of 8", field, len(v))
		}
		dst = growCap(dst, len(v)/8)
		for len(v) > 0 {
			u, _ := protowire.ConsumeFixed64(v)
			dst = append(dst, math.Float64frombits(u))
			v = v[8:]
		}
		return dst, nil
	}
	return dst, fmt.Errorf("field %s has wire type %d, want fixed64 or packed", field, typ)
}

// appendVarints reads a repeated int64/int32 field, packed or not.
func appendVarints(dst []int64, typ protowire.Type, v []byte, x uint64, field string) ([]int64, error) {
	switch typ {
	case protowire.VarintType:
		return append(dst, int64(x)), nil
	case protowire.BytesType:
		for len(v) > 0 {
			u, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return dst, fmt.Errorf("packed %s: %w", field, protowire.ParseError(n))
			}
			dst = append(dst, int64(u))
			v = v[n:]
		}
		return dst, nil
	}
	return dst, fmt.Errorf("field %s has wire type %d, want varint or packed", field, typ)
}

// growCap makes room for n more elements; n is bounded by the input size.
func growCap[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	return append(make([]T, 0, len(s)+n), s...)
}

func (d *decoder) decodeTensor(b []byte) (*TensorProto, error) {
	if err := d.charge(tensorCost); err != nil {
		return nil, err
	}
	t := &TensorProto{}
	err := eachField(b, "TensorProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			t.Dims, err = appendVarints(t.Dims, typ, v, x, "dims")
		case 2:
			var d int64
			d, err = varintField(typ, x, "data_type")
			t.DataType = int32(d)
		case 4:
			t.FloatData, err = appendFloats(t.FloatData, typ, v, x, "float_data")
		case 5:
			var ints []int64
			ints, err = appendVarints(nil, typ, v, x, "int32_data")
			for _, i := range ints {
				t.Int32Data = append(t.Int32Data, int32(i))
			}
		case 7:
			t.Int64Data, err = appendVarints(t.Int64Data, typ, v, x, "int64_data")
		case 8:
			t.Name, err = stringField(typ, v, "name")
		case 9:
			if err = wantBytes(typ, "raw_data"); err == nil {
				t.RawData = append([]byte(nil), v...)
			}
		case 10:
			t.DoubleData, err = appendDoubles(t.DoubleData, typ, v, x, "double_data")
		case 14:
			var d int64
			d, err = varintField(typ, x, "data_location")
			t.DataLocation = int32(d)
		}
		return err
	})
	if err != nil && t.Name != "" {
		err = fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return t, err
}

func (d *decoder) decodeValueInfo(b []byte) (*ValueInfo, error) {
	if err := d.charge(valueInfoCost); err != nil {
		return nil, err
	}
	vi := &ValueInfo{}
	err := eachField(b, "ValueInfoProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case 1:
			vi.Name, err = stringField(typ, v, "name")
		case 2:
			if err = wantBytes(typ, "type"); err == nil {
				err = d.decodeType(v, vi)
			}
		}
		return err
	})
	return vi, err
}

// decodeType reads TypeProto.tensor_type into vi; other kinds (sequences,
// maps) are ignored.
func (d *decoder) decodeType(b []byte, vi *ValueInfo) error {
	return eachField(b, "TypeProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if num != 1 {
			return nil
		}
		if err := wantBytes(typ, "tensor_type"); err != nil {
			return err
		}
		return eachField(v, "TypeProto.Tensor", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
			switch num {
			case 1:
				e, err := varintField(typ, x, "elem_type")
				vi.ElemType = int32(e)
				return err
			case 2:
				if err := wantBytes(typ, "shape"); err != nil {
					return err
				}
				vi.Shape = []Dim{}
				return eachField(v, "TensorShapeProto", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
					if num != 1 {
						return nil
					}
					if err := wantBytes(typ, "dim"); err != nil {
						return err
					}
					var d Dim
					err := eachField(v, "Dimension", func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
						var err error
						switch num {
						case 1:
							d.Value, err = varintField(typ, x, "dim_value")
						case 2:
							d.Param, err = stringField(typ, v, "dim_param")
						}
						return err
					})
					vi.Shape = append(vi.Shape, d)
					return err
				})
			}
			return nil
		})
	})
}
