#!/usr/bin/python3
"""Generate the scikit-learn reference fixture for the Go package eval/.

The Go tests in eval/ compare their metrics, classification-report text and
confusion matrices against what scikit-learn computes on the same labels.
CI has no scikit-learn: it only reads the committed fixture written here.

Regenerate (Debian: apt-get install -y --no-install-recommends python3-sklearn):

    /usr/bin/python3 scripts/sklearn_reference.py            # writes eval/testdata/sklearn_reference.json
    /usr/bin/python3 scripts/sklearn_reference.py -o out.json

Every case is built from a fixed seed, so the output is reproducible for a
given scikit-learn/numpy version. sklearn is always called with
labels=range(K): our Go API always knows all K classes, even those that
appear in neither y_true nor y_pred.
"""

import argparse
import json
import os
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    top_k_accuracy_score,
)

FER_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
# The 10 LeapGestRecog gestures (folders 01_palm .. 10_down).
GESTURE_NAMES = ["palm", "l", "fist", "fist_moved", "thumb", "index", "ok", "palm_moved", "c", "down"]


def noisy_predictions(rng, y_true, k, accuracy):
    """Predictions equal to y_true with probability `accuracy`, otherwise a random class."""
    y_pred = y_true.copy()
    wrong = rng.random(len(y_true)) >= accuracy
    y_pred[wrong] = rng.integers(0, k, size=int(wrong.sum()))
    return y_pred


def scores_for(rng, y_true, k, sharpness, quantum=None):
    """Per-sample class scores (rows sum to 1) that favour the true class.

    With quantum set, scores are rounded to multiples of it so that ties
    between classes happen (this exercises the top-k tie rule). Scores are
    always exactly representable as float32, the Go side's type.
    """
    logits = rng.normal(size=(len(y_true), k))
    logits[np.arange(len(y_true)), y_true] += sharpness
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    if quantum is not None:
        p = np.round(p / quantum) * quantum
    return p.astype(np.float32).astype(np.float64)


def build_cases():
    cases = []

    rng = np.random.default_rng(1)
    k = 5
    y_true = rng.integers(0, k, size=60)
    y_pred = rng.integers(0, k, size=60)
    cases.append(dict(name="random_labels", class_names=["cat", "dog", "bird", "fish", "frog"],
                      y_true=y_true, y_pred=y_pred, scores=scores_for(rng, y_true, k, 0.5)))

    rng = np.random.default_rng(2)
    k = 4
    y_true = rng.choice(k, size=200, p=[0.7, 0.2, 0.08, 0.02])
    y_pred = noisy_predictions(rng, y_true, k, 0.6)
    cases.append(dict(name="imbalanced", class_names=["majority", "common", "rare", "very_rare"],
                      y_true=y_true, y_pred=y_pred, scores=scores_for(rng, y_true, k, 1.5)))

    rng = np.random.default_rng(3)
    k = 4
    y_true = rng.integers(0, k, size=40)
    y_pred = noisy_predictions(rng, y_true, k, 0.5)
    y_pred[y_pred == 2] = 3  # class 2 is never predicted: precision 0/0 -> 0
    cases.append(dict(name="class_never_predicted", class_names=["a", "b", "never_predicted", "d"],
                      y_true=y_true, y_pred=y_pred, scores=None))

    rng = np.random.default_rng(4)
    k = 4
    y_true = rng.integers(0, k, size=40)
    y_true[y_true == 1] = 0  # class 1 is absent from y_true: recall 0/0 -> 0, support 0
    y_pred = noisy_predictions(rng, y_true, k, 0.5)
    y_pred[:3] = 1  # ... but it is predicted, so it is still a label sklearn sees
    cases.append(dict(name="class_absent_from_true", class_names=["a", "absent_in_truth", "c", "d"],
                      y_true=y_true, y_pred=y_pred, scores=scores_for(rng, y_true, k, 1.0)))

    rng = np.random.default_rng(5)
    k = 5
    y_true = rng.integers(0, k, size=30)
    y_true[y_true == 3] = 0
    y_pred = noisy_predictions(rng, y_true, k, 0.6)
    y_pred[y_pred == 3] = 4  # class 3 is in neither: sklearn prints "micro avg", not "accuracy"
    cases.append(dict(name="class_in_neither", class_names=["a", "b", "c", "ghost", "e"],
                      y_true=y_true, y_pred=y_pred, scores=None))

    rng = np.random.default_rng(6)
    k = 7
    # FER2013 PublicTest class frequencies, a realistic ~65% accurate model.
    freq = np.array([467, 56, 496, 895, 653, 415, 607], dtype=np.float64)
    y_true = rng.choice(k, size=500, p=freq / freq.sum())
    scores = scores_for(rng, y_true, k, 2.0)
    y_pred = scores.argmax(axis=1)  # first maximum, like Go's argmax
    cases.append(dict(name="fer7", class_names=FER_NAMES, y_true=y_true, y_pred=y_pred, scores=scores))

    rng = np.random.default_rng(7)
    k = 10
    y_true = rng.integers(0, k, size=300)
    y_pred = noisy_predictions(rng, y_true, k, 0.9)
    cases.append(dict(name="gestures10", class_names=GESTURE_NAMES, y_true=y_true, y_pred=y_pred,
                      scores=scores_for(rng, y_true, k, 1.0, quantum=1 / 16)))

    rng = np.random.default_rng(8)
    k = 3
    y_true = rng.integers(0, k, size=25)
    y_pred = noisy_predictions(rng, y_true, k, 0.7)
    cases.append(dict(name="long_class_name",
                      class_names=["short", "a_much_longer_class_name_than_weighted_avg", "mid_len"],
                      y_true=y_true, y_pred=y_pred, scores=None))

    rng = np.random.default_rng(9)
    y_true = rng.integers(0, 2, size=50)
    y_pred = noisy_predictions(rng, y_true, 2, 0.8)
    cases.append(dict(name="binary", class_names=["negative", "positive"], y_true=y_true, y_pred=y_pred,
                      scores=None))

    # Non-ASCII names: widths count characters (code points), not bytes.
    rng = np.random.default_rng(10)
    y_true = rng.integers(0, 3, size=20)
    y_pred = noisy_predictions(rng, y_true, 3, 0.7)
    cases.append(dict(name="unicode_names", class_names=["ärger", "überraschung_groß", "freude"],
                      y_true=y_true, y_pred=y_pred, scores=None))

    y_true = np.array([0, 1, 2, 2, 1, 0, 2])
    cases.append(dict(name="perfect", class_names=["x", "y", "z"], y_true=y_true, y_pred=y_true.copy(),
                      scores=None))
    return cases


