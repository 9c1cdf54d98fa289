// Package data holds in-memory image datasets and everything that feeds
// them to training.
//
// A Dataset stores 8-bit images back to back, (N,H,W,C), with integer
// labels, class names, a source per sample ("file.csv:123" or a file
// path, used in error messages) and optional group ids (subjects or
// recording sessions) for group-wise splits.
//
// Reading datasets (each returns a Report counting loaded and skipped
// samples):
//
//   - LoadFER2013CSV / ReadFER2013CSV: the Kaggle fer2013.csv
//     (emotion,pixels,Usage), one Dataset per Usage.
//   - LoadFolder: <root>/<class>/*.{png,jpg,jpeg}; pass
//     FolderOptions{Classes: FER2013ClassNames()} for the FER2013 folders
//     so labels match the CSV's.
//   - LoadLeapGestRecog: <root>/<subject>/<NN_gesture>/*.png, group =
//     subject.
//   - LoadSignDigits: the sign-language-digits set with its manifest.csv,
//     group = session.
//
// Splitting: Split (group-wise when the dataset has groups, random
// stratified otherwise or on request, with a leak warning), or
// SplitStratified, SplitByGroups and SplitGroupsFraction directly.
//
// Synthetic data for tests and the demo: SynthFaces (FER-like 48x48
// faces, 7 expressions) and SynthHands (LeapGestRecog-like hands),
// written to disk by GenerateFER2013CSV and GenerateLeapGestRecog.
// ConvertFERCSVToFolders, ConvertFoldersToFERCSV, Inspect and Montage
// convert and describe datasets on disk.
//
// Training input: an Augmenter applies random flips, padded and resized
// crops, rotation, translation, brightness/contrast jitter and random
// erasing (Augment, DefaultAugment); TTA builds test-time views (flip,
// ten-crop). A Loader prepares preprocessed, augmented float32 batches
// (N,H,W,C) in background goroutines with deterministic (seed, epoch)
// shuffling and recycled buffers.
package data
