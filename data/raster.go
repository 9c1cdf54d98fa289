package data

import "math"

// A tiny anti-aliased rasteriser for the synthetic datasets: shapes are
// described in a model coordinate frame, mapped to pixels by a similarity
// transform, and sampled at 3x3 points per pixel.

// shape is a region of the model plane.
type shape interface {
	contains(x, y float64) bool
	// bounds is a box (x0,y0,x1,y1) holding the shape, for quick rejects.
	bounds() box
}

type box struct{ x0, y0, x1, y1 float64 }

func (b box) has(x, y float64) bool { return x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1 }

func (b box) union(o box) box {
	return box{math.Min(b.x0, o.x0), math.Min(b.y0, o.y0), math.Max(b.x1, o.x1), math.Max(b.y1, o.y1)}
}

// ellipse with radii rx, ry, rotated by angle (radians) about its centre.
type ellipse struct{ cx, cy, rx, ry, angle float64 }

func (e ellipse) contains(x, y float64) bool {
	dx, dy := x-e.cx, y-e.cy
	if e.angle != 0 {
		s, c := math.Sincos(e.angle)
		dx, dy = c*dx+s*dy, -s*dx+c*dy
	}
	return (dx*dx)/(e.rx*e.rx)+(dy*dy)/(e.ry*e.ry) <= 1
}

func (e ellipse) bounds() box {
	r := math.Max(e.rx, e.ry)
	if e.angle == 0 {
		return box{e.cx - e.rx, e.cy - e.ry, e.cx + e.rx, e.cy + e.ry}
	}
	return box{e.cx - r, e.cy - r, e.cx + r, e.cy + r}
}

// capsule is a segment with radius r (a thick line with round ends).
type capsule struct{ x0, y0, x1, y1, r float64 }

func (c capsule) contains(x, y float64) bool {
	vx, vy := c.x1-c.x0, c.y1-c.y0
	t := 0.0
	if l2 := vx*vx + vy*vy; l2 > 0 {
		t = math.Max(0, math.Min(1, ((x-c.x0)*vx+(y-c.y0)*vy)/l2))
	}
	dx, dy := x-(c.x0+t*vx), y-(c.y0+t*vy)
	return dx*dx+dy*dy <= c.r*c.r
}

func (c capsule) bounds() box {
	return box{math.Min(c.x0, c.x1) - c.r, math.Min(c.y0, c.y1) - c.r, math.Max(c.x0, c.x1) + c.r, math.Max(c.y0, c.y1) + c.r}
}

// ring is the band r-t/2..r+t/2 around a centre, between angles a0 and a1
// (radians, measured from +x towards +y, a0 < a1).
type ring struct{ cx, cy, r, t, a0, a1 float64 }

func (g ring) contains(x, y float64) bool {
	dx, dy := x-g.cx, y-g.cy
	d := math.Hypot(dx, dy)
	if math.Abs(d-g.r) > g.t/2 {
		return false
	}
	a := math.Atan2(dy, dx)
	for a < g.a0 {
		a += 2 * math.Pi
	}
	return a <= g.a1
}

func (g ring) bounds() box {
	r := g.r + g.t/2
	return box{g.cx - r, g.cy - r, g.cx + r, g.cy + r}
}

// union of shapes.
type union []shape

func (u union) contains(x, y float64) bool {
	for _, s := range u {
		if s.bounds().has(x, y) && s.contains(x, y) {
			return true
		}
	}
	return false
}

func (u union) bounds() box {
	b := u[0].bounds()
	for _, s := range u[1:] {
		b = b.union(s.bounds())
	}
	return b
}

// curve is a thick polyline through y = cy + bend*(u^2) for u in [-1,1]
// scaled by half-width hw and tilted: the mouth of the synthetic faces.
func curve(cx, cy, hw, bend, tilt, thick float64) union {
	const n = 8
	var u union
	px, py := 0.0, 0.0
	for i := 0; i <= n; i++ {
		s := -1 + 2*float64(i)/n
		x := cx + s*hw
		y := cy + bend*s*s + tilt*s
		if i > 0 {
			u = append(u, capsule{px, py, x, y, thick / 2})
		}
		px, py = x, y
	}
	return u
}

// layer is a shape painted with an intensity in [0,1].
type layer struct {
	s shape
	v float64
}

// similarity maps model coordinates to pixels: scale, rotation, offset.
type similarity struct{ scale, angle, tx, ty float64 }

// render paints layers (later ones on top) over bg into img (h,w) as
// intensities in [0,1]; bg gives the background at a pixel.
func render(img []float64, w, h int, m similarity, layers []layer, bg func(x, y int) float64) {
	const ss = 3
	s, c := math.Sincos(-m.angle)
	inv := 1 / m.scale
	boxes := make([]box, len(layers))
	for i, l := range layers {
		boxes[i] = l.s.bounds()
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			back := bg(x, y)
			var sum float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss - m.tx
					py := float64(y) + (float64(sy)+0.5)/ss - m.ty
					mx, my := (c*px-s*py)*inv, (s*px+c*py)*inv
					v := back
					for i := len(layers) - 1; i >= 0; i-- {
						if boxes[i].has(mx, my) && layers[i].s.contains(mx, my) {
							v = layers[i].v
							break
						}
					}
					sum += v
				}
			}
			img[y*w+x] = sum / (ss * ss)
		}
	}
}

// quantize adds Gaussian noise of std sigma and converts to 8-bit.
func quantize(dst []uint8, img []float64, sigma float64, normal func() float64) {
	for i, v := range img {
		v = (v + sigma*normal()) * 255
		dst[i] = uint8(math.Max(0, math.Min(255, math.Round(v))))
	}
}
