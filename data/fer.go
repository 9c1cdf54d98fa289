package data

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// FER2013Classes are the FER2013 emotions in the order of the CSV's
// emotion label: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
// 6 neutral. The image-folder copy uses the same names for its folders,
// so loading folders with these Classes gives the same label indices.
var FER2013Classes = [...]string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

// FER2013ClassNames returns a fresh slice of FER2013Classes.
func FER2013ClassNames() []string { return append([]string(nil), FER2013Classes[:]...) }

// FER2013 Usage values, the splits of the original CSV.
const (
	UsageTraining    = "Training"
	UsagePublicTest  = "PublicTest"
	UsagePrivateTest = "PrivateTest"
	// UsageAll is the split name used when the CSV has no Usage column.
	UsageAll = "All"
)

// FERUsages lists the CSV Usage values in their canonical order.
var FERUsages = [...]string{UsageTraining, UsagePublicTest, UsagePrivateTest}

// CSVOptions configures ReadFER2013CSV. The zero value reads 48x48
// FER2013 with its 7 classes, all splits, failing on the first bad row.
type CSVOptions struct {
	Width, Height int      // image size; 48x48 when zero
	Classes       []string // class names by label; FER2013Classes when nil
	// Usages keeps only rows whose Usage is listed (all when empty).
	Usages []string
	// SkipBad skips malformed rows and counts them in the Report instead
	// of failing.
	SkipBad bool
	// MaxRows stops after this many kept rows (0: no limit).
	MaxRows int
}

func (o *CSVOptions) defaults() {
	if o.Width == 0 {
		o.Width = 48
	}
	if o.Height == 0 {
		o.Height = 48
	}
	if o.Classes == nil {
		o.Classes = FER2013ClassNames()
	}
}

// LoadFER2013CSV reads a FER2013-format CSV file; see ReadFER2013CSV.
func LoadFER2013CSV(path string, opt CSVOptions) (map[string]*Dataset, Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Report{}, err
	}
	defer f.Close()
	return ReadFER2013CSV(f, path, opt)
}

