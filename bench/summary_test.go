package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fakeSteps = 100

// fakeResult makes a finished run with the given final validation loss and
// a validation curve falling from 5 to it, reaching it by step reach.
func fakeResult(task, opt, sched string, lr float64, seed uint64, final float64, state int64, reach int) *Result {
	spec := RunSpec{task, opt, sched, lr, seed}
	r := &Result{
		Key:      fmt.Sprintf("%s_%s_%s_%g_%d", task, opt, sched, lr, seed),
		Settings: Settings{Version: FormatVersion, Spec: spec, Budget: Budget{Steps: fakeSteps, Warmup: 10, EvalEvery: 10}},
		Steps:    fakeSteps, FinalVal: Float(final), FinalTrain: Float(final - 0.05), StateBytes: state,
		StepSeconds: 1e-3, PeakHeapBytes: 1 << 20, LiveHeapBytes: 1 << 19,
	}
	at := func(step int) float64 {
		if step >= reach {
			return final
		}
		return 5 + (final-5)*float64(step)/float64(reach)
	}
	for s := 1; s <= fakeSteps; s++ {
		r.Loss = append(r.Loss, at(s)+0.01)
		r.LR = append(r.LR, lr)
		r.GradNorm = append(r.GradNorm, 1)
		r.GradNormL1 = append(r.GradNormL1, 10)
		r.Seconds = append(r.Seconds, float64(s)*1e-3)
	}
	for s := 0; s <= fakeSteps; s += 10 {
		r.Val = append(r.Val, ValPoint{Step: s, Loss: Float(at(s)), Seconds: float64(s) * 1e-3})
	}
	if sched == "autolrs" {
		r.Stages = []Stage{{LR: 0.003, EndStep: 60}, {LR: 0.002, EndStep: 100}}
	}
	return r
}

var fakeSeeds = []uint64{1, 2, 3}

// fakeRows adds one result per seed with finals base[i] + delta[i].
func fakeRows(out *[]*Result, task, opt, sched string, lr float64, base, delta []float64, state int64, reach int) []float64 {
	vals := make([]float64, len(base))
	for i, s := range fakeSeeds {
		vals[i] = base[i] + delta[i]
		*out = append(*out, fakeResult(task, opt, sched, lr, s, vals[i], state, reach))
	}
	return vals
}

func TestCompareVerdicts(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		c             Comparison
		better, match Verdict
	}{
		{Comparison{Diff: -0.1, SE: 0.01}, Supported, Supported},
		{Comparison{Diff: 0.1, SE: 0.01}, NotSupported, NotSupported},
		{Comparison{Diff: 0.01, SE: 0.01}, Inconclusive, Supported},
		{Comparison{Diff: 0.05, SE: 0.01}, NotSupported, Inconclusive},
		{Comparison{Diff: math.Inf(1), SE: nan}, NotSupported, NotSupported},
		{Comparison{Diff: math.Inf(-1), SE: nan}, Supported, Supported},
		{Comparison{Diff: -0.1, SE: nan}, Inconclusive, Inconclusive},
	} {
		assert.Equal(t, c.better, c.c.Better(), "better %+v", c.c)
		assert.Equal(t, c.match, c.c.Matches(0.05), "matches %+v", c.c)
	}

	a := []float64{1.0, 2.0, 3.5}
	b := []float64{0.5, 1.0, 4.0}
	c := Compare([]uint64{1, 2, 3}, a, []uint64{2, 3, 4}, b)
	require.Equal(t, 2, c.N) // seeds 2 and 3: a−b = 2.0−0.5, 3.5−1.0
	d := []float64{a[1] - b[0], a[2] - b[1]}
	assert.InDelta(t, (d[0]+d[1])/2, c.Diff, 1e-12)
	assert.InDelta(t, math.Abs(d[0]-d[1])/math.Sqrt2/math.Sqrt2, c.SE, 1e-12)

	inf := math.Inf(1)
	assert.True(t, math.IsInf(Compare([]uint64{1, 2}, []float64{inf, 1}, []uint64{1, 2}, []float64{1, 1}).Diff, 1))
	assert.True(t, math.IsNaN(Compare([]uint64{1}, []float64{inf}, []uint64{1}, []float64{inf}).Diff), "both diverged")
	assert.True(t, math.IsNaN(Compare([]uint64{1}, []float64{1}, []uint64{2}, []float64{1}).Diff), "no shared seed")
}

func TestStat(t *testing.T) {
	xs := []float64{1, 2, 4}
	s := NewStat(xs)
	mean := (xs[0] + xs[1] + xs[2]) / 3
	assert.InDelta(t, mean, s.Mean, 1e-12)
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	assert.InDelta(t, math.Sqrt(ss/2), s.SD, 1e-12)
	assert.Equal(t, 3, s.N)
	assert.True(t, math.IsNaN(NewStat([]float64{1}).SD))
	assert.True(t, math.IsInf(NewStat([]float64{1, math.Inf(1)}).Mean, 1))
}

