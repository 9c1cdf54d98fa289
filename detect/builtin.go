package detect

import "github.com/residual-go/residual/models"

// Builtins describes the detector files embedded in this package, for the
// listing of `residual models`; the face detectors are named as --detector
// names them.
func Builtins() []models.Builtin {
	return []models.Builtin{
		{Name: DetectorShort, File: "face_detection_front_128x128_barracuda.onnx", Kind: "detector", Classes: []string{"face"}, Input: "128x128x3", Data: blazeFaceFront},
		{Name: DetectorFull, File: "face_detection_back_256x256_barracuda.onnx", Kind: "detector", Classes: []string{"face"}, Input: "256x256x3", Data: blazeFaceBack},
		{Name: "palm", File: "palm_detection.onnx", Kind: "detector", Classes: []string{"palm"}, Input: "128x128x3", Data: palmModel},
	}
}
