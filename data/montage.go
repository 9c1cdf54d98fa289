package data

import "github.com/residual-go/residual/vision"

// Montage returns a contact sheet of d: one row per class, up to perClass
// samples per row (the first ones of each class), each image scaled by an
// integer factor (nearest neighbour). Use it to eyeball a dataset or the
// output of the generators; save it with png.Encode(w, m.ToImage()).
func Montage(d *Dataset, perClass, scale int) *vision.Image {
	perClass, scale = max(perClass, 1), max(scale, 1)
	nc := len(d.Classes)
	tw, th := d.W*scale, d.H*scale
	out := vision.NewImage(tw*perClass, th*nc, d.C)
	filled := make([]int, nc)
	for i := 0; i < d.Len(); i++ {
		l := d.Labels[i]
		if filled[l] >= perClass {
			continue
		}
		x0, y0 := filled[l]*tw, l*th
		filled[l]++
		src := d.Image(i)
		for y := 0; y < th; y++ {
			for x := 0; x < tw; x++ {
				s := ((y/scale)*d.W + x/scale) * d.C
				o := ((y0+y)*out.W + x0 + x) * d.C
				copy(out.Pix[o:o+d.C], src[s:s+d.C])
			}
		}
	}
	return out
}