def reference(case):
    names = case["class_names"]
    k = len(names)
    labels = list(range(k))
    y_true, y_pred = case["y_true"], case["y_pred"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        reports = {str(d): classification_report(y_true, y_pred, labels=labels, target_names=names, digits=d)
                   for d in (0, 2, 4)}
        d = classification_report(y_true, y_pred, labels=labels, target_names=names, output_dict=True)
        macro_f1 = f1_score(y_true, y_pred, labels=labels, average="macro")
        top_k = {}
        if case["scores"] is not None:
            for kk in (1, 2, 3):
                top_k[str(kk)] = float(top_k_accuracy_score(y_true, case["scores"], k=kk, labels=labels))

    def avg(key):
        row = d[key]
        return dict(precision=row["precision"], recall=row["recall"], f1=row["f1-score"], support=int(row["support"]))

    out = dict(
        name=case["name"],
        class_names=names,
        y_true=[int(v) for v in y_true],
        y_pred=[int(v) for v in y_pred],
        # Shortest float32 text: Go parses it back to the exact same float32.
        scores=None if case["scores"] is None else [[float(repr(np.float32(v))) for v in row] for row in case["scores"]],
        reports=reports,
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(macro_f1),
        per_class=[avg(n) for n in names],
        macro_avg=avg("macro avg"),
        weighted_avg=avg("weighted avg"),
        # sklearn labels the micro average "accuracy" only when the given labels
        # are exactly the labels present; otherwise it prints a "micro avg" row.
        micro_avg_heading="accuracy" if "accuracy" in d else "micro avg",
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        top_k_accuracy=top_k,
    )
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "eval", "testdata", "sklearn_reference.json")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default=default_out, help="output JSON path (default: %(default)s)")
    args = ap.parse_args()

    fixture = dict(
        generator="scripts/sklearn_reference.py",
        sklearn_version=sklearn.__version__,
        numpy_version=np.__version__,
        cases=[reference(c) for c in build_cases()],
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # One case per line keeps the file small and its diffs readable.
    cases = fixture.pop("cases")
    with open(args.out, "w") as f:
        f.write(json.dumps(fixture)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
