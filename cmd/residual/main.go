// Command residual trains, evaluates, benchmarks and serves ResNet image
// classifiers (facial emotions, hand gestures) in pure Go.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:   "residual",
		Short: "ResNet image recognition in pure Go: train, evaluate, benchmark, serve",
		Long: `residual trains and runs ResNet classifiers for facial emotion recognition
(FER2013) and hand-gesture recognition on a CPU, with its own fast kernels.`,
		SilenceUsage: true,
	}
	root.AddCommand(newBenchCmd())
	root.AddCommand(newSummaryCmd())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

// fail formats an error for a command's RunE.
func fail(format string, args ...any) error { return fmt.Errorf(format, args...) }
