package vision

import (
	"strings"
	"testing"
)

// TestDecodeNamesNonImages: a model file or an ONNX file given as an
// image is named in words.
func TestDecodeNamesNonImages(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{[]byte("RESIDUAL\x01\x00\x00\x00...."), "a residual model file"},
		{[]byte("\x08\x07\x12\x08residual"), "probably an ONNX model file"},
		{[]byte(`{"a": 1}`), "a JSON file"},
	} {
		_, err := DecodeBytes(tc.data, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to say %q", tc.data, err, tc.want)
		}
	}
}