// ReadFER2013CSV reads CSV rows emotion,pixels[,Usage] (header required,
// columns in any order, extra columns ignored) into one grayscale dataset
// per Usage value (Training, PublicTest, PrivateTest; UsageAll when the
// file has no Usage column). name is used in messages and sample sources
// ("name:line"). Errors name the file, line and field with the offending
// value: wrong pixel count, non-numeric or out-of-range pixel, unknown
// label or Usage, missing column, empty file. With SkipBad, bad rows are
// skipped and counted in the Report instead.
func ReadFER2013CSV(r io.Reader, name string, opt CSVOptions) (map[string]*Dataset, Report, error) {
	opt.defaults()
	var rep Report
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, rep, fmt.Errorf("%s: empty file, want a header line emotion,pixels,Usage", name)
	}
	if err != nil {
		return nil, rep, fmt.Errorf("%s: reading header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	emoCol, ok1 := col["emotion"]
	pixCol, ok2 := col["pixels"]
	useCol, hasUsage := col["usage"]
	for _, c := range []struct {
		name string
		ok   bool
	}{{"emotion", ok1}, {"pixels", ok2}} {
		if !c.ok {
			return nil, rep, fmt.Errorf("%s:1: header %q lacks column %q, want emotion,pixels,Usage (any order)", name, strings.Join(header, ","), c.name)
		}
	}
	keep := map[string]bool{}
	for _, u := range opt.Usages {
		keep[u] = true
	}
	valid := map[string]bool{UsageTraining: true, UsagePublicTest: true, UsagePrivateTest: true}
	npix := opt.Width * opt.Height
	pix := make([]uint8, npix)
	out := map[string]*Dataset{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			msg := fmt.Sprintf("%s:%d: %v", name, line, err)
			if !opt.SkipBad {
				return nil, rep, errors.New(msg)
			}
			rep.skip(msg)
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		label, usage, err := parseFERRow(rec, emoCol, pixCol, useCol, hasUsage, valid, opt.Classes, pix)
		if err != nil {
			msg := fmt.Sprintf("%s:%d: %v", name, line, err)
			if !opt.SkipBad {
				return nil, rep, errors.New(msg)
			}
			rep.skip(msg)
			continue
		}
		if len(keep) > 0 && !keep[usage] {
			continue
		}
		ds := out[usage]
		if ds == nil {
			ds = NewDataset(opt.Height, opt.Width, 1, opt.Classes)
			out[usage] = ds
		}
		if err := ds.Append(pix, label, fmt.Sprintf("%s:%d", name, line), ""); err != nil {
			return nil, rep, err
		}
		rep.Loaded++
		if opt.MaxRows > 0 && rep.Loaded >= opt.MaxRows {
			break
		}
	}
	if rep.Loaded == 0 {
		msg := fmt.Sprintf("%s: no usable rows", name)
		if len(opt.Usages) > 0 {
			msg += fmt.Sprintf(" with Usage in %v", opt.Usages)
		}
		if rep.Skipped > 0 {
			msg += " (" + rep.String() + ")"
		}
		return nil, rep, errors.New(msg)
	}
	return out, rep, nil
}

// parseFERRow checks one record and decodes its pixels into pix.
func parseFERRow(rec []string, emoCol, pixCol, useCol int, hasUsage bool, valid map[string]bool, classes []string, pix []uint8) (label int, usage string, err error) {
	need := max(emoCol, pixCol)
	if hasUsage {
		need = max(need, useCol)
	}
	if len(rec) <= need {
		return 0, "", fmt.Errorf("row has %d fields, want at least %d", len(rec), need+1)
	}
	e := strings.TrimSpace(rec[emoCol])
	label, err = strconv.Atoi(e)
	if err != nil {
		return 0, "", fmt.Errorf("field emotion: %q is not an integer label", e)
	}
	if label < 0 || label >= len(classes) {
		return 0, "", fmt.Errorf("field emotion: unknown label %d, want 0..%d", label, len(classes)-1)
	}
	usage = UsageAll
	if hasUsage {
		usage = strings.TrimSpace(rec[useCol])
		if !valid[usage] {
			return 0, "", fmt.Errorf("field Usage: unknown value %q, want Training, PublicTest or PrivateTest", usage)
		}
	}
	if err := parsePixels(rec[pixCol], pix); err != nil {
		return 0, "", fmt.Errorf("field pixels: %v", err)
	}
	return label, usage, nil
}

// parsePixels parses space-separated integers 0..255 into pix, requiring
// exactly len(pix) of them.
func parsePixels(s string, pix []uint8) error {
	n := 0
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		j := i
		v := 0
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			ch := s[j]
			if ch < '0' || ch > '9' {
				end := j
				for end < len(s) && s[end] != ' ' && s[end] != '\t' {
					end++
				}
				return fmt.Errorf("value %d %q is not a number", n+1, s[i:end])
			}
			if v <= 255 {
				v = v*10 + int(ch-'0')
			}
			j++
		}
		if v > 255 {
			return fmt.Errorf("value %d %q is outside 0..255", n+1, s[i:j])
		}
		if n < len(pix) {
			pix[n] = uint8(v)
		}
		n++
		i = j
	}
	if n != len(pix) {
		return fmt.Errorf("%d values, want %d", n, len(pix))
	}
	return nil
}

// WriteFER2013CSV writes grayscale datasets as a FER2013 CSV with the
// header emotion,pixels,Usage; each dataset's rows get its Usage. The
// emotion column is the label index.
func WriteFER2013CSV(w io.Writer, splits []UsageSplit) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString("emotion,pixels,Usage\n"); err != nil {
		return err
	}
	var buf []byte
	for _, s := range splits {
		d := s.Data
		if d.C != 1 {
			return fmt.Errorf("data: FER2013 CSV holds gray images, split %s has %d channels", s.Usage, d.C)
		}
		for i := 0; i < d.Len(); i++ {
			buf = strconv.AppendInt(buf[:0], int64(d.Labels[i]), 10)
			buf = append(buf, ',')
			for k, v := range d.Image(i) {
				if k > 0 {
					buf = append(buf, ' ')
				}
				buf = strconv.AppendUint(buf, uint64(v), 10)
			}
			buf = append(buf, ',')
			buf = append(buf, s.Usage...)
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// UsageSplit pairs a dataset with its FER2013 Usage value.
type UsageSplit struct {
	Usage string
	Data  *Dataset
}
