package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/lowrank"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/nn/safetensors"
	"github.com/kiln-ml/kiln/tensor"
)

// lrRandMatrix returns an m x n matrix of float32-representable normals.
func lrRandMatrix(rng *rand.Rand, m, n int, scale float64) [][]float64 {
	out := lrZeros(m, n)
	for i := range out {
		for j := range out[i] {
			out[i][j] = float64(float32(scale * rng.NormFloat64()))
		}
	}
	return out
}

// lrUnflat turns a row-major float32 slice into a float64 matrix.
func lrUnflat(x []float32, m, n int) [][]float64 {
	out := lrZeros(m, n)
	for i := range out {
		for j := range out[i] {
			out[i][j] = float64(x[i*n+j])
		}
	}
	return out
}

// lrMaxDiff returns max|a − b| over a float64 matrix and a float32 slice.
func lrMaxDiff(a [][]float64, b []float32) float64 {
	d := 0.0
	for i, row := range a {
		for j, x := range row {
			d = max(d, math.Abs(x-float64(b[i*len(row)+j])))
		}
	}
	return d
}

// lrMaxAbsDelta returns max|a − b| of two equally long float32 slices.
func lrMaxAbsDelta(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// The optimizer against the float64 statement of the step (lrRef) over one
// projector period, for each base, decay convention and Fira option.
func TestLowRankMatchesReference(t *testing.T) {
	type tc struct {
		name  string
		kind  string
		cfg   LowRankConfig
		shape [2]int
	}
	var cases []tc
	for _, shape := range [][2]int{{7, 5}, {5, 7}} {
		for _, base := range []string{"adamw-hf", "adamw", "adam", "lion"} {
			core, err := LowRankBase(base)
			require.NoError(t, err)
			cases = append(cases, tc{fmt.Sprintf("galore/%s/%dx%d", base, shape[0], shape[1]), KindGaLore,
				LowRankConfig{LR: 0.01, Rank: 2, Scale: 0.25, WeightDecay: 0.1, Base: core}, shape})
		}
		fira := LowRankConfig{LR: 0.01, Rank: 2, Scale: 0.25, WeightDecay: 0.1}
		cases = append(cases, tc{fmt.Sprintf("fira/%dx%d", shape[0], shape[1]), KindFira, fira, shape})
		m := fira
		m.MatrixScaling = true
		cases = append(cases, tc{fmt.Sprintf("fira-matrix/%dx%d", shape[0], shape[1]), KindFira, m, shape})
		p := fira
		p.PaperResidual = true
		cases = append(cases, tc{fmt.Sprintf("fira-paper/%dx%d", shape[0], shape[1]), KindFira, p, shape})
		l := fira
		l.Base, _ = LowRankBase("lion")
		l.Gamma = 1.05
		cases = append(cases, tc{fmt.Sprintf("fira-lion/%dx%d", shape[0], shape[1]), KindFira, l, shape})
	}
	// reverse_std projects the larger dimension.
	cases = append(cases, tc{"galore/reverse_std", KindGaLore, LowRankConfig{LR: 0.01, Rank: 3, Projection: "reverse_std"}, [2]int{7, 5}})
	cases = append(cases, tc{"fira/left", KindFira, LowRankConfig{LR: 0.01, Rank: 3, Projection: "left"}, [2]int{7, 5}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := newRand(7)
			m, n := c.shape[0], c.shape[1]
			w0 := lrRandMatrix(rng, m, n, 0.1) // small weights, small rounding
			p := lrMatrixParam("blocks.0.mlp.fc.weight", w0)
			opt, err := NewLowRank(c.kind, []*autograd.Var{p}, c.cfg, Group{Match: AllParams})
			require.NoError(t, err)
			cfg := opt.Config()
			ref := &lrRef{lr: cfg.LR, wd: cfg.WeightDecay, alpha: cfg.Scale, fira: c.kind == KindFira, gamma: cfg.Gamma,
				matrixScaling: cfg.MatrixScaling, paperResidual: cfg.PaperResidual}
			ref.base, _ = baseInfo(cfg.Base)
			switch b := cfg.Base.(type) {
			case AdamHF:
				ref.b1, ref.b2, ref.eps = b.Beta1, b.Beta2, b.Eps
			case AdamTorch:
				ref.b1, ref.b2, ref.eps = b.Beta1, b.Beta2, b.Eps
			case LionCore:
				ref.b1, ref.b2 = b.Beta1, b.Beta2
			}
			w := lrZeros(m, n)
			for i := range w {
				copy(w[i], w0[i])
			}
			var scaleRef float64
			for k := range 6 {
				// Growing gradients, so that Fira's limiter acts.
				g := lrRandMatrix(rng, m, n, 0.1*math.Pow(1.5, float64(k)))
				setGrad(p, lrFlat(g)...)
				require.NoError(t, opt.Step())
				if k == 0 {
					pr := opt.mats[0].proj
					ref.right = pr.Side() == lowrank.SideRight
					if ref.right {
						ref.f = lrUnflat(pr.Q().Data, pr.Rank(), n)
					} else {
						ref.f = lrUnflat(pr.P().Data, m, pr.Rank())
					}
				}
				ref.step(w, g)
				if k == 0 {
					for i := range w {
						for j := range w[i] {
							scaleRef = max(scaleRef, math.Abs(w[i][j]-w0[i][j]))
						}
					}
				}
				// Within a few float32 roundings of the update and of the weights.
				d := lrMaxDiff(w, values(p))
				require.LessOrEqual(t, d, 3e-5*scaleRef+float64(k+1)*2e-8, "step %d", k+1)
			}
		})
	}
}

