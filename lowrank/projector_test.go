package lowrank

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustProjector(t *testing.T, m, n int, cfg ProjectorConfig) *Projector {
	t.Helper()
	p, err := NewProjector(m, n, cfg)
	require.NoError(t, err)
	return p
}

func project(t *testing.T, p *Projector, g Matrix) Matrix {
	t.Helper()
	r := NewMatrix(p.LowRankShape())
	require.NoError(t, p.Project(r, g))
	return r
}

func back(p *Projector, r Matrix) Matrix {
	d := NewMatrix(p.Rows(), p.Cols())
	p.ProjectBack(d, r)
	return d
}

func TestProjTypeNames(t *testing.T) {
	for _, typ := range []ProjType{ProjStd, ProjReverseStd, ProjLeft, ProjRight, ProjFull} {
		got, err := ParseProjType(typ.String())
		require.NoError(t, err)
		assert.Equal(t, typ, got)
	}
	assert.Equal(t, "reverse_std", ProjReverseStd.String())
	_, err := ParseProjType("tucker")
	assert.ErrorContains(t, err, "tucker")
}

// The side table of the spec (§3.2).
func TestProjectorSides(t *testing.T) {
	cases := []struct {
		typ        ProjType
		m, n       int
		side       Side
		rows, cols int // R shape at rank 2
	}{
		{ProjStd, 5, 3, SideRight, 5, 2},
		{ProjStd, 3, 3, SideRight, 3, 2},
		{ProjStd, 3, 5, SideLeft, 2, 5},
		{ProjReverseStd, 5, 3, SideLeft, 2, 3},
		{ProjReverseStd, 3, 3, SideLeft, 2, 3},
		{ProjReverseStd, 3, 5, SideRight, 3, 2},
		{ProjLeft, 5, 3, SideLeft, 2, 3},
		{ProjLeft, 3, 5, SideLeft, 2, 5},
		{ProjRight, 5, 3, SideRight, 5, 2},
		{ProjRight, 3, 5, SideRight, 3, 2},
		{ProjFull, 5, 3, SideBoth, 2, 2},
		{ProjFull, 3, 5, SideBoth, 2, 2},
	}
	for _, c := range cases {
		p := mustProjector(t, c.m, c.n, ProjectorConfig{Rank: 2, Type: c.typ})
		assert.Equal(t, c.side, p.Side(), "%v %dx%d", c.typ, c.m, c.n)
		r, cl := p.LowRankShape()
		assert.Equal(t, [2]int{c.rows, c.cols}, [2]int{r, cl}, "%v %dx%d", c.typ, c.m, c.n)
		assert.Equal(t, c.side&SideLeft != 0, !p.P().Empty())
		assert.Equal(t, c.side&SideRight != 0, !p.Q().Empty())
	}
}

func TestProjectorConfig(t *testing.T) {
	p := mustProjector(t, 4, 3, ProjectorConfig{Rank: 2})
	assert.Equal(t, DefaultUpdateGap, p.UpdateGap())
	assert.Equal(t, float32(DefaultScale), p.Scale())
	assert.Equal(t, ProjStd, p.Type())
	for _, bad := range []struct {
		m, n int
		cfg  ProjectorConfig
	}{
		{0, 3, ProjectorConfig{Rank: 1}},
		{3, 3, ProjectorConfig{Rank: 0}},
		{3, 3, ProjectorConfig{Rank: 1, UpdateGap: -1}},
		{3, 3, ProjectorConfig{Rank: 1, Scale: -0.5}},
		{3, 3, ProjectorConfig{Rank: 1, Scale: float32(math.NaN())}},
		{3, 3, ProjectorConfig{Rank: 1, Scale: float32(math.Inf(1))}},
		{3, 3, ProjectorConfig{Rank: 1, Type: ProjType(9)}},
		{3, 3, ProjectorConfig{Rank: 1, Randomized: &RandomizedConfig{Oversample: -2}}},
	} {
		_, err := NewProjector(bad.m, bad.n, bad.cfg)
		assert.Error(t, err, "%+v", bad)
	}
}

