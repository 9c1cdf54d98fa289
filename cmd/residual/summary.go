package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/model"
)

func newSummaryCmd() *cobra.Command {
	var (
		input     []int
		classes   int
		widthMult float64
	)
	cmd := &cobra.Command{
		Use:   "summary PRESET",
		Short: "Print a network's layers, output shapes, parameter counts and FLOPs",
		Long: `summary prints a network's layers like Keras' model.summary(): output shape,
parameters and forward MFLOPs of every layer, then the totals.

Presets: ` + strings.Join(model.Presets(), ", "),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := model.Preset(args[0])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("input") && cfg.Input[0] == 0 {
				input = []int{48, 48, 1}
				if cfg.Stem == "imagenet" {
					input = []int{224, 224, 3} // Keras' and torchvision's ImageNet input
				}
			}
			if cmd.Flags().Changed("input") || cfg.Input[0] == 0 {
				if len(input) != 3 {
					return fmt.Errorf("--input wants H,W,C (3 numbers), got %v", input)
				}
				cfg.Input = [3]int{input[0], input[1], input[2]}
			}
			if cmd.Flags().Changed("classes") || cfg.Classes == 0 {
				cfg.Classes = classes
			}
			if cmd.Flags().Changed("width-mult") {
				if !(widthMult > 0 && widthMult <= 64) {
					return fmt.Errorf("summary: --width-mult %g, want (0,64]", widthMult)
				}
				cfg.WidthMult = widthMult
			}
			net, err := model.New(cfg, 1)
			if err != nil {
				return err
			}
			fmt.Printf("%s\n\n", args[0])
			return net.WriteSummary(os.Stdout)
		},
	}
	cmd.Flags().IntSliceVar(&input, "input", nil, "input H,W,C for presets without a fixed input (default 224,224,3 with the ImageNet stem, else 48,48,1)")
	countVar(cmd.Flags(), &classes, "classes", 7, 1, "number of classes (presets without a fixed count)")
	floatVar(cmd.Flags(), &widthMult, "width-mult", 1, "channel width multiplier (0,64]")
	return cmd
}
