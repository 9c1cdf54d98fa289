package data

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// ferRow builds a 2x2-image CSV row.
func ferRow(label, pixels, usage string) string { return label + "," + pixels + "," + usage + "\n" }

func readSmall(t *testing.T, csv string, opt CSVOptions) (map[string]*Dataset, Report, error) {
	t.Helper()
	opt.Width, opt.Height = 2, 2
	return ReadFER2013CSV(strings.NewReader(csv), "x.csv", opt)
}

func TestReadFERCSV(t *testing.T) {
	csv := "emotion,pixels,Usage\n" +
		ferRow("3", "0 1 2 255", "Training") +
		ferRow("0", "9 9 9 9", "PublicTest") +
		ferRow("6", " 4  5 6 7 ", "Training") +
		"\n" +
		ferRow("1", "1 1 1 1", "PrivateTest")
	splits, rep, err := readSmall(t, csv, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr := splits[UsageTraining]
	if tr.Len() != 2 || tr.Labels[0] != 3 || tr.Labels[1] != 6 || !bytes.Equal(tr.Image(1), []uint8{4, 5, 6, 7}) {
		t.Fatalf("training split: %+v", tr)
	}
	if tr.Sources[0] != "x.csv:2" || tr.Sources[1] != "x.csv:4" {
		t.Fatalf("sources: %v", tr.Sources)
	}
	if splits[UsagePublicTest].Len() != 1 || splits[UsagePrivateTest].Len() != 1 || rep.Loaded != 4 {
		t.Fatalf("splits %v report %v", splits, rep)
	}
	if tr.Classes[3] != "happy" {
		t.Fatalf("classes: %v", tr.Classes)
	}
	// Columns in another order, Usage filter.
	csv2 := "Usage,pixels,emotion\nTraining,1 2 3 4,2\nPublicTest,1 2 3 4,5\n"
	splits, _, err = readSmall(t, csv2, CSVOptions{Usages: []string{UsagePublicTest}})
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 1 || splits[UsagePublicTest].Labels[0] != 5 {
		t.Fatalf("reordered columns / usage filter: %v", splits)
	}
	// No Usage column: everything lands in UsageAll.
	splits, _, err = readSmall(t, "pixels,emotion\n1 2 3 4,2\n", CSVOptions{})
	if err != nil || splits[UsageAll].Len() != 1 {
		t.Fatalf("no usage column: %v %v", splits, err)
	}
}

func TestReadFERCSVErrors(t *testing.T) {
	head := "emotion,pixels,Usage\n"
	good := ferRow("1", "1 2 3 4", "Training")
	cases := []struct {
		name, csv string
		want      []string
	}{
		{"empty file", "", []string{"x.csv", "empty file"}},
		{"missing column", "emotion,Usage\n1,Training\n", []string{"x.csv:1", `"pixels"`}},
		{"pixel count", head + good + ferRow("1", "1 2 3", "Training"), []string{"x.csv:3", "pixels", "3 values, want 4"}},
		{"non-numeric", head + ferRow("1", "1 2 x3 4", "Training"), []string{"x.csv:2", "pixels", `value 3 "x3" is not a number`}},
		{"out of range", head + ferRow("1", "1 2 256 4", "Training"), []string{"x.csv:2", `"256" is outside 0..255`}},
		{"unknown label", head + ferRow("7", "1 2 3 4", "Training"), []string{"x.csv:2", "emotion", "unknown label 7"}},
		{"bad label", head + ferRow("happy", "1 2 3 4", "Training"), []string{"x.csv:2", "emotion", `"happy"`}},
		{"bad usage", head + ferRow("1", "1 2 3 4", "Train"), []string{"x.csv:2", "Usage", `"Train"`}},
		{"short row", head + "1,1 2 3 4\n", []string{"x.csv:2", "2 fields"}},
		{"header only", head, []string{"x.csv", "no usable rows"}},
		{"bad quote", head + good + "1,1 2\" 3 4,Training\n", []string{"x.csv:3", "bare \""}},
	}
	for _, c := range cases {
		_, _, err := readSmall(t, c.csv, CSVOptions{})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

func TestReadFERCSVSkipBad(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("emotion,pixels,Usage\n")
	for i := 0; i < 10; i++ {
		if i%3 == 0 {
			sb.WriteString(ferRow("9", "1 2 3 4", "Training")) // bad label
		} else {
			sb.WriteString(ferRow(fmt.Sprint(i%7), "1 2 3 4", "Training"))
		}
	}
	splits, rep, err := readSmall(t, sb.String(), CSVOptions{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped != 4 || rep.Loaded != 6 || splits[UsageTraining].Len() != 6 {
		t.Fatalf("report %v", rep)
	}
	if len(rep.Reasons) != 4 || !strings.Contains(rep.Reasons[0], "x.csv:2") {
		t.Fatalf("reasons %v", rep.Reasons)
	}
	if !strings.Contains(rep.String(), "skipped 4") {
		t.Fatalf("report string %q", rep)
	}
}

func TestWriteReadFERCSVRoundTrip(t *testing.T) {
	d := NewDataset(2, 2, 1, FER2013ClassNames())
	d.Append([]uint8{0, 1, 2, 255}, 4, "a", "")
	d.Append([]uint8{7, 7, 7, 7}, 0, "b", "")
	v := NewDataset(2, 2, 1, FER2013ClassNames())
	v.Append([]uint8{3, 3, 3, 3}, 6, "c", "")
	var buf bytes.Buffer
	if err := WriteFER2013CSV(&buf, []UsageSplit{{UsageTraining, d}, {UsagePublicTest, v}}); err != nil {
		t.Fatal(err)
	}
	splits, _, err := readSmall(t, buf.String(), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := splits[UsageTraining]
	if !bytes.Equal(got.Pix, d.Pix) || got.Labels[0] != 4 || got.Labels[1] != 0 || splits[UsagePublicTest].Labels[0] != 6 {
		t.Fatalf("round trip: %+v", got)
	}
	rgb := NewDataset(1, 1, 3, []string{"a"})
	if err := WriteFER2013CSV(&buf, []UsageSplit{{UsageTraining, rgb}}); err == nil {
		t.Fatal("RGB accepted in FER CSV")
	}
}

func BenchmarkReadFERCSV(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("emotion,pixels,Usage\n")
	px := strings.TrimSpace(strings.Repeat("123 ", 48*48))
	for i := 0; i < 500; i++ {
		sb.WriteString(ferRow(fmt.Sprint(i%7), px, "Training"))
	}
	csv := sb.String()
	b.SetBytes(int64(len(csv)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := ReadFER2013CSV(strings.NewReader(csv), "bench.csv", CSVOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
