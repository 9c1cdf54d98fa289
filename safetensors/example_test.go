package safetensors_test

import (
	"bytes"
	"fmt"

	"github.com/residual-go/residual/safetensors"
	"github.com/residual-go/residual/tensor"
)

func Example() {
	w := tensor.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	var buf bytes.Buffer
	err := safetensors.Write(&buf, []safetensors.Entry{
		safetensors.Float32("fc.weight", w),
		safetensors.Int64("labels", []int64{0, 2}, 2),
	}, map[string]string{"format": "residual"})
	if err != nil {
		panic(err)
	}

	f, err := safetensors.ReadBytes(buf.Bytes())
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Names(), f.Metadata["format"])
	t, err := f.Tensor("fc.weight")
	if err != nil {
		panic(err)
	}
	fmt.Println(t, t.Data)
	labels, shape, err := f.Int64s("labels")
	fmt.Println(labels, shape, err)
	// Output:
	// [fc.weight labels] residual
	// Tensor(2,3) [1 2 3 4 5 6]
	// [0 2] [2] <nil>
}
