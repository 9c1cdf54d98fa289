package model

import "github.com/residual-go/residual/nn"

// Convs lists the network's convolutions in forward order (each block's
// branch, then its shortcut projection), e.g. for reporting the algorithm
// each runs (nn.Conv2D.Algorithms).
func (m *Net) Convs() []*nn.Conv2D {
	var out []*nn.Conv2D
	var walk func(l nn.Layer)
	walk = func(l nn.Layer) {
		switch b := l.(type) {
		case *nn.Conv2D:
			out = append(out, b)
		case *Block:
			for _, s := range b.branch {
				walk(s)
			}
			for _, s := range b.shortcut {
				walk(s)
			}
		case *PreActBlock:
			for _, s := range b.branch {
				walk(s)
			}
			if b.Downsample != nil {
				walk(b.Downsample.Conv)
			}
		}
	}
	for _, l := range m.layers {
		walk(l)
	}
	return out
}