// Between refreshes every update lies in the projected subspace (no weight
// decay): ΔW·(I − QᵀQ) = 0 for a right projection, (I − PPᵀ)·ΔW = 0 for a
// left one, both for "full".
func TestGaLoreUpdatesStayInSubspace(t *testing.T) {
	for _, tc := range []struct {
		proj  string
		shape [2]int
	}{{"std", [2]int{9, 4}}, {"std", [2]int{4, 9}}, {"full", [2]int{9, 6}}, {"reverse_std", [2]int{9, 4}}} {
		for _, kind := range []string{KindGaLore, KindNaturalGaLore} {
			t.Run(fmt.Sprintf("%s/%s/%dx%d", kind, tc.proj, tc.shape[0], tc.shape[1]), func(t *testing.T) {
				rng := newRand(11)
				m, n := tc.shape[0], tc.shape[1]
				w0 := lrRandMatrix(rng, m, n, 1)
				p := lrMatrixParam("attn.weight", w0)
				opt, err := NewLowRank(kind, []*autograd.Var{p}, LowRankConfig{LR: 0.01, Rank: 2, UpdateGap: 10, Projection: tc.proj})
				require.NoError(t, err)
				for range 5 {
					setGrad(p, lrFlat(lrRandMatrix(rng, m, n, 1))...)
					require.NoError(t, opt.Step())
				}
				pr := opt.mats[0].proj
				r := pr.Rank()
				d := lrUnflat(values(p), m, n)
				for i := range d {
					for j := range d[i] {
						d[i][j] -= w0[i][j]
					}
				}
				out := d
				if !pr.Q().Empty() { // remove the row space: D − D·QᵀQ
					q := lrUnflat(pr.Q().Data, r, n)
					out = lrSub(out, lrMatMul(lrMatMul(out, lrTranspose(q)), q))
				}
				if !pr.P().Empty() { // remove the column space: D − PPᵀ·D
					pp := lrUnflat(pr.P().Data, m, r)
					out = lrSub(out, lrMatMul(pp, lrMatMul(lrTranspose(pp), out)))
				}
				require.Greater(t, lrNorm(d), 1e-3, "the weight moved")
				assert.Less(t, lrNorm(out), 1e-5*lrNorm(d), "component outside the subspace")
			})
		}
	}
}

func lrSub(a, b [][]float64) [][]float64 {
	out := lrZeros(len(a), len(a[0]))
	for i := range a {
		for j := range a[i] {
			out[i][j] = a[i][j] - b[i][j]
		}
	}
	return out
}

// GaLore with an SGD base at full rank (PPᵀ = I) is SGD, whatever the
// requested rank beyond min(m, n) (clamped). With momentum the buffer lives
// in the projected coordinates, so it must follow the basis at a refresh
// (RotateFirstMoment) for the equality to last; carried over unchanged, as
// in the official code, it does not.
func TestGaLoreSGDFullRankIsSGD(t *testing.T) {
	for _, shape := range [][2]int{{6, 4}, {4, 6}} {
		for _, tc := range []struct {
			mom   float64
			re    MomentReprojection
			equal bool
		}{{0, KeepMoments, true}, {0.9, RotateFirstMoment, true}, {0.9, KeepMoments, false}} {
			for _, rank := range []int{4, 50} {
				t.Run(fmt.Sprintf("%dx%d/momentum%v/%v/rank%d", shape[0], shape[1], tc.mom, tc.re, rank), func(t *testing.T) {
					rng := newRand(12)
					w0 := lrRandMatrix(rng, shape[0], shape[1], 1)
					a := lrMatrixParam("attn.weight", w0)
					b := lrMatrixParam("attn.weight", w0)
					gal, err := NewGaLore([]*autograd.Var{a}, LowRankConfig{LR: 0.1, Rank: rank, UpdateGap: 3, Base: SGDCore{Momentum: tc.mom}, Reproject: tc.re})
					require.NoError(t, err)
					assert.Equal(t, 4, gal.Projections()[0].Rank, "rank clamped to min(m, n)")
					sgd, err := NewSGD([]*autograd.Var{b}, SGDConfig{LR: 0.1, Momentum: tc.mom})
					require.NoError(t, err)
					for range 7 { // crosses two refreshes
						g := lrFlat(lrRandMatrix(rng, shape[0], shape[1], 1))
						setGrad(a, g...)
						setGrad(b, g...)
						require.NoError(t, gal.Step())
						require.NoError(t, sgd.Step())
					}
					if tc.equal {
						assert.Less(t, lrMaxAbsDelta(values(a), values(b)), 2e-6)
					} else {
						assert.Greater(t, lrMaxAbsDelta(values(a), values(b)), 1e-2)
					}
				})
			}
		}
	}
}

// lrOpts builds each kind with settings that use its whole state.
var lrOpts = map[string]func(ps []*autograd.Var) (*LowRank, error){
	"galore": func(ps []*autograd.Var) (*LowRank, error) {
		return NewGaLore(ps, LowRankConfig{LR: 0.01, Rank: 3, UpdateGap: 3, Scale: 0.25, WeightDecay: 0.1})
	},
	"galore-randomized-rotate": func(ps []*autograd.Var) (*LowRank, error) {
		return NewGaLore(ps, LowRankConfig{LR: 0.01, Rank: 3, UpdateGap: 3, RandomizedSVD: true, Seed: 9, Reproject: RotateMoments})
	},
	"galore-adamw-full": func(ps []*autograd.Var) (*LowRank, error) {
		return NewGaLore(ps, LowRankConfig{LR: 0.01, Rank: 3, UpdateGap: 3, Projection: "full", WeightDecay: 0.1,
			Base: AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Decoupled: true, AMSGrad: true}, Reproject: RotateFirstMoment})
	},
	"galore-lion": func(ps []*autograd.Var) (*LowRank, error) {
		return NewGaLore(ps, LowRankConfig{LR: 0.001, Rank: 3, UpdateGap: 3, WeightDecay: 0.1, Base: LionCore{Beta1: 0.9, Beta2: 0.99}})
	},
	"natural-galore": func(ps []*autograd.Var) (*LowRank, error) {
		return NewNaturalGaLore(ps, LowRankConfig{LR: 0.01, Rank: 3, UpdateGap: 3, Scale: 0.25, History: 3})
	},
	"fira": func(ps []*autograd.Var) (*LowRank, error) {
		return NewFira(ps, LowRankConfig{LR: 0.01, Rank: 3, UpdateGap: 3, Scale: 0.25, WeightDecay: 0.1})
	},
}

