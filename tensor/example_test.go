package tensor_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/kiln-ml/kiln/tensor"
)

// The package's smallest use: random weights from a seeded source, a
// matrix product, and the shape of the result.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	w := tensor.Randn(rng, 3, 4)
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	y := tensor.MatMul(x, w)
	fmt.Println(y.Shape())
	// Output: [2 4]
}

func ExampleFromSlice() {
	data := []float32{1, 2, 3, 4, 5, 6}
	x := tensor.FromSlice(data, 2, 3)
	data[0] = 10 // x uses data as its storage
	fmt.Println(x)
	// Output:
	// tensor([[10, 2, 3],
	//         [4, 5, 6]], shape=[2 3])
}

func ExampleTensor_T() {
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	xt := x.T() // a view: no copy
	xt.Set(0, 2, 1)
	fmt.Println(xt.Shape(), xt.Strides(), xt.IsContiguous())
	fmt.Println(x.At(1, 2))
	// Output:
	// [3 2] [1 3] false
	// 0
}

func ExampleTensor_Reshape() {
	x := tensor.Arange(0, 6, 1)
	fmt.Println(x.Reshape(2, -1))
	// A transposed view is not contiguous, so Reshape copies it.
	fmt.Println(x.Reshape(2, 3).T().Reshape(-1))
	// Output:
	// tensor([[0, 1, 2],
	//         [3, 4, 5]], shape=[2 3])
	// tensor([0, 3, 1, 4, 2, 5], shape=[6])
}

func ExampleTensor_Slice() {
	x := tensor.Arange(0, 12, 1).Reshape(3, 4)
	cols := x.Slice(1, 1, 3) // columns 1 and 2, sharing x's storage
	cols.Fill(-1)
	fmt.Println(x)
	// Output:
	// tensor([[0, -1, -1, 3],
	//         [4, -1, -1, 7],
	//         [8, -1, -1, 11]], shape=[3 4])
}

func ExampleTensor_Expand() {
	bias := tensor.FromSlice([]float32{1, 2, 3}, 3)
	fmt.Println(bias.Expand(2, 3))
	// Output:
	// tensor([[1, 2, 3],
	//         [1, 2, 3]], shape=[2 3])
}

func ExampleAdd() {
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	bias := tensor.FromSlice([]float32{10, 20, 30}, 3)
	fmt.Println(tensor.Add(x, bias))
	col := tensor.FromSlice([]float32{1, 2}, 2, 1)
	fmt.Println(tensor.Mul(col, bias)) // [2 1] x [3] broadcasts to [2 3]
	// Output:
	// tensor([[11, 22, 33],
	//         [14, 25, 36]], shape=[2 3])
	// tensor([[10, 20, 30],
	//         [20, 40, 60]], shape=[2 3])
}

func ExampleBroadcastShapes() {
	s, err := tensor.BroadcastShapes([]int{8, 1, 6}, []int{7, 1})
	fmt.Println(s, err)
	_, err = tensor.BroadcastShapes([]int{2, 3}, []int{2})
	fmt.Println(err)
	// Output:
	// [8 7 6] <nil>
	// shapes [2 3] and [2] do not broadcast (dimension 1: 3 vs 2)
}

// SumTo is the backward of broadcasting: the gradient of a bias added to
// every row is the sum of the rows' gradients.
func ExampleSumTo() {
	grad := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	gbias := tensor.Zeros(3)
	tensor.SumTo(gbias, grad)
	fmt.Println(gbias)
	// Output: tensor([5, 7, 9], shape=[3])
}

func ExampleMatMul() {
	a := tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2)
	b := tensor.FromSlice([]float32{5, 6, 7, 8}, 2, 2)
	fmt.Println(tensor.MatMul(a, b))
	fmt.Println(tensor.MatMul(a.T(), b)) // the transpose is read in place
	// Output:
	// tensor([[19, 22],
	//         [43, 50]], shape=[2 2])
	// tensor([[26, 30],
	//         [38, 44]], shape=[2 2])
}

// Attention scores for every batch and head at once, from [B,T,H,D]
// activations viewed per head, without copying.
func ExampleMatMulInto() {
	rng := rand.New(rand.NewPCG(1, 2))
	const B, T, H, D = 2, 5, 4, 8
	q := tensor.Randn(rng, B, T, H, D).Permute(0, 2, 1, 3)  // [B H T D]
	kt := tensor.Randn(rng, B, T, H, D).Permute(0, 2, 3, 1) // [B H D T]
	scores := tensor.New(B, H, T, T)
	tensor.MatMulInto(scores, q, kt, 1/float32(D), 0) // scores = q·kᵀ/D
	fmt.Println(scores.Shape())
	// Output: [2 4 5 5]
}

func ExampleArange() {
	fmt.Println(tensor.Arange(0, 1, 0.25))
	fmt.Println(tensor.Arange(3, 0, -1))
	// Output:
	// tensor([0, 0.25, 0.5, 0.75], shape=[4])
	// tensor([3, 2, 1], shape=[3])
}

func ExampleAllClose() {
	a := tensor.FromSlice([]float32{1, 2, 3}, 3)
	b := tensor.FromSlice([]float32{1, 2, 3.001}, 3)
	fmt.Println(tensor.AllClose(a, b, 1e-3, 0), tensor.AllClose(a, b, 1e-5, 0))
	fmt.Println(tensor.MaxAbsDiff(a, b) < 1.1e-3)
	// Output:
	// true false
	// true
}

func ExampleTensor_String() {
	fmt.Println(tensor.Scalar(2.5))
	fmt.Println(tensor.Arange(0, 100, 1))
	// Output:
	// tensor(2.5, shape=[])
	// tensor([0, 1, 2, ..., 97, 98, 99], shape=[100])
}

// A step that repeats the same shapes stops allocating once the pool holds
// its buffers.
func ExamplePool() {
	var pool tensor.Pool
	for step := range 3 {
		buf := pool.GetZeroed(64, 128)
		// ... use buf as scratch space ...
		fmt.Println(step, pool.Held())
		pool.Put(buf.Storage())
	}
	fmt.Println(pool.Held())
	// Output:
	// 0 0
	// 1 0
	// 2 0
	// 32768
}
