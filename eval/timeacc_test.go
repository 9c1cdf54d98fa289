package eval

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
)

const timeCSV = `epoch,lr,train_loss,train_acc,val_loss,val_acc,val_macro_f1,images_per_sec,seconds
1,0.1,1.8,0.25,1.7,0.30,0.2,27,1800
2,0.09,1.5,0.41,1.3,0.55,0.3,28,1800
3,0.05,1.2,0.60,1.0,0.71,0.6,30,3600
4,0.0,1.1,0.66,0.9,0.70,0.6,30,3600
`

// TestTimeToAccuracy: hours are the running sum of the seconds column,
// the first epoch reaching each target is found, and the tables and the
// PNG come out.
func TestTimeToAccuracy(t *testing.T) {
	pts, err := ReadTimeAccuracy(strings.NewReader(timeCSV))
	if err != nil {
		t.Fatal(err)
	}
	wantHours := []float64{0.5, 1, 2, 3}
	for i, p := range pts {
		if p.Epoch != i+1 || math.Abs(p.Hours-wantHours[i]) > 1e-12 {
			t.Fatalf("point %d: %+v, want epoch %d at %g h", i, p, i+1, wantHours[i])
		}
	}
	if p, ok := FirstReach(pts, 0.70); !ok || p.Epoch != 3 || p.Hours != 2 {
		t.Errorf("70%% first reached %+v %v, want epoch 3 at 2 h", p, ok)
	}
	if _, ok := FirstReach(pts, 0.73); ok {
		t.Error("73% reached")
	}
	var b bytes.Buffer
	if err := WriteTimeTable(&b, pts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| 4 | 3.00 | 70.00% | 71.00% |") {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteReachTable(&b, []string{"recipe"}, [][]TimePoint{pts}, []float64{0.5, 0.7, 0.73}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| run | 50.0% | 70.0% | 73.0% | best (hours) |", "| recipe | 1.00 h (epoch 2) | 2.00 h (epoch 3) | not reached | 71.00% (2.00 h) |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("reach table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := WriteTimeToAccuracyPNG(&b, []string{"a", "b"}, [][]TimePoint{pts, pts[:2]}, TimePlotOptions{Targets: []float64{0.7}}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil || img.Bounds().Dx() != 900 || img.Bounds().Dy() != 500 {
		t.Fatalf("PNG: %v %v", err, img.Bounds())
	}
}

// TestTimeAccuracyErrors: a missing column, a bad number, decreasing
// epochs and an accuracy in percent are errors naming the line or column.
func TestTimeAccuracyErrors(t *testing.T) {
	for _, tc := range []struct{ csv, want string }{
		{"epoch,val_acc\n1,0.5\n", "seconds"},
		{"epoch,val_acc,seconds\n1,abc,10\n", "line 2: val_acc"},
		{"epoch,val_acc,seconds\n2,0.5,10\n1,0.6,10\n", "line 3"},
		{"epoch,val_acc,seconds\n1,55,10\n", "fraction"},
		{"epoch,val_acc,seconds\n1,0.5,-3\n", "negative"},
		{"epoch,val_acc,seconds\n", "no epochs"},
	} {
		if _, err := ReadTimeAccuracy(strings.NewReader(tc.csv)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.csv, err, tc.want)
		}
	}
}
