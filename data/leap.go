package data

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// LeapGestures are the gesture folders of LeapGestRecog (Mantecón et al.,
// 2016), in label order. Class names are these folder names.
var LeapGestures = [...]string{"01_palm", "02_l", "03_fist", "04_fist_moved", "05_thumb", "06_index", "07_ok", "08_palm_moved", "09_c", "10_down"}

// LoadLeapGestRecog loads the LeapGestRecog layout
// <root>/<subject>/<NN_gesture>/frame_<subject>_<NN>_<frame>.png
// (any image extension). Classes are the gesture folder names (sorted, or
// opt.Classes), and each sample's group is its subject folder name
// ("00".."09"), for subject-wise splits (Split, SplitByGroups). Defaults to
// 48x48 gray. opt.MaxPerClass limits the files per subject and gesture.
func LoadLeapGestRecog(root string, opt FolderOptions) (*Dataset, Report, error) {
	if err := opt.defaults(48, 48, 1); err != nil {
		return nil, Report{}, err
	}
	subjects, err := listDirs(root)
	if err != nil {
		return nil, Report{}, err
	}
	if len(subjects) == 0 {
		return nil, Report{}, fmt.Errorf("%s: no subject folders (want <root>/<subject>/<NN_gesture>/*.png)", root)
	}
	// Collect the gesture folders over all subjects.
	seen := map[string]bool{}
	var found []string
	for _, s := range subjects {
		gestures, err := listDirs(filepath.Join(root, s))
		if err != nil {
			return nil, Report{}, err
		}
		if len(gestures) == 0 {
			return nil, Report{}, fmt.Errorf("%s: subject folder has no gesture folders", filepath.Join(root, s))
		}
		for _, g := range gestures {
			if !seen[g] {
				seen[g] = true
				found = append(found, g)
			}
		}
	}
	if opt.Classes == nil {
		sort.Strings(found)
	}
	classes, err := resolveClasses(root, found, opt.Classes)
	if err != nil {
		return nil, Report{}, err
	}
	label := map[string]int{}
	for i, c := range classes {
		label[c] = i
	}
	var entries []fileEntry
	for _, s := range subjects {
		for _, g := range classes {
			dir := filepath.Join(root, s, g)
			if _, err := os.Stat(dir); err != nil {
				continue // this subject lacks the gesture
			}
			files, err := listImages(dir)
			if err != nil {
				return nil, Report{}, err
			}
			if len(files) == 0 {
				return nil, Report{}, fmt.Errorf("%s: gesture folder has no images", dir)
			}
			if opt.MaxPerClass > 0 && len(files) > opt.MaxPerClass {
				files = files[:opt.MaxPerClass]
			}
			for _, f := range files {
				entries = append(entries, fileEntry{path: f, label: label[g], group: s})
			}
		}
	}
	return loadFiles(entries, classes, opt)
}

// SignDigitsClasses are the classes of the sign-language-digits set.
var SignDigitsClasses = [...]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// LoadSignDigits loads the sign-language-digits set from root, reading
// root/manifest.csv (columns path,label,img_number,session_id in any
// order; path relative to root). The session id becomes the sample's
// group, for session-wise splits. Defaults to 100x100 RGB. Errors name the
// manifest line.
func LoadSignDigits(root string, opt FolderOptions) (*Dataset, Report, error) {
	if err := opt.defaults(100, 100, 3); err != nil {
		return nil, Report{}, err
	}
	classes := SignDigitsClasses[:]
	if opt.Classes != nil {
		classes = opt.Classes
	}
	entries, err := readSignManifest(root, classes, opt.MaxPerClass)
	if err != nil {
		return nil, Report{}, err
	}
	return loadFiles(entries, classes, opt)
}

// readSignManifest reads root/manifest.csv into file entries.
func readSignManifest(root string, classes []string, maxPerClass int) ([]fileEntry, error) {
	manifest := filepath.Join(root, "manifest.csv")
	f, err := os.Open(manifest)
	if err != nil {
		return nil, fmt.Errorf("sign digits: %w (LoadFolder reads the <digit>/ folders without sessions)", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading header: %v", manifest, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, c := range []string{"path", "label", "session_id"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%s:1: header %q lacks column %q", manifest, strings.Join(header, ","), c)
		}
	}
	perClass := map[int]int{}
	var entries []fileEntry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", manifest, err) // csv errors carry the line
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < len(header) {
			return nil, fmt.Errorf("%s:%d: %d fields, want %d", manifest, line, len(rec), len(header))
		}
		l, err := strconv.Atoi(strings.TrimSpace(rec[col["label"]]))
		if err != nil || l < 0 || l >= len(classes) {
			return nil, fmt.Errorf("%s:%d: field label: %q is not a class index 0..%d", manifest, line, rec[col["label"]], len(classes)-1)
		}
		p := strings.TrimSpace(rec[col["path"]])
		if p == "" || filepath.IsAbs(p) || strings.Contains(p, "..") {
			return nil, fmt.Errorf("%s:%d: field path: %q must be a relative path inside %s", manifest, line, p, root)
		}
		if maxPerClass > 0 && perClass[l] >= maxPerClass {
			continue
		}
		perClass[l]++
		entries = append(entries, fileEntry{path: filepath.Join(root, filepath.FromSlash(p)), label: l, group: strings.TrimSpace(rec[col["session_id"]])})
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no samples listed", manifest)
	}
	return entries, nil
}
