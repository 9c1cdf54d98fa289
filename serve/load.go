package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/residual-go/residual/model"
)

// ShippedEmotion is the glob of the trained emotion model shipped with
// the project, relative to the repository (or installation) root.
const ShippedEmotion = "models/emotion-fer2013.*"

// ShippedGesture is the glob of the shipped hand-gesture model (sign
// digits), served beside the emotion model when present.
const ShippedGesture = "models/gesture-digits.*"

// LoadModel loads a model file (model.Save's format) and serves it under
// name (the file's base name without extension when empty) with
// `instances` networks (0: runtime.GOMAXPROCS(0)).
func LoadModel(name, path string, instances int) (*Model, error) {
	net, meta, err := model.Load(path)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	m, err := NewModel(name, net, meta.Classes, meta.Preprocess, path, instances)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// FindShipped returns the shipped emotion model file: the first match of
// ShippedEmotion under each of roots in turn (a model file, ".residual",
// preferred over other matches). It returns an error listing where it
// looked when there is none.
func FindShipped(roots ...string) (string, error) {
	path, err := FindShippedModel(ShippedEmotion, roots...)
	if err != nil {
		return "", fmt.Errorf("no shipped emotion model: %w", err)
	}
	return path, nil
}

// FindShippedModel returns the first regular file matching glob under each
// of roots in turn, preferring the project's model-file extension.
func FindShippedModel(glob string, roots ...string) (string, error) {
	var looked []string
	for _, root := range roots {
		pattern := filepath.Join(root, glob)
		looked = append(looked, pattern)
		matches, _ := filepath.Glob(pattern)
		sort.SliceStable(matches, func(i, j int) bool {
			return filepath.Ext(matches[i]) == model.FileExt && filepath.Ext(matches[j]) != model.FileExt
		})
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
				return m, nil
			}
		}
	}
	return "", fmt.Errorf("nothing matches %s", strings.Join(looked, ", "))
}
