package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.residual")
	if err := WriteBytes(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A failing writer leaves the old file and no temporary file.
	boom := errors.New("disk full")
	err := Write(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("half of the new"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after a failed write the file holds %q, want the old bytes", b)
	}
	if err := WriteBytes(path, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if b, _ := os.ReadFile(path); err != nil || string(b) != "new" || fi.Mode().Perm() != 0o640 {
		t.Errorf("file %q mode %v: %v", b, fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
}

func TestIsTempAndRemoveStale(t *testing.T) {
	for name, want := range map[string]bool{
		".checkpoint.safetensors.tmp-12345": true,
		"checkpoint.safetensors.tmp2981":    true, // older safetensors.WriteFile
		"best.onnx.tmp":                     true, // older fixed-name ONNX writer
		"best.residual":                     false,
		"notes.tmp.txt":                     false,
		".tmp":                              false,
		"config.json":                       false,
		"report.tmpl":                       false,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
	dir := t.TempDir()
	for _, n := range []string{".best.residual.tmp-1", "best.residual", "best.onnx.tmp", "notes.tmp.txt"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub.tmp"), 0o755) // directories are left alone
	removed, err := RemoveStale(dir)
	slices.Sort(removed)
	if err != nil || !slices.Equal(removed, []string{".best.residual.tmp-1", "best.onnx.tmp"}) {
		t.Errorf("removed %v (%v)", removed, err)
	}
	for _, n := range []string{"best.residual", "notes.tmp.txt", "sub.tmp"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
}
