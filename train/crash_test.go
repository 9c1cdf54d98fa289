package train

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/residual-go/residual/model"
)

// copyRunDir copies the regular files of a run directory (what a crash
// at this moment would leave on disk), without the lock.
func copyRunDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == LockFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckpointEveryCrashResume: a run writing a checkpoint every 4 steps
// "crashes" 2 steps after the mid-epoch checkpoint of epoch 2 (the run
// directory is copied as it is on disk at that moment, with a torn
// temporary file beside it); resuming the copy repeats the 2 lost steps
// and ends bit-identical to an uninterrupted run (weights, BN statistics,
// every epoch's metrics), and the stale temporary files are removed.
func TestCheckpointEveryCrashResume(t *testing.T) {
	path := synthCSV(t, 96, 32)
	dir := t.TempDir()
	full := mustTrainer(t, tinyConfig(path, filepath.Join(dir, "full")), Options{})
	if _, err := full.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	steps := full.loader.BatchesPerEpoch() // 6: checkpoints at global steps 4, 8 (epoch 2, batch 2), ...
	if steps != 6 {
		t.Fatalf("%d steps per epoch, the test assumes 6", steps)
	}

	cfg := tinyConfig(path, filepath.Join(dir, "live"))
	cfg.CheckpointEvery = 4
	crash := filepath.Join(dir, "crash")
	ctx, cancel := context.WithCancel(context.Background())
	live := mustTrainer(t, cfg, Options{afterStep: func(epoch, batch int) {
		if epoch == 1 && batch == 4 {
			copyRunDir(t, cfg.Out, crash)
			cancel()
		}
	}})
	if _, err := live.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("live run: %v, want ErrInterrupted", err)
	}
	live.Close()
	torn := []string{".checkpoint.safetensors.tmp-123456", "best.residual.tmp", "checkpoint.safetensors.tmp42", ".metrics.csv.tmp-9"}
	for _, name := range torn {
		os.WriteFile(filepath.Join(crash, name), []byte("torn"), 0o644)
	}
	keep := filepath.Join(crash, "notes.tmp.txt") // not a temporary file of ours
	os.WriteFile(keep, []byte("mine"), 0o644)

	resumed, err := Resume(crash, Options{Progress: "none"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	if resumed.st.Epoch != 1 || resumed.st.Batch != 2 || resumed.st.Step != 8 {
		t.Fatalf("resumed at epoch %d batch %d step %d, want the checkpoint of step 8 (epoch 1, batch 2)", resumed.st.Epoch, resumed.st.Batch, resumed.st.Step)
	}
	if _, err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameState(t, "resumed from a mid-epoch --checkpoint-every checkpoint", full.Net, resumed.Net)
	h, want := resumed.History(), full.History()
	if len(h) != len(want) {
		t.Fatalf("%d epochs of history, want %d", len(h), len(want))
	}
	for i := range h {
		if h[i].TrainLoss != want[i].TrainLoss || h[i].TrainAcc != want[i].TrainAcc || h[i].ValLoss != want[i].ValLoss || h[i].LR != want[i].LR {
			t.Errorf("epoch %d: %+v, want %+v", i+1, h[i], want[i])
		}
	}
	for _, name := range torn {
		if _, err := os.Stat(filepath.Join(crash, name)); !os.IsNotExist(err) {
			t.Errorf("stale %s not removed: %v", name, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is not a temporary file was removed: %v", err)
	}
}

// TestCrashBeforeDerivedFiles: the epoch-end checkpoint is written before
// best.residual and the metrics; a crash between them (simulated by
// deleting those files) is repaired by Resume from the checkpoint.
func TestCrashBeforeDerivedFiles(t *testing.T) {
	path := synthCSV(t, 48, 16)
	out := filepath.Join(t.TempDir(), "run")
	cfg := tinyConfig(path, out)
	cfg.Epochs = 2
	tr := mustTrainer(t, cfg, Options{StopAfter: 1})
	if _, err := tr.Run(context.Background()); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopped run: %v", err)
	}
	tr.Close()
	for _, f := range []string{BestModelFile, MetricsCSVFile, MetricsJSONL} {
		if err := os.Remove(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	// Resume with --epochs 1: nothing left to train, so the final report
	// needs the repaired best.residual.
	r, err := Resume(out, Options{Progress: "none"}, func(c *Config) { c.Epochs = 1 })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := model.Load(res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Training == nil || meta.Training.Epochs != 1 {
		t.Errorf("repaired best model: %+v", meta.Training)
	}
	csv, _ := os.ReadFile(filepath.Join(out, MetricsCSVFile))
	if n := strings.Count(string(csv), "\n"); n != 2 {
		t.Errorf("repaired metrics.csv has %d lines, want 2:\n%s", n, csv)
	}
}

// TestRunDirLock: one holder at a time; the error names the holder's PID
// and the lock file; Run refuses a locked directory; released, it can be
// taken again.
func TestRunDirLock(t *testing.T) {
	dir := t.TempDir()
	release, err := LockRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, want the PID %d", b, os.Getpid())
	}
	_, err = LockRunDir(dir)
	want := fmt.Sprintf("in use by another trainer (PID %d, lock %s)", os.Getpid(), filepath.Join(dir, LockFile))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("second lock: %v, want %q", err, want)
	}
	tr := mustTrainer(t, tinyConfig(synthCSV(t, 32, 16), dir), Options{})
	if _, err := tr.Run(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Run on a locked directory: %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); !os.IsNotExist(err) {
		t.Errorf("a refused run wrote a checkpoint: %v", err)
	}
	release()
	release2, err := LockRunDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()
}

// TestExplicitZeros: seed 0 is a seed (not replaced by the default 1) and
// backbone-lr-mult 0 keeps the backbone fixed.
func TestExplicitZeros(t *testing.T) {
	path := synthCSV(t, 32, 16)
	a := tinyConfig(path, filepath.Join(t.TempDir(), "a"))
	a.Seed = 0
	b := a
	b.Seed = 1
	ta, tb := mustTrainer(t, a, Options{}), mustTrainer(t, b, Options{})
	if ta.Config.Seed != 0 {
		t.Fatalf("seed 0 became %d", ta.Config.Seed)
	}
	differ := false
	for i, p := range ta.Net.Params() {
		for j, v := range p.Value.Data {
			if v != tb.Net.Params()[i].Value.Data[j] {
				differ = true
			}
		}
	}
	if !differ {
		t.Error("seed 0 and seed 1 give the same initial weights: 0 was replaced by the default")
	}
}

// TestRunDirLockAcrossProcesses: a second process holds the lock (this
// test binary run as a helper); taking it here fails with an error naming
// that process's PID, and once the helper has exited (the kernel drops
// its lock, as after a crash) the lock is free again.
func TestRunDirLockAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("RESIDUAL_LOCK_HELPER_DIR"); dir != "" {
		release, err := LockRunDir(dir)
		if err != nil {
			fmt.Println("helper:", err)
			os.Exit(3)
		}
		defer release()
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunDirLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "RESIDUAL_LOCK_HELPER_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("helper said %q (%v)", line, err)
	}
	_, err = LockRunDir(dir)
	want := fmt.Sprintf("in use by another trainer (PID %d,", cmd.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("lock held by process %d: %v, want %q", cmd.Process.Pid, err, want)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	release, err := LockRunDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder exited: %v", err)
	}
	release()
}
