package main

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residual-go/residual/data"
)

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Generate, convert and inspect datasets",
	}
	cmd.AddCommand(newDataGenerateCmd(), newDataConvertCmd(), newDataInspectCmd())
	return cmd
}

func newDataGenerateCmd() *cobra.Command {
	var (
		train, public, private int
		subjects, frames, size int
		seed                   uint64
		montage                string
	)
	cmd := &cobra.Command{
		Use:   "generate faces|hands OUT",
		Short: "Write a synthetic dataset: FER2013-format CSV faces, or LeapGestRecog-layout hands",
		Long: `generate writes synthetic data in the formats users bring, for tests and the demo:

  faces OUT.csv   48x48 drawn faces with 7 class-dependent expressions, in the
                  FER2013 CSV format (emotion,pixels,Usage)
  hands OUT_DIR   hand silhouettes in LeapGestRecog's layout
                  <subject>/<NN_gesture>/frame_<subject>_<NN>_<frame>.png,
                  10 gestures with subject-specific variation

Both are deterministic for a given --seed.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, out := args[0], args[1]
			switch kind {
			case "faces":
				if err := data.GenerateFER2013CSV(out, train, public, private, seed); err != nil {
					return err
				}
				fmt.Printf("wrote %s: %d Training, %d PublicTest, %d PrivateTest rows\n", out, train, public, private)
				if montage != "" {
					return writeMontage(montage, data.SynthFaces(7*8, seed))
				}
			case "hands":
				opt := data.HandOptions{Subjects: subjects, FramesPerGesture: frames, Width: size, Height: size, Seed: seed}
				if err := data.GenerateLeapGestRecog(out, opt); err != nil {
					return err
				}
				fmt.Printf("wrote %s: %d subjects x 10 gestures x %d frames\n", out, subjects, frames)
				if montage != "" {
					return writeMontage(montage, data.SynthHands(opt))
				}
			default:
				return fmt.Errorf("data generate: unknown kind %q, want faces or hands", kind)
			}
			return nil
		},
	}
	f := cmd.Flags()
	countVar(f, &train, "train", 2100, 0, "faces: Training rows")
	countVar(f, &public, "publictest", 700, 0, "faces: PublicTest rows")
	countVar(f, &private, "privatetest", 0, 0, "faces: PrivateTest rows")
	countVar(f, &subjects, "subjects", 10, 1, "hands: subjects")
	countVar(f, &frames, "frames", 20, 1, "hands: frames per subject and gesture")
	countVar(f, &size, "size", 64, 8, "hands: image width and height")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.StringVar(&montage, "montage", "", "also write a PNG contact sheet of samples to this path")
	return cmd
}

func writeMontage(path string, d *data.Dataset) error {
	img := data.Montage(d, 8, 2)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img.ToImage()); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Printf("wrote %s\n", path)
	return f.Close()
}

func newDataConvertCmd() *cobra.Command {
	var (
		skipBad bool
		size    int
	)
	cmd := &cobra.Command{
		Use:   "convert IN OUT",
		Short: "Convert a FER2013 CSV to image folders, or image folders to a FER2013 CSV",
		Long: `convert goes both ways, chosen by IN:

  convert fer2013.csv OUT_DIR    writes OUT_DIR/{train,publictest,privatetest}/<class>/*.png
  convert FOLDERS OUT.csv        reads FOLDERS/{train,publictest}/<class>/* (or
                                 FOLDERS/<class>/*) into one CSV with a Usage column`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, out := args[0], args[1]
			var (
				rep data.Report
				err error
			)
			if strings.EqualFold(filepath.Ext(in), ".csv") {
				rep, err = data.ConvertFERCSVToFolders(in, out, data.CSVOptions{SkipBad: skipBad})
			} else {
				rep, err = data.ConvertFoldersToFERCSV(in, out, data.FolderOptions{Width: size, Height: size, Channels: 1, SkipBad: skipBad})
			}
			if err != nil {
				return err
			}
			fmt.Printf("wrote %s: %s\n", out, rep.String())
			return nil
		},
	}
	cmd.Flags().BoolVar(&skipBad, "skip-bad", false, "skip and count malformed rows or corrupt images instead of stopping")
	countVar(cmd.Flags(), &size, "size", 48, 1, "folders -> CSV: images are resized to size x size gray")
	return cmd
}

func newDataInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect PATH",
		Short: "Detect a dataset's format and print class counts per split",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ins, err := data.Inspect(args[0])
			if err != nil {
				return err
			}
			fmt.Print(ins.String())
			return nil
		},
	}
}
