package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/internal/fixtures"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/vision"
)

// leverConfig is tinyConfig with every lever on: stronger augmentation,
// mixup and CutMix, EMA and distillation from teacher.
func leverConfig(path, out, teacher string) Config {
	c := tinyConfig(path, out)
	c.Epochs = 3
	c.Rotate, c.Translate, c.ResizedCrop, c.CropScale, c.Erase = Float(15), Float(0.1), Float(0.5), Float(0.6), Float(0.5)
	c.Mixup, c.CutMix, c.MixProb = 0.4, 1, 0.8
	c.EMA = 0.9
	c.Teachers, c.DistillAlpha, c.DistillTemperature = []string{teacher}, 0.5, 3
	return c
}

// trainTeacher trains a one-epoch model on the data of path for
// distillation tests and returns its file.
func trainTeacher(t *testing.T, path string) string {
	t.Helper()
	cfg := tinyConfig(path, filepath.Join(t.TempDir(), "teacher"))
	cfg.Epochs, cfg.Seed = 1, 11
	tr := mustTrainer(t, cfg, Options{})
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res.ModelPath
}

// TestLeversResumeIsExact: with every lever on, a run stopped at an epoch
// boundary or in the middle of an epoch and resumed ends bit-identical to
// the run trained in one go: weights, BN statistics, the weight average
// and the metrics. The saved models hold the average.
func TestLeversResumeIsExact(t *testing.T) {
	path := synthCSV(t, 96, 32)
	teacher := trainTeacher(t, path)
	dir := t.TempDir()

	full := mustTrainer(t, leverConfig(path, filepath.Join(dir, "full"), teacher), Options{})
	if full.mixer == nil || full.ema == nil || full.distill == nil || full.Config.augment().ResizedCropProb != 0.5 {
		t.Fatal("a lever is not on")
	}
	if _, err := full.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	half := mustTrainer(t, leverConfig(path, filepath.Join(dir, "half"), teacher), Options{StopAfter: 1})
	if _, err := half.Run(context.Background()); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopped run: %v", err)
	}
	half.Close()
	ctx, cancel := context.WithCancel(context.Background())
	mid := mustTrainer(t, leverConfig(path, filepath.Join(dir, "mid"), teacher), Options{afterStep: func(epoch, batch int) {
		if epoch == 1 && batch == 3 {
			cancel()
		}
	}})
	if _, err := mid.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	mid.Close()

	for _, run := range []string{"half", "mid"} {
		r, err := Resume(filepath.Join(dir, run), Options{Progress: "none"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameState(t, run+": weights", full.Net, r.Net)
		for i := range full.ema.shadow {
			for j, v := range full.ema.shadow[i] {
				if math.Float32bits(v) != math.Float32bits(r.ema.shadow[i][j]) {
					t.Fatalf("%s: average of %s[%d] = %g, want %g", run, full.ema.state[i].Name, j, r.ema.shadow[i][j], v)
				}
			}
		}
		h, want := r.History(), full.History()
		for i := range want {
			if h[i].TrainLoss != want[i].TrainLoss || h[i].ValLoss != want[i].ValLoss {
				t.Errorf("%s epoch %d: %+v, want %+v", run, i+1, h[i], want[i])
			}
		}
	}

	// last.residual holds the average of the last epoch, not the live
	// weights.
	last, _, err := model.Load(filepath.Join(dir, "full", LastModelFile))
	if err != nil {
		t.Fatal(err)
	}
	live, avg := 0, 0
	for i, p := range last.State() {
		for j, v := range p.Value.Data {
			if v == full.ema.shadow[i][j] {
				avg++
			}
			if v == full.ema.state[i].Value.Data[j] {
				live++
			}
		}
	}
	if avg != len(flatState(last)) || live == avg {
		t.Errorf("last.residual: %d of %d values are the average, %d the live weights", avg, len(flatState(last)), live)
	}
}

func flatState(n *model.Net) []float32 {
	var v []float32
	for _, p := range n.State() {
		v = append(v, p.Value.Data...)
	}
	return v
}

// TestLastModel: without EMA, last.residual is the final weights and
// best.residual the best epoch's; both reload.
func TestLastModel(t *testing.T) {
	path := synthCSV(t, 64, 32)
	cfg := tinyConfig(path, filepath.Join(t.TempDir(), "run"))
	cfg.Epochs = 2
	tr := mustTrainer(t, cfg, Options{})
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	last, meta, err := model.Load(filepath.Join(cfg.Out, LastModelFile))
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "last.residual", tr.Net, last)
	if meta.Training.Epochs != 2 || meta.Training.BestEpoch != tr.st.BestEpoch {
		t.Errorf("last.residual training info: epochs %d best %d, want 2 and %d", meta.Training.Epochs, meta.Training.BestEpoch, tr.st.BestEpoch)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, BestModelFile)); err != nil {
		t.Error(err)
	}
}

