package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// G8 of the spec: W = 10, T = 100, WSD decay D = 20.
func TestGoldenG8Schedules(t *testing.T) {
	cosine := Cosine{Warmup: 10, Total: 100, Floor: 0.1}
	hfLinear := LinearDecay{Warmup: 10, Total: 100}
	wsd := WSD{Warmup: 10, Total: 100, Decay: 20}
	linear := LinearDecay{Total: 100}
	for _, row := range []struct {
		step                        int
		cosine, hfLinear, wsd, line float64
	}{
		{0, 0, 0, 0, 1},
		{1, 0.1, 0.1, 0.1, 0.99},
		{5, 0.5, 0.5, 0.5, 0.95},
		{10, 1, 1, 1, 0.9},
		{55, 0.55, 0.5, 1, 0.45},
		{99, 0.100274127841, 0.0111111111111, 0.05, 0.01},
		{100, 0.1, 0, 0, 0},
	} {
		assert.InDelta(t, row.cosine, cosine.Factor(row.step), 1e-11, "cosine at %d", row.step)
		assert.InDelta(t, row.hfLinear, hfLinear.Factor(row.step), 1e-11, "linear with warm-up at %d", row.step)
		assert.InDelta(t, row.wsd, wsd.Factor(row.step), 1e-11, "wsd at %d", row.step)
		assert.InDelta(t, row.line, linear.Factor(row.step), 1e-11, "linear at %d", row.step)
	}
}

func TestSchedulesAfterTheEnd(t *testing.T) {
	assert.Equal(t, 0.1, Cosine{Warmup: 10, Total: 100, Floor: 0.1}.Factor(150), "cosine stays at its floor")
	assert.Equal(t, 0.0, LinearDecay{Total: 100}.Factor(101))
	assert.Equal(t, 0.2, LinearDecay{Total: 100, Floor: 0.2}.Factor(500))
	assert.Equal(t, 0.0, WSD{Total: 100, Decay: 10}.Factor(120))
	assert.Equal(t, 1.0, Constant{}.Factor(1e9))
	assert.Equal(t, 0.25, Constant{Warmup: 4}.Factor(1))
	assert.Panics(t, func() { Constant{}.Factor(-1) })
}

func TestWSDCooldownShapes(t *testing.T) {
	for _, tc := range []struct {
		shape Cooldown
		mid   float64 // halfway through the decay
	}{
		{CooldownLinear, 0.5},
		{CooldownCosine, 0.5},
		{CooldownSqrt, 1 - math.Sqrt(0.5)},
	} {
		s := WSD{Total: 100, Decay: 40, Shape: tc.shape, Floor: 0.1}
		assert.Equal(t, 1.0, s.Factor(60), tc.shape.String())
		assert.InDelta(t, 0.1+0.9*tc.mid, s.Factor(80), 1e-12, tc.shape.String())
		assert.InDelta(t, 0.1, s.Factor(100), 1e-12, tc.shape.String())
	}
	assert.Equal(t, "Cooldown(7)", Cooldown(7).String())
}

func TestScheduleValidation(t *testing.T) {
	for _, tc := range []struct {
		make func() (Schedule, error)
		want string
	}{
		{func() (Schedule, error) { return NewConstant(-1) }, "warm-up steps -1 must not be negative"},
		{func() (Schedule, error) { return NewCosine(0, 0, 0) }, "total steps 0 must be at least 1"},
		{func() (Schedule, error) { return NewCosine(100, 101, 0) }, "warm-up steps 101 must be in [0, total steps 100]"},
		{func() (Schedule, error) { return NewCosine(100, 10, 1.5) }, "floor 1.5 must be in [0, 1]"},
		{func() (Schedule, error) { return NewLinearDecay(100, 10, -0.1) }, "floor -0.1"},
		{func() (Schedule, error) { return NewWSD(100, 10, 95, CooldownLinear, 0) }, "decay steps 95 must be in [0, total−warmup] = [0, 90]"},
		{func() (Schedule, error) { return NewWSD(100, 10, 10, Cooldown(9), 0) }, "unknown cooldown shape 9"},
		{func() (Schedule, error) { return ParseSchedule("step", 100, 0, ScheduleOptions{}) }, `unknown schedule "step"`},
		{func() (Schedule, error) { return ParseSchedule("refined", 100, 0, ScheduleOptions{}) }, "needs the gradient norms of at least 2 steps, have 0"},
		{func() (Schedule, error) {
			return ParseSchedule("refined", 100, -2, ScheduleOptions{Norms: []float64{1, 1}})
		}, "warm-up steps -2"},
	} {
		_, err := tc.make()
		assert.ErrorContains(t, err, tc.want)
	}
}

func TestParseSchedule(t *testing.T) {
	for _, name := range ScheduleNames() {
		s, err := ParseSchedule(name, 100, 10, ScheduleOptions{Norms: []float64{3, 2, 1, 1}})
		require.NoError(t, err, name)
		assert.Equal(t, 0.0, s.Factor(0), "%s starts its warm-up at 0", name)
		assert.Positive(t, s.Factor(10), name)
		for step := range 120 {
			require.True(t, s.Factor(step) >= 0 && s.Factor(step) <= 1, "%s at %d: %v", name, step, s.Factor(step))
		}
	}
	s, err := ParseSchedule("wsd", 100, 10, ScheduleOptions{})
	require.NoError(t, err)
	assert.Equal(t, WSD{Warmup: 10, Total: 100, Decay: 20}, s, "wsd decays over the last fifth by default")
	s, err = ParseSchedule("cosine", 100, 10, ScheduleOptions{Floor: 0.1})
	require.NoError(t, err)
	assert.Equal(t, Cosine{Warmup: 10, Total: 100, Floor: 0.1}, s)
	s, err = ParseSchedule("constant", 100, 0, ScheduleOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1.0, s.Factor(0))
}

func TestThenAndProduct(t *testing.T) {
	// A warm-up, then a cosine over the remaining steps, is GaLore's cosine.
	galore := Cosine{Warmup: 10, Total: 100, Floor: 0.1}
	composed := Then(Constant{Warmup: 10}, 10, Cosine{Total: 90, Floor: 0.1})
	for step := range 120 {
		assert.InDelta(t, galore.Factor(step), composed.Factor(step), 1e-15, "step %d", step)
	}
	p := Product(Constant{Warmup: 4}, LinearDecay{Total: 8})
	assert.Equal(t, 0.0, p.Factor(0))
	assert.InDelta(t, 0.5*0.75, p.Factor(2), 1e-15)
	assert.InDelta(t, 0.5, p.Factor(4), 1e-15)
	assert.Panics(t, func() { Then(Constant{}, -1, Constant{}) })
}
