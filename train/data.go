package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/vision"
)

// formatNames maps Config.Format values to the data package's layouts.
var formatNames = map[string]string{
	"fer-csv":     data.FormatFERCSV,
	"fer-folders": data.FormatFERFolders,
	"folders":     data.FormatImageFolder,
	"leap":        data.FormatLeap,
	"sign-digits": data.FormatSignDigits,
}

// LoadData loads the training and validation sets the configuration
// describes. A forced Format must agree with the layout found on disk for
// the FER2013 layouts; "folders", "leap" and "sign-digits" read the path
// with that loader whatever it looks like. The configuration's defaults
// are filled in first, and a fine-tuning run (From) takes the pretrained
// network's input size and channels. TrainFraction then subsamples the
// training set.
func LoadData(c *Config) (*data.TrainVal, error) {
	tv, err := loadSplit(c)
	if err != nil || c.TrainFraction == 1 {
		return tv, err
	}
	return subsampleTrain(tv, c)
}

// subsampleTrain keeps about Config.TrainFraction of the training set:
// whole groups (subjects, sessions) chosen at random when the data has
// groups, otherwise a stratified sample. The validation set is unchanged,
// so runs on fractions are comparable with full runs.
func subsampleTrain(tv *data.TrainVal, c *Config) (*data.TrainVal, error) {
	seed := c.Seed ^ 0x7f4a7c15 // another stream than the validation split's
	var (
		sub *data.Dataset
		err error
	)
	if len(tv.Train.Groups) > 0 && !c.RandomSplit {
		_, sub, err = data.SplitGroupsFraction(tv.Train, c.TrainFraction, seed)
	} else {
		_, sub, err = data.SplitStratified(tv.Train, c.TrainFraction, seed)
	}
	if err != nil {
		return nil, fmt.Errorf("train: training fraction %g of %s: %w", c.TrainFraction, c.Data, err)
	}
	if sub.Len() == 0 {
		return nil, fmt.Errorf("train: training fraction %g of %d samples leaves none", c.TrainFraction, tv.Train.Len())
	}
	out := *tv
	out.Train = sub
	return &out, nil
}

func loadSplit(c *Config) (*data.TrainVal, error) {
	c.Resolve()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := c.resolveFrom(); err != nil {
		return nil, err
	}
	groupBy, err := c.groupBy()
	if err != nil {
		return nil, err
	}
	opt := data.LoadOptions{
		Folder: data.FolderOptions{SkipBad: c.SkipBad, MaxPerClass: c.MaxPerClass, Width: c.ImageSize, Height: c.ImageSize, Channels: c.Channels, GroupBy: groupBy},
		CSV:    data.CSVOptions{SkipBad: c.SkipBad},
		Split:  data.SplitOptions{ValFraction: c.ValSplit, ValGroups: c.ValGroups, Random: c.RandomSplit, Seed: c.Seed},
	}
	if c.Format == "auto" || c.Format == "fer-csv" || c.Format == "fer-folders" {
		if c.Format != "auto" {
			got, err := data.DetectFormat(c.Data)
			if err != nil {
				return nil, err
			}
			if got != formatNames[c.Format] {
				return nil, fmt.Errorf("train: --format %s but %s holds the %s layout", c.Format, c.Data, got)
			}
		}
		return data.LoadTrainVal(c.Data, opt)
	}
	var (
		all *data.Dataset
		rep data.Report
	)
	switch c.Format {
	case "leap":
		all, rep, err = data.LoadLeapGestRecog(c.Data, opt.Folder)
	case "sign-digits":
		all, rep, err = data.LoadSignDigits(c.Data, opt.Folder)
	default:
		all, rep, err = data.LoadFolder(c.Data, opt.Folder)
	}
	if err != nil {
		return nil, err
	}
	tv := &data.TrainVal{Format: formatNames[c.Format], Report: rep}
	tv.Train, tv.Val, tv.Warning, err = data.Split(all, opt.Split)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Data, err)
	}
	return tv, nil
}

// groupBy parses Config.GroupBy (nil when unset).
func (c *Config) groupBy() (*data.GroupBy, error) {
	if c.GroupBy == "" {
		return nil, nil
	}
	g, err := data.ParseGroupBy(c.GroupBy)
	if err != nil {
		return nil, fmt.Errorf("train: --group-by: %w", err)
	}
	return g, nil
}

// PixelStats returns the per-channel mean and standard deviation of a
// dataset's pixels in [0,1] units, for the model's normalisation.
func PixelStats(d *data.Dataset) (mean, std []float32) {
	sum := make([]float64, d.C)
	sq := make([]float64, d.C)
	for i, p := range d.Pix {
		v := float64(p) / 255
		sum[i%d.C] += v
		sq[i%d.C] += v * v
	}
	n := float64(len(d.Pix) / d.C)
	mean = make([]float32, d.C)
	std = make([]float32, d.C)
	for c := range sum {
		m := sum[c] / n
		mean[c] = float32(m)
		std[c] = float32(math.Max(math.Sqrt(math.Max(sq[c]/n-m*m, 0)), 1e-3))
	}
	return mean, std
}

// preprocessFor is the model input of a training set: its own size and
// channels unless size or channels are set (> 0), normalised with its
// pixel statistics (averaged over channels when the channel count
// changes).
func preprocessFor(d *data.Dataset, size, channels int) vision.Preprocess {
	mean, std := PixelStats(d)
	p := vision.Preprocess{Width: d.W, Height: d.H, Channels: d.C, Mean: mean, Std: std}
	if size > 0 {
		p.Width, p.Height = size, size
	}
	if channels > 0 && channels != d.C {
		var m, s float32
		for c := range mean {
			m += mean[c] / float32(d.C)
			s += std[c] / float32(d.C)
		}
		p.Channels, p.Mean, p.Std = channels, []float32{m}, []float32{s}
	}
	return p
}

// ClassWeights returns n/(K*n_k) for each class k of d, sklearn's
// "balanced" weights (0 for a class without samples).
func ClassWeights(d *data.Dataset) []float32 {
	counts := d.ClassCounts()
	w := make([]float32, len(counts))
	for k, n := range counts {
		if n > 0 {
			w[k] = float32(float64(d.Len()) / float64(len(counts)*n))
		}
	}
	return w
}

// Balance resamples d so that every class present has the same number of
// samples, keeping about the same total: each class's samples are repeated
// as many whole times as fit, the rest drawn without replacement, all
// seeded. The loader's augmentation then varies the repeated images.
func Balance(d *data.Dataset, seed uint64) *data.Dataset {
	byClass := make([][]int, len(d.Classes))
	for i, l := range d.Labels {
		byClass[l] = append(byClass[l], i)
	}
	present := 0
	for _, idx := range byClass {
		if len(idx) > 0 {
			present++
		}
	}
	per := (d.Len() + present - 1) / present
	rng := rand.New(rand.NewPCG(seed, 0xba1a))
	var idx []int
	for _, members := range byClass {
		if len(members) == 0 {
			continue
		}
		for r := 0; r < per/len(members); r++ {
			idx = append(idx, members...)
		}
		for _, p := range rng.Perm(len(members))[:per%len(members)] {
			idx = append(idx, members[p])
		}
	}
	return d.Subset(idx)
}

// runName is the default run directory name.
func runName(c *Config, format string) string {
	task := c.Task
	if task == "" {
		task = format
	}
	name := c.Model
	if c.Arch != nil {
		name = "custom"
	}
	return filepath.Join("runs", task+"-"+name)
}