// TestBestEpochTies: a strictly better score wins; a tie goes to the
// epoch with the lower validation loss and, at equal loss, to the later
// epoch; only strict improvements reset patience.
func TestBestEpochTies(t *testing.T) {
	st := progress{History: []EpochStats{{Epoch: 1, ValLoss: 0.9}}, BestEpoch: 1, Best: 0.5}
	for _, tc := range []struct {
		score, loss    float64
		best, improved bool
	}{
		{0.6, 2, true, true},     // better score, whatever the loss
		{0.5, 0.8, true, false},  // tie, lower loss
		{0.5, 0.9, true, false},  // tie, same loss: the later epoch
		{0.5, 1.0, false, false}, // tie, higher loss
		{0.4, 0.1, false, false}, // worse score
	} {
		best, improved := st.isBest(tc.score, tc.loss)
		if best != tc.best || improved != tc.improved {
			t.Errorf("score %g loss %g: best %v improved %v, want %v %v", tc.score, tc.loss, best, improved, tc.best, tc.improved)
		}
	}
	first := progress{}
	if best, improved := first.isBest(0, 5); !best || !improved {
		t.Error("the first epoch is not the best")
	}
}

// TestDistillationTeachers: a teacher with other classes or another input
// size is refused naming the file; with another normalisation the batch
// is renormalised for it.
func TestDistillationTeachers(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, in [3]int, classes []string, mean float32) string {
		net, err := model.New(model.Config{Layers: []int{1}, Widths: []int{4}, Input: in, Classes: len(classes)}, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+model.FileExt)
		pre := vision.Preprocess{Height: in[0], Width: in[1], Channels: in[2], Mean: []float32{mean}, Std: []float32{0.25}}
		if err := model.Save(p, net, model.Meta{Task: "t", Classes: classes, Preprocess: pre}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	classes := []string{"a", "b", "c"}
	student := vision.Preprocess{Height: 8, Width: 8, Channels: 1, Mean: []float32{0.5}, Std: []float32{0.5}}
	for _, tc := range []struct {
		path, want string
	}{
		{save("other-classes", [3]int{8, 8, 1}, []string{"a", "c", "b"}, 0.5), "classes"},
		{save("other-size", [3]int{10, 10, 1}, classes, 0.5), "10x10x1"},
	} {
		cfg := Defaults()
		cfg.Teachers = []string{tc.path}
		if _, err := newDistiller(&cfg, classes, student); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("teacher %s: error %v, want one naming the file and %q", tc.path, err, tc.want)
		}
	}
	cfg := Defaults()
	cfg.Teachers = []string{save("ok", [3]int{8, 8, 1}, classes, 0.2)}
	d, err := newDistiller(&cfg, classes, student)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 8, 8, 1)
	for i := range x.Data {
		x.Data[i] = float32(i%9)/4 - 1 // student-normalised
	}
	targets, err := d.softTargets(x)
	if err != nil {
		t.Fatal(err)
	}
	// The teacher saw (x*0.5+0.5-0.2)/0.25.
	tx := d.teachers[0].x
	for i, v := range x.Data {
		if want := (v*0.5 + 0.5 - 0.2) / 0.25; math.Abs(float64(tx.Data[i]-want)) > 1e-5 {
			t.Fatalf("teacher input[%d] = %g, want %g", i, tx.Data[i], want)
		}
	}
	for i := 0; i < 2; i++ {
		var sum float32
		for _, p := range targets.Data[i*3 : i*3+3] {
			sum += p
		}
		if math.Abs(float64(sum-1)) > 1e-5 {
			t.Errorf("soft targets of row %d sum to %g", i, sum)
		}
	}
}

// TestLeverValidation: out-of-range levers are errors naming the field
// and its flag.
func TestLeverValidation(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Mixup = -1 }, "--mixup"},
		{func(c *Config) { c.CutMix = math.Inf(1) }, "--cutmix"},
		{func(c *Config) { c.MixProb = 2 }, "--mix-prob"},
		{func(c *Config) { c.EMA = 1 }, "--ema"},
		{func(c *Config) { c.DistillAlpha = 1.5 }, "--distill-alpha"},
		{func(c *Config) { c.DistillTemperature = 0 }, "--distill-t"},
		{func(c *Config) { c.Rotate = Float(200) }, "--rotate"},
		{func(c *Config) { c.CropScale = Float(0) }, "--crop-scale"},
		{func(c *Config) { c.Erase = Float(math.NaN()) }, "--erase"},
		{func(c *Config) { c.GroupBy, c.Format = "^(s\\d+)", "sign-digits" }, "--group-by"},
	} {
		c := with(func(c *Config) { c.Data = "x" })
		tc.edit(&c)
		c.Resolve()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %s", err, tc.want)
		}
	}
	// Overrides on --augment none make an augmentation of their own.
	c := with(func(c *Config) { c.Augment, c.Rotate = "none", Float(5) })
	if a := c.augment(); a == nil || a.RotateDeg != 5 || a.FlipProb != 0 {
		t.Errorf("augment none + rotate 5: %+v", a)
	}
	c = with(func(c *Config) { c.Augment, c.CropScale = "none", Float(0.5) })
	if a := c.augment(); a != nil {
		t.Errorf("a crop scale alone augments: %+v", a)
	}
}