func TestSummarizePicksBestLR(t *testing.T) {
	var rs []*Result
	base := []float64{2.0, 2.1, 2.05}
	fakeRows(&rs, "x", "adamw", "cosine", 1e-3, base, []float64{0, 0, 0}, 100, 50)
	best := fakeRows(&rs, "x", "adamw", "cosine", 2e-3, base, []float64{-0.1, -0.12, -0.08}, 100, 50)
	fakeRows(&rs, "x", "adamw", "cosine", 4e-3, base, []float64{-0.5, -0.5, -0.5}, 100, 50)
	rs[len(rs)-1].Diverged, rs[len(rs)-1].FinalVal = true, Float(math.Inf(1)) // one seed of 4e-3 diverged
	// Linear decay is best at the low end of its sweep.
	fakeRows(&rs, "x", "adamw", "linear", 1e-3, base, []float64{-0.2, -0.2, -0.2}, 100, 50)
	fakeRows(&rs, "x", "adamw", "linear", 2e-3, base, []float64{0, 0, 0}, 100, 50)
	fakeRows(&rs, "x", "adamw", "linear", 4e-3, base, []float64{0.1, 0.1, 0.1}, 100, 50)

	rep := Summarize(rs, SummaryOptions{})
	cos := rep.Row("x", "adamw", "cosine")
	require.NotNil(t, cos)
	assert.Equal(t, 2e-3, cos.LR, "the diverged seed rules out 4e-3")
	assert.False(t, cos.LREdge)
	assert.Equal(t, fakeSeeds, cos.Seeds)
	assert.Equal(t, NewStat(best), cos.FinalVal)
	require.Len(t, cos.Sweep, 3)
	assert.Equal(t, 1, cos.Sweep[2].Diverged)
	assert.True(t, math.IsInf(cos.Sweep[2].Val.Mean, 1))

	lin := rep.Row("x", "adamw", "linear")
	require.NotNil(t, lin)
	assert.Equal(t, 1e-3, lin.LR)
	assert.True(t, lin.LREdge)
	assert.Contains(t, rep.TaskMarkdown("x"), "| adamw | linear | 0.001* |")
}

// claimResults is a synthetic suite whose numbers are built to give known
// verdicts.
func claimResults() []*Result {
	var rs []*Result
	adamw := fakeRows(&rs, "x", "adamw", "cosine", 1e-3, []float64{2.00, 2.02, 1.98}, []float64{0, 0, 0}, 1000, 50)
	// Lion: within 1% of AdamW, half the state: supported.
	fakeRows(&rs, "x", "lion", "cosine", 1e-4, adamw, []float64{0.001, 0.002, 0.0015}, 500, 50)
	// GaLore: 10% worse beyond noise: not supported.
	galore := fakeRows(&rs, "x", "galore", "cosine", 1e-2, adamw, []float64{0.2, 0.21, 0.19}, 300, 50)
	// Fira: better than GaLore on average but noisily: inconclusive.
	fakeRows(&rs, "x", "fira", "cosine", 1e-2, galore, []float64{-0.1, -0.3, 0.05}, 301, 50)
	// Natural GaLore: same end, reached much earlier: supported.
	fakeRows(&rs, "x", "natural-galore", "cosine", 1e-2, galore, []float64{0, 0, 0}, 2000, 20)
	// Linear decay: slightly better than cosine: supported.
	lin := fakeRows(&rs, "x", "adamw", "linear", 1e-3, adamw, []float64{-0.01, -0.012, -0.011}, 1000, 50)
	// Refined: worse than linear beyond noise: not supported.
	fakeRows(&rs, "x", "adamw", "refined", 1e-3, lin, []float64{0.05, 0.06, 0.055}, 1000, 50)
	// AutoLRS: better than the best fixed schedule (linear): supported.
	fakeRows(&rs, "x", "adamw", "autolrs", 0, lin, []float64{-0.1, -0.12, -0.11}, 1000, 50)

	// Task y: Lion matches AdamW's loss but holds more state: not supported.
	a := fakeRows(&rs, "y", "adamw", "cosine", 1e-3, []float64{1, 1.1, 1.2}, []float64{0, 0, 0}, 1000, 50)
	fakeRows(&rs, "y", "lion", "cosine", 1e-4, a, []float64{0, 0.001, -0.001}, 2000, 50)
	return rs
}

