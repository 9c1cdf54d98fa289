package data

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/residual-go/residual/vision"
)

// FolderOptions configures the image-file loaders (LoadFolder,
// LoadLeapGestRecog, LoadSignDigits). Every image is decoded, converted to
// Channels and resized (stretched) to Width x Height.
type FolderOptions struct {
	// Target image size and channels (1 gray, 3 RGB). Zero values take
	// the data's own for LoadFolder (the first image's size, and 1
	// channel when it is gray, 3 otherwise; every image is resized to
	// it), and the loader's default for LoadLeapGestRecog (48x48x1) and
	// LoadSignDigits (100x100x3).
	Width, Height, Channels int
	// Classes fixes the class order (label i is Classes[i]); folders
	// that are not listed are an error, listed classes without a folder
	// get no samples (a small split may lack a rare class). Nil uses the
	// sorted folder names. Use FER2013ClassNames() for FER2013 folders
	// so labels match the CSV's.
	Classes []string
	// SkipBad skips unreadable images, counting them in the Report,
	// instead of failing on the first.
	SkipBad bool
	// MaxPerClass keeps only the first n files (sorted by name) of each
	// class folder; 0 keeps all. Handy for quick looks at large sets.
	MaxPerClass int
	// MaxPixels bounds each decoded image (vision.DefaultMaxPixels when 0).
	MaxPixels int
	// Filter is the resize filter (vision.FilterAuto when zero).
	Filter vision.Filter
	// Workers is the number of decoding goroutines (GOMAXPROCS when 0).
	Workers int
	// GroupBy, when set, gives every file of LoadFolder a group (see
	// ParseGroupBy), so that Split holds out whole groups. The other
	// loaders have groups of their own and ignore it.
	GroupBy *GroupBy
}

