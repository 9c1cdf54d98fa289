// Package models holds the trained models shipped with residual, built
// into the binary with go:embed, so that an installed `residual serve`
// runs from any directory with no files beside it:
//
//   - emotion: emotion-fer2013.residual, facial emotions (FER2013's 7
//     classes, 48x48 gray), 69.2% on PublicTest with flip TTA;
//   - gesture: gesture-digits.residual, sign-language digits 0-9 (64x64
//     RGB), 99.8% on held-out sessions.
//
// docs/RESULTS.md records how each was trained and measured. The files in
// this folder are the embedded ones: replacing a file and rebuilding ships
// the new model.
package models

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/residual-go/residual/model"
)

//go:embed emotion-fer2013.residual gesture-digits.residual
var files embed.FS

// Builtin is one file built into the binary: a classifier of this package,
// or a detector of another package (which fills in its own fields).
type Builtin struct {
	// Name is what it is served and listed under ("emotion").
	Name string
	// File is its file name ("emotion-fer2013.residual").
	File string
	// Kind is "classifier" or "detector".
	Kind string
	// Classes are the class names it outputs.
	Classes []string
	// Input is the input it takes, "HxWxC" ("48x48x1").
	Input string
	// Data is the file's content.
	Data []byte
}

// Size is the file's size in bytes.
func (b Builtin) Size() int { return len(b.Data) }

// SHA256 is the file's SHA-256, in hex.
func (b Builtin) SHA256() string {
	sum := sha256.Sum256(b.Data)
	return hex.EncodeToString(sum[:])
}

// classifiers are this package's models, by name, in serving order (the
// first is the server's default).
var classifiers = []struct{ name, file string }{
	{"emotion", "emotion-fer2013.residual"},
	{"gesture", "gesture-digits.residual"},
}

// Names returns the names of the built-in classifiers, the default first.
func Names() []string {
	var names []string
	for _, c := range classifiers {
		names = append(names, c.name)
	}
	return names
}

// Load builds the built-in classifier called name, returning it with its
// file's metadata and Builtin description.
func Load(name string) (*model.Net, model.Meta, Builtin, error) {
	i := slices.IndexFunc(classifiers, func(c struct{ name, file string }) bool { return c.name == name })
	if i < 0 {
		return nil, model.Meta{}, Builtin{}, fmt.Errorf("no built-in model %q (built in: %s)", name, strings.Join(Names(), ", "))
	}
	file := classifiers[i].file
	data, err := files.ReadFile(file)
	if err != nil {
		return nil, model.Meta{}, Builtin{}, fmt.Errorf("built-in model %s: %v", file, err)
	}
	net, meta, err := model.Read(bytes.NewReader(data), "built-in "+file)
	if err != nil {
		return nil, model.Meta{}, Builtin{}, err
	}
	in := net.Config.Input
	b := Builtin{Name: name, File: file, Kind: "classifier", Classes: meta.Classes,
		Input: fmt.Sprintf("%dx%dx%d", in[0], in[1], in[2]), Data: data}
	return net, meta, b, nil
}

// Classifiers describes every built-in classifier (reading each file to
// learn its classes and input).
func Classifiers() ([]Builtin, error) {
	var out []Builtin
	for _, name := range Names() {
		_, _, b, err := Load(name)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
