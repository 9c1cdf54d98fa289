package tensor

import (
	"strings"
	"testing"
)

func TestEnsureReusesBuffers(t *testing.T) {
	a := Ensure(nil, 2, 3)
	if a.Len() != 6 || ShapeString(a.Shape) != "(2,3)" {
		t.Fatalf("Ensure(nil) gave %v", a)
	}
	data := &a.Data[0]
	b := Ensure(a, 3, 2)
	if b != a || &b.Data[0] != data || !SameShape(b.Shape, []int{3, 2}) {
		t.Errorf("Ensure with the same size did not reuse the buffer")
	}
	c := Ensure(a, 1, 2)
	if &c.Data[0] != data || c.Len() != 2 || len(c.Data) != 2 {
		t.Errorf("shrinking Ensure: %v, len %d", c, len(c.Data))
	}
	d := Ensure(a, 4, 4)
	if d.Len() != 16 || len(d.Data) != 16 {
		t.Errorf("growing Ensure: %v", d)
	}
	if n := testing.AllocsPerRun(10, func() { Ensure(d, 2, 8) }); n != 0 {
		t.Errorf("Ensure within capacity allocates %.0f times", n)
	}
}

func TestReshapeAndErrors(t *testing.T) {
	x := New(2, 3, 4)
	if err := x.Reshape(6, 4); err != nil || x.Dim(-1) != 4 || x.Dim(0) != 6 {
		t.Fatalf("reshape: %v %v", err, x.Shape)
	}
	err := x.Reshape(5, 5)
	if err == nil || !strings.Contains(err.Error(), "(6,4)") || !strings.Contains(err.Error(), "(5,5)") {
		t.Errorf("bad reshape error %v, want both shapes", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("FromData with too little data did not panic")
		}
	}()
	FromData(make([]float32, 3), 2, 2)
}

func TestCloneIsDeep(t *testing.T) {
	x := FromData([]float32{1, 2, 3, 4}, 2, 2)
	y := x.Clone()
	y.Data[0] = 9
	if x.Data[0] != 1 || !SameShape(x.Shape, y.Shape) {
		t.Error("Clone shares data")
	}
	x.Zero()
	if x.Data[3] != 0 {
		t.Error("Zero left values")
	}
}
