package lowrank

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The shared low-rank problem of the spec (§12): W₀ and three gradients.
var (
	sharedW0 = [][]float64{{0.5, -0.3}, {0.2, 0.8}, {-0.6, 0.1}}
	sharedG  = [][][]float64{
		{{0.3, -0.1}, {0.2, 0.4}, {-0.5, 0.2}},
		{{0.1, 0.2}, {-0.3, 0.1}, {0.2, -0.4}},
		{{-0.2, 0.3}, {0.1, -0.1}, {0.4, 0.2}},
	}
)

// lowRankRun configures refGaLore, a float64 reference of the GaLore-family
// optimizer step (spec §3.3, §4.1, §5.1) built on the float32 Projector and
// Woodbury. It exists to check the projector semantics (sides, refresh
// schedule, sign convention, scale, residual) against the optimizer-level
// golden values; the optimizer itself lives in package optim.
type lowRankRun struct {
	rank    int
	scale   float32
	gap     int
	eps     float64
	fira    bool
	natural bool
}

func tr(a [][]float64) [][]float64 {
	out := make([][]float64, len(a[0]))
	for j := range out {
		out[j] = make([]float64, len(a))
		for i := range a {
			out[j][i] = a[i][j]
		}
	}
	return out
}

// refGaLore returns W after each step; lr 0.01, betas (0.9, 0.999), wd 0.
func refGaLore(t *testing.T, w0 [][]float64, grads [][][]float64, o lowRankRun) [][][]float64 {
	t.Helper()
	const lr, b1, b2, gamma = 0.01, 0.9, 0.999, 1.01
	m, n := len(w0), len(w0[0])
	w := make([]float64, m*n)
	for i := range m {
		copy(w[i*n:], w0[i])
	}
	p, err := NewProjector(m, n, ProjectorConfig{Rank: o.rank, UpdateGap: o.gap, Scale: o.scale})
	require.NoError(t, err)
	rr, rc := p.LowRankShape()
	var fisher *Woodbury
	if o.natural {
		fisher, err = NewWoodbury(rr*rc, WoodburyConfig{})
		require.NoError(t, err)
	}
	mom, vel := make([]float64, rr*rc), make([]float64, rr*rc)
	prevNorm := -1.0
	var out [][][]float64
	for step, gv := range grads {
		g := fromRows(gv)
		r := NewMatrix(rr, rc)
		require.NoError(t, p.Project(r, g))
		in := r
		if o.natural {
			in = NewMatrix(rr, rc)
			require.NoError(t, fisher.PushApply(in.Data, r.Data))
		}
		nrm := NewMatrix(rr, rc)
		nf := make([]float64, rr*rc)
		for i, x := range in.Data {
			mom[i] = b1*mom[i] + (1-b1)*float64(x)
			vel[i] = b2*vel[i] + (1-b2)*float64(x)*float64(x)
			nf[i] = mom[i] / (math.Sqrt(vel[i]) + o.eps)
			nrm.Data[i] = float32(nf[i])
		}
		t1 := float64(step + 1)
		ss := lr * math.Sqrt(1-math.Pow(b2, t1)) / (1 - math.Pow(b1, t1))
		upd := NewMatrix(m, n)
		p.ProjectBack(upd, nrm)
		u := make([]float64, m*n)
		for i, x := range upd.Data {
			u[i] = float64(x)
		}
		if o.fira {
			e := clone(g)
			p.ProjectBackAdd(e, -1, r) // E = G − α·back(R)
			sg := make([]float64, m*n)
			if rr < rc { // one factor per column
				for j := range rc {
					nn, rn := 0.0, 0.0
					for i := range rr {
						nn += nf[i*rc+j] * nf[i*rc+j]
						rn += float64(r.Data[i*rc+j]) * float64(r.Data[i*rc+j])
					}
					phi := math.Sqrt(nn) / (math.Sqrt(rn) + 1e-8)
					for i := range m {
						sg[i*n+j] = float64(e.Data[i*n+j]) * phi
					}
				}
			} else { // one factor per row
				for i := range rr {
					nn, rn := 0.0, 0.0
					for j := range rc {
						nn += nf[i*rc+j] * nf[i*rc+j]
						rn += float64(r.Data[i*rc+j]) * float64(r.Data[i*rc+j])
					}
					phi := math.Sqrt(nn) / (math.Sqrt(rn) + 1e-8)
					for j := range n {
						sg[i*n+j] = float64(e.Data[i*n+j]) * phi
					}
				}
			}
			sn := 0.0
			for _, x := range sg {
				sn += x * x
			}
			sn = math.Sqrt(sn)
			if prevNorm >= 0 {
				lim := math.Max(sn/(prevNorm+1e-8), gamma) / gamma
				for i := range sg {
					sg[i] /= lim
				}
				sn /= lim
			}
			prevNorm = sn
			for i := range u {
				u[i] += sg[i]
			}
		}
		for i := range w {
			w[i] -= ss * u[i]
		}
		snap := make([][]float64, m)
		for i := range m {
			snap[i] = append([]float64(nil), w[i*n:(i+1)*n]...)
		}
		out = append(out, snap)
	}
	return out
}

