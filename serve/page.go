package serve

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
)

// web holds the webcam page: plain HTML, CSS and JavaScript, no build
// step and nothing fetched from elsewhere.
//
//go:embed web
var web embed.FS

var (
	webFS, _   = fs.Sub(web, "web")
	webHandler = http.FileServerFS(webFS)
)

// handlePage serves the page's files; other paths are a JSON 404.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) error {
	name := path.Clean(r.URL.Path)
	if name != "/" {
		if _, err := fs.Stat(webFS, name[1:]); err != nil {
			return errorf(http.StatusNotFound, "no such page or endpoint: %s", r.URL.Path)
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	webHandler.ServeHTTP(w, r)
	return nil
}
