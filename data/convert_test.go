package data

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateConvertInspectFER(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "fer.csv")
	if err := GenerateFER2013CSV(csvPath, 30, 10, 5, 1); err != nil {
		t.Fatal(err)
	}
	splits, rep, err := LoadFER2013CSV(csvPath, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Loaded != 45 || splits[UsageTraining].Len() != 30 || splits[UsagePrivateTest].Len() != 5 {
		t.Fatalf("generated CSV: %v", rep)
	}
	if !bytes.Equal(splits[UsageTraining].Pix, SynthFaces(30, 1).Pix) {
		t.Fatal("CSV pixels differ from SynthFaces")
	}
	in, err := Inspect(csvPath)
	if err != nil || in.Format != "fer2013-csv" || len(in.Splits) != 3 || in.Splits[1].Total != 10 {
		t.Fatalf("inspect csv: %+v %v", in, err)
	}
	if !strings.Contains(in.String(), "PublicTest") {
		t.Fatalf("table:\n%s", in)
	}

	// CSV -> folders -> CSV keeps pixels, labels and splits.
	folders := filepath.Join(dir, "folders")
	if _, err := ConvertFERCSVToFolders(csvPath, folders, CSVOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(folders, "publictest")); err != nil {
		t.Fatal(err)
	}
	in, err = Inspect(folders)
	if err != nil || in.Format != "fer2013-folders" || in.Splits[0].Name != "train" || in.Splits[0].Total != 30 {
		t.Fatalf("inspect folders: %+v %v", in, err)
	}
	back := filepath.Join(dir, "back.csv")
	if _, err := ConvertFoldersToFERCSV(folders, back, FolderOptions{}); err != nil {
		t.Fatal(err)
	}
	again, _, err := LoadFER2013CSV(back, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range FERUsages {
		a, b := splits[u], again[u]
		if a.Len() != b.Len() {
			t.Fatalf("%s: %d vs %d rows", u, a.Len(), b.Len())
		}
		// Folder order groups by class; compare class counts and the
		// multiset of images via their sum.
		if !equalInts(a.ClassCounts(), b.ClassCounts()) || pixelSum(a) != pixelSum(b) {
			t.Fatalf("%s: round trip changed the data", u)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func pixelSum(d *Dataset) int {
	s := 0
	for i, v := range d.Pix {
		s += int(v) * (1 + d.Labels[i/d.ImageSize()])
	}
	return s
}

func TestInspectImageFolderAndErrors(t *testing.T) {
	root := t.TempDir()
	writeGrayPNG(t, filepath.Join(root, "cat", "a.png"), 2, 2, 1)
	writeGrayPNG(t, filepath.Join(root, "dog", "b.PNG"), 2, 2, 1)
	writeGrayPNG(t, filepath.Join(root, "dog", "c.png"), 2, 2, 1)
	in, err := Inspect(root)
	if err != nil || in.Format != "image-folder" || in.Splits[0].Counts[1] != 2 {
		t.Fatalf("%+v %v", in, err)
	}
	if _, err := Inspect(filepath.Join(root, "missing")); err == nil {
		t.Fatal("missing path accepted")
	}
	if err := GenerateFER2013CSV(filepath.Join(root, "x.csv"), 0, 0, 0, 1); err == nil {
		t.Fatal("empty generation accepted")
	}
}

func TestRealFER2013Inspect(t *testing.T) {
	root := sharedData(t, "fer2013")
	in, err := Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	// Counts from the dataset's README (FER2013 train and PublicTest), in CSV label order.
	wantTrain := []int{3995, 436, 4097, 7215, 4830, 3171, 4965}
	wantPublic := []int{467, 56, 496, 895, 653, 415, 607}
	if in.Format != "fer2013-folders" || len(in.Splits) != 2 || !equalInts(in.Splits[0].Counts, wantTrain) || !equalInts(in.Splits[1].Counts, wantPublic) {
		t.Fatalf("inspect real FER2013:\n%s", in)
	}
}

func TestRealFER2013FoldersToCSVSubset(t *testing.T) {
	root := sharedData(t, "fer2013")
	csvPath := filepath.Join(t.TempDir(), "fer.csv")
	opt := FolderOptions{MaxPerClass: 15}
	rep, err := ConvertFoldersToFERCSV(root, csvPath, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Loaded != 2*7*15 {
		t.Fatalf("converted %d images", rep.Loaded)
	}
	splits, _, err := LoadFER2013CSV(csvPath, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	folder, _, err := LoadFolder(filepath.Join(root, "publictest"), FolderOptions{Classes: FER2013ClassNames(), MaxPerClass: 15})
	if err != nil {
		t.Fatal(err)
	}
	pt := splits[UsagePublicTest]
	if splits[UsageTraining].Len() != 105 || !bytes.Equal(pt.Pix, folder.Pix) || !equalInts(pt.Labels, folder.Labels) {
		t.Fatal("CSV made from the real folders differs from loading the folders")
	}
}
