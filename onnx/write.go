package onnx

import (
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// WriteModel encodes m and writes it to w.
func WriteModel(w io.Writer, m *ModelProto) error {
	if _, err := w.Write(EncodeModel(m)); err != nil {
		return fmt.Errorf("onnx: writing model: %w", err)
	}
	return nil
}

// EncodeModel returns the protobuf bytes of m.
func EncodeModel(m *ModelProto) []byte {
	var b []byte
	b = appendVarint(b, 1, uint64(m.IRVersion))
	b = appendString(b, 2, m.ProducerName)
	b = appendString(b, 3, m.ProducerVersion)
	b = appendString(b, 4, m.Domain)
	b = appendVarint(b, 5, uint64(m.ModelVersion))
	b = appendString(b, 6, m.DocString)
	if m.Graph != nil {
		b = appendMessage(b, 7, encodeGraph(m.Graph))
	}
	for _, o := range m.Opsets {
		var ob []byte
		ob = appendString(ob, 1, o.Domain)
		ob = protowire.AppendTag(ob, 2, protowire.VarintType)
		ob = protowire.AppendVarint(ob, uint64(o.Version))
		b = appendMessage(b, 8, ob)
	}
	for _, p := range m.Metadata {
		var pb []byte
		pb = appendString(pb, 1, p.Key)
		pb = appendString(pb, 2, p.Value)
		b = appendMessage(b, 14, pb)
	}
	return b
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendAlways writes a string field even when empty (repeated strings:
// an empty node input marks an omitted optional input).
func appendAlways(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendPackedInts(b []byte, num protowire.Number, v []int64) []byte {
	if len(v) == 0 {
		return b
	}
	var p []byte
	for _, x := range v {
		p = protowire.AppendVarint(p, uint64(x))
	}
	return appendMessage(b, num, p)
}

func appendPackedFloats(b []byte, num protowire.Number, v []float32) []byte {
	if len(v) == 0 {
		return b
	}
	var p []byte
	for _, x := range v {
		p = protowire.AppendFixed32(p, math.Float32bits(x))
	}
	return appendMessage(b, num, p)
}

func encodeGraph(g *GraphProto) []byte {
	var b []byte
	for _, n := range g.Nodes {
		b = appendMessage(b, 1, encodeNode(n))
	}
	b = appendString(b, 2, g.Name)
	for _, t := range g.Initializers {
		b = appendMessage(b, 5, encodeTensor(t))
	}
	for _, v := range g.Inputs {
		b = appendMessage(b, 11, encodeValueInfo(v))
	}
	for _, v := range g.Outputs {
		b = appendMessage(b, 12, encodeValueInfo(v))
	}
	for _, v := range g.ValueInfo {
		b = appendMessage(b, 13, encodeValueInfo(v))
	}
	return b
}

func encodeNode(n *NodeProto) []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = appendAlways(b, 1, s)
	}
	for _, s := range n.Outputs {
		b = appendAlways(b, 2, s)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.OpType)
	for _, a := range n.Attrs {
		b = appendMessage(b, 5, encodeAttr(a))
	}
	b = appendString(b, 7, n.Domain)
	return b
}

func encodeAttr(a *AttributeProto) []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Type {
	case AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case AttrString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, a.S)
	case AttrTensor:
		if a.T != nil {
			b = appendMessage(b, 5, encodeTensor(a.T))
		}
	case AttrGraph:
		if a.G != nil {
			b = appendMessage(b, 6, encodeGraph(a.G))
		}
	case AttrFloats:
		b = appendPackedFloats(b, 7, a.Floats)
	case AttrInts:
		b = appendPackedInts(b, 8, a.Ints)
	case AttrStrings:
		for _, s := range a.Strings {
			b = protowire.AppendTag(b, 9, protowire.BytesType)
			b = protowire.AppendBytes(b, s)
		}
	case AttrTensors:
		for _, t := range a.Tensors {
			b = appendMessage(b, 10, encodeTensor(t))
		}
	}
	b = appendVarint(b, 20, uint64(a.Type))
	return b
}

func encodeTensor(t *TensorProto) []byte {
	var b []byte
	b = appendPackedInts(b, 1, t.Dims)
	b = appendVarint(b, 2, uint64(t.DataType))
	b = appendPackedFloats(b, 4, t.FloatData)
	if len(t.Int32Data) > 0 {
		ints := make([]int64, len(t.Int32Data))
		for i, v := range t.Int32Data {
			ints[i] = int64(v)
		}
		b = appendPackedInts(b, 5, ints)
	}
	b = appendPackedInts(b, 7, t.Int64Data)
	b = appendString(b, 8, t.Name)
	if t.RawData != nil {
		b = protowire.AppendTag(b, 9, protowire.BytesType)
		b = protowire.AppendBytes(b, t.RawData)
	}
	if len(t.DoubleData) > 0 {
		var p []byte
		for _, x := range t.DoubleData {
			p = protowire.AppendFixed64(p, math.Float64bits(x))
		}
		b = appendMessage(b, 10, p)
	}
	b = appendVarint(b, 14, uint64(t.DataLocation))
	return b
}

func encodeValueInfo(v *ValueInfo) []byte {
	var tt []byte
	tt = appendVarint(tt, 1, uint64(v.ElemType))
	if v.Shape != nil {
		var sb []byte
		for _, d := range v.Shape {
			var db []byte
			if d.Param != "" {
				db = appendString(db, 2, d.Param)
			} else {
				db = protowire.AppendTag(db, 1, protowire.VarintType)
				db = protowire.AppendVarint(db, uint64(d.Value))
			}
			sb = appendMessage(sb, 1, db)
		}
		tt = appendMessage(tt, 2, sb)
	}
	var b []byte
	b = appendString(b, 1, v.Name)
	b = appendMessage(b, 2, appendMessage(nil, 1, tt))
	return b
}

// Attr returns the node's attribute called name, or nil.
func (n *NodeProto) Attr(name string) *AttributeProto {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Meta returns the metadata value for key and whether it is present.
func (m *ModelProto) Meta(key string) (string, bool) {
	for _, p := range m.Metadata {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}
