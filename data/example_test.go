package data_test

import (
	"fmt"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/vision"
)

// A training loop's view of the data: split, then iterate augmented,
// normalised batches epoch by epoch.
func ExampleLoader() {
	all := data.SynthFaces(200, 1)
	train, val, _, err := data.Split(all, data.SplitOptions{ValFraction: 0.2, Seed: 1})
	if err != nil {
		panic(err)
	}
	aug := data.DefaultAugment()
	loader, err := data.NewLoader(train, data.LoaderOptions{
		BatchSize: 32, Shuffle: true, Seed: 1, Augment: &aug, Preprocess: vision.DefaultFER(),
	})
	if err != nil {
		panic(err)
	}
	defer loader.Close()
	for epoch := 0; epoch < 2; epoch++ {
		for b := range loader.Batches(epoch, 0) {
			_ = b.X      // (N,48,48,1) float32 model input
			_ = b.Labels // N labels
		}
	}
	fmt.Println(train.Len()+val.Len(), loader.BatchesPerEpoch(), loader.InputShape())
	// Output: 200 5 [48 48 1]
}
