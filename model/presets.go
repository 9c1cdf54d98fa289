package model

import (
	"fmt"
	"sort"
	"strings"
)

// presets are named configurations. Input and Classes are filled in by
// Preset's caller (they depend on the data) unless the preset fixes them.
var presets = map[string]Config{
	// The benchmark network of docs/BENCHMARKS.md: CIFAR-style, 3 stages x
	// 2 basic blocks, 16/32/64 channels, 48x48x1 input, 7 classes.
	"reference": {Block: "basic", Layers: []int{2, 2, 2}, Widths: []int{16, 32, 64}, Input: [3]int{48, 48, 1}, Classes: 7},

	// The CIFAR family of He et al. 2015 (6n+2 layers, 16/32/64 channels).
	"resnet20": {Block: "basic", Layers: []int{3, 3, 3}, Widths: []int{16, 32, 64}},
	"resnet32": {Block: "basic", Layers: []int{5, 5, 5}, Widths: []int{16, 32, 64}},
	"resnet56": {Block: "basic", Layers: []int{9, 9, 9}, Widths: []int{16, 32, 64}},

	// The ImageNet family with the ImageNet stem (7x7/2 + max-pool).
	"resnet18":  imagenet("basic", 2, 2, 2, 2),
	"resnet34":  imagenet("basic", 3, 4, 6, 3),
	"resnet50":  imagenet("bottleneck", 3, 4, 6, 3),
	"resnet101": imagenet("bottleneck", 3, 4, 23, 3),
	"resnet152": imagenet("bottleneck", 3, 8, 36, 3),

	// Pre-activation (v2) networks as Keras builds them
	// (keras.applications.resnet_v2: ResNet50V2, ResNet101V2, ResNet152V2;
	// see Config.Layout): layer for layer, with the same parameter counts.
	"resnet50v2":  keras(v2(imagenet("bottleneck", 3, 4, 6, 3))),
	"resnet101v2": keras(v2(imagenet("bottleneck", 3, 4, 23, 3))),
	"resnet152v2": keras(v2(imagenet("bottleneck", 3, 8, 36, 3))),

	// Pre-activation networks laid out as torchvision's v1 (stride on a
	// stage's first block, no biases), as in He et al.'s v2 paper code:
	// resnet18v2 has no Keras counterpart; the -tv names are the layout
	// resnet50v2/152v2 had before they followed Keras.
	"resnet18v2":     v2(imagenet("basic", 2, 2, 2, 2)),
	"resnet50v2-tv":  v2(imagenet("bottleneck", 3, 4, 6, 3)),
	"resnet152v2-tv": v2(imagenet("bottleneck", 3, 8, 36, 3)),

	// The same depths with the small-input stem (3x3 stride 1, no
	// max-pool), for 48x48 faces: keeps the spatial detail small images
	// have little of.
	"resnet18-small": small(imagenet("basic", 2, 2, 2, 2)),
	"resnet34-small": small(imagenet("basic", 3, 4, 6, 3)),
	"resnet50-small": small(imagenet("bottleneck", 3, 4, 6, 3)),

	// The paper's gesture network (its Figure 4): 32x32 gray input ->
	// Conv2D 1->3 -> Keras' ResNet152V2 without top (1x1x2048 at 32x32) ->
	// Flatten -> Dense 1024, 1024, 256, 128, 64 -> 10.
	"paper-gesture": func() Config {
		c := keras(v2(imagenet("bottleneck", 3, 8, 36, 3)))
		c.InputAdapter = 3
		c.Pool = "flatten"
		c.Head = []int{1024, 1024, 256, 128, 64}
		c.Input = [3]int{32, 32, 1}
		c.Classes = 10
		return c
	}(),
}

func imagenet(block string, layers ...int) Config {
	return Config{Block: block, Layers: layers, Widths: []int{64, 128, 256, 512}, Stem: "imagenet"}
}

func v2(c Config) Config    { c.Version = 2; return c }
func keras(c Config) Config { c.Layout = LayoutKeras; return c }
func small(c Config) Config { c.Stem = "small"; return c }

// Presets lists the preset names in order.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns the named configuration. Its Input and Classes are those
// the preset fixes (the reference and paper networks) or zero, for the
// caller to set from the data.
func Preset(name string) (Config, error) {
	c, ok := presets[strings.ToLower(name)]
	if !ok {
		return Config{}, fmt.Errorf("model: unknown preset %q (known: %s)", name, strings.Join(Presets(), ", "))
	}
	return c.withDefaults(), nil
}
