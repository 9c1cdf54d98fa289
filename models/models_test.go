package models

import (
	"os"
	"strings"
	"testing"
)

// TestBuiltins: both shipped classifiers load from the binary, with the
// classes and inputs the project documents, and are the files of this
// folder byte for byte.
func TestBuiltins(t *testing.T) {
	want := map[string]struct {
		classes int
		input   string
	}{"emotion": {7, "48x48x1"}, "gesture": {10, "64x64x3"}}
	list, err := Classifiers()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "emotion" || list[1].Name != "gesture" {
		t.Fatalf("built-ins %v, want emotion then gesture", Names())
	}
	for _, b := range list {
		w := want[b.Name]
		if len(b.Classes) != w.classes || b.Input != w.input || b.Kind != "classifier" {
			t.Errorf("%s: %d classes, input %s, kind %s; want %d classes, input %s", b.Name, len(b.Classes), b.Input, b.Kind, w.classes, w.input)
		}
		disk, err := os.ReadFile(b.File)
		if err != nil {
			t.Fatal(err)
		}
		if string(disk) != string(b.Data) || b.Size() != len(disk) || len(b.SHA256()) != 64 {
			t.Errorf("%s: the embedded file differs from %s on disk", b.Name, b.File)
		}
		t.Logf("%s: %s, %d bytes, sha256 %s", b.Name, b.File, b.Size(), b.SHA256())
	}
	if _, _, _, err := Load("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "emotion, gesture") {
		t.Errorf("unknown name: %v", err)
	}
}