// Projection of the shared problem (spec §12 "Intermediate"): T = 200, so Q
// comes from G₁ and R_t = G_t·Qᵀ for all three steps.
func TestProjectorGoldenShared(t *testing.T) {
	p := mustProjector(t, 3, 2, ProjectorConfig{Rank: 1, UpdateGap: 200, Scale: 0.25})
	want := [][]float64{
		{0.315734021612, 0.087876828376, -0.534981406451},
		{0.043938414188, -0.315734021612, 0.298069718716},
		{-0.271795607424, 0.122760748066, 0.333398324507},
	}
	for s, g := range sharedG {
		r := project(t, p, fromRows(g))
		require.Equal(t, [2]int{3, 1}, [2]int{r.Rows, r.Cols})
		for i := range 3 {
			assert.InDelta(t, want[s][i], float64(r.Data[i]), 1e-7, "R%d[%d]", s+1, i)
		}
	}
	assert.InDelta(t, 0.964866367731, float64(p.Q().Data[0]), 1e-7)
	assert.InDelta(t, -0.262741112925, float64(p.Q().Data[1]), 1e-7)
	// G4b: the transposed problem projects on the left with the same vector.
	pt := mustProjector(t, 2, 3, ProjectorConfig{Rank: 1, UpdateGap: 200})
	require.Equal(t, SideLeft, pt.Side())
	for s, g := range sharedG {
		r := project(t, pt, transpose(fromRows(g)))
		require.Equal(t, [2]int{1, 3}, [2]int{r.Rows, r.Cols})
		for i := range 3 {
			assert.InDelta(t, want[s][i], float64(r.Data[i]), 1e-7, "R%d[%d]", s+1, i)
		}
	}
}

func allTypes() []ProjType { return []ProjType{ProjStd, ProjReverseStd, ProjLeft, ProjRight, ProjFull} }

// PᵀP = I and QQᵀ = I; projection then back-projection (α = 1) is idempotent
// and is the orthogonal projection onto the subspace.
func TestProjectorOrthonormalIdempotent(t *testing.T) {
	rng := newRNG(30)
	for _, typ := range allTypes() {
		for _, sh := range [][2]int{{12, 7}, {7, 12}, {8, 8}} {
			m, n := sh[0], sh[1]
			p := mustProjector(t, m, n, ProjectorConfig{Rank: 3, Type: typ, UpdateGap: 100})
			g := randn(rng, m, n)
			r := project(t, p, g)
			if !p.P().Empty() {
				assert.Less(t, orthoError(p.P(), true), 1e-6)
			}
			if !p.Q().Empty() {
				assert.Less(t, orthoError(p.Q(), false), 1e-6)
			}
			b := back(p, r)
			r2 := project(t, p, b) // no refresh: gap 100
			assert.Less(t, maxAbsDiff(r.Data, r2.Data), 1e-5, "%v %dx%d", typ, m, n)
			b2 := back(p, r2)
			assert.Less(t, maxAbsDiff(b.Data, b2.Data), 1e-5, "%v %dx%d", typ, m, n)
			// The residual is orthogonal to the subspace: project(G − back(R)) = 0.
			e := clone(g)
			p.ProjectBackAdd(e, -1, r)
			r3 := project(t, p, e)
			assert.Less(t, maxAbsDiff(r3.Data, make([]float32, len(r3.Data))), 1e-5, "%v %dx%d", typ, m, n)
		}
	}
}

