package nn

import (
	"fmt"

	"github.com/residual-go/residual/internal/parallel"
)

// reduceChunks is the number of row blocks that column reductions (bias
// gradients, batch statistics) are split into. It is fixed, not tied to the
// core count, so that results are bit-identical on every machine.
const reduceChunks = 16

// reduceGrain is the parallel.For grain for a reduction over reduceChunks
// blocks of a (rows, cols) matrix: small matrices are reduced by the
// caller alone, as dispatching to the pool would cost more than the work.
func reduceGrain(rows, cols int) int {
	if rows*cols < 4*minParallelWork {
		return reduceChunks
	}
	return 1
}

// chunkBounds returns the rows [lo,hi) of block c when rows are split into
// chunks nearly equal blocks.
func chunkBounds(rows, chunks, c int) (lo, hi int) {
	return c * rows / chunks, (c + 1) * rows / chunks
}

// colSummer sums the columns of a row-major (rows, cols) float32 matrix in
// parallel, accumulating in float64. Each of reduceChunks row blocks writes
// its own partial sums, which are then added in a fixed order, so the result
// does not depend on scheduling. It allocates only when cols grows.
type colSummer struct {
	src        []float32
	rows, cols int
	part       []float64 // (reduceChunks, cols) partial sums
	fn         func(lo, hi int)
}

// sum writes the column sums of src (rows, cols) into dst (cols).
func (s *colSummer) sum(src []float32, rows, cols int, dst []float32) {
	if s.fn == nil {
		s.fn = s.chunks
	}
	if cap(s.part) < reduceChunks*cols {
		s.part = make([]float64, reduceChunks*cols)
	}
	s.part = s.part[:reduceChunks*cols]
	s.src, s.rows, s.cols = src, rows, cols
	parallel.For(reduceChunks, reduceGrain(rows, cols), s.fn)
	s.src = nil
	for j := 0; j < cols; j++ {
		var acc float64
		for c := 0; c < reduceChunks; c++ {
			acc += s.part[c*cols+j]
		}
		dst[j] = float32(acc)
	}
}

// chunks sums the row blocks [lo,hi) into their partial sums.
func (s *colSummer) chunks(lo, hi int) {
	cols := s.cols
	for c := lo; c < hi; c++ {
		acc := s.part[c*cols : (c+1)*cols]
		clear(acc)
		r0, r1 := chunkBounds(s.rows, reduceChunks, c)
		for r := r0; r < r1; r++ {
			row := s.src[r*cols : (r+1)*cols]
			for j, v := range row {
				acc[j] += float64(v)
			}
		}
	}
}

// configError is the error of a layer built with an invalid configuration;
// it is reported by OutShape.
func configError(layer, format string, args ...any) error {
	return fmt.Errorf("%s: invalid configuration: %s", layer, fmt.Sprintf(format, args...))
}

// grainFor returns a parallel.For grain so that each task handles at least
// about minWork units when one item costs perItem units.
func grainFor(perItem, minWork int) int {
	if perItem <= 0 {
		return 1
	}
	return max(1, minWork/perItem)
}

// minParallelWork is roughly the number of float operations below which a
// loop is not worth spreading over the worker pool.
const minParallelWork = 1 << 14

// Every single-input layer implements Layer.
var (
	_ Layer = (*Conv2D)(nil)
	_ Layer = (*BatchNorm2D)(nil)
	_ Layer = (*ReLU)(nil)
	_ Layer = (*MaxPool2D)(nil)
	_ Layer = (*AvgPool2D)(nil)
	_ Layer = (*GlobalAvgPool)(nil)
	_ Layer = (*Linear)(nil)
	_ Layer = (*Dropout)(nil)
	_ Layer = (*Flatten)(nil)
)