// lrTrain runs steps with gradients from rng; on odd steps the embedding and
// the first projected matrix have no gradient, so step counts differ.
func lrTrain(t *testing.T, opt Optimizer, ps []*autograd.Var, rng *rand.Rand, steps, from int) {
	t.Helper()
	for s := from; s < from+steps; s++ {
		randomGrads(rng, ps, 0.1)
		if s%2 == 1 {
			ps[0].ZeroGrad()
			ps[4].ZeroGrad() // blocks.0.attn.qkv.weight
		}
		opt.SetLR(0.01 * (1 - float64(s)/20))
		require.NoError(t, opt.Step())
		opt.ZeroGrad()
	}
}

// N steps, save to a file, load into a fresh optimizer, N more steps: the
// same as 2N steps straight, bit for bit, across projector refreshes and
// with the histories of Natural GaLore filled and rolling over.
func TestLowRankStateRoundTripIsBitwise(t *testing.T) {
	const n = 5
	for name, mk := range lrOpts {
		t.Run(name, func(t *testing.T) {
			init := gptParams(newRand(60), 8, 2, 16)
			require.Equal(t, "blocks.0.attn.qkv.weight", init[4].Name())

			straight := cloneParams(init)
			opt, err := mk(straight)
			require.NoError(t, err)
			lrTrain(t, opt, straight, newRand(61), 2*n, 0)

			first := cloneParams(init)
			opt1, err := mk(first)
			require.NoError(t, err)
			rng := newRand(61)
			lrTrain(t, opt1, first, rng, n, 0)
			path := filepath.Join(t.TempDir(), "optim.safetensors")
			require.NoError(t, WriteState(path, opt1.State()))

			resumed := cloneParams(first)
			opt2, err := mk(resumed)
			require.NoError(t, err)
			sd, err := ReadState(path)
			require.NoError(t, err)
			require.NoError(t, opt2.LoadState(sd))
			lrTrain(t, opt2, resumed, rng, n, n)

			requireSameValues(t, straight, resumed)
			assert.Equal(t, opt.State(), opt2.State())
		})
	}
}

func TestLowRankLoadStateErrors(t *testing.T) {
	ps := gptParams(newRand(62), 8, 1, 16)
	opt, err := NewNaturalGaLore(ps, LowRankConfig{Rank: 3, History: 2})
	require.NoError(t, err)
	lrTrain(t, opt, ps, newRand(63), 3, 0)
	const q = "blocks.0.attn.qkv.weight" // 24x8: right projection
	edit := func(f func(sd *StateDict)) *StateDict {
		sd := opt.State()
		f(sd)
		return sd
	}
	galore, err := NewGaLore(cloneParams(ps), LowRankConfig{Rank: 3})
	require.NoError(t, err)
	hfBase, err := NewNaturalGaLore(cloneParams(ps), LowRankConfig{Rank: 3, History: 2, Base: AdamTorch{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Decoupled: true}})
	require.NoError(t, err)
	nan := make([]float32, 8*3)
	nan[5] = float32(math.NaN())
	for _, tc := range []struct {
		name string
		sd   *StateDict
		want string
	}{
		{"nil", nil, "nil state"},
		{"kind", galore.State(), `the state is of a "galore" optimizer, this one is "natural-galore"`},
		{"base", hfBase.State(), `written with base optimizer "adamw", this one runs "adamw-hf"`},
		{"missing factor", edit(func(sd *StateDict) { delete(sd.Tensors, q+".projector.q") }), "missing 1 tensor: " + q + ".projector.q"},
		{"rank", edit(func(sd *StateDict) { sd.Tensors[q+".projector.q"] = safetensors.F32([]int{2, 8}, make([]float32, 16)) }),
			q + ".projector.q has shape [2 8], want [3 8]"},
		{"moment shape", edit(func(sd *StateDict) { sd.Tensors[q+".exp_avg"] = safetensors.F32([]int{24, 8}, make([]float32, 24*8)) }),
			q + ".exp_avg has shape [24 8], want [24 3]"},
		{"nan factor", edit(func(sd *StateDict) { sd.Tensors[q+".projector.q"] = safetensors.F32([]int{3, 8}, nan) }),
			q + ".projector.q holds a NaN"},
		{"history too long", edit(func(sd *StateDict) {
			sd.Tensors[q+".fisher_history"] = safetensors.F32([]int{3, 72}, make([]float32, 3*72))
		}),
			q + ".fisher_history has shape [3 72], want [n 72] with n at most the history length 2"},
		{"extra", edit(func(sd *StateDict) { sd.Tensors[q+".scaling_grad"] = safetensors.F32([]int{}, []float32{1}) }),
			"unexpected 1 tensor: " + q + ".scaling_grad"},
		{"projector step", edit(func(sd *StateDict) { sd.Tensors[q+".projector.step"] = safetensors.I64([]int{}, []int64{-1}) }),
			"step count -1 is negative"},
	} {
		before := opt.State()
		err := opt.LoadState(tc.sd)
		require.Error(t, err, tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
		assert.Equal(t, before, opt.State(), "%s: a failed load changes nothing", tc.name)
	}
}

// A gradient with a NaN or an infinity, in a projected matrix or elsewhere,
// fails the step cleanly: nothing changes, and the run goes on as if the
// step had not been tried.
func TestLowRankNonFiniteGradientChangesNothing(t *testing.T) {
	for name, mk := range lrOpts {
		for _, victim := range []int{4, 2} { // a projected matrix, a norm gain
			for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
				t.Run(fmt.Sprintf("%s/%d/%v", name, victim, bad), func(t *testing.T) {
					init := gptParams(newRand(64), 8, 1, 16)
					clean, dirty := cloneParams(init), cloneParams(init)
					optC, err := mk(clean)
					require.NoError(t, err)
					optD, err := mk(dirty)
					require.NoError(t, err)
					rc, rd := newRand(65), newRand(65)
					lrTrain(t, optC, clean, rc, 2, 0)
					lrTrain(t, optD, dirty, rd, 2, 0)

					before := optD.State()
					vals := cloneParams(dirty)
					randomGrads(newRand(66), dirty, 0.1)
					dirty[victim].Grad().Data()[3] = bad
					err = optD.Step()
					require.Error(t, err)
					assert.ErrorIs(t, err, lowrank.ErrNotFinite)
					var nf *NonFiniteError
					require.ErrorAs(t, err, &nf)
					assert.Equal(t, dirty[victim].Name(), nf.Param)
					assert.Equal(t, before, optD.State(), "the state is unchanged")
					requireSameValues(t, vals, dirty)
					optD.ZeroGrad()

					lrTrain(t, optC, clean, rc, 4, 2)
					lrTrain(t, optD, dirty, rd, 4, 2)
					requireSameValues(t, clean, dirty)
				})
			}
		}
	}
}