func TestClaimsFromSyntheticResults(t *testing.T) {
	rep := Summarize(claimResults(), SummaryOptions{Margin: 0.01, Seeds: fakeSeeds})
	got := map[string]Verdict{}
	for _, c := range rep.Claims {
		got[c.Task+"/"+c.ID] = c.Verdict
		assert.NotEmpty(t, c.Measured)
		assert.NotEmpty(t, c.Rule)
	}
	assert.Equal(t, map[string]Verdict{
		"x/lion":           Supported,
		"x/galore":         NotSupported,
		"x/fira":           Inconclusive,
		"x/natural-galore": Supported,
		"x/linear":         Supported,
		"x/refined":        NotSupported,
		"x/autolrs":        Supported,
		"y/lion":           NotSupported,
	}, got)

	tally := Tally(rep.Claims)
	require.Equal(t, "lion", tally[0].ID)
	assert.Equal(t, 1, tally[0].Supported)
	assert.Equal(t, 1, tally[0].NotSupported)

	md := rep.ClaimsMarkdown()
	for _, c := range rep.Claims {
		assert.Contains(t, md, c.Claim)
	}
	assert.Contains(t, md, "**inconclusive (within noise)**")
	auto := rep.Row("x", "adamw", "autolrs")
	require.NotNil(t, auto)
	assert.Equal(t, []float64{0.002, 0.002, 0.002}, auto.AutoLRSLRs)
}

func TestReportWrite(t *testing.T) {
	rs := claimResults()
	rep := Summarize(rs, SummaryOptions{Seeds: fakeSeeds})
	dir := t.TempDir()
	written, err := rep.Write(dir, MarkdownOptions{Command: "kiln bench --test", Environment: []string{"synthetic"}})
	require.NoError(t, err)

	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdownFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "`kiln bench --test`")
	assert.Contains(t, string(md), "### x")
	assert.Contains(t, string(md), "plots/x-optimizers-step.png")

	var summary struct {
		Command string  `json:"command"`
		Rows    []Row   `json:"rows"`
		Claims  []Claim `json:"claims"`
	}
	b, err := os.ReadFile(filepath.Join(dir, SummaryJSONFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &summary))
	assert.Equal(t, "kiln bench --test", summary.Command)
	assert.Len(t, summary.Rows, len(rep.Rows))
	assert.Len(t, summary.Claims, len(rep.Claims))

	f, err := os.Open(filepath.Join(dir, CurvesCSVFile))
	require.NoError(t, err)
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines++
	}
	want := 1 // header
	for _, r := range rs {
		want += len(r.Loss) + 1 // every step, and the validation at step 0
	}
	assert.Equal(t, want, lines)

	plots := 0
	for _, p := range written {
		if !strings.HasSuffix(p, ".png") {
			continue
		}
		plots++
		pf, err := os.Open(p)
		require.NoError(t, err)
		cfg, format, err := image.DecodeConfig(pf)
		pf.Close()
		require.NoError(t, err, p)
		assert.Equal(t, "png", format)
		assert.Greater(t, cfg.Width, 100)
	}
	assert.Equal(t, 3*len(rep.Tasks), plots, "three plots per task")
}

func TestValBandShadesAcrossSeeds(t *testing.T) {
	a := fakeResult("x", "adamw", "cosine", 1e-3, 1, 2, 0, 50)
	b := fakeResult("x", "adamw", "cosine", 1e-3, 2, 3, 0, 50)
	band := valBand("adamw", []*Result{a, b}, false)
	require.Len(t, band.X, len(a.Val))
	last := len(band.X) - 1
	assert.Equal(t, float64(fakeSteps), band.X[last])
	assert.InDelta(t, 2.5, band.Y[last], 1e-12)                // mean of 2 and 3
	assert.InDelta(t, math.Sqrt(0.5), band.Err[last], 1e-12)   // sd of 2 and 3
	assert.InDelta(t, 5, band.Y[0], 1e-12, "both start at 5")  // step 0
	assert.InDelta(t, 0, band.Err[0], 1e-12, "no spread at 0") // step 0

	// A diverged seed drops out of the later points.
	b.Val = b.Val[:3]
	band = valBand("adamw", []*Result{a, b}, true)
	require.Len(t, band.X, len(a.Val))
	assert.InDelta(t, 2, band.Y[last], 1e-12)
	assert.True(t, math.IsNaN(band.Err[last]))
	assert.InDelta(t, a.Val[last].Seconds, band.X[last], 1e-12)
}

func TestFloatJSONRoundTrip(t *testing.T) {
	in := Floats{0.1, -3e-300, math.NaN(), math.Inf(1), math.Inf(-1), 1.0 / 3}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Equal(t, `[0.1,-3e-300,"NaN","+Inf","-Inf",0.3333333333333333]`, string(b))
	var out Floats
	require.NoError(t, json.Unmarshal(b, &out))
	require.Len(t, out, len(in))
	for i := range in {
		assert.Equal(t, math.Float64bits(in[i]), math.Float64bits(out[i]), "element %d", i)
	}
	var f Float
	assert.Error(t, json.Unmarshal([]byte(`"many"`), &f))
}

func TestSweep(t *testing.T) {
	assert.Equal(t, []float64{0.004}, Sweep(0.004, 1))
	s := Sweep(0.004, 3)
	assert.Equal(t, []float64{0.002, 0.004, 0.008}, s)
	s5 := Sweep(3e-4, 5)
	require.Len(t, s5, 5)
	for i := 1; i < len(s5); i++ {
		assert.InDelta(t, 2, s5[i]/s5[i-1], 1e-3)
	}
	assert.InDelta(t, 3e-4, s5[2], 1e-12)
}