// For std, back(project(G)) at the refresh is the best rank-r approximation.
func TestProjectorBestApproximation(t *testing.T) {
	for _, sh := range [][2]int{{10, 6}, {6, 10}} {
		m, n := sh[0], sh[1]
		g := withSpectrum(newRNG(31), m, n, []float64{5, 3, 2, 1, 0.5, 0.1})
		p := mustProjector(t, m, n, ProjectorConfig{Rank: 2})
		b := back(p, project(t, p, g))
		var d SVD
		f, err := d.Factorize(g, 2, SideBoth)
		require.NoError(t, err)
		for i := range m {
			for j := range n {
				s := 0.0
				for l := range 2 {
					s += float64(f.U.At(i, l)) * float64(f.S[l]) * float64(f.Vt.At(l, j))
				}
				assert.InDelta(t, s, float64(b.At(i, j)), 1e-5)
			}
		}
	}
}

func TestProjectorScaleAndBackAdd(t *testing.T) {
	rng := newRNG(32)
	for _, typ := range allTypes() {
		g := randn(rng, 9, 6)
		p1 := mustProjector(t, 9, 6, ProjectorConfig{Rank: 3, Type: typ})
		p2 := mustProjector(t, 9, 6, ProjectorConfig{Rank: 3, Type: typ, Scale: 0.25})
		r := project(t, p1, g)
		_ = project(t, p2, g)
		b1, b2 := back(p1, r), back(p2, r)
		for i := range b1.Data {
			assert.InDelta(t, 0.25*float64(b1.Data[i]), float64(b2.Data[i]), 1e-6)
		}
		// ProjectBackAdd(dst, c, r) = dst + c·α·back(r).
		dst := randn(rng, 9, 6)
		want := clone(dst)
		for i := range want.Data {
			want.Data[i] += -0.5 * b2.Data[i]
		}
		p2.ProjectBackAdd(dst, -0.5, r)
		assert.Less(t, maxAbsDiff(want.Data, dst.Data), 1e-6, "%v", typ)
	}
}

// The factors are recomputed from the current gradient exactly on steps
// 0, T, 2T, ... of the counter (1-based steps 1, T+1, ...).
func TestProjectorRefreshSchedule(t *testing.T) {
	rng := newRNG(33)
	const gap = 3
	p := mustProjector(t, 8, 5, ProjectorConfig{Rank: 2, UpdateGap: gap})
	var d SVD
	var lastRefresh Matrix
	for step := range 8 {
		g := randn(rng, 8, 5)
		assert.Equal(t, step%gap == 0, p.RefreshDue())
		if step%gap == 0 {
			f, err := d.Factorize(g, 2, SideRight)
			require.NoError(t, err)
			lastRefresh = clone(f.Vt)
		}
		assert.Equal(t, step, p.Step())
		_ = project(t, p, g)
		assert.Equal(t, step+1, p.Step())
		assert.Equal(t, lastRefresh.Data, p.Q().Data, "step %d", step)
	}
}

// Transpose equivariance (spec §3.7-1): the projector of Gᵀ is that of G with
// the sides swapped, and R(Gᵀ) = R(G)ᵀ; for std and reverse_std this holds
// for non-square shapes, for left/right between the two types, for full always.
func TestProjectorTransposeEquivariance(t *testing.T) {
	rng := newRNG(34)
	pairs := []struct {
		a, b ProjType
		m, n int
	}{
		{ProjStd, ProjStd, 9, 5},
		{ProjStd, ProjStd, 5, 9},
		{ProjReverseStd, ProjReverseStd, 9, 5},
		{ProjRight, ProjLeft, 6, 6},
		{ProjLeft, ProjRight, 9, 5},
		{ProjFull, ProjFull, 9, 5},
		{ProjFull, ProjFull, 6, 6},
	}
	for _, c := range pairs {
		p := mustProjector(t, c.m, c.n, ProjectorConfig{Rank: 3, Type: c.a, UpdateGap: 2})
		pt := mustProjector(t, c.n, c.m, ProjectorConfig{Rank: 3, Type: c.b, UpdateGap: 2})
		for step := range 3 {
			g := randn(rng, c.m, c.n)
			r := project(t, p, g)
			rt := project(t, pt, transpose(g))
			assert.Less(t, maxAbsDiff(transpose(r).Data, rt.Data), 1e-5, "%v/%v %dx%d step %d", c.a, c.b, c.m, c.n, step)
			n := randn(rng, r.Rows, r.Cols)
			assert.Less(t, maxAbsDiff(transpose(back(p, n)).Data, back(pt, transpose(n)).Data), 1e-5)
		}
		if !p.P().Empty() {
			assert.Less(t, maxAbsDiff(p.P().Data, transpose(pt.Q()).Data), 1e-5)
		}
		if !p.Q().Empty() {
			assert.Less(t, maxAbsDiff(p.Q().Data, transpose(pt.P()).Data), 1e-5)
		}
	}
}