// A zero gradient is a gradient: the step counts advance, nothing becomes
// NaN, and without weight decay the weights stay (every direction is 0).
func TestLowRankZeroGradient(t *testing.T) {
	for _, kind := range LowRankKinds() {
		t.Run(kind, func(t *testing.T) {
			ps := gptParams(newRand(67), 8, 1, 16)
			opt, err := NewLowRank(kind, ps, LowRankConfig{Rank: 3, UpdateGap: 2})
			require.NoError(t, err)
			before := cloneParams(ps)
			for range 3 { // a refresh from a zero gradient on steps 1 and 3
				for _, p := range ps {
					p.GradBuffer().Fill(0)
					p.SetGrad(p.GradBuffer())
				}
				require.NoError(t, opt.Step())
			}
			requireSameValues(t, before, ps)
			for _, tt := range opt.State().Tensors {
				if tt.DType == safetensors.Float32 {
					v, err := tt.Float32s()
					require.NoError(t, err)
					assert.True(t, allFinite(v))
				}
			}
			assert.Equal(t, int64(3), opt.slots[4].st.Step)
			assert.Equal(t, 3, opt.mats[4].proj.Step())
			// and a real gradient afterwards moves the weights
			randomGrads(newRand(68), ps, 0.1)
			require.NoError(t, opt.Step())
			assert.NotEqual(t, values(before[4]), values(ps[4]))
		})
	}
}

func TestLowRankConfigErrors(t *testing.T) {
	ps := gptParams(newRand(69), 8, 1, 16)
	custom := lrCustomCore{}
	for _, tc := range []struct {
		kind string
		cfg  LowRankConfig
		want string
	}{
		{KindGaLore, LowRankConfig{Rank: -1}, "rank -1 must be at least 1 (0 takes the default 128)"},
		{KindGaLore, LowRankConfig{UpdateGap: -5}, "update gap -5 must be at least 1 (0 takes the default 200)"},
		{KindGaLore, LowRankConfig{Scale: -0.25}, "scale -0.25 must be positive and finite"},
		{KindGaLore, LowRankConfig{Scale: math.Inf(1)}, "scale +Inf must be positive and finite"},
		{KindGaLore, LowRankConfig{LR: math.NaN()}, "learning rate NaN"},
		{KindGaLore, LowRankConfig{WeightDecay: -1}, "weight decay -1 must be finite and at least 0"},
		{KindGaLore, LowRankConfig{Projection: "diagonal"}, `projection "diagonal" is unknown; want one of std, reverse_std, left, right, full`},
		{KindGaLore, LowRankConfig{Reproject: 7}, "moment reprojection 7 is unknown"},
		{KindGaLore, LowRankConfig{Base: AdamHF{Beta1: 1.5, Beta2: 0.999}}, "base optimizer: beta1 1.5 must be in [0, 1)"},
		{KindGaLore, LowRankConfig{Base: custom, Reproject: RotateMoments}, `does not know how to map the base's state "slow"`},
		{KindGaLore, LowRankConfig{History: 4}, "the Natural GaLore settings History (4) and Damping (0) must be zero for galore"},
		{KindGaLore, LowRankConfig{Gamma: 1.1}, "the Fira settings Gamma, MatrixScaling and PaperResidual must be zero for galore"},
		{KindNaturalGaLore, LowRankConfig{History: -2}, "history -2 must be at least 1 (0 takes the default 20)"},
		{KindNaturalGaLore, LowRankConfig{Damping: -1e-3}, "damping -0.001 must be positive and finite"},
		{KindNaturalGaLore, LowRankConfig{MatrixScaling: true}, "must be zero for natural-galore, which does not use them"},
		{KindFira, LowRankConfig{Gamma: 0.9}, "gamma 0.9 must be finite and at least 1 (0 takes the default 1.01)"},
		{KindFira, LowRankConfig{Projection: "full"}, `projection "full" leaves Fira no unprojected dimension`},
		{KindFira, LowRankConfig{Damping: 1}, "must be zero for fira, which does not use them"},
		{KindFira, LowRankConfig{Target: AllParams}, `parameter "blocks.0.ln1.weight" of shape [8] is selected for projection, but only matrices (2-D) can be projected`},
		{KindFira, LowRankConfig{Target: func(*autograd.Var) bool { return false }}, "the target selects none of the parameters"},
		{"lora", LowRankConfig{}, `optim.NewLowRank: unknown kind "lora" (want one of galore, natural-galore, fira)`},
	} {
		_, err := NewLowRank(tc.kind, ps, tc.cfg)
		if assert.Error(t, err, tc.want) {
			assert.ErrorContains(t, err, tc.want)
		}
	}
	_, err := NewGaLore(nil, LowRankConfig{})
	assert.ErrorContains(t, err, "optim.NewGaLore: no parameters to optimize")
	_, err = NewFira(ps, LowRankConfig{Rank: -1, Gamma: 0.5})
	assert.ErrorContains(t, err, "optim.NewFira: invalid config: rank -1", "every problem is reported")
	assert.ErrorContains(t, err, "gamma 0.5")
	_, err = LowRankBase("adagrad")
	assert.ErrorContains(t, err, `unknown low-rank base optimizer "adagrad"`)
}

