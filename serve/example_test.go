package serve_test

import (
	"context"
	"fmt"
	"image"
	"image/color"

	"github.com/residual-go/residual/face"
	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// Example runs the server's pipeline on one image without HTTP, as
// `residual predict --faces` does: detect faces, classify each with the
// model's own preprocessing, then draw the boxes and labels.
func Example() {
	// In a program: m, err := serve.LoadModel("emotion", "models/emotion-fer2013.residual", 1)
	cfg, _ := model.Preset("reference") // 48x48 gray, 7 classes
	net, _ := model.New(cfg, 1)
	classes := []string{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
	m, err := serve.NewModel("emotion", net, classes, vision.DefaultFER(), "untrained", 1)
	if err != nil {
		panic(err)
	}
	det, err := face.NewDetector(face.Options{})
	if err != nil {
		panic(err)
	}

	img := image.NewGray(image.Rect(0, 0, 320, 240)) // a blank frame: no face in it
	for i := range img.Pix {
		img.Pix[i] = 90
	}
	frame, err := serve.NewFrame(img, m.Preprocess.Channels)
	if err != nil {
		panic(err)
	}
	res, err := serve.Predict(context.Background(), m, det, frame, serve.FrameOptions{Faces: true})
	if err != nil {
		panic(err)
	}
	fmt.Println("faces found:", len(res.Faces))

	// Without detection the whole frame (or FrameOptions.ROI) is one region.
	res, _ = serve.Predict(context.Background(), m, det, frame, serve.FrameOptions{Faces: false})
	p := res.Faces[0]
	fmt.Println("regions:", len(res.Faces), "box:", p.Box, "classes:", len(p.Probs))

	annotated := serve.Annotate(img, res) // an *image.RGBA to encode as PNG or JPEG
	fmt.Println("annotated:", annotated.Bounds().Dx(), "x", annotated.Bounds().Dy(), annotated.RGBAAt(0, 120) != color.RGBA{90, 90, 90, 255})
	// Output:
	// faces found: 0
	// regions: 1 box: {0 0 320 240} classes: 7
	// annotated: 320 x 240 true
}
