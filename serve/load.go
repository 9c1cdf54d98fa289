package serve

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/residual-go/residual/model"
)

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
