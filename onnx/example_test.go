package onnx_test

import (
	"bytes"
	"fmt"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/onnx"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// Export a network to ONNX and run the file with the importer.
func Example() {
	cfg := model.Config{Layers: []int{1, 1}, Widths: []int{4, 8}, Input: [3]int{16, 16, 1}, Classes: 3}
	net, err := model.New(cfg, 1)
	if err != nil {
		panic(err)
	}
	var file bytes.Buffer
	pre := vision.Preprocess{Width: 16, Height: 16, Channels: 1}
	if err := onnx.Export(&file, net, []string{"cat", "dog", "fox"}, pre); err != nil {
		panic(err)
	}
	g, err := onnx.Import(&file, onnx.Options{})
	if err != nil {
		panic(err)
	}
	x := tensor.New(2, 16, 16, 1) // (N,H,W,C)
	logits, err := g.Forward(x, false)
	if err != nil {
		panic(err)
	}
	classes, _ := g.Classes()
	fmt.Println(logits.Shape, classes, g.InputShape())
	// Output: [2 3] [cat dog fox] [16 16 1]
}