// lrCustomCore is a base the package does not know: plain SGD with a state
// buffer of an unknown role.
type lrCustomCore struct{}

func (lrCustomCore) Slots() []string { return []string{"slow"} }
func (lrCustomCore) Update(p, g []float32, s *TensorState, lr, wd float64) {
	s.Step++
	for i := range p {
		p[i] -= float32(lr) * g[i]
	}
}
func (lrCustomCore) Direction(d, g []float32, s *TensorState) float64 {
	s.Step++
	copy(d, g)
	return 1
}

func TestDefaultLowRankTarget(t *testing.T) {
	mk := func(name string, shape ...int) *autograd.Var {
		return autograd.Param(tensor.New(shape...)).SetName(name)
	}
	for _, tc := range []struct {
		p    *autograd.Var
		want bool
	}{
		{mk("blocks.0.attn.qkv.weight", 24, 8), true},
		{mk("blocks.0.attn.proj.weight", 8, 8), true},
		{mk("blocks.0.mlp.fc.weight", 32, 8), true},
		{mk("blocks.0.mlp.proj.weight", 8, 32), true},
		{mk("model.layers.3.self_attn.q_proj.weight", 8, 8), true},
		{mk("blocks.0.attn.qkv.bias", 24), false},
		{mk("blocks.0.attn.qkv.weight3", 24, 8), false},
		{mk("wte.weight", 256, 8), false},
		{mk("wpe.weight", 16, 8), false},
		{mk("head.weight", 256, 8), false},
		{mk("blocks.0.ln1.weight", 8), false},
		{mk("blocks.0.mlp.conv.weight", 8, 8, 3), false},
		{mk("attn", 8, 8), false},
	} {
		assert.Equal(t, tc.want, DefaultLowRankTarget(tc.p), tc.p.Name())
	}
}

// lrSpecFloats is the spec's per-matrix count for the std projection with
// Adam (§3.5, §8): r·min(m, n) floats of projector and 2r·max(m, n) of
// moments.
func lrSpecFloats(m, n, r int) int64 {
	r = min(r, m, n)
	return int64(r*min(m, n) + 2*r*max(m, n))
}

// On the tiny GPT, the measured state equals the memory formula, before and
// after steps, and is well under AdamW's.
func TestLowRankStateBytesOnTinyGPT(t *testing.T) {
	model, err := gpt.New(gpt.Tiny(), newRand(70))
	require.NoError(t, err)
	ps := model.Parameters()
	const rank = 32
	var projected, plain, tensors, matrices int64
	for _, p := range ps {
		tensors++
		if DefaultLowRankTarget(p) {
			matrices++
			s := p.Shape()
			projected += lrSpecFloats(s[0], s[1], rank)
		} else {
			plain += 2 * int64(p.Value().Size())
		}
	}
	require.Equal(t, int64(4*4), matrices, "4 blocks of qkv, proj, fc, mlp.proj")
	galore := 4*(projected+plain) + 8*tensors + 8*matrices // + step counters of tensors and projectors
	adamw, err := NewAdamW(ps, AdamWConfig{})
	require.NoError(t, err)
	const s = 4
	for _, tc := range []struct {
		kind string
		cfg  LowRankConfig
		want int64
	}{
		{KindGaLore, LowRankConfig{Rank: rank}, galore},
		{KindFira, LowRankConfig{Rank: rank}, galore + 4*matrices},
		// + s·k history floats (k = r·max(m, n) one-sided), an s x s
		// float64 Gram matrix, and the s x s system and s right-hand side
		// of its solve.
		{KindNaturalGaLore, LowRankConfig{Rank: rank, History: s}, galore + func() int64 {
			var n int64
			for _, p := range ps {
				if DefaultLowRankTarget(p) {
					n += 4*s*int64(rank*max(p.Shape()[0], p.Shape()[1])) + 8*(2*s*s+s)
				}
			}
			return n
		}()},
	} {
		opt, err := NewLowRank(tc.kind, ps, tc.cfg)
		require.NoError(t, err)
		formula, err := LowRankStateBytes(tc.kind, ps, tc.cfg)
		require.NoError(t, err)
		assert.Equal(t, tc.want, formula, "%s: formula", tc.kind)
		assert.Equal(t, formula, opt.StateBytes(), "%s: measured", tc.kind)
		randomGrads(newRand(71), ps, 0.01)
		require.NoError(t, opt.Step())
		assert.Equal(t, formula, opt.StateBytes(), "%s: measured after a step", tc.kind)
		if tc.kind != KindNaturalGaLore {
			assert.Less(t, float64(opt.StateBytes()), 0.75*float64(adamw.StateBytes()), "%s: well under AdamW", tc.kind)
		}
		t.Logf("%s: %d bytes of state (AdamW %d: %.2fx)", tc.kind, opt.StateBytes(), adamw.StateBytes(), float64(opt.StateBytes())/float64(adamw.StateBytes()))
	}
}

