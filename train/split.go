package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/model"
)

// SplitNames are the evaluation splits LoadSplit knows.
var SplitNames = []string{"val", "train", "publictest", "privatetest", "all"}

// LoadSplit loads one split of the dataset at path for evaluating a model
// described by meta, with labels in the model's class order:
//
//   - FER2013 (CSV or folders): "train", "publictest", "privatetest",
//     "all"; "val" is PublicTest, the split training validated on.
//   - other layouts: "all", or "val"/"train", the parts of the split the
//     model was trained with (rebuilt from the training configuration
//     recorded in the model file: validation share, groups, seed).
//
// format is as Config.Format ("auto" or "" detects it). Image files are
// loaded at the model's input size and channels. The report counts what
// skipBad skipped.
func LoadSplit(path, format, split string, meta model.Meta, skipBad bool) (*data.Dataset, data.Report, error) {
	var rep data.Report
	d, err := loadEvalSplit(path, format, split, meta, skipBad, &rep)
	return d, rep, err
}

func loadEvalSplit(path, format, split string, meta model.Meta, skipBad bool, rep *data.Report) (*data.Dataset, error) {
	if !slices.Contains(SplitNames, split) {
		return nil, fmt.Errorf("train: split %q, want one of %s", split, strings.Join(SplitNames, ", "))
	}
	if format == "" {
		format = "auto"
	}
	if !slices.Contains(Formats, format) {
		return nil, fmt.Errorf("train: format %q, want one of %s", format, strings.Join(Formats, ", "))
	}
	layout, err := data.DetectFormat(path)
	if err != nil {
		return nil, err
	}
	if format != "auto" {
		if (format == "fer-csv" || format == "fer-folders") && layout != formatNames[format] {
			return nil, fmt.Errorf("train: format %s but %s holds the %s layout", format, path, layout)
		}
		layout = formatNames[format]
	}
	pre := meta.Preprocess
	fo := data.FolderOptions{Classes: meta.Classes, Width: pre.Width, Height: pre.Height, Channels: pre.Channels, SkipBad: skipBad}
	usages := map[string][]string{
		"train": {data.UsageTraining}, "val": {data.UsagePublicTest}, "publictest": {data.UsagePublicTest},
		"privatetest": {data.UsagePrivateTest}, "all": {data.UsageTraining, data.UsagePublicTest, data.UsagePrivateTest, data.UsageAll},
	}
	var d *data.Dataset
	switch layout {
	case data.FormatFERCSV:
		sets, r, err := data.LoadFER2013CSV(path, data.CSVOptions{Usages: usages[split], SkipBad: skipBad})
		if err != nil {
			return nil, err
		}
		rep.Merge(r)
		d, err = concat(sets, usages[split])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case data.FormatFERFolders:
		for _, u := range usages[split] {
			dir := filepath.Join(path, data.FERSplitDirs[u])
			if u == data.UsageAll || !isDir(dir) {
				continue
			}
			part, r, err := data.LoadFolder(dir, fo)
			if err != nil {
				return nil, err
			}
			rep.Merge(r)
			if d == nil {
				d = part
			} else if err := d.Concat(part); err != nil {
				return nil, err
			}
		}
		if d == nil {
			return nil, fmt.Errorf("%s: no %s folder", path, split)
		}
	default:
		c := Defaults()
		if meta.Training != nil && len(meta.Training.Config) > 0 {
			if err := json.Unmarshal(meta.Training.Config, &c); err != nil {
				return nil, fmt.Errorf("train: training configuration in the model file: %w", err)
			}
			fo.MaxPerClass = c.MaxPerClass // the same files, hence the same split
		}
		c.Resolve()
		var all *data.Dataset
		var r data.Report
		switch layout {
		case data.FormatLeap:
			all, r, err = data.LoadLeapGestRecog(path, fo)
		case data.FormatSignDigits:
			all, r, err = data.LoadSignDigits(path, fo)
		default:
			// The groups the model was trained with rebuild its split.
			if fo.GroupBy, err = c.groupBy(); err != nil {
				return nil, err
			}
			all, r, err = data.LoadFolder(path, fo)
		}
		if err != nil {
			return nil, err
		}
		rep.Merge(r)
		if split == "all" {
			d = all
			break
		}
		if split != "train" && split != "val" {
			return nil, fmt.Errorf("train: split %q exists only for FER2013; use val, train or all for %s", split, path)
		}
		if meta.Training == nil || len(meta.Training.Config) == 0 {
			return nil, fmt.Errorf("train: the model file records no training configuration to rebuild the %s split; use --split all", split)
		}
		train, val, _, err := data.Split(all, data.SplitOptions{ValFraction: c.ValSplit, ValGroups: c.ValGroups, Random: c.RandomSplit, Seed: c.Seed})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		d = val
		if split == "train" {
			d = train
		}
	}
	if strings.Join(d.Classes, "\x00") != strings.Join(meta.Classes, "\x00") {
		return nil, fmt.Errorf("train: %s has classes %v, the model %v", path, d.Classes, meta.Classes)
	}
	if d.Len() == 0 {
		return nil, fmt.Errorf("train: %s: the %s split is empty", path, split)
	}
	return d, nil
}

// concat joins the CSV splits present, in usage order.
func concat(sets map[string]*data.Dataset, usages []string) (*data.Dataset, error) {
	var d *data.Dataset
	for _, u := range usages {
		s, ok := sets[u]
		if !ok {
			continue
		}
		if d == nil {
			d = s
		} else if err := d.Concat(s); err != nil {
			return nil, err
		}
	}
	if d == nil {
		return nil, fmt.Errorf("no rows with Usage %s", strings.Join(usages, " or "))
	}
	return d, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
