package lowrank

// The shared low-rank problem of the spec (§12): W₀ and three gradients.
var (
	sharedW0 = [][]float64{{0.5, -0.3}, {0.2, 0.8}, {-0.6, 0.1}}
	sharedG  = [][][]float64{
		{{0.3, -0.1}, {0.2, 0.4}, {-0.5, 0.2}},
		{{0.1, 0.2}, {-0.3, 0.1}, {0.2, -0.4}},
		{{-0.2, 0.3}, {0.1, -0.1}, {0.4, 0.2}},
	}
)
