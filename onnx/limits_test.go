package onnx

import (
	"fmt"
	"strings"
	"testing"

	"github.com/residual-go/residual/tensor"
)

// TestFoldBudget: constant folding is bounded by what the file holds, so
// a few bytes of ConstantOfShape nodes (each within the per-tensor limit)
// cannot ask for gigabytes: the compiler stops with an error at the
// budget. The same graph with one such node compiles.
func TestFoldBudget(t *testing.T) {
	graph := func(nodes int) *ModelProto {
		g := &GraphProto{
			Inputs:       []*ValueInfo{{Name: "x", ElemType: TypeFloat, Shape: []Dim{{Value: 1}, {Value: 2}}}},
			Initializers: []*TensorProto{Int64Tensor("big", []int{2}, []int64{4096, 3072})}, // 12.6M elements each
			Outputs:      []*ValueInfo{{Name: "y", ElemType: TypeFloat}},
		}
		for i := 0; i < nodes; i++ {
			g.Nodes = append(g.Nodes, &NodeProto{Name: fmt.Sprint("z", i), OpType: "ConstantOfShape", Inputs: []string{"big"}, Outputs: []string{fmt.Sprint("z", i)}})
		}
		g.Nodes = append(g.Nodes, &NodeProto{Name: "id", OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"y"}})
		return &ModelProto{IRVersion: 7, Opsets: []OpsetID{{Version: 13}}, Graph: g}
	}
	if _, err := Compile(graph(1), Options{}); err != nil {
		t.Fatalf("one folded tensor within the limit: %v", err)
	}
	_, err := Compile(graph(50), Options{})
	if err == nil || !strings.Contains(err.Error(), "constant folding makes more than") || !strings.Contains(err.Error(), `node "z1"`) {
		t.Fatalf("50 folded 12.6M-element tensors: %v, want the budget error at the second", err)
	}
}

// TestRunLimit: a Pad whose pads would overflow the size computation, and
// a Resize scaled beyond the run-time limit, fail with errors naming the
// node instead of panicking or allocating.
func TestRunLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		node  *NodeProto
		inits []*TensorProto
		want  string
	}{
		{"pad", &NodeProto{Name: "pad", OpType: "Pad", Inputs: []string{"x", "pads"}, Outputs: []string{"y"}},
			[]*TensorProto{Int64Tensor("pads", []int{8}, []int64{0, 0, 1 << 40, 0, 0, 0, 1 << 40, 0})}, "pads"},
		{"resize", &NodeProto{Name: "resize", OpType: "Resize", Inputs: []string{"x", "", "scales"}, Outputs: []string{"y"}},
			[]*TensorProto{FloatTensor("scales", []int{4}, []float32{1, 1, 1e6, 1e6})}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &ModelProto{IRVersion: 7, Opsets: []OpsetID{{Version: 13}}, Graph: &GraphProto{
				Inputs:       []*ValueInfo{{Name: "x", ElemType: TypeFloat, Shape: []Dim{{Value: 1}, {Value: 2}, {Value: 3}, {Value: 4}}}},
				Initializers: tc.inits,
				Nodes:        []*NodeProto{tc.node},
				Outputs:      []*ValueInfo{{Name: "y", ElemType: TypeFloat}},
			}}
			g, err := Compile(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Forward(tensor.New(1, 3, 4, 2), false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.node.Name) {
				t.Fatalf("error %v, want one naming the node and %q", err, tc.want)
			}
		})
	}
}
