package detect

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBuiltins: the listed detectors are the committed files, byte for byte.
func TestBuiltins(t *testing.T) {
	for _, b := range Builtins() {
		disk, err := os.ReadFile(filepath.Join("models", b.File))
		if err != nil {
			t.Fatal(err)
		}
		if string(disk) != string(b.Data) || b.Kind != "detector" || len(b.Classes) != 1 {
			t.Errorf("%s: %s differs from the embedded bytes, or kind %q classes %v", b.Name, b.File, b.Kind, b.Classes)
		}
	}
}