// G and −G give the same projector (sign convention) and opposite R, for
// every type including full (whose factors are signed independently).
func TestProjectorSignInvariance(t *testing.T) {
	rng := newRNG(35)
	for _, typ := range allTypes() {
		for _, sh := range [][2]int{{10, 4}, {4, 10}} {
			g := randn(rng, sh[0], sh[1])
			p1 := mustProjector(t, sh[0], sh[1], ProjectorConfig{Rank: 3, Type: typ})
			p2 := mustProjector(t, sh[0], sh[1], ProjectorConfig{Rank: 3, Type: typ})
			r1 := project(t, p1, g)
			r2 := project(t, p2, neg(g))
			assert.Equal(t, p1.P().Data, p2.P().Data, "%v", typ)
			assert.Equal(t, p1.Q().Data, p2.Q().Data, "%v", typ)
			assert.Equal(t, r1.Data, neg(r2).Data, "%v", typ)
			if !p1.P().Empty() {
				for i := range 3 {
					assert.True(t, largestPositive(column(p1.P(), i)))
				}
			}
			if !p1.Q().Empty() {
				for i := range 3 {
					assert.True(t, largestPositive(row(p1.Q(), i)))
				}
			}
		}
	}
}

func TestProjectorRankClampFullRank(t *testing.T) {
	rng := newRNG(36)
	for _, typ := range allTypes() {
		p := mustProjector(t, 5, 3, ProjectorConfig{Rank: 10, Type: typ})
		if typ == ProjReverseStd || typ == ProjLeft {
			// Left side of a 5x3 matrix: rank 3 of 5 dimensions, not full.
			assert.Equal(t, 3, p.Rank())
			continue
		}
		assert.Equal(t, 3, p.Rank())
		g := randn(rng, 5, 3)
		b := back(p, project(t, p, g))
		// Right projection at full rank: QᵀQ = I, so back(project(G)) = G.
		assert.Less(t, maxAbsDiff(g.Data, b.Data), 1e-5, "%v", typ)
	}
}

func TestProjectorZeroGradient(t *testing.T) {
	for _, typ := range allTypes() {
		p := mustProjector(t, 6, 4, ProjectorConfig{Rank: 2, Type: typ})
		r := project(t, p, NewMatrix(6, 4))
		for _, v := range r.Data {
			assert.Equal(t, float32(0), v)
		}
		if !p.P().Empty() {
			assert.Equal(t, float32(1), p.P().At(0, 0))
			assert.Equal(t, float32(1), p.P().At(1, 1))
			assert.Less(t, orthoError(p.P(), true), 1e-7)
		}
		if !p.Q().Empty() {
			assert.Equal(t, float32(1), p.Q().At(0, 0))
			assert.Equal(t, float32(1), p.Q().At(1, 1))
			assert.Less(t, orthoError(p.Q(), false), 1e-7)
		}
		b := back(p, r)
		for _, v := range b.Data {
			assert.Equal(t, float32(0), v)
		}
	}
}

