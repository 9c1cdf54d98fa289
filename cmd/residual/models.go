package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/detect"
	"github.com/residual-go/residual/models"
)

func newModelsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the models built into this binary",
		Long: `models lists the files built into the binary: the classifiers residual serve
uses without --model (the first is the default) and the face and palm
detectors, with their classes, input size (HxWxC), size in bytes and SHA-256.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := builtins()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeBuiltinsJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tFILE\tINPUT\tCLASSES\tBYTES\tSHA256")
			for _, b := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d: %s\t%d\t%s\n", b.Name, b.Kind, b.File, b.Input, len(b.Classes), strings.Join(b.Classes, ","), b.Size(), b.SHA256())
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// builtins is everything built into the binary, in listing order: the
// classifiers of package models, then the detectors of package detect
// (another package's built-in files are appended here the same way, as
// models.Builtin values).
func builtins() ([]models.Builtin, error) {
	list, err := models.Classifiers()
	if err != nil {
		return nil, err
	}
	return append(list, detect.Builtins()...), nil
}

func writeBuiltinsJSON(w io.Writer, list []models.Builtin) error {
	type entry struct {
		Name    string   `json:"name"`
		Kind    string   `json:"kind"`
		File    string   `json:"file"`
		Input   string   `json:"input"`
		Classes []string `json:"classes"`
		Bytes   int      `json:"bytes"`
		SHA256  string   `json:"sha256"`
	}
	var out []entry
	for _, b := range list {
		out = append(out, entry{b.Name, b.Kind, b.File, b.Input, b.Classes, b.Size(), b.SHA256()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