// Flipping the sign of a singular vector after the refresh (with the
// coordinate of the first moment that goes with it) is what an SVD with
// another sign convention would have produced: the iterates are the same,
// bit for bit, until the next refresh.
func TestLowRankSignInvarianceWithinPeriod(t *testing.T) {
	for name, mk := range lrOpts {
		if name == "galore-randomized-rotate" || name == "galore-adamw-full" {
			continue // covered by the one-sided kinds; full flips both sides
		}
		t.Run(name, func(t *testing.T) {
			init := gptParams(newRand(72), 8, 1, 16)
			a, b := cloneParams(init), cloneParams(init)
			optA, err := mk(a)
			require.NoError(t, err)
			optB, err := mk(b)
			require.NoError(t, err)
			ra, rb := newRand(73), newRand(73)
			lrTrain(t, optA, a, ra, 1, 0)
			lrTrain(t, optB, b, rb, 1, 0)

			sd := optB.State()
			for i, m := range optB.mats {
				if m == nil {
					continue
				}
				key := optB.slots[i].key
				rr, rc := m.proj.LowRankShape()
				flip := func(name string, col bool) {
					v, err := sd.Tensors[key+"."+name].Float32s()
					require.NoError(t, err)
					sh := sd.Tensors[key+"."+name].Shape
					for i := range sh[0] {
						for j := range sh[1] {
							if (col && j == 1) || (!col && i == 1) {
								v[i*sh[1]+j] = -v[i*sh[1]+j]
							}
						}
					}
					sd.Tensors[key+"."+name] = safetensors.F32(sh, v)
				}
				right := m.proj.Side() == lowrank.SideRight
				if right {
					flip("projector.q", false) // row 1 of Q
				} else {
					flip("projector.p", true) // column 1 of P
				}
				flip("exp_avg", right) // coordinate 1 of the moments: a column of m x r, a row of r x n
				if m.fisher != nil {
					h := sd.Tensors[key+".fisher_history"]
					v, err := h.Float32s()
					require.NoError(t, err)
					for n := range h.Shape[0] {
						for i := range rr {
							for j := range rc {
								if (right && j == 1) || (!right && i == 1) {
									v[n*rr*rc+i*rc+j] = -v[n*rr*rc+i*rc+j]
								}
							}
						}
					}
					sd.Tensors[key+".fisher_history"] = safetensors.F32(h.Shape, v)
				}
			}
			require.NoError(t, optB.LoadState(sd))
			lrTrain(t, optA, a, ra, 1, 1) // step 2; step 3 would refresh
			lrTrain(t, optB, b, rb, 1, 1)
			requireSameValues(t, a, b)
			assert.NotEqual(t, optA.State(), optB.State(), "the states differ by the flips")
		})
	}
}

// Transposing the problem swaps right and left projections and transposes
// the iterates (std projection), for every kind.
func TestLowRankTransposeEquivariance(t *testing.T) {
	for _, kind := range LowRankKinds() {
		t.Run(kind, func(t *testing.T) {
			rng := newRand(74)
			const m, n = 9, 5
			w0 := lrRandMatrix(rng, m, n, 1)
			a := lrMatrixParam("attn.weight", w0)
			b := lrMatrixParam("attn.weight", lrTranspose(w0))
			cfg := LowRankConfig{LR: 0.01, Rank: 2, UpdateGap: 3, Scale: 0.25}
			optA, err := NewLowRank(kind, []*autograd.Var{a}, cfg)
			require.NoError(t, err)
			optB, err := NewLowRank(kind, []*autograd.Var{b}, cfg)
			require.NoError(t, err)
			for range 5 {
				g := lrRandMatrix(rng, m, n, 1)
				setGrad(a, lrFlat(g)...)
				setGrad(b, lrFlat(lrTranspose(g))...)
				require.NoError(t, optA.Step())
				require.NoError(t, optB.Step())
			}
			wa := lrUnflat(values(a), m, n)
			d := lrMaxDiff(lrTranspose(wa), values(b))
			assert.Less(t, d, 1e-6)
			assert.Equal(t, "right", optA.Projections()[0].Side)
			assert.Equal(t, "left", optB.Projections()[0].Side)
		})
	}
}

// Groups apply to projected matrices: a learning-rate scale of 0 freezes
// them while the projector still runs.
func TestLowRankGroups(t *testing.T) {
	ps := gptParams(newRand(75), 8, 1, 16)
	zero := 0.0
	opt, err := NewGaLore(ps, LowRankConfig{Rank: 3}, Group{Name: "frozen", Match: DefaultLowRankTarget, LRScale: &zero})
	require.NoError(t, err)
	before := cloneParams(ps)
	randomGrads(newRand(76), ps, 0.1)
	require.NoError(t, opt.Step())
	for i, p := range ps {
		if DefaultLowRankTarget(p) {
			assert.Equal(t, values(before[i]), values(p), p.Name())
			assert.Equal(t, 1, opt.mats[i].proj.Step())
		} else {
			assert.NotEqual(t, values(before[i]), values(p), p.Name())
		}
	}
	assert.Equal(t, "frozen", opt.Groups()[0].Name)
	assert.Len(t, opt.Groups()[0].Params, 4)
}

