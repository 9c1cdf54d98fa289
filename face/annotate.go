package face

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Label is what Annotate draws for one face: its box and a caption.
type Label struct {
	Box   image.Rectangle
	Text  string  // e.g. the top class, "happy"
	Score float32 // e.g. its probability in [0,1]; drawn as a percentage when > 0
}

// boxColors cycle over faces so that neighbours are told apart.
var boxColors = []color.RGBA{
	{0, 220, 90, 255}, {255, 170, 0, 255}, {0, 170, 255, 255}, {255, 60, 120, 255},
}

// Annotate returns a copy of img with each label's box outlined (3 px)
// and its caption ("happy 87%") on a filled band above the box (inside it
// when the box touches the top edge). img itself is not changed.
func Annotate(img image.Image, labels []Label) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	const thick = 3
	face := basicfont.Face7x13
	for i, l := range labels {
		col := boxColors[i%len(boxColors)]
		r := l.Box.Intersect(out.Bounds())
		if r.Empty() {
			continue
		}
		for t := 0; t < thick; t++ {
			outline(out, r.Inset(t), col)
		}
		text := l.Text
		if l.Score > 0 {
			text = fmt.Sprintf("%s %.0f%%", l.Text, 100*l.Score)
		}
		if text == "" {
			continue
		}
		d := &font.Drawer{Dst: out, Src: image.NewUniform(color.Black), Face: face}
		tw := d.MeasureString(text).Ceil() + 6
		th := face.Height + 4
		band := image.Rect(r.Min.X, r.Min.Y-th, r.Min.X+tw, r.Min.Y)
		if band.Min.Y < 0 {
			band = band.Add(image.Pt(0, th))
		}
		draw.Draw(out, band.Intersect(out.Bounds()), image.NewUniform(col), image.Point{}, draw.Src)
		d.Dot = fixed.P(band.Min.X+3, band.Max.Y-2-face.Descent)
		d.DrawString(text)
	}
	return out
}

// outline draws the 1-pixel border of r.
func outline(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	if r.Empty() {
		return
	}
	for x := r.Min.X; x < r.Max.X; x++ {
		dst.SetRGBA(x, r.Min.Y, c)
		dst.SetRGBA(x, r.Max.Y-1, c)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		dst.SetRGBA(r.Min.X, y, c)
		dst.SetRGBA(r.Max.X-1, y, c)
	}
}
