package data

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzCSVOptions reads 4x4 images, so that a short input can hold whole
// rows (the parser is the same for 48x48).
var fuzzCSVOptions = CSVOptions{Width: 4, Height: 4}

// FuzzFER2013CSV feeds arbitrary bytes to the FER2013 CSV reader, strict
// and with SkipBad: a dataset or an error naming the line, never a panic;
// every kept row has a valid label and exactly Width*Height pixels. The
// work is linear in the input (one pass, rows bounded by the input).
func FuzzFER2013CSV(f *testing.F) {
	row := strings.TrimSpace(strings.Repeat("7 ", 16))
	f.Add([]byte("emotion,pixels,Usage\n0," + row + ",Training\n3," + row + ",PublicTest\n"))
	f.Add([]byte("pixels,emotion\n" + row + ",6\n"))
	f.Add([]byte("emotion,pixels,Usage\n9,1 2 3,Training\n0,\"" + row + "\",PrivateTest\n1,300 " + row + ",x\n"))
	f.Add([]byte("emotion,pixels\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, skip := range []bool{false, true} {
			opt := fuzzCSVOptions
			opt.SkipBad = skip
			sets, rep, err := ReadFER2013CSV(bytes.NewReader(b), "fuzz.csv", opt)
			if err != nil {
				continue
			}
			n := 0
			for usage, d := range sets {
				if d.W != 4 || d.H != 4 || d.C != 1 || len(d.Pix) != d.Len()*16 {
					t.Fatalf("%s: %d samples of %dx%dx%d in %d bytes", usage, d.Len(), d.W, d.H, d.C, len(d.Pix))
				}
				for _, l := range d.Labels {
					if l < 0 || l >= len(FER2013Classes) {
						t.Fatalf("%s: label %d", usage, l)
					}
				}
				n += d.Len()
			}
			if n > bytes.Count(b, []byte("\n"))+1 {
				t.Fatalf("%d samples from %d lines", n, bytes.Count(b, []byte("\n"))+1)
			}
			if !skip && rep.Skipped != 0 {
				t.Fatalf("strict read skipped %d rows", rep.Skipped)
			}
		}
	})
}

// fuzzFolderMaxPixels bounds the decoded images of the folder fuzz target.
const fuzzFolderMaxPixels = 1 << 14

// FuzzFolder writes two arbitrary files into a <class>/ folder layout
// (one per class, names from the input) and reads it with LoadFolder,
// strict and with SkipBad, and with Inspect: a dataset or an error naming
// the file, never a panic.
func FuzzFolder(f *testing.F) {
	var a, b bytes.Buffer
	png.Encode(&a, image.NewGray(image.Rect(0, 0, 6, 5)))
	m := image.NewRGBA(image.Rect(0, 0, 3, 7))
	m.Set(1, 1, color.RGBA{200, 10, 10, 255})
	png.Encode(&b, m)
	f.Add(a.Bytes(), b.Bytes(), "x.png", "y.jpg")
	f.Add(a.Bytes(), []byte("not an image"), "a.png", "b.png")
	f.Add([]byte{}, a.Bytes(), "empty.png", "ok.jpeg")
	f.Fuzz(func(t *testing.T, img1, img2 []byte, name1, name2 string) {
		root := t.TempDir()
		files := 0
		for i, file := range []struct {
			name string
			b    []byte
		}{{name1, img1}, {name2, img2}} {
			name := filepath.Base(strings.Map(func(r rune) rune {
				if r == '/' || r == '\\' || r == 0 {
					return '_'
				}
				return r
			}, file.name))
			if name == "." || name == ".." || len(name) > 64 {
				name = "f.png"
			}
			dir := filepath.Join(root, []string{"happy", "sad"}[i])
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if os.WriteFile(filepath.Join(dir, name), file.b, 0o644) == nil {
				files++
			}
		}
		for _, skip := range []bool{false, true} {
			d, _, err := LoadFolder(root, FolderOptions{SkipBad: skip, MaxPixels: fuzzFolderMaxPixels, Workers: 1})
			if err != nil {
				continue
			}
			if d.Len() > files || len(d.Pix) != d.Len()*d.W*d.H*d.C {
				t.Fatalf("%d samples of %dx%dx%d (%d bytes) from %d files", d.Len(), d.W, d.H, d.C, len(d.Pix), files)
			}
		}
		Inspect(root)
	})
}