func (o *FolderOptions) defaults(w, h, c int) error {
	if o.Width == 0 {
		o.Width = w
	}
	if o.Height == 0 {
		o.Height = h
	}
	if o.Channels == 0 {
		o.Channels = c
	}
	if o.Width < 0 || o.Height < 0 || (o.Channels != 1 && o.Channels != 3) {
		return fmt.Errorf("data: bad target image shape %dx%dx%d (want positive size, 1 or 3 channels)", o.Width, o.Height, o.Channels)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// IsImageFile reports whether name ends in .png, .jpg or .jpeg (any case).
func IsImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// listImages returns the sorted image files directly inside dir.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && IsImageFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// listDirs returns the sorted names of the subdirectories of dir.
func listDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// resolveClasses checks found folder names against a fixed class list
// (every folder must be a known class; classes without a folder simply
// get no samples), or returns the found names when classes is nil.
func resolveClasses(root string, found []string, classes []string) ([]string, error) {
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: no class folders", root)
	}
	if classes == nil {
		return found, nil
	}
	known := map[string]bool{}
	for _, c := range classes {
		known[c] = true
	}
	for _, f := range found {
		if !known[f] {
			return nil, fmt.Errorf("%s: folder %q is not one of the classes %v", root, f, classes)
		}
	}
	return append([]string(nil), classes...), nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// fileEntry is one image file to load.
type fileEntry struct {
	path  string
	label int
	group string
}

// LoadFolder loads <root>/<class>/*.{png,jpg,jpeg} (extensions in any
// case; other files are ignored). Images of any size, gray or color, are
// converted and resized to the target (by default the data's own size and
// channels, see FolderOptions). A class folder without images is an error
// naming it; an unreadable image is an error naming the file, or skipped
// and counted with SkipBad. With GroupBy every file gets a group.
func LoadFolder(root string, opt FolderOptions) (*Dataset, Report, error) {
	entries, classes, err := listFolder(root, opt)
	if err != nil {
		return nil, Report{}, err
	}
	if opt.GroupBy != nil {
		if err := opt.GroupBy.assign(root, entries); err != nil {
			return nil, Report{}, err
		}
	}
	if opt.Width == 0 || opt.Height == 0 || opt.Channels == 0 {
		w, h, c, err := probeEntries(entries, opt.SkipBad)
		if err != nil {
			return nil, Report{}, err
		}
		if opt.Width == 0 && opt.Height == 0 {
			opt.Width, opt.Height = w, h
		}
		if opt.Channels == 0 {
			opt.Channels = c
		}
	}
	if err := opt.defaults(48, 48, 1); err != nil {
		return nil, Report{}, err
	}
	return loadFiles(entries, classes, opt)
}

// probeEntries returns the size and channels of the first image of
// entries whose header reads (the first one, unless skipBad).
func probeEntries(entries []fileEntry, skipBad bool) (w, h, c int, err error) {
	for _, e := range entries {
		if w, h, c, err = vision.ProbeFile(e.path); err == nil || !skipBad {
			return w, h, c, err
		}
	}
	return 0, 0, 0, fmt.Errorf("data: no readable image to take the size from (%v)", err)
}

// listFolder lists the image files of <root>/<class>/ folders.
func listFolder(root string, opt FolderOptions) ([]fileEntry, []string, error) {
	found, err := listDirs(root)
	if err != nil {
		return nil, nil, err
	}
	classes, err := resolveClasses(root, found, opt.Classes)
	if err != nil {
		return nil, nil, err
	}
	var entries []fileEntry
	for label, class := range classes {
		dir := filepath.Join(root, class)
		if opt.Classes != nil && !isDir(dir) {
			continue
		}
		files, err := listImages(dir)
		if err != nil {
			return nil, nil, err
		}
		if len(files) == 0 {
			return nil, nil, fmt.Errorf("%s: class folder has no .png/.jpg/.jpeg images", dir)
		}
		if opt.MaxPerClass > 0 && len(files) > opt.MaxPerClass {
			files = files[:opt.MaxPerClass]
		}
		for _, f := range files {
			entries = append(entries, fileEntry{path: f, label: label})
		}
	}
	return entries, classes, nil
}

// loadFiles decodes entries in parallel into a dataset, in entry order.
func loadFiles(entries []fileEntry, classes []string, opt FolderOptions) (*Dataset, Report, error) {
	d := NewDataset(opt.Height, opt.Width, opt.Channels, classes)
	size := d.ImageSize()
	d.Pix = make([]uint8, len(entries)*size)
	errs := make([]error, len(entries))

	var wg sync.WaitGroup
	next := make(chan int, 64)
	for w := 0; w < min(opt.Workers, max(1, len(entries))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var img, sized *vision.Image
			rs := vision.Resizer{Filter: opt.Filter}
			for i := range next {
				var err error
				img, err = vision.LoadFile(img, entries[i].path, opt.Channels, opt.MaxPixels)
				if err == nil {
					sized, err = rs.Resize(sized, img, opt.Width, opt.Height)
				}
				if err != nil {
					errs[i] = err
					continue
				}
				copy(d.Pix[i*size:(i+1)*size], sized.Pix)
			}
		}()
	}
	for i := range entries {
		next <- i
	}
	close(next)
	wg.Wait()

	hasGroups := false
	for _, e := range entries {
		hasGroups = hasGroups || e.group != ""
	}
	var rep Report
	kept := 0
	for i, e := range entries {
		if errs[i] != nil {
			if !opt.SkipBad {
				return nil, rep, errs[i]
			}
			rep.skip(errs[i].Error())
			continue
		}
		if kept != i {
			copy(d.Pix[kept*size:(kept+1)*size], d.Pix[i*size:(i+1)*size])
		}
		kept++
		d.Labels = append(d.Labels, e.label)
		d.Sources = append(d.Sources, e.path)
		if hasGroups {
			d.Groups = append(d.Groups, e.group)
		}
	}
	d.Pix = d.Pix[:kept*size]
	rep.Loaded = kept
	if kept == 0 {
		return nil, rep, fmt.Errorf("data: no readable images (%s)", rep)
	}
	return d, rep, nil
}
