package data

import (
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/residual-go/residual/vision"
)

// FERSplitDirs maps FER2013 Usage values to the folder names of the
// image-folder layout (as in the Kaggle image-folder copy of FER2013).
var FERSplitDirs = map[string]string{
	UsageTraining:    "train",
	UsagePublicTest:  "publictest",
	UsagePrivateTest: "privatetest",
	UsageAll:         "all",
}

// WriteImageFolder writes d as PNG files <root>/<class>/<prefix><i>.png
// (i the sample index, zero-padded), creating folders as needed. Classes
// without samples get no folder (the loaders reject empty class folders).
func WriteImageFolder(d *Dataset, root, prefix string) error {
	counts := d.ClassCounts()
	for k, c := range d.Classes {
		if counts[k] == 0 {
			continue
		}
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			return err
		}
	}
	width := len(fmt.Sprint(max(d.Len()-1, 0)))
	for i := 0; i < d.Len(); i++ {
		img := &vision.Image{W: d.W, H: d.H, C: d.C, Pix: d.Image(i)}
		path := filepath.Join(root, d.Classes[d.Labels[i]], fmt.Sprintf("%s%0*d.png", prefix, width, i))
		if err := writePNG(path, img); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(path string, img *vision.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img.ToImage()); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// ConvertFERCSVToFolders reads a FER2013 CSV and writes each Usage split
// as an image folder <outRoot>/<train|publictest|privatetest>/<class>/*.png.
func ConvertFERCSVToFolders(csvPath, outRoot string, opt CSVOptions) (Report, error) {
	splits, rep, err := LoadFER2013CSV(csvPath, opt)
	if err != nil {
		return rep, err
	}
	for usage, d := range splits {
		prefix := strings.ToLower(usage) + "_"
		if err := WriteImageFolder(d, filepath.Join(outRoot, FERSplitDirs[usage]), prefix); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// ConvertFoldersToFERCSV reads the FER2013 image-folder layout under root
// (subfolders train, publictest, privatetest; whichever exist) and writes
// one FER2013 CSV to outPath, with Usage set from the folder and labels in
// FER2013 order. If root has none of these subfolders it is read as one
// image folder whose rows get Usage Training. Images are converted to
// 48x48 gray (opt's size and Classes override; opt.Channels must be 1).
func ConvertFoldersToFERCSV(root, outPath string, opt FolderOptions) (Report, error) {
	if opt.Classes == nil {
		opt.Classes = FER2013ClassNames()
	}
	if opt.Channels != 0 && opt.Channels != 1 {
		return Report{}, fmt.Errorf("data: a FER2013 CSV holds gray images, not %d channels", opt.Channels)
	}
	var splits []UsageSplit
	var total Report
	for _, usage := range FERUsages {
		dir := filepath.Join(root, FERSplitDirs[usage])
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		d, rep, err := LoadFolder(dir, opt)
		if err != nil {
			return total, err
		}
		total.Merge(rep)
		splits = append(splits, UsageSplit{usage, d})
	}
	if len(splits) == 0 {
		d, rep, err := LoadFolder(root, opt)
		if err != nil {
			return rep, err
		}
		total = rep
		splits = append(splits, UsageSplit{UsageTraining, d})
	}
	f, err := os.Create(outPath)
	if err != nil {
		return total, err
	}
	if err := WriteFER2013CSV(f, splits); err != nil {
		f.Close()
		return total, fmt.Errorf("%s: %w", outPath, err)
	}
	return total, f.Close()
}

// GenerateFER2013CSV writes a FER2013-format CSV of synthetic faces
// (SynthFaces) with the given number of Training, PublicTest and
// PrivateTest rows, deterministic given seed.
func GenerateFER2013CSV(path string, train, publicTest, privateTest int, seed uint64) error {
	var splits []UsageSplit
	for i, n := range []int{train, publicTest, privateTest} {
		if n < 0 {
			return fmt.Errorf("data: negative row count %d", n)
		}
		if n > 0 {
			splits = append(splits, UsageSplit{FERUsages[i], SynthFaces(n, seed+uint64(i)*0x1000193)})
		}
	}
	if len(splits) == 0 {
		return errors.New("data: no rows to generate")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteFER2013CSV(f, splits); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// GenerateLeapGestRecog writes synthetic hands (SynthHands) in the
// LeapGestRecog layout <root>/<subject>/<NN_gesture>/frame_<subject>_<NN>_<frame>.png.
func GenerateLeapGestRecog(root string, opt HandOptions) error {
	d := SynthHands(opt)
	perGesture := map[[2]int]int{}
	for i := 0; i < d.Len(); i++ {
		g := d.Labels[i]
		subj := d.Groups[i]
		key := [2]int{int(subj[0]-'0')*10 + int(subj[1]-'0'), g}
		frame := perGesture[key]
		perGesture[key]++
		dir := filepath.Join(root, subj, d.Classes[g])
		if frame == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		name := fmt.Sprintf("frame_%s_%s_%04d.png", subj, d.Classes[g][:2], frame+1)
		img := &vision.Image{W: d.W, H: d.H, C: 1, Pix: d.Image(i)}
		if err := writePNG(filepath.Join(dir, name), img); err != nil {
			return err
		}
	}
	return nil
}

// SplitCounts are the class counts of one split.
type SplitCounts struct {
	Name   string
	Counts []int // per class, in Inspection.Classes order
	Total  int
	Groups int // distinct groups (subjects/sessions); 0 when unknown
}

// Inspection describes a dataset on disk.
type Inspection struct {
	Path    string
	Format  string // one of the Format constants
	Classes []string
	Splits  []SplitCounts
	Report  Report // rows skipped while reading (CSV)
}

// Dataset formats recognised on disk.
const (
	FormatFERCSV      = "fer2013-csv"     // a FER2013 CSV file
	FormatFERFolders  = "fer2013-folders" // train/, publictest/, privatetest/ of <class>/ folders
	FormatSignDigits  = "sign-digits"     // <digit>/ folders with manifest.csv
	FormatLeap        = "leapgestrecog"   // <subject>/<NN_gesture>/ folders
	FormatImageFolder = "image-folder"    // <class>/ folders
)

// DetectFormat tells which layout path holds: a file is read as a FER2013
// CSV; a folder with manifest.csv is the sign-digits set; a folder with
// train/, publictest/ or privatetest/ is the FER2013 folder layout; a
// folder whose subfolders hold NN_name folders is LeapGestRecog; any other
// folder is a plain <class>/ image folder.
func DetectFormat(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return FormatFERCSV, nil
	}
	if _, err := os.Stat(filepath.Join(path, "manifest.csv")); err == nil {
		return FormatSignDigits, nil
	}
	for _, usage := range FERUsages {
		if isDir(filepath.Join(path, FERSplitDirs[usage])) {
			return FormatFERFolders, nil
		}
	}
	if isLeapLayout(path) {
		return FormatLeap, nil
	}
	return FormatImageFolder, nil
}

// Inspect reports the class counts per split of a dataset on disk (see
// DetectFormat for the layouts). Folder layouts are counted from file
// names without decoding images; CSV rows are parsed, skipping and
// counting bad ones.
func Inspect(path string) (*Inspection, error) {
	format, err := DetectFormat(path)
	if err != nil {
		return nil, err
	}
	in := &Inspection{Path: path, Format: format}
	switch format {
	case FormatFERCSV:
		splits, rep, err := LoadFER2013CSV(path, CSVOptions{SkipBad: true})
		if err != nil {
			return nil, err
		}
		in.Classes, in.Report = FER2013ClassNames(), rep
		for _, u := range append(FERUsages[:], UsageAll) {
			if d := splits[u]; d != nil {
				in.Splits = append(in.Splits, SplitCounts{Name: u, Counts: d.ClassCounts(), Total: d.Len()})
			}
		}
		return in, nil
	case FormatSignDigits:
		return inspectSignDigits(path, in)
	case FormatLeap:
		return inspectLeap(path, in)
	case FormatFERFolders:
		for _, usage := range FERUsages {
			dir := filepath.Join(path, FERSplitDirs[usage])
			if !isDir(dir) {
				continue
			}
			classes, counts, err := countFolder(dir, nil)
			if err != nil {
				return nil, err
			}
			if in.Classes == nil {
				in.Classes = classes
			}
			if strings.Join(classes, ",") != strings.Join(in.Classes, ",") {
				return nil, fmt.Errorf("%s: classes %v differ from %v", dir, classes, in.Classes)
			}
			in.Splits = append(in.Splits, SplitCounts{Name: FERSplitDirs[usage], Counts: counts, Total: sum(counts)})
		}
		return in, nil
	}
	classes, counts, err := countFolder(path, nil)
	if err != nil {
		return nil, err
	}
	in.Classes = classes
	in.Splits = []SplitCounts{{Name: "all", Counts: counts, Total: sum(counts)}}
	return in, nil
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// countFolder counts image files per class folder. FER2013 folders are
// ordered as FER2013Classes when they match it.
func countFolder(root string, classes []string) ([]string, []int, error) {
	found, err := listDirs(root)
	if err != nil {
		return nil, nil, err
	}
	if classes == nil && subset(found, FER2013Classes[:]) {
		classes = FER2013ClassNames()
	}
	classes, err = resolveClasses(root, found, classes)
	if err != nil {
		return nil, nil, err
	}
	counts := make([]int, len(classes))
	for k, c := range classes {
		dir := filepath.Join(root, c)
		if !isDir(dir) {
			continue
		}
		files, err := listImages(dir)
		if err != nil {
			return nil, nil, err
		}
		counts[k] = len(files)
	}
	return classes, counts, nil
}

// subset reports whether every name in a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// isLeapLayout reports whether root's subfolders hold NN_gesture folders.
func isLeapLayout(root string) bool {
	subjects, err := listDirs(root)
	if err != nil || len(subjects) == 0 {
		return false
	}
	inner, err := listDirs(filepath.Join(root, subjects[0]))
	if err != nil || len(inner) == 0 {
		return false
	}
	n := inner[0]
	return len(n) > 3 && n[0] >= '0' && n[0] <= '9' && n[1] >= '0' && n[1] <= '9' && n[2] == '_'
}

func inspectLeap(root string, in *Inspection) (*Inspection, error) {
	subjects, _ := listDirs(root)
	seen := map[string]bool{}
	for _, s := range subjects {
		gs, err := listDirs(filepath.Join(root, s))
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			if !seen[g] {
				seen[g] = true
				in.Classes = append(in.Classes, g)
			}
		}
	}
	sort.Strings(in.Classes)
	for _, s := range subjects {
		counts := make([]int, len(in.Classes))
		for k, g := range in.Classes {
			files, err := listImages(filepath.Join(root, s, g))
			if err != nil && !os.IsNotExist(err) {
				return nil, err
			}
			counts[k] = len(files)
		}
		in.Splits = append(in.Splits, SplitCounts{Name: "subject " + s, Counts: counts, Total: sum(counts), Groups: 1})
	}
	return in, nil
}

func inspectSignDigits(root string, in *Inspection) (*Inspection, error) {
	// Count from the manifest, without decoding the images.
	entries, err := readSignManifest(root, SignDigitsClasses[:], 0)
	if err != nil {
		return nil, err
	}
	in.Classes = SignDigitsClasses[:]
	counts := make([]int, len(in.Classes))
	groups := map[string]bool{}
	for _, e := range entries {
		counts[e.label]++
		groups[e.group] = true
	}
	in.Splits = []SplitCounts{{Name: "all", Counts: counts, Total: len(entries), Groups: len(groups)}}
	return in, nil
}

// String formats the inspection as a table of class counts per split.
func (in *Inspection) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s, %d classes\n", in.Path, in.Format, len(in.Classes))
	fmt.Fprintf(&b, "%-14s", "split")
	for _, c := range in.Classes {
		fmt.Fprintf(&b, " %9s", truncate(c, 9))
	}
	fmt.Fprintf(&b, " %9s\n", "total")
	for _, s := range in.Splits {
		fmt.Fprintf(&b, "%-14s", truncate(s.Name, 14))
		for _, n := range s.Counts {
			fmt.Fprintf(&b, " %9d", n)
		}
		fmt.Fprintf(&b, " %9d", s.Total)
		if s.Groups > 1 {
			fmt.Fprintf(&b, "  (%d groups)", s.Groups)
		}
		b.WriteByte('\n')
	}
	if in.Report.Skipped > 0 {
		fmt.Fprintf(&b, "bad rows: %s\n", in.Report)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