// A non-finite gradient is an error, not a NaN projector, and changes nothing,
// on a refresh step and on an ordinary step.
func TestProjectorNonFinite(t *testing.T) {
	rng := newRNG(37)
	for _, randomized := range []bool{false, true} {
		cfg := ProjectorConfig{Rank: 2, UpdateGap: 2}
		if randomized {
			rc := RandomizedConfig{Oversample: 1, PowerIters: 1}
			cfg.Randomized = &rc
		}
		p := mustProjector(t, 20, 8, cfg)
		bad := randn(rng, 20, 8)
		bad.Set(3, 4, float32(math.NaN()))
		r := NewMatrix(p.LowRankShape())
		err := p.Project(r, bad)
		assert.True(t, errors.Is(err, ErrNotFinite))
		assert.Equal(t, 0, p.Step())
		for _, v := range p.Q().Data {
			assert.False(t, math.IsNaN(float64(v)))
		}
		_ = project(t, p, randn(rng, 20, 8))
		q := clone(p.Q())
		bad.Set(3, 4, float32(math.Inf(-1)))
		err = p.Project(r, bad) // step 1: not a refresh step
		assert.True(t, errors.Is(err, ErrNotFinite))
		assert.Equal(t, 1, p.Step())
		_ = project(t, p, randn(rng, 20, 8))
		err = p.Refresh(bad)
		assert.True(t, errors.Is(err, ErrNotFinite))
		assert.Equal(t, q.Data, p.Q().Data)
	}
}

func TestProjectorPanics(t *testing.T) {
	p := mustProjector(t, 5, 3, ProjectorConfig{Rank: 2})
	assert.PanicsWithValue(t, "lowrank.Projector.Project: gradient is 3x5, want 5x3", func() {
		_ = p.Project(NewMatrix(5, 2), NewMatrix(3, 5))
	})
	assert.Panics(t, func() { _ = p.Project(NewMatrix(2, 3), NewMatrix(5, 3)) })
	assert.Panics(t, func() { p.ProjectBack(NewMatrix(5, 3), NewMatrix(2, 5)) })
	assert.Panics(t, func() { p.ProjectBackAdd(NewMatrix(3, 5), 1, NewMatrix(5, 2)) })
}

// A projector restored from State continues bit-identically.
func TestProjectorStateRoundTrip(t *testing.T) {
	rng := newRNG(38)
	for _, typ := range allTypes() {
		for _, randomized := range []bool{false, true} {
			cfg := ProjectorConfig{Rank: 3, Type: typ, UpdateGap: 3, Scale: 0.5}
			if randomized {
				rc := RandomizedConfig{Oversample: 2, PowerIters: 1, Seed: 5}
				cfg.Randomized = &rc
			}
			grads := make([]Matrix, 8)
			for i := range grads {
				grads[i] = randn(rng, 30, 14)
			}
			a := mustProjector(t, 30, 14, cfg)
			for _, g := range grads[:4] {
				_ = project(t, a, g)
			}
			st := a.State()
			assert.Equal(t, 4, st.Step)
			b := mustProjector(t, 30, 14, cfg)
			require.NoError(t, b.SetState(st))
			st.P.Data = nil // the state is a copy
			for _, g := range grads[4:] {
				ra, rb := project(t, a, g), project(t, b, g)
				assert.Equal(t, ra.Data, rb.Data, "%v randomized=%v", typ, randomized)
				assert.Equal(t, back(a, ra).Data, back(b, rb).Data)
			}
		}
	}
}

func TestProjectorSetStateErrors(t *testing.T) {
	p := mustProjector(t, 6, 4, ProjectorConfig{Rank: 2}) // right: Q is 2x4
	_ = project(t, p, randn(newRNG(39), 6, 4))
	good := p.State()
	assert.True(t, good.P.Empty())
	bad := good
	bad.Step = -1
	assert.Error(t, p.SetState(bad))
	bad = good
	bad.Q = NewMatrix(3, 4)
	assert.ErrorContains(t, p.SetState(bad), "want 2x4")
	bad = good
	bad.P = NewMatrix(6, 2)
	assert.Error(t, p.SetState(bad))
	bad = p.State()
	bad.Q.Data[1] = float32(math.Inf(1))
	assert.True(t, errors.Is(p.SetState(bad), ErrNotFinite))
	assert.Equal(t, good.Q.Data, p.Q().Data)
	assert.Equal(t, 1, p.Step())
}

