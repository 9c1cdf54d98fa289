package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadFolder(t *testing.T) {
	root := t.TempDir()
	writeGrayPNG(t, filepath.Join(root, "b", "x1.PNG"), 10, 10, 200)
	writeGrayPNG(t, filepath.Join(root, "b", "x2.png"), 4, 8, 100)
	writeGrayPNG(t, filepath.Join(root, "a", "y.png"), 3, 3, 50)
	os.WriteFile(filepath.Join(root, "a", "notes.txt"), []byte("ignored"), 0o644)
	os.WriteFile(filepath.Join(root, "README"), []byte("ignored"), 0o644)

	d, rep, err := LoadFolder(root, FolderOptions{Width: 6, Height: 5, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || rep.Loaded != 3 || d.H != 5 || d.W != 6 || d.C != 3 {
		t.Fatalf("got %d samples %dx%dx%d", d.Len(), d.H, d.W, d.C)
	}
	if d.Classes[0] != "a" || d.Classes[1] != "b" || d.Labels[0] != 0 || d.Labels[2] != 1 {
		t.Fatalf("classes %v labels %v", d.Classes, d.Labels)
	}
	if d.Image(0)[0] != 50 || d.Image(1)[4] != 200 || d.Image(2)[0] != 100 {
		t.Fatalf("pixels %v %v %v", d.Image(0)[0], d.Image(1)[4], d.Image(2)[0])
	}
	if !strings.HasSuffix(d.Sources[1], filepath.Join("b", "x1.PNG")) {
		t.Fatalf("sources %v", d.Sources)
	}
	// Fixed class order reverses the labels.
	d, _, err = LoadFolder(root, FolderOptions{Classes: []string{"b", "a"}})
	if err != nil || d.Classes[0] != "b" || d.Labels[0] != 0 || d.Labels[2] != 1 || !strings.Contains(d.Sources[2], "y.png") {
		t.Fatalf("fixed classes: %v", err)
	}
	// A listed class without a folder gets no samples.
	d, _, err = LoadFolder(root, FolderOptions{Classes: []string{"a", "c", "b"}})
	if err != nil || d.Len() != 3 || d.Labels[2] != 2 || d.ClassCounts()[1] != 0 {
		t.Fatalf("class without folder: %v", err)
	}
	if _, _, err := LoadFolder(root, FolderOptions{Classes: []string{"a"}}); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("unexpected class: %v", err)
	}
	d, _, err = LoadFolder(root, FolderOptions{MaxPerClass: 1})
	if err != nil || d.Len() != 2 {
		t.Fatalf("MaxPerClass: %v", err)
	}
}

func TestLoadFolderErrors(t *testing.T) {
	root := t.TempDir()
	writeGrayPNG(t, filepath.Join(root, "a", "ok.png"), 4, 4, 1)
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	_, _, err := LoadFolder(root, FolderOptions{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "empty")) {
		t.Fatalf("empty folder: %v", err)
	}
	os.Remove(filepath.Join(root, "empty"))
	bad := filepath.Join(root, "a", "corrupt.jpg")
	os.WriteFile(bad, []byte("\xff\xd8\xff garbage"), 0o644)
	if _, _, err := LoadFolder(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("corrupt image: %v", err)
	}
	d, rep, err := LoadFolder(root, FolderOptions{SkipBad: true})
	if err != nil || d.Len() != 1 || rep.Skipped != 1 || !strings.Contains(rep.Reasons[0], bad) {
		t.Fatalf("skip bad: %v %v", rep, err)
	}
	if _, _, err := LoadFolder(filepath.Join(root, "nope"), FolderOptions{}); err == nil {
		t.Fatal("missing root accepted")
	}
	if _, _, err := LoadFolder(root, FolderOptions{Channels: 2}); err == nil {
		t.Fatal("2 channels accepted")
	}
}

func TestLoadRealFER2013FolderSubset(t *testing.T) {
	root := filepath.Join(sharedData(t, "fer2013"), "publictest")
	d, rep, err := LoadFolder(root, FolderOptions{Classes: FER2013ClassNames(), MaxPerClass: 40})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 7*40 || rep.Skipped != 0 || d.H != 48 || d.C != 1 {
		t.Fatalf("got %d samples (%v)", d.Len(), rep)
	}
	for label, n := range d.ClassCounts() {
		if n != 40 {
			t.Fatalf("class %d (%s): %d samples", label, d.Classes[label], n)
		}
	}
	// Labels follow the CSV order: happy is 3.
	for i, l := range d.Labels {
		if l == 3 && !strings.Contains(d.Sources[i], "/happy/") {
			t.Fatalf("label 3 from %s", d.Sources[i])
		}
	}
	// The full class count of one small class matches the README.
	disgust, err := listImages(filepath.Join(root, "disgust"))
	if err != nil || len(disgust) != 56 {
		t.Fatalf("publictest/disgust has %d images, want 56 (%v)", len(disgust), err)
	}
}

// BenchmarkLoadRealFER2013Train loads the whole real training split
// (28,709 JPEGs); run with -benchtime 1x.
func BenchmarkLoadRealFER2013Train(b *testing.B) {
	root := filepath.Join(sharedData(b, "fer2013"), "train")
	for i := 0; i < b.N; i++ {
		d, _, err := LoadFolder(root, FolderOptions{Classes: FER2013ClassNames()})
		if err != nil {
			b.Fatal(err)
		}
		if d.Len() != 28709 {
			b.Fatalf("loaded %d images, want 28709", d.Len())
		}
	}
}

// TestLoadFolderKeepsDataSize: without a target size or channels the
// folder's own are kept: 28x28 gray stays 28x28x1, RGB images give 3
// channels; an explicit size or channel count still wins.
func TestLoadFolderKeepsDataSize(t *testing.T) {
	root := t.TempDir()
	writeGrayPNG(t, filepath.Join(root, "a", "1.png"), 28, 28, 10)
	writeGrayPNG(t, filepath.Join(root, "b", "2.png"), 28, 28, 20)
	d, _, err := LoadFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.W != 28 || d.H != 28 || d.C != 1 {
		t.Fatalf("gray 28x28 folder loaded as %dx%dx%d", d.W, d.H, d.C)
	}
	d, _, err = LoadFolder(root, FolderOptions{Width: 48, Height: 48})
	if err != nil || d.W != 48 || d.C != 1 {
		t.Fatalf("explicit size: %v %dx%dx%d", err, d.W, d.H, d.C)
	}

	rgb := t.TempDir()
	writeRGBPNG(t, filepath.Join(rgb, "a", "1.png"), 30, 20)
	writeRGBPNG(t, filepath.Join(rgb, "a", "2.png"), 10, 10)
	d, _, err = LoadFolder(rgb, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.W != 30 || d.H != 20 || d.C != 3 {
		t.Fatalf("RGB folder loaded as %dx%dx%d, want the first image's 30x20x3", d.W, d.H, d.C)
	}
	d, _, err = LoadFolder(rgb, FolderOptions{Channels: 1})
	if err != nil || d.C != 1 || d.W != 30 {
		t.Fatalf("explicit channels: %v %dx%dx%d", err, d.W, d.H, d.C)
	}
}
