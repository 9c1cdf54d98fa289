package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/internal/cpufeat"
	"github.com/residual-go/residual/internal/cpupeak"
	"github.com/residual-go/residual/internal/kernels"
	"github.com/residual-go/residual/internal/parallel"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/nn"
	"github.com/residual-go/residual/tensor"
	"github.com/residual-go/residual/train"
)

type benchOptions struct {
	seconds float64
	batch   int
	torch   bool
	python  string
	script  string
	jsonOut bool
	// torchModes are the PyTorch modes of --torch (scripts/torch_bench.py --modes).
	torchModes string
	// precision is fp32, bf16 or both (--precision): bf16 adds bf16
	// inference figures (training is fp32 in every case).
	precision string
	net       benchNetOptions
}

// benchNetOptions choose the network and the training step that bench
// measures. The defaults are the reference network of docs/BENCHMARKS.md
// with plain SGD and momentum; --model resnet18-small --width-mult 0.375
// --nesterov --wd 5e-4 --label-smoothing 0.1 is the FER2013 recipe's step.
type benchNetOptions struct {
	model          string  // a preset name (residual summary --help lists them)
	widthMult      float64 // channel multiplier, 0 = the preset's
	imageSize      int     // input height and width, 0 = the preset's (48 when it has none)
	channels       int     // input channels, 0 = the preset's (1 when it has none)
	classes        int     // outputs, 0 = the preset's (7 when it has none)
	nesterov       bool
	weightDecay    float64
	labelSmoothing float64
}

