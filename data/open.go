package data

import (
	"fmt"
	"path/filepath"
)

// LoadOptions configures LoadTrainVal.
type LoadOptions struct {
	// Folder sets the image size, channels, class order and bad-file
	// handling for image-file layouts (zero values take each loader's
	// defaults). For FER2013 folders Classes defaults to FER2013 order.
	Folder FolderOptions
	// CSV configures FER2013 CSV reading (SkipBad, MaxRows, ...).
	CSV CSVOptions
	// Split divides the data when the layout has no validation split of
	// its own (everything but FER2013): group-wise for LeapGestRecog
	// subjects and sign-digits sessions, stratified otherwise.
	Split SplitOptions
}

// TrainVal is a dataset on disk, loaded and split for training.
type TrainVal struct {
	Format     string
	Train, Val *Dataset
	// Warning is non-empty when the split leaks groups (Split.Random on
	// grouped data); show it to the user.
	Warning string
	// Report sums what the loaders read and skipped.
	Report Report
}

// LoadTrainVal loads the dataset at path (any layout DetectFormat
// recognises) into a training and a validation part:
//
//   - FER2013 CSV: Training and PublicTest rows (PrivateTest is left for
//     final testing); without PublicTest rows, Training is split.
//   - FER2013 folders: train/ and publictest/, labels in FER2013 order;
//     without publictest/, train/ is split.
//   - LeapGestRecog, sign digits, image folders: opt.Split.
func LoadTrainVal(path string, opt LoadOptions) (*TrainVal, error) {
	format, err := DetectFormat(path)
	if err != nil {
		return nil, err
	}
	if opt.Folder.GroupBy != nil && format != FormatImageFolder {
		return nil, fmt.Errorf("%s: group-by %q applies to <class>/ image folders, not the %s layout (its splits or groups are its own)", path, opt.Folder.GroupBy.Spec, format)
	}
	tv := &TrainVal{Format: format}
	var all *Dataset
	var rep Report
	switch format {
	case FormatFERCSV:
		csvOpt := opt.CSV
		csvOpt.Usages = []string{UsageTraining, UsagePublicTest, UsageAll}
		splits, r, err := LoadFER2013CSV(path, csvOpt)
		if err != nil {
			return nil, err
		}
		tv.Report = r
		tv.Train, tv.Val = splits[UsageTraining], splits[UsagePublicTest]
		if tv.Train == nil {
			tv.Train = splits[UsageAll]
		}
		if tv.Train == nil {
			return nil, fmt.Errorf("%s: no Training rows", path)
		}
		if tv.Val != nil {
			return tv, nil
		}
		all = tv.Train
	case FormatFERFolders:
		fo := opt.Folder
		if fo.Classes == nil {
			fo.Classes = FER2013ClassNames()
		}
		tv.Train, rep, err = LoadFolder(filepath.Join(path, FERSplitDirs[UsageTraining]), fo)
		if err != nil {
			return nil, err
		}
		tv.Report.Merge(rep)
		if pub := filepath.Join(path, FERSplitDirs[UsagePublicTest]); isDir(pub) {
			tv.Val, rep, err = LoadFolder(pub, fo)
			if err != nil {
				return nil, err
			}
			tv.Report.Merge(rep)
			return tv, nil
		}
		all = tv.Train
	case FormatLeap:
		all, rep, err = LoadLeapGestRecog(path, opt.Folder)
	case FormatSignDigits:
		all, rep, err = LoadSignDigits(path, opt.Folder)
	default:
		all, rep, err = LoadFolder(path, opt.Folder)
	}
	if err != nil {
		return nil, err
	}
	tv.Report.Merge(rep)
	tv.Train, tv.Val, tv.Warning, err = Split(all, opt.Split)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tv, nil
}
