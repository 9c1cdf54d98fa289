// Command residual trains, evaluates, benchmarks and serves ResNet image
// classifiers (facial emotions, hand gestures) in pure Go.
package main

import (
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		os.Exit(1)
	}
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
	return root
}
