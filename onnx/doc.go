// Package onnx exchanges models with other frameworks through ONNX files:
// it exports this project's ResNets, and imports ONNX CNNs (from PyTorch,
// Keras/tf2onnx, the ONNX model zoo) into a graph that runs and trains on
// the nn package's kernels.
//
// # Export
//
//	err := onnx.Export(w, net, classes, pre)   // or onnx.ExportFile(w, "model.rsd")
//
// writes an opset-13 model with input "input" (N,C,H,W) and output
// "logits" (N,classes). Convolution weights are converted from OHWI to
// OIHW; BatchNorm stays BatchNormalization (running statistics), residual
// joins are Add (+ Relu in v1), pooling is GlobalAveragePool + Flatten,
// fully connected layers are Gemm (transB=1). The class names (JSON list,
// key "classes") and the preprocessing (JSON vision.Preprocess, key
// "preprocess") are in metadata_props. Blocks are exported from their
// named fields (conv1, bn1, downsample, ...) with each convolution's own
// stride and padding, so odd input sizes export exactly (round-trip tests
// at 5, 7, 21, 25 and 48 px). Keras-layout stems export as Pad (zeros) +
// MaxPool; ONNX Runtime 1.30 with graph optimisations on fuses that Pad
// into the MaxPool, which pads with -inf, and then differs where a border
// window holds only negative values: run such files with
// graphOptimizationLevel "disabled" (ort_test.go does).
//
// # Import
//
//	g, err := onnx.ImportFile("resnet18.onnx", onnx.Options{})
//	logits, err := g.Forward(x, false)   // x is (N,H,W,C), as everywhere in this project
//
// The executor keeps 4-D activations channels-last and tracks, per value,
// whether it is stored NHWC while ONNX sees it as NCHW, so Flatten,
// Reshape, Transpose, Concat and Softmax see ONNX's logical order (the
// flattened order of an (N,C,H,W) tensor is C-major) and a Keras-style
// graph (Transpose to NCHW around each Conv) runs without copies.
//
// Supported operators: Conv (group 1 and depthwise; symmetric, asymmetric
// and SAME padding), BatchNormalization, Relu, LeakyRelu, PRelu (constant
// per-channel or scalar slope), Clip, Sigmoid, MaxPool and AveragePool
// (ceil_mode too), GlobalAveragePool, ReduceMean, Add, Sub, Mul, Div
// (numpy broadcasting), Concat, Flatten, Reshape, Transpose, Resize
// (nearest and linear on H and W, every coordinate_transformation_mode
// but tf_crop_and_resize), Gemm, MatMul, Softmax, Dropout, Constant, Pad
// (constant mode), Identity, Shape; and Cast, ConstantOfShape, Expand,
// Slice, Gather, Unsqueeze, Squeeze for shape computations (evaluated once
// at import when their inputs are constants). A graph with several outputs
// (detectors: scores and boxes) returns them all from ForwardOutputs.
// An unsupported operator gives one error listing every unsupported
// operator type with its node names.
//
// # Training and transfer learning
//
// Conv, BatchNormalization, Gemm and MatMul run on nn.Conv2D,
// nn.BatchNorm2D and nn.Linear, whose parameters (named after the ONNX
// initializers, e.g. torchvision's "layer1.0.conv1.weight") are listed by
// Graph.Params; Graph.Backward fills their gradients, so an optimizer from
// package optim trains the graph like a model.Net:
//
//	g.ReplaceHead(7, rng)               // new classifier with 7 outputs
//	g.FreezeBackbone()                  // optional: train only the head (or g.Freeze(nodeName))
//	y, _ := g.Forward(x, true); g.Backward(dlogits)
//	g.Save(w, classes, &pre)            // back to ONNX with the new weights
//
// Frozen nodes run in inference mode (BN uses its running statistics).
//
// # Checking with ONNX Runtime
//
// The default tests need neither Node nor ONNX Runtime. With them:
//
//	mkdir -p /tmp/ort && (cd /tmp/ort && npm install --no-audit --no-fund --ignore-scripts onnxruntime-node@1.30.0)
//	ORT_DIR=/tmp/ort go test -tags ort -run ONNXRuntime ./onnx
//
// (--ignore-scripts skips the package's optional CUDA download; the CPU
// library ships in the package.) The PyTorch fixtures come from
// scripts/onnx_reference.py; full-size torchvision ResNet-18/50 parity
// runs with RESIDUAL_ONNX_FULL=DIR after `scripts/onnx_reference.py --full DIR`.
package onnx
