package data

import "testing"

func TestMontage(t *testing.T) {
	d := countingDataset(7, 2) // labels 0,1,0,1,...; pixel value = index
	m := Montage(d, 3, 2)
	if m.W != 4*2*3 || m.H != 4*2*2 || m.C != 1 {
		t.Fatalf("montage %dx%dx%d", m.W, m.H, m.C)
	}
	// Row 1 (class 1), tile 2 is sample 5; scaled by 2.
	if v := m.Pix[(1*8+3)*m.W+2*8+7]; v != 5 {
		t.Fatalf("tile pixel %d, want 5", v)
	}
	// Row 0 tile 2 is sample 4.
	if v := m.Pix[0*m.W+2*8]; v != 4 {
		t.Fatalf("tile pixel %d, want 4", v)
	}
}
