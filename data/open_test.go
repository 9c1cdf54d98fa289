package data

import (
	"path/filepath"
	"testing"
)

func TestLoadTrainVal(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "fer.csv")
	if err := GenerateFER2013CSV(csvPath, 40, 12, 6, 3); err != nil {
		t.Fatal(err)
	}
	tv, err := LoadTrainVal(csvPath, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tv.Format != FormatFERCSV || tv.Train.Len() != 40 || tv.Val.Len() != 12 || tv.Report.Loaded != 52 {
		t.Fatalf("FER CSV: %s %d/%d %v", tv.Format, tv.Train.Len(), tv.Val.Len(), tv.Report)
	}
	// CSV with only Training rows: split stratified.
	only := filepath.Join(dir, "train.csv")
	GenerateFER2013CSV(only, 50, 0, 0, 3)
	tv, err = LoadTrainVal(only, LoadOptions{Split: SplitOptions{ValFraction: 0.2, Seed: 1}})
	if err != nil || tv.Train.Len()+tv.Val.Len() != 50 || tv.Val.Len() < 8 {
		t.Fatalf("Training-only CSV: %v", err)
	}
	// FER folders.
	folders := filepath.Join(dir, "folders")
	ConvertFERCSVToFolders(csvPath, folders, CSVOptions{})
	tv, err = LoadTrainVal(folders, LoadOptions{})
	if err != nil || tv.Format != FormatFERFolders || tv.Train.Len() != 40 || tv.Val.Len() != 12 || tv.Train.Classes[6] != "neutral" {
		t.Fatalf("FER folders: %v", err)
	}
	// LeapGestRecog: subject-wise by default.
	leap := filepath.Join(dir, "leap")
	GenerateLeapGestRecog(leap, HandOptions{Subjects: 4, FramesPerGesture: 2, Width: 24, Height: 24})
	tv, err = LoadTrainVal(leap, LoadOptions{Folder: FolderOptions{Width: 24, Height: 24}, Split: SplitOptions{ValGroups: []string{"3"}}})
	if err != nil || tv.Format != FormatLeap || tv.Val.Len() != 20 || tv.Warning != "" {
		t.Fatalf("leap: %v", err)
	}
	tv, err = LoadTrainVal(leap, LoadOptions{Split: SplitOptions{Random: true}})
	if err != nil || tv.Warning != LeakWarning {
		t.Fatalf("leap random split must warn: %v %q", err, tv.Warning)
	}
}