// LowRankStateBytes rejects what the constructor rejects.
func TestLowRankStateBytesErrors(t *testing.T) {
	ps := gptParams(newRand(77), 8, 1, 16)
	_, err := LowRankStateBytes("galor", ps, LowRankConfig{})
	assert.ErrorContains(t, err, `unknown kind "galor"`)
	_, err = LowRankStateBytes(KindFira, ps, LowRankConfig{Projection: "full"})
	assert.ErrorContains(t, err, `projection "full" leaves Fira`)
	_, err = LowRankStateBytes(KindGaLore, ps, LowRankConfig{Target: AllParams})
	assert.ErrorContains(t, err, "only matrices (2-D) can be projected")
}

// With gradients whose singular vectors are the coordinate axes, a refresh
// permutes the basis. Moments rotated with it (RotateMoments; a signed
// permutation is exact for both moments) keep GaLore at full rank equal to
// AdamHF, as without the refresh; the official carried moments do not.
func TestGaLoreReprojectMoments(t *testing.T) {
	grads := [][][]float64{
		{{2, 0}, {0, 1}, {0, 0}}, // Q = I
		{{0.5, 0}, {0, -0.3}, {0, 0}},
		{{1, 0}, {0, 3}, {0, 0}}, // refresh: Q swaps its rows
		{{-0.4, 0}, {0, 0.2}, {0, 0}},
	}
	run := func(t *testing.T, transpose bool, mk func(p *autograd.Var) Optimizer) []float32 {
		w0 := lrW0
		if transpose {
			w0 = lrTranspose(w0)
		}
		p := lrMatrixParam("attn.weight", w0)
		opt := mk(p)
		for _, g := range grads {
			if transpose {
				g = lrTranspose(g)
			}
			setGrad(p, lrFlat(g)...)
			require.NoError(t, opt.Step())
		}
		return values(p)
	}
	galore := func(re MomentReprojection, base Core) func(p *autograd.Var) Optimizer {
		return func(p *autograd.Var) Optimizer {
			opt, err := NewGaLore([]*autograd.Var{p}, LowRankConfig{LR: 0.01, Rank: 2, UpdateGap: 2, Reproject: re, Base: base})
			require.NoError(t, err)
			return opt
		}
	}
	for _, transpose := range []bool{false, true} {
		t.Run(fmt.Sprint("transpose=", transpose), func(t *testing.T) {
			adam := run(t, transpose, func(p *autograd.Var) Optimizer {
				opt, err := NewHFAdamW([]*autograd.Var{p}, HFAdamWConfig{LR: 0.01})
				require.NoError(t, err)
				return opt
			})
			rotated := run(t, transpose, galore(RotateMoments, nil))
			assert.Less(t, lrMaxAbsDelta(adam, rotated), 1e-7, "rotated moments follow the basis")
			kept := run(t, transpose, galore(KeepMoments, nil))
			assert.Greater(t, lrMaxAbsDelta(adam, kept), 1e-3, "carried moments are in the wrong coordinates")
			first := run(t, transpose, galore(RotateFirstMoment, nil))
			assert.Greater(t, lrMaxAbsDelta(adam, first), 1e-4, "second moments kept in the old coordinates")

			// Lion has only a first moment: rotating it is exact.
			lion := run(t, transpose, func(p *autograd.Var) Optimizer {
				opt, err := NewLion([]*autograd.Var{p}, LionConfig{LR: 0.01})
				require.NoError(t, err)
				return opt
			})
			lionCore := LionCore{Beta1: 0.9, Beta2: 0.99}
			assert.Less(t, lrMaxAbsDelta(lion, run(t, transpose, galore(RotateFirstMoment, lionCore))), 1e-7)
			assert.Greater(t, lrMaxAbsDelta(lion, run(t, transpose, galore(KeepMoments, lionCore))), 1e-3)
		})
	}
}

// Fira's limiter: from the second step on, the residual term's norm grows by
// at most γ per step, however fast the gradients grow.
func TestFiraLimiterBoundsGrowth(t *testing.T) {
	rng := newRand(78)
	const m, n = 12, 6
	p := lrMatrixParam("attn.weight", lrRandMatrix(rng, m, n, 1))
	opt, err := NewFira([]*autograd.Var{p}, LowRankConfig{LR: 0.01, Rank: 2, UpdateGap: 4})
	require.NoError(t, err)
	mat := opt.mats[0]
	prev := 0.0
	limited := 0
	for k := range 12 {
		setGrad(p, lrFlat(lrRandMatrix(rng, m, n, math.Pow(3, float64(k))))...)
		require.NoError(t, opt.Step())
		cur := float64(mat.prevNorm)
		assert.InEpsilon(t, mat.lastNorm/mat.lastLimiter, cur, 1e-6)
		if k > 0 {
			assert.LessOrEqual(t, cur, 1.01*(prev+1e-8)*(1+1e-6), "step %d", k+1)
			if mat.lastLimiter > 1 {
				limited++
			}
		}
		prev = cur
	}
	assert.Greater(t, limited, 5, "the growing gradients engage the limiter")
}