// TestDistillTeacherOnRealFaces: the shipped emotion model as a teacher,
// fed batches normalised for a student with other statistics, still
// classifies FER2013 PublicTest faces well (the renormalisation is right
// on real data; about 69% with its own preprocessing).
func TestDistillTeacherOnRealFaces(t *testing.T) {
	root := fixtures.Dataset(t, "fer2013")
	d, _, err := data.LoadFolder(filepath.Join(root, "publictest"), data.FolderOptions{Classes: data.FER2013ClassNames(), MaxPerClass: 30})
	if err != nil {
		t.Fatal(err)
	}
	student := preprocessFor(d, 0, 0)
	student.Mean, student.Std = []float32{0.3}, []float32{0.4} // far from the teacher's
	cfg := Defaults()
	cfg.Teachers = []string{filepath.Join("..", "models", "emotion-fer2013"+model.FileExt)}
	dist, err := newDistiller(&cfg, d.Classes, student)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(d.Len(), 48, 48, 1)
	for i := 0; i < d.Len(); i++ {
		student.Normalize(x.Data[i*48*48:(i+1)*48*48], d.Image(i))
	}
	targets, err := dist.softTargets(x)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, y := range d.Labels {
		if nn.Argmax(targets.Data[i*7:(i+1)*7]) == y {
			correct++
		}
	}
	acc := float64(correct) / float64(d.Len())
	// The same faces in the teacher's own normalisation (no conversion).
	own := dist.teachers[0].pre
	for i := 0; i < d.Len(); i++ {
		own.Normalize(x.Data[i*48*48:(i+1)*48*48], d.Image(i))
	}
	logits, err := dist.teachers[0].net.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	ownCorrect, agree := 0, 0
	for i, y := range d.Labels {
		k := nn.Argmax(logits.Data[i*7 : (i+1)*7])
		if k == y {
			ownCorrect++
		}
		if k == nn.Argmax(targets.Data[i*7:(i+1)*7]) {
			agree++
		}
	}
	t.Logf("teacher accuracy through the student's normalisation %.3f, with its own %.3f, same prediction on %d of %d faces",
		acc, float64(ownCorrect)/float64(d.Len()), agree, d.Len())
	if agree < d.Len()-1 || acc < 0.5 {
		t.Errorf("renormalised input changes %d of %d predictions (accuracy %.3f)", d.Len()-agree, d.Len(), acc)
	}
}

// TestLeverStepDoesNotAllocate: a training step with mixing, EMA and a
// teacher allocates nothing once warmed up.
func TestLeverStepDoesNotAllocate(t *testing.T) {
	path := synthCSV(t, 48, 16)
	teacher := trainTeacher(t, path)
	cfg := leverConfig(path, filepath.Join(t.TempDir(), "run"), teacher)
	tr := mustTrainer(t, cfg, Options{})
	x := tensor.New(16, 24, 24, 1)
	for i := range x.Data {
		x.Data[i] = float32(i%97) / 97
	}
	labels := make([]int, 16)
	for i := range labels {
		labels[i] = i % 7
	}
	step := func() {
		tr.mixPCG.Seed(1, 2)
		partner, lambda := tr.mixer.Apply(tr.mixRand, x, labels)
		if _, _, err := tr.stepMix(x, labels, partner, lambda, 0.01); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		step()
	}
	if n := testing.AllocsPerRun(5, step); n != 0 {
		t.Errorf("%v allocations per step with mixing, EMA and distillation", n)
	}
}

// TestLeversStillLearn: the synthetic-faces run of
// TestTrainingLearnsSynthFaces with mixup, CutMix and EMA still learns
// (a sign or scale error in the mixed loss or the average would not).
func TestLeversStillLearn(t *testing.T) {
	path := synthCSV(t, 1400, 280)
	cfg := with(func(c *Config) {
		c.Data, c.Out, c.ImageSize = path, filepath.Join(t.TempDir(), "run"), 16
		c.Arch = &model.Config{Block: "basic", Layers: []int{1, 1}, Widths: []int{8, 16}}
		c.Epochs, c.BatchSize, c.Optimizer, c.LR, c.Warmup, c.Augment, c.Seed = 10, 32, "adamw", Float(0.01), 0.5, "flip", 1
		c.Mixup, c.CutMix, c.MixProb, c.EMA = 0.2, 1, 0.5, 0.95
	})
	tr := mustTrainer(t, cfg, Options{})
	res, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with mixup, CutMix and EMA: validation accuracy %.3f, macro-F1 %.3f (best epoch %d)", res.Val.Accuracy, res.Val.MacroF1, res.BestEpoch)
	if res.Val.Accuracy < 0.6 {
		t.Errorf("validation accuracy %.3f, want >= 0.6 (chance is 0.143)", res.Val.Accuracy)
	}
}
