// Command residual trains, evaluates, benchmarks and serves ResNet image
// classifiers (facial emotions, hand gestures) in pure Go.
package main

import (
	"errors"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/train"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1   // the command failed (bad data, missing file, ...)
	exitUsage       = 2   // bad flags or arguments
	exitInterrupted = 130 // Ctrl-C / SIGTERM; train saved a checkpoint
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run executes the command line args, printing errors on stderr, and
// returns the exit code.
func run(args []string, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetErr(stderr)
	return exitCode(root.Execute())
}

// usageError marks bad flags and arguments (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command"):
		return exitUsage
	case errors.Is(err, train.ErrInterrupted):
		return exitInterrupted
	}
	return exitError
}

// newRootCmd builds the command tree (a fresh one per call, for tests).
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "residual",
		Short: "ResNet image recognition in pure Go: train, evaluate, benchmark, serve",
		Long: `residual trains and runs ResNet classifiers for facial emotion recognition
(FER2013) and hand-gesture recognition on a CPU, with its own fast kernels.`,
		SilenceUsage: true,
	}
	root.AddCommand(newBenchCmd())
	root.AddCommand(newSummaryCmd())
	root.AddCommand(newTimeAccCmd())
	root.AddCommand(newDataCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newTrainCmd())
	root.AddCommand(newEvalCmd())
	root.AddCommand(newPredictCmd())
	root.AddCommand(newServeCmd())
	root.AddCommand(newModelsCmd())
	root.AddCommand(newHealthCmd())
	root.AddCommand(newWebcamCmd())
	root.AddCommand(newExportCmd())
	root.AddCommand(newImportCmd())
	root.AddCommand(newDetectEvalCmd())
	markUsageErrors(root)
	return root
}

// markUsageErrors makes flag-parsing and argument-count errors of every
// command usageErrors (exit code 2).
func markUsageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}