// assertSteps compares the updates W_t − W₀ with the golden ones, relative to
// the largest golden update. The float32 inputs differ from the decimal ones
// by up to 3e-8 relative; spec §10.6 allows 1e-5 for float32.
func assertSteps(t *testing.T, name string, w0 [][]float64, got, want [][][]float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for s := range want {
		big := 0.0
		for i := range want[s] {
			for j := range want[s][i] {
				big = math.Max(big, math.Abs(want[s][i][j]-w0[i][j]))
			}
		}
		for i := range want[s] {
			for j := range want[s][i] {
				assert.InDelta(t, want[s][i][j]-w0[i][j], got[s][i][j]-w0[i][j], 1e-6*big, "%s step %d (%d,%d)", name, s+1, i, j)
			}
		}
	}
}

var goldenG4 = [][][]float64{
	{{0.49758807565, -0.299343212999}, {0.197588701795, 0.800656616497}, {-0.597587976655, 0.099343186042}},
	{{0.495739877894, -0.298839933424}, {0.198884710156, 0.800303702673}, {-0.597050215099, 0.0991967491109}},
	{{0.495653417372, -0.298816389507}, {0.199282097353, 0.800195490844}, {-0.597422434331, 0.0992981074944}},
}

func TestGoldenG4GaLore(t *testing.T) {
	o := lowRankRun{rank: 1, scale: 0.25, gap: 200, eps: 1e-6}
	assertSteps(t, "G4", sharedW0, refGaLore(t, sharedW0, sharedG, o), goldenG4)

	// G4b: the transposed problem (left projection) gives the transposes.
	var gt [][][]float64
	var want [][][]float64
	for s := range sharedG {
		gt = append(gt, tr(sharedG[s]))
		want = append(want, tr(goldenG4[s]))
	}
	assertSteps(t, "G4b", tr(sharedW0), refGaLore(t, tr(sharedW0), gt, o), want)

	// G4c: T = 2, refresh on steps 1 and 3 with moments carried: depends on the
	// sign convention "largest-|entry| positive".
	o.gap = 2
	want = [][][]float64{goldenG4[0], goldenG4[1],
		{{0.495121088432, -0.298926597948}, {0.199481952498, 0.800387349416}, {-0.597600093688, 0.0991197358956}}}
	assertSteps(t, "G4c", sharedW0, refGaLore(t, sharedW0, sharedG, o), want)

	// G4d: rank 2 (full), α 1, ε 0, one step: −η·sign(G₁Qᵀ)·Q, not Adam's −η·sign(G₁).
	o = lowRankRun{rank: 2, scale: 1, gap: 200, eps: 0}
	want = [][][]float64{{{0.492978747452, -0.287723925193}, {0.187723925193, 0.792978747452}, {-0.592978747452, 0.0877239251934}}}
	assertSteps(t, "G4d", sharedW0, refGaLore(t, sharedW0, sharedG[:1], o), want)
}

func TestGoldenG5Fira(t *testing.T) {
	o := lowRankRun{rank: 1, scale: 0.25, gap: 200, eps: 1e-6, fira: true}
	want := [][][]float64{
		{{0.490499283306, -0.29683309444}, {0.177249061151, 0.754498122925}, {-0.590654433336, 0.0962617733402}},
		{{0.473155982685, -0.331494182736}, {0.182330977874, 0.752804631132}, {-0.591068962863, 0.0989433607561}},
		{{0.473246815138, -0.331842725144}, {0.181783768871, 0.753930190849}, {-0.592920311454, 0.0980176864695}},
	}
	assertSteps(t, "G5", sharedW0, refGaLore(t, sharedW0, sharedG, o), want)
	o.scale = 1
	want = [][][]float64{
		{{0.490499283077, -0.296833094378}, {0.177249060327, 0.754498123149}, {-0.590654433201, 0.0962617733034}},
		{{0.473274448957, -0.330926269465}, {0.182355792204, 0.752802592666}, {-0.587862117331, 0.0980309654146}},
		{{0.472846518289, -0.331133548372}, {0.18419290629, 0.753278881434}, {-0.589713465955, 0.0971052911371}},
	}
	assertSteps(t, "G5b", sharedW0, refGaLore(t, sharedW0, sharedG, o), want)
}

func TestGoldenG6bNaturalGaLore(t *testing.T) {
	o := lowRankRun{rank: 1, scale: 0.25, gap: 200, eps: 1e-6, natural: true}
	want := [][][]float64{
		{{0.497587929414, -0.299343173178}, {0.197588176569, 0.80065675952}, {-0.597587890345, 0.0993431625389}},
		{{0.495257108813, -0.2987084714}, {0.199226416561, 0.800210653185}, {-0.596760994493, 0.0991179919416}},
		{{0.493314853182, -0.298179579086}, {0.198218360401, 0.800485155237}, {-0.598086510047, 0.0994789408184}},
	}
	assertSteps(t, "G6b", sharedW0, refGaLore(t, sharedW0, sharedG, o), want)
}