// config resolves the options into a model configuration.
func (o benchNetOptions) config() (model.Config, error) {
	cfg, err := model.Preset(o.model)
	if err != nil {
		return cfg, err
	}
	if o.widthMult != 0 {
		cfg.WidthMult = o.widthMult
	}
	h, c := cfg.Input[0], cfg.Input[2]
	if o.imageSize != 0 {
		h = o.imageSize
	} else if h == 0 {
		h = 48
	}
	if o.channels != 0 {
		c = o.channels
	} else if c == 0 {
		c = 1
	}
	cfg.Input = [3]int{h, h, c}
	if o.classes != 0 {
		cfg.Classes = o.classes
	} else if cfg.Classes == 0 {
		cfg.Classes = 7
	}
	return cfg, nil
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure GEMM and convolution GFLOP/s and reference-network images/s",
		Long: `bench measures, on this machine:
  - sgemm 1024x1024x1024 (GFLOP/s) with the active kernel variant;
  - the 3x3 convolutions of the reference network at batch 64: forward,
    backward-data and backward-weights (GFLOP/s);
  - a network, by default the reference network (docs/BENCHMARKS.md): a
    training step (forward, backward, SGD with momentum) in images/s,
    inference at batch 64 in images/s, and batch-1 latency (median) in ms.
    --model and the flags after it choose another network and step; the
    FER2013 recipe's is
      --model resnet18-small --width-mult 0.375 --nesterov --wd 5e-4 --label-smoothing 0.1
It prints the CPU model and features and the arithmetic peaks it measures
(fp32 FMA, and where present AVX512-BF16 and AMX bf16). Every rate is a
median over calls.
With --torch it also runs scripts/torch_bench.py (Debian's python3-torch) on
the same network in the same run with the same thread count, in three modes
(fp32 NCHW, fp32 channels_last, bf16 autocast + channels_last; --torch-modes),
and prints the ratios against PyTorch's fastest mode for each figure.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runBench(o) },
	}
	cmd.AddCommand(newBenchServeCmd())
	f := cmd.Flags()
	posFloatVar(f, &o.seconds, "seconds", 3, "time spent on each measurement")
	countVar(f, &o.batch, "batch", 64, 1, "batch size for convolutions, training and batched inference")
	f.BoolVar(&o.torch, "torch", false, "also measure PyTorch on the same network (needs python3-torch)")
	f.StringVar(&o.python, "python", "/usr/bin/python3", "python interpreter for --torch")
	f.StringVar(&o.script, "torch-script", "scripts/torch_bench.py", "PyTorch benchmark script for --torch")
	f.BoolVar(&o.jsonOut, "json", false, "print results as JSON")
	f.StringVar(&o.precision, "precision", "both", "fp32, bf16 or both: bf16 also measures inference in bfloat16 (AVX512-BF16 CPUs only; training is always fp32)")
	f.StringVar(&o.torchModes, "torch-modes", "fp32,fp32-cl,bf16-cl", "PyTorch modes for --torch: fp32 (NCHW), fp32-cl (channels_last), bf16-cl (bf16 autocast, channels_last)")
	f.StringVar(&o.net.model, "model", "reference", "network preset to measure (reference or resnet18-small for --torch)")
	posFloatVar(f, &o.net.widthMult, "width-mult", 0, "channel width multiplier, > 0 (default: the preset's)")
	countVar(f, &o.net.imageSize, "image-size", 0, 1, "input height and width (default: the preset's, else 48)")
	countVar(f, &o.net.channels, "channels", 0, 1, "input channels (default: the preset's, else 1)")
	countVar(f, &o.net.classes, "classes", 0, 1, "number of classes (default: the preset's, else 7)")
	f.BoolVar(&o.net.nesterov, "nesterov", false, "Nesterov momentum in the training step")
	floatVar(f, &o.net.weightDecay, "wd", 0, "weight decay in the training step")
	floatVar(f, &o.net.labelSmoothing, "label-smoothing", 0, "label smoothing of the training step's loss")
	return cmd
}

// benchResult is residual's side of the benchmark (bench --json prints it
// as "residual").
type benchResult struct {
	CPU             string       `json:"cpu,omitempty"`
	CPUFeatures     []string     `json:"cpu_features,omitempty"`
	Threads         int          `json:"threads,omitempty"`
	Kernel          string       `json:"kernel,omitempty"`
	PeakGFLOPs      float64      `json:"fma_peak_gflops,omitempty"`
	PeakBF16GFLOPs  float64      `json:"bf16_peak_gflops,omitempty"`
	PeakAMXGFLOPs   float64      `json:"amx_peak_gflops,omitempty"`
	SgemmGFLOPs     float64      `json:"sgemm_1024_gflops,omitempty"`
	Convs           []convResult `json:"convs"`
	TrainImagesPerS float64      `json:"train_images_per_s"`
	InferImagesPerS float64      `json:"infer_images_per_s"`
	InferBF16PerS   float64      `json:"infer_bf16_images_per_s,omitempty"`
	LatencyBF16Ms   float64      `json:"latency_bf16_batch1_ms,omitempty"`
	LatencyBatch1Ms float64      `json:"latency_batch1_ms"`
	Batch           int          `json:"batch"`
	Network         string       `json:"network,omitempty"`
	ForwardMFLOPs   float64      `json:"forward_mflop_per_image,omitempty"`
	TrainGFLOPs     float64      `json:"train_effective_gflops,omitempty"`
	// ConvAlgorithms is what each convolution of the network ran in the
	// measurements, in forward order.
	ConvAlgorithms []convAlgorithms `json:"conv_algorithms,omitempty"`
}

// convAlgorithms names the algorithms one convolution of the network ran:
// in the training step (forward, dx, dW), in fused fp32 inference and in
// bf16 inference.
type convAlgorithms struct {
	Name          string            `json:"name"`
	Shape         string            `json:"shape"` // Cin->Cout KHxKW/stride on HxW
	Train         nn.ConvAlgorithms `json:"train"`
	Inference     string            `json:"inference"`
	InferenceBF16 string            `json:"inference_bf16,omitempty"`
}

// torchResult mirrors the JSON printed by scripts/torch_bench.py: one
// entry per PyTorch mode (fp32 NCHW, fp32 channels_last, bf16 autocast
// channels_last).
type torchResult struct {
	Version string      `json:"torch"`
	Threads int         `json:"threads"`
	Batch   int         `json:"batch"`
	Network string      `json:"network"`
	Modes   []torchMode `json:"modes"`
}

type torchMode struct {
	Mode            string       `json:"mode"`
	Label           string       `json:"label"`
	Convs           []convResult `json:"convs"`
	TrainImagesPerS float64      `json:"train_images_per_s"`
	InferImagesPerS float64      `json:"infer_images_per_s"`
	LatencyBatch1Ms float64      `json:"latency_batch1_ms"`
}

// fastest returns the mode with the largest (or, with lower, smallest)
// value of f.
func (r *torchResult) fastest(f func(*torchMode) float64, lower bool) *torchMode {
	var best *torchMode
	for i := range r.Modes {
		m := &r.Modes[i]
		if v := f(m); v > 0 && (best == nil || (v > f(best)) != lower) {
			best = m
		}
	}
	return best
}

type convResult struct {
	Name      string  `json:"name"`
	Fwd       float64 `json:"fwd_gflops"`
	BwdData   float64 `json:"bwd_data_gflops"`
	BwdWeight float64 `json:"bwd_weight_gflops"`
}

// measure runs fn for about d (after one warm-up call; at least 5 calls)
// and returns calls per second from the median time of a call, as
// scripts/torch_bench.py does: a busy machine's stalls move the median
// less than the mean.
func measure(d time.Duration, fn func()) float64 {
	fn()
	var times []time.Duration
	for start := time.Now(); len(times) < 5 || time.Since(start) < d; {
		t0 := time.Now()
		fn()
		times = append(times, time.Since(t0))
	}
	return 1 / median(times).Seconds()
}

// median returns the median of times (sorting them).
func median(times []time.Duration) time.Duration {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2]
}

func runBench(o benchOptions) error {
	if o.seconds <= 0 || o.batch < 1 {
		return fmt.Errorf("bench: --seconds %g and --batch %d must be positive", o.seconds, o.batch)
	}
	if o.net.weightDecay < 0 || o.net.labelSmoothing < 0 || o.net.labelSmoothing >= 1 {
		return fmt.Errorf("bench: --wd %g (want >= 0) or --label-smoothing %g (want [0,1)) out of range", o.net.weightDecay, o.net.labelSmoothing)
	}
	d := time.Duration(o.seconds * float64(time.Second))
	bf16 := false
	switch o.precision {
	case "fp32":
	case "bf16", "both":
		var err error
		if bf16, err = useBF16("bench", "bf16", os.Stderr); err != nil {
			return err
		}
	default:
		return fmt.Errorf("bench: --precision %q, want fp32, bf16 or both", o.precision)
	}
	cpu := cpufeat.Get()
	res := benchResult{CPU: cpu.Model, CPUFeatures: cpu.Features(), Threads: parallel.Workers(), Kernel: kernels.Variant(), Batch: o.batch}
	say := func(format string, args ...any) {
		if !o.jsonOut {
			fmt.Printf(format, args...)
		}
	}
	say("CPU: %s, %d threads\n", cpu, res.Threads)
	say("kernel variant: %s\n", res.Kernel)
	if res.PeakGFLOPs = cpupeak.Measure(res.Threads, d/2); res.PeakGFLOPs > 0 {
		say("fp32 FMA peak, %d threads     %7.1f GFLOP/s (VFMADD231PS zmm loop)\n", res.Threads, res.PeakGFLOPs)
	}
	if res.PeakBF16GFLOPs = cpupeak.MeasureBF16(res.Threads, d/2); res.PeakBF16GFLOPs > 0 {
		say("bf16 AVX512-BF16 peak         %7.1f GFLOP/s (VDPBF16PS zmm loop)\n", res.PeakBF16GFLOPs)
	}
	if res.PeakAMXGFLOPs = cpupeak.MeasureAMX(res.Threads, d/2); res.PeakAMXGFLOPs > 0 {
		say("bf16 AMX tile peak            %7.1f GFLOP/s (TDPBF16PS loop)\n", res.PeakAMXGFLOPs)
	}

	const n = 1024
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	res.SgemmGFLOPs = measure(d, func() { kernels.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n) }) * 2 * n * n * n / 1e9
	say("sgemm %dx%dx%d                %7.1f GFLOP/s", n, n, n, res.SgemmGFLOPs)
	if res.PeakGFLOPs > 0 {
		say(" (%.0f%% of the FMA peak)", 100*res.SgemmGFLOPs/res.PeakGFLOPs)
	}
	say("\n")

	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ c, hw int }{{16, 48}, {32, 24}, {64, 12}} {
		r := benchConv(o.batch, s.c, s.hw, d/3, rng)
		res.Convs = append(res.Convs, r)
		say("%-30s fwd %7.1f  bwd-data %7.1f  bwd-weight %7.1f GFLOP/s\n", r.Name, r.Fwd, r.BwdData, r.BwdWeight)
	}

	if err := benchNet(&res, o.net, o.batch, d, bf16); err != nil {
		return err
	}
	say("%s (%.1f MFLOP/image forward)\n", res.Network, res.ForwardMFLOPs)
	say("  training, batch %d        %8.1f images/s (%.0f GFLOP/s effective)\n", o.batch, res.TrainImagesPerS, res.TrainGFLOPs)
	say("  inference, batch %d       %8.1f images/s\n", o.batch, res.InferImagesPerS)
	say("  inference, batch 1 latency %8.3f ms (median)\n", res.LatencyBatch1Ms)
	if !o.jsonOut {
		printConvAlgorithms(res.ConvAlgorithms, o.batch)
	}
	if res.InferBF16PerS > 0 {
		say("  bfloat16 inference, batch %d %7.1f images/s, batch 1 latency %.3f ms (--precision bf16; fp32 above measured alternating with it)\n", o.batch, res.InferBF16PerS, res.LatencyBF16Ms)
	}

	var torch *torchResult
	if o.torch {
		var err error
		if torch, err = runTorchBench(o, res.Threads); err != nil {
			return err
		}
		if !o.jsonOut {
			printTorch(&res, torch, o.batch)
		}
	}
	if o.jsonOut {
		out := map[string]any{"residual": res}
		if torch != nil {
			out["torch"] = torch
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return nil
}

// benchConv times a 3x3 stride-1 convolution c->c on (batch,hw,hw,c):
// forward, backward-weights (a layer that needs no input gradient) and
// backward-data (a layer whose frozen weight gets no gradient).
func benchConv(batch, c, hw int, d time.Duration, rng *rand.Rand) convResult {
	flop := 2 * float64(batch*hw*hw) * float64(c*c*9)
	name := fmt.Sprintf("conv3x3 %d->%d %dx%d b%d", c, c, hw, hw, batch)
	x := tensor.New(batch, hw, hw, c)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	weights := nn.NewConv2D("conv", nn.Conv2DConfig{InC: c, OutC: c, Kernel: 3, Padding: 1, NoInputGrad: true}, rng)
	inputs := nn.NewConv2D("conv", nn.Conv2DConfig{InC: c, OutC: c, Kernel: 3, Padding: 1}, rng)
	inputs.Weight.Frozen = true
	dy := weights.Forward(x, true).Clone()
	inputs.Forward(x, true)
	return convResult{
		Name:      name,
		Fwd:       flop * measure(d, func() { weights.Forward(x, true) }) / 1e9,
		BwdWeight: flop * measure(d, func() { weights.Backward(dy) }) / 1e9,
		BwdData:   flop * measure(d, func() { inputs.Backward(dy) }) / 1e9,
	}
}

// benchNet measures a network: training steps, batched inference and
// batch-1 latency.
func benchNet(res *benchResult, o benchNetOptions, batch int, d time.Duration, bf16 bool) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	step, err := train.NewBenchStep(cfg, train.BenchStepConfig{Batch: batch, Nesterov: o.nesterov,
		WeightDecay: o.weightDecay, LabelSmoothing: float32(o.labelSmoothing)})
	if err != nil {
		return err
	}
	net, x := step.Net, step.X
	res.Network = fmt.Sprintf("%s x%g %dx%dx%d", o.model, cfg.WidthMult, cfg.Input[0], cfg.Input[1], cfg.Input[2])
	res.ForwardMFLOPs = float64(net.FLOPs()) / 1e6
	var stepErr error
	res.TrainImagesPerS = measure(d, func() {
		if err := step.Train(); err != nil {
			stepErr = err
		}
	}) * float64(batch)
	if stepErr != nil {
		return stepErr
	}
	// forward + backward ~ 3x forward FLOPs
	res.TrainGFLOPs = res.TrainImagesPerS * 3 * res.ForwardMFLOPs / 1e3
	convs := net.Convs()
	res.ConvAlgorithms = make([]convAlgorithms, len(convs))
	for i, c := range convs {
		cfg := c.Config()
		kh, kw := c.Weight.Value.Shape[1], c.Weight.Value.Shape[2]
		res.ConvAlgorithms[i] = convAlgorithms{Name: c.Name(), Train: c.Algorithms(),
			Shape: fmt.Sprintf("%d->%d %dx%d/%d", cfg.InC, cfg.OutC, kh, kw, cfg.Stride)}
	}
	one := tensor.New(net.InputShape(1)...)
	copy(one.Data, x.Data)
	if !bf16 {
		res.InferImagesPerS = measure(d, func() { step.Infer() }) * float64(batch)
		for i, c := range convs {
			res.ConvAlgorithms[i].Inference = c.Algorithms().Forward
		}
		res.LatencyBatch1Ms, err = medianLatency(net, one, d)
		return err
	}
	// bf16 runs on a twin of the network with the same weights, its calls
	// alternating with the fp32 ones, so that both see the same machine
	// (the ratio of a shared machine's separate runs moves by tens of %).
	twin, err := twinNet(net)
	if err != nil {
		return err
	}
	twin.SetBF16(true)
	var fwdErr error
	run := func(n *model.Net, in *tensor.Tensor) func() {
		return func() {
			if _, err := n.Forward(in, false); err != nil {
				fwdErr = err
			}
		}
	}
	fp32, bf := measurePair(d, run(net, x), run(twin, x))
	res.InferImagesPerS, res.InferBF16PerS = fp32*float64(batch), bf*float64(batch)
	twinConvs := twin.Convs()
	for i, c := range convs {
		res.ConvAlgorithms[i].Inference = c.Algorithms().Forward
		res.ConvAlgorithms[i].InferenceBF16 = twinConvs[i].Algorithms().Forward
	}
	fp32, bf = measurePair(d, run(net, one), run(twin, one))
	res.LatencyBatch1Ms, res.LatencyBF16Ms = 1e3/fp32, 1e3/bf
	return fwdErr
}

// twinNet builds a network with net's configuration and a copy of its
// parameters and buffers.
func twinNet(net *model.Net) (*model.Net, error) {
	twin, err := model.New(net.Config, 0)
	if err != nil {
		return nil, err
	}
	src := map[string]*tensor.Tensor{}
	for _, p := range net.State() {
		src[p.Name] = p.Value
	}
	err = twin.LoadState(func(name string) (*tensor.Tensor, bool) {
		t, ok := src[name]
		return t, ok
	})
	return twin, err
}

// measurePair runs a and b alternately for about 2d (after a warm-up call
// of each; at least 5 calls each) and returns the calls per second of each
// from its median time.
func measurePair(d time.Duration, a, b func()) (float64, float64) {
	a()
	b()
	var ta, tb []time.Duration
	for start := time.Now(); len(ta) < 5 || time.Since(start) < 2*d; {
		t0 := time.Now()
		a()
		t1 := time.Now()
		b()
		ta, tb = append(ta, t1.Sub(t0)), append(tb, time.Since(t1))
	}
	return 1 / median(ta).Seconds(), 1 / median(tb).Seconds()
}

// medianLatency runs batch-1 inference for about d (at least 20 times)
// and returns the median time in milliseconds.
func medianLatency(net *model.Net, one *tensor.Tensor, d time.Duration) (float64, error) {
	var times []time.Duration
	for start := time.Now(); time.Since(start) < d || len(times) < 20; {
		t0 := time.Now()
		if _, err := net.Forward(one, false); err != nil {
			return 0, err
		}
		times = append(times, time.Since(t0))
	}
	return float64(median(times).Microseconds()) / 1e3, nil
}

// printConvAlgorithms prints the algorithm of every convolution of the
// network in each measurement.
func printConvAlgorithms(algos []convAlgorithms, batch int) {
	fmt.Printf("  convolutions (batch %d): train forward / dx / dW; inference fp32; inference bf16\n", batch)
	for _, a := range algos {
		fmt.Printf("    %-28s %-16s %s / %s / %s; %s", a.Name, a.Shape, a.Train.Forward, a.Train.BackwardData, a.Train.BackwardWeights, a.Inference)
		if a.InferenceBF16 != "" {
			fmt.Printf("; %s", a.InferenceBF16)
		}
		fmt.Println()
	}
}

// printTorch prints PyTorch's figures in each mode beside residual's, and
// the ratios against PyTorch's fastest mode for each figure.
func printTorch(res *benchResult, torch *torchResult, batch int) {
	fmt.Printf("\nPyTorch %s, %d threads (residual: %d), same run, medians on both sides:\n", torch.Version, torch.Threads, res.Threads)
	for _, m := range torch.Modes {
		if len(m.Convs) == 0 {
			continue
		}
		fmt.Printf("  %s:\n", m.Label)
		for i, tc := range m.Convs {
			if i >= len(res.Convs) {
				break
			}
			gc := res.Convs[i]
			fmt.Printf("    %-28s fwd %7.1f  bwd-data %7.1f  bwd-weight %7.1f GFLOP/s   (residual/PyTorch %.2fx %.2fx %.2fx)\n",
				tc.Name, tc.Fwd, tc.BwdData, tc.BwdWeight, gc.Fwd/tc.Fwd, gc.BwdData/tc.BwdData, gc.BwdWeight/tc.BwdWeight)
		}
	}
	fmt.Printf("  %-36s %12s %16s %12s\n", "", "train img/s", fmt.Sprintf("infer b%d img/s", batch), "batch-1 ms")
	fmt.Printf("  %-36s %12.1f %16.1f %12.3f\n", "residual fp32", res.TrainImagesPerS, res.InferImagesPerS, res.LatencyBatch1Ms)
	if res.InferBF16PerS > 0 {
		fmt.Printf("  %-36s %12s %16.1f %12.3f\n", "residual bf16 (inference only)", "-", res.InferBF16PerS, res.LatencyBF16Ms)
	}
	for _, m := range torch.Modes {
		fmt.Printf("  %-36s %12.1f %16.1f %12.3f\n", "PyTorch "+m.Label, m.TrainImagesPerS, m.InferImagesPerS, m.LatencyBatch1Ms)
	}
	// Ratios against PyTorch's fastest mode, figure by figure; residual's
	// best precision on each.
	infer, lat := max(res.InferImagesPerS, res.InferBF16PerS), res.LatencyBatch1Ms
	if res.LatencyBF16Ms > 0 {
		lat = min(lat, res.LatencyBF16Ms)
	}
	if m := torch.fastest(func(m *torchMode) float64 { return m.TrainImagesPerS }, false); m != nil {
		fmt.Printf("  training:   residual / PyTorch's fastest (%s) %.2fx\n", m.Label, res.TrainImagesPerS/m.TrainImagesPerS)
	}
	if m := torch.fastest(func(m *torchMode) float64 { return m.InferImagesPerS }, false); m != nil {
		fmt.Printf("  inference:  residual / PyTorch's fastest (%s) %.2fx\n", m.Label, infer/m.InferImagesPerS)
	}
	if m := torch.fastest(func(m *torchMode) float64 { return m.LatencyBatch1Ms }, true); m != nil {
		fmt.Printf("  batch 1:    PyTorch's fastest (%s) / residual %.2fx\n", m.Label, m.LatencyBatch1Ms/lat)
	}
}

// runTorchBench runs scripts/torch_bench.py on the same network and step
// with the same thread count as residual's workers.
func runTorchBench(o benchOptions, threads int) (*torchResult, error) {
	cfg, err := o.net.config()
	if err != nil {
		return nil, err
	}
	args := []string{o.script, "--json", "--threads", fmt.Sprint(threads),
		"--seconds", fmt.Sprint(o.seconds), "--batch", fmt.Sprint(o.batch),
		"--model", o.net.model, "--width-mult", fmt.Sprint(cfg.WidthMult),
		"--image-size", fmt.Sprint(cfg.Input[0]), "--channels", fmt.Sprint(cfg.Input[2]),
		"--classes", fmt.Sprint(cfg.Classes), "--wd", fmt.Sprint(o.net.weightDecay),
		"--label-smoothing", fmt.Sprint(o.net.labelSmoothing), "--modes", o.torchModes}
	if o.net.nesterov {
		args = append(args, "--nesterov")
	}
	out, err := exec.Command(o.python, args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		return nil, fmt.Errorf("bench --torch: %s %s: %v %s (install Debian's python3-torch, run from the repository root)", o.python, o.script, err, msg)
	}
	var r torchResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("bench --torch: cannot read the script's JSON output: %v", err)
	}
	if r.Threads != threads {
		return nil, fmt.Errorf("bench --torch: PyTorch ran %d threads, residual %d", r.Threads, threads)
	}
	return &r, nil
}
