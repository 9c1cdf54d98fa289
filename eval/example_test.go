package eval_test

import (
	"fmt"
	"log"

	"github.com/residual-go/residual/eval"
)

func ExampleMetrics_ClassificationReport() {
	names := []string{"angry", "happy", "neutral"}
	yTrue := []int{0, 0, 1, 1, 1, 2, 2, 2, 2, 0}
	yPred := []int{0, 1, 1, 1, 2, 2, 2, 0, 2, 0}
	m, err := eval.Compute(yTrue, yPred, names)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(m.ClassificationReport(2))
	fmt.Println()
	fmt.Print(m.ConfusionMatrixText(false))
	// Output:
	//               precision    recall  f1-score   support
	//
	//        angry       0.67      0.67      0.67         3
	//        happy       0.67      0.67      0.67         3
	//      neutral       0.75      0.75      0.75         4
	//
	//     accuracy                           0.70        10
	//    macro avg       0.69      0.69      0.69        10
	// weighted avg       0.70      0.70      0.70        10
	//
	// Confusion matrix (rows: true class, columns: predicted class)
	//
	// true \ pred  angry  happy  neutral
	//       angry      2      1        0
	//       happy      0      2        1
	//     neutral      1      0        3
}

func ExampleComputeFromScores() {
	// Softmax outputs of a 3-class model for 4 samples, (N, K) row-major.
	scores := []float32{
		0.7, 0.2, 0.1,
		0.1, 0.3, 0.6,
		0.2, 0.5, 0.3,
		0.4, 0.4, 0.2, // a tie: the arg-max is the first maximum, class 0
	}
	m, err := eval.ComputeFromScores([]int{0, 1, 1, 1}, scores, []string{"a", "b", "c"}, 1, 2)
	if err != nil {
		log.Fatal(err)
	}
	// On the tie sklearn's top-k rule ranks the larger class index first, so
	// top-1 counts sample 3 as a hit while the arg-max prediction missed it.
	fmt.Printf("accuracy %.2f, top-1 %.2f, top-2 %.2f\n", m.Accuracy, m.TopK[0].Accuracy, m.TopK[1].Accuracy)
	// Output:
	// accuracy 0.50, top-1 0.75, top-2 1.00
}
