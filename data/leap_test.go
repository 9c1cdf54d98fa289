package data

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGenerateAndLoadLeapGestRecog(t *testing.T) {
	root := t.TempDir()
	opt := HandOptions{Subjects: 3, FramesPerGesture: 2, Width: 40, Height: 30, Seed: 9}
	if err := GenerateLeapGestRecog(root, opt); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "01", "07_ok", "frame_01_07_0002.png")
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("layout: %v", err)
	}
	d, rep, err := LoadLeapGestRecog(root, FolderOptions{Width: 40, Height: 30})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 60 || rep.Loaded != 60 || !slices.Equal(d.Classes, LeapGestures[:]) {
		t.Fatalf("loaded %d, classes %v", d.Len(), d.Classes)
	}
	if !slices.Equal(d.GroupNames(), []string{"00", "01", "02"}) {
		t.Fatalf("subjects %v", d.GroupNames())
	}
	// Loaded pixels equal the generated ones (PNG is lossless, same size).
	mem := SynthHands(opt)
	for i := 0; i < d.Len(); i++ {
		if d.Groups[i] == "01" && d.Labels[i] == 6 && strings.HasSuffix(d.Sources[i], "0002.png") {
			j := 1*10*2 + 6*2 + 1
			if !bytes.Equal(d.Image(i), mem.Image(j)) {
				t.Fatal("loaded image differs from the generated one")
			}
		}
	}
	// Subject-wise split: --val-subjects 2.
	tr, va, warn, err := Split(d, SplitOptions{ValGroups: []string{"2"}})
	if err != nil || warn != "" || va.Len() != 20 || tr.Len() != 40 {
		t.Fatalf("subject split: %v %q %d/%d", err, warn, tr.Len(), va.Len())
	}
	// Inspect counts per subject.
	in, err := Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != "leapgestrecog" || len(in.Splits) != 3 || in.Splits[0].Total != 20 || in.Splits[2].Counts[9] != 2 {
		t.Fatalf("inspect: %+v", in)
	}
	// A subject without gesture folders is an error naming it.
	os.MkdirAll(filepath.Join(root, "03"), 0o755)
	if _, _, err := LoadLeapGestRecog(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "03")) {
		t.Fatalf("empty subject: %v", err)
	}
}

func TestLoadSignDigitsManifest(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"0/IMG_1.JPG", "1/IMG_2.png", "0/IMG_3.png", "1/IMG_4.png"} {
		writeGrayPNG(t, filepath.Join(root, f), 8, 8, 100)
	}
	// JPG extension holding PNG data decodes fine (format sniffed).
	manifest := "path,label,img_number,session_id\n0/IMG_1.JPG,0,1,g001\n1/IMG_2.png,1,2,g001\n0/IMG_3.png,0,3,g002\n1/IMG_4.png,1,4,g002\n"
	os.WriteFile(filepath.Join(root, "manifest.csv"), []byte(manifest), 0o644)
	d, _, err := LoadSignDigits(root, FolderOptions{Width: 4, Height: 4})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || d.C != 3 || d.Groups[2] != "g002" || d.Labels[1] != 1 || len(d.Classes) != 10 {
		t.Fatalf("got %d samples, groups %v", d.Len(), d.Groups)
	}
	in, err := Inspect(root)
	if err != nil || in.Format != "sign-digits" || in.Splits[0].Groups != 2 || in.Splits[0].Counts[1] != 2 {
		t.Fatalf("inspect: %+v %v", in, err)
	}
	bad := "path,label,img_number,session_id\n0/IMG_1.JPG,12,1,g001\n"
	os.WriteFile(filepath.Join(root, "manifest.csv"), []byte(bad), 0o644)
	if _, _, err := LoadSignDigits(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), "manifest.csv:2") {
		t.Fatalf("bad label: %v", err)
	}
	os.WriteFile(filepath.Join(root, "manifest.csv"), []byte("path,label\n"), 0o644)
	if _, _, err := LoadSignDigits(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), "session_id") {
		t.Fatalf("missing column: %v", err)
	}
}

func TestRealSignDigitsGroupSplit(t *testing.T) {
	root := sharedData(t, "gestures/sign-language-digits")
	in, err := Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	if in.Splits[0].Total != 2062 || in.Splits[0].Groups != 222 {
		t.Fatalf("manifest: %d samples, %d sessions; want 2062 and 222", in.Splits[0].Total, in.Splits[0].Groups)
	}
	// Load a subset small enough to stay fast, at a reduced size.
	d, rep, err := LoadSignDigits(root, FolderOptions{Width: 32, Height: 32, MaxPerClass: 60})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 600 || rep.Skipped != 0 {
		t.Fatalf("loaded %d (%v)", d.Len(), rep)
	}
	tr, va, warn, err := Split(d, SplitOptions{ValFraction: 0.2, Seed: 1})
	if err != nil || warn != "" {
		t.Fatal(err, warn)
	}
	for _, g := range va.GroupNames() {
		if slices.Contains(tr.GroupNames(), g) {
			t.Fatalf("session %s on both sides", g)
		}
	}
	for k := range d.Classes {
		if tr.ClassCounts()[k] == 0 || va.ClassCounts()[k] == 0 {
			t.Fatalf("class %s missing: train %v val %v", d.Classes[k], tr.ClassCounts(), va.ClassCounts())
		}
	}
}