// At full rank with α = 1 the residual vanishes, so Fira is GaLore at full
// rank (which is not Adam, spec §11).
func TestFiraFullRankIsGaLore(t *testing.T) {
	rng := newRand(79)
	w0 := lrRandMatrix(rng, 7, 4, 1)
	a := lrMatrixParam("attn.weight", w0)
	b := lrMatrixParam("attn.weight", w0)
	fira, err := NewFira([]*autograd.Var{a}, LowRankConfig{LR: 0.01, Rank: 4})
	require.NoError(t, err)
	gal, err := NewGaLore([]*autograd.Var{b}, LowRankConfig{LR: 0.01, Rank: 4})
	require.NoError(t, err)
	for range 4 {
		g := lrFlat(lrRandMatrix(rng, 7, 4, 1))
		setGrad(a, g...)
		setGrad(b, g...)
		require.NoError(t, fira.Step())
		require.NoError(t, gal.Step())
	}
	assert.Less(t, lrMaxAbsDelta(values(a), values(b)), 1e-5)
}

// The Woodbury transform of Natural GaLore equals the explicit inverse
// (λI + HHᵀ)⁻¹g of the last s low-rank gradients, with the history full
// and rolling over.
func TestNaturalGaLoreEqualsExplicitInverse(t *testing.T) {
	for _, tc := range []struct {
		m, n, rank, s int
		damping       float64
	}{{5, 1, 1, 3, 1e-3}, {6, 4, 2, 3, 0.05}, {4, 6, 2, 2, 0.05}} {
		t.Run(fmt.Sprintf("%dx%d/r%d/s%d", tc.m, tc.n, tc.rank, tc.s), func(t *testing.T) {
			rng := newRand(80)
			w0 := lrZeros(tc.m, tc.n)
			p := lrMatrixParam("attn.weight", w0)
			opt, err := NewNaturalGaLore([]*autograd.Var{p}, LowRankConfig{LR: 1, Rank: tc.rank, Base: SGDCore{}, History: tc.s, Damping: tc.damping})
			require.NoError(t, err)
			var hist [][]float64
			prev := values(p)
			for k := range 7 {
				g := lrRandMatrix(rng, tc.m, tc.n, 0.3)
				setGrad(p, lrFlat(g)...)
				require.NoError(t, opt.Step())
				pr := opt.mats[0].proj
				right := pr.Side() == lowrank.SideRight
				var f [][]float64
				if right {
					f = lrUnflat(pr.Q().Data, pr.Rank(), tc.n)
				} else {
					f = lrUnflat(pr.P().Data, tc.m, pr.Rank())
				}
				ref := &lrRef{right: right, f: f, alpha: 1}
				r := ref.project(g)
				var flat []float64
				for _, row := range r {
					flat = append(flat, row...)
				}
				hist = append(hist, flat)
				if len(hist) > tc.s {
					hist = hist[1:]
				}
				nat := lrSolve(lrFisher(hist, tc.damping), flat)
				rows, cols := len(r), len(r[0])
				want := ref.back(lrUnflat32(nat, rows, cols))
				got := values(p)
				var maxWant float64
				for i := range want {
					for j := range want[i] {
						maxWant = max(maxWant, math.Abs(want[i][j]))
						want[i][j] = float64(prev[i*tc.n+j]) - want[i][j]
					}
				}
				assert.Less(t, lrMaxDiff(want, got), 1e-4*maxWant, "step %d", k+1)
				assert.Equal(t, min(k+1, tc.s), opt.mats[0].fisher.Len())
				prev = got
			}
		})
	}
}

// lrFisher returns λI + Σ h·hᵀ.
func lrFisher(hist [][]float64, lam float64) [][]float64 {
	k := len(hist[0])
	f := lrZeros(k, k)
	for i := range f {
		f[i][i] = lam
		for _, h := range hist {
			for j := range f[i] {
				f[i][j] += h[i] * h[j]
			}
		}
	}
	return f
}

// lrSolve solves a·x = b by Gaussian elimination with partial pivoting.
func lrSolve(a [][]float64, b []float64) []float64 {
	n := len(b)
	m := lrZeros(n, n+1)
	for i := range n {
		copy(m[i], a[i])
		m[i][n] = b[i]
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for j := c; j <= n; j++ {
				m[r][j] -= f * m[c][j]
			}
		}
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := m[i][n]
		for j := i + 1; j < n; j++ {
			s -= m[i][j] * x[j]
		}
		x[i] = s / m[i][i]
	}
	return x
}

func lrUnflat32(x []float64, rows, cols int) [][]float64 {
	out := lrZeros(rows, cols)
	for i := range out {
		copy(out[i], x[i*cols:(i+1)*cols])
	}
	return out
}

// With a huge damping and ε = 0, F⁻¹g ≈ g/λ and Adam is scale-invariant:
// Natural GaLore becomes GaLore.
func TestNaturalGaLoreLargeDampingIsGaLore(t *testing.T) {
	rng := newRand(81)
	w0 := lrRandMatrix(rng, 6, 4, 1)
	a := lrMatrixParam("attn.weight", w0)
	b := lrMatrixParam("attn.weight", w0)
	base := AdamHF{Beta1: 0.9, Beta2: 0.999}
	nat, err := NewNaturalGaLore([]*autograd.Var{a}, LowRankConfig{LR: 0.01, Rank: 2, Base: base, Damping: 1e6})
	require.NoError(t, err)
	gal, err := NewGaLore([]*autograd.Var{b}, LowRankConfig{LR: 0.01, Rank: 2, Base: base})
	require.NoError(t, err)
	for range 5 {
		g := lrFlat(lrRandMatrix(rng, 6, 4, 1))
		setGrad(a, g...)
		setGrad(b, g...)
		require.NoError(t, nat.Step())
		require.NoError(t, gal.Step())
	}
	assert.Less(t, lrMaxAbsDelta(values(a), values(b)), 1e-6)
	assert.Greater(t, lrMaxAbsDelta(values(a), lrFlat(w0)), 1e-2)
}
