package train

import (
	"github.com/residual-go/residual/data"
	"github.com/residual-go/residual/inference"
	"github.com/residual-go/residual/model"
)

// The predictor (test-time augmentation) and the evaluation over a loader
// live in package inference, shared with predict and eval; these names
// keep the trainer's API.
type (
	Predictor  = inference.Predictor
	Evaluation = inference.Evaluation
)

// TTAModes are the test-time augmentation modes (inference.TTAModes).
var TTAModes = inference.TTAModes

// NewPredictor is inference.NewPredictor.
func NewPredictor(net *model.Net, mode string) (*Predictor, error) {
	return inference.NewPredictor(net, mode)
}

// NewNetworkPredictor is inference.NewNetworkPredictor for a Network.
func NewNetworkPredictor(net Network, classes int, input [3]int, mode string) (*Predictor, error) {
	return inference.NewNetworkPredictor(net, classes, input, mode)
}

// Evaluate is inference.Evaluate.
func Evaluate(p *Predictor, l *data.Loader, classes []string) (*Evaluation, error) {
	return inference.Evaluate(p, l, classes)
}