func TestProjectorBytes(t *testing.T) {
	// std on 384x1536 at rank 128: P is 384x128, per spec §3.5 r·min(m,n).
	p := mustProjector(t, 384, 1536, ProjectorConfig{Rank: 128})
	assert.Equal(t, 4*128*384+8, p.StateBytes())
	assert.Equal(t, p.StateBytes(), p.Bytes())
	p = mustProjector(t, 1536, 384, ProjectorConfig{Rank: 128, Type: ProjReverseStd})
	assert.Equal(t, 4*128*1536+8, p.StateBytes())
	p = mustProjector(t, 384, 1536, ProjectorConfig{Rank: 128, Type: ProjFull})
	assert.Equal(t, 4*128*(384+1536)+8, p.StateBytes())
	assert.Equal(t, p.StateBytes()+4*128*384, p.Bytes())
}

// Ordinary steps do not allocate.
func TestProjectorNoAllocs(t *testing.T) {
	rng := newRNG(40)
	for _, typ := range allTypes() {
		p := mustProjector(t, 40, 24, ProjectorConfig{Rank: 4, Type: typ, UpdateGap: 1 << 30})
		g := randn(rng, 40, 24)
		r := project(t, p, g)
		d := NewMatrix(40, 24)
		allocs := testing.AllocsPerRun(20, func() {
			_ = p.Project(r, g)
			p.ProjectBack(d, r)
			p.ProjectBackAdd(d, -0.1, r)
		})
		assert.Zero(t, allocs, "%v", typ)
	}
}

func TestProjectorRandomized(t *testing.T) {
	spec := geometric(60, 0.8)
	g := withSpectrum(newRNG(41), 100, 60, spec)
	rc := DefaultRandomizedConfig()
	pr := mustProjector(t, 100, 60, ProjectorConfig{Rank: 6, Randomized: &rc})
	pe := mustProjector(t, 100, 60, ProjectorConfig{Rank: 6})
	rr, re := project(t, pr, g), project(t, pe, g)
	assert.Less(t, maxAbsDiff(pr.Q().Data, pe.Q().Data), 1e-5)
	assert.Less(t, maxAbsDiff(rr.Data, re.Data), 1e-5)
}

// Different projectors may refresh concurrently (the SVD workspaces are
// pooled); the results equal those of a sequential run.
func TestProjectorConcurrent(t *testing.T) {
	rng := newRNG(42)
	shapes := [][2]int{{30, 12}, {12, 30}, {20, 20}, {40, 9}}
	grads := make([][]Matrix, len(shapes))
	for i, sh := range shapes {
		for range 4 {
			grads[i] = append(grads[i], randn(rng, sh[0], sh[1]))
		}
	}
	run := func(i int) [][]float32 {
		rc := RandomizedConfig{Oversample: 2, PowerIters: 1, Seed: uint64(i)}
		cfg := ProjectorConfig{Rank: 3, UpdateGap: 1, Type: ProjFull}
		if i%2 == 1 {
			cfg.Randomized = &rc
		}
		p, err := NewProjector(shapes[i][0], shapes[i][1], cfg)
		if err != nil {
			panic(err)
		}
		var out [][]float32
		for _, g := range grads[i] {
			r := NewMatrix(p.LowRankShape())
			if err := p.Project(r, g); err != nil {
				panic(err)
			}
			out = append(out, r.Data)
		}
		return out
	}
	want := make([][][]float32, len(shapes))
	for i := range shapes {
		want[i] = run(i)
	}
	got := make([][][]float32, len(shapes))
	var wg sync.WaitGroup
	for i := range shapes {
		wg.Go(func() { got[i] = run(i) })
	}
	wg.Wait()
	assert.Equal(t, want, got)
}
