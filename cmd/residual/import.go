package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/safetensors"
)

func newImportCmd() *cobra.Command {
	var weights, base, out string
	cmd := &cobra.Command{
		Use:   "import --weights FILE.safetensors --model BASE.residual --out NEW.residual",
		Short: "Load PyTorch-style safetensors weights into a model file",
		Long: `import is the reverse of "export --format safetensors": it copies the weights of
a safetensors file (torchvision-style names, PyTorch layouts: convolutions
(Out,In,KH,KW), linear (Out,In)) into the architecture of BASE, a model file
whose class names and preprocessing are kept, and writes NEW. Every tensor of
BASE (BN running statistics included) must be in the file with its shape and
the file must hold nothing else; otherwise the error lists every missing,
misshapen and unexpected tensor.`,
		Example: `  residual import --weights finetuned.safetensors --model runs/fer/best.residual --out finetuned.residual`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if weights == "" || base == "" || out == "" {
				return fmt.Errorf("import: --weights, --model and --out are required")
			}
			net, meta, err := model.Load(base)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			f, err := safetensors.ReadFile(weights)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if err := loadTorchWeights(net, f, weights); err != nil {
				return err
			}
			if err := model.Save(out, net, meta); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d tensors from %s, architecture and metadata from %s)\n", out, len(net.State()), weights, base)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&weights, "weights", "", "safetensors file with PyTorch-layout weights")
	f.StringVar(&base, "model", "", "model file whose architecture, classes and preprocessing are used")
	f.StringVar(&out, "out", "", "model file to write")
	return cmd
}
