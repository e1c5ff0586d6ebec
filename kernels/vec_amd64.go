//go:build amd64 && !purego

package kernels

import "math"

// useAVX2Vec installs the AVX2+FMA elementwise, reduction, softmax, norm and
// optimizer-update kernels into p.
func useAVX2Vec(p *impl) {
	p.add = addAVX2
	p.sub = subAVX2
	p.mul = mulAVX2
	p.div = divAVX2
	p.scale = scaleAVX2
	p.axpy = axpyAVX2
	p.sum = sumAVX2
	p.dot = dotAVX2
	p.maxVal = maxAVX2
	p.exp = expAVX2
	p.tanh = tanhAVX2
	p.sigmoid = sigmoidAVX2
	p.gelu = geluAVX2
	p.geluBackward = geluBackwardAVX2
	p.softmaxRow = softmaxRowAVX2
	p.logSoftmaxRow = logSoftmaxRowAVX2
	p.softmaxRowBackward = softmaxRowBackwardAVX2
	p.logSoftmaxRowBackward = logSoftmaxRowBackwardAVX2
	p.layerNormRow = layerNormRowAVX2
	p.rmsNormRow = rmsNormRowAVX2
	p.adamW = adamWAVX2Go
	p.lion = lionAVX2Go
	p.sgd = sgdAVX2Go
	p.normBackward = &normBackwardKernels{
		layerNormRow: layerNormBackwardRowAVX2,
		rmsNormRow:   rmsNormBackwardRowAVX2,
		accDev:       accDevAVX2,
		add:          addAVX2,
	}
}

// The assembly in vec_amd64.s. Every slice argument must be at least as long
// as the first one (the callers reslice or check).

//go:noescape
func addAVX2(dst, a, b []float32)

//go:noescape
func subAVX2(dst, a, b []float32)

//go:noescape
func mulAVX2(dst, a, b []float32)

//go:noescape
func divAVX2(dst, a, b []float32)

//go:noescape
func scaleAVX2(dst, a []float32, s float32)

//go:noescape
func axpyAVX2(dst []float32, alpha float32, x []float32)

//go:noescape
func sumAVX2(a []float32) float32

//go:noescape
func dotAVX2(a, b []float32) float32

//go:noescape
func maxAVX2(a []float32) float32

//go:noescape
func expAVX2(dst, a []float32)

//go:noescape
func tanhAVX2(dst, a []float32)

//go:noescape
func sigmoidAVX2(dst, a []float32)

//go:noescape
func geluAVX2(dst, a []float32)

//go:noescape
func geluBackwardAVX2(dx, x, dy []float32)

//go:noescape
func expSubSumAVX2(dst, src []float32, m float32) float32

//go:noescape
func sumExpSubAVX2(src []float32, m float32) float32

//go:noescape
func subSubAVX2(dst, src []float32, a, b float32)

//go:noescape
func mulSubAVX2(dst, y, dy []float32, s float32)

//go:noescape
func expMulSubAVX2(dst, y, dy []float32, s float32)

//go:noescape
func sumSqDevAVX2(x []float32, m float32) float32

//go:noescape
func normAVX2(dst, x []float32, m, r float32)

//go:noescape
func normGammaAVX2(dst, x, gamma []float32, m, r float32)

//go:noescape
func normAffineAVX2(dst, x, gamma, beta []float32, m, r float32)

//go:noescape
func lnBackSumsAVX2(dy, x, gamma []float32, m float32) (sg, sgx float32)

//go:noescape
func lnBackSumsNoGammaAVX2(dy, x []float32, m float32) (sg, sgx float32)

//go:noescape
func lnBackDxAVX2(dx, dy, x, gamma []float32, m, s, a, b float32)

//go:noescape
func lnBackDxNoGammaAVX2(dx, dy, x []float32, m, s, a, b float32)

//go:noescape
func accDevAVX2(acc, dy, x []float32, m, s float32)

//go:noescape
func dotGammaAVX2(dy, gamma, x []float32) float32

//go:noescape
func rmsBackDxAVX2(dx, dy, x, gamma []float32, s, k float32)

//go:noescape
func rmsBackDxNoGammaAVX2(dx, dy, x []float32, s, k float32)

//go:noescape
func adamWAVX2(p, g, m, v []float32, c *[9]float32)

//go:noescape
func adamWDecayAfterAVX2(p, g, m, v []float32, c *[10]float32)

//go:noescape
func lionAVX2(p, g, m []float32, c *[6]float32)

// The SGD kernels, one per option, all with c = 1-dampening; see
// sgdAVX2Kernels.

//go:noescape
func sgdAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdMomentumFirstAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdMomentumFirstNesterovAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdMomentumAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdMomentumNesterovAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdDecayAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdDecayMomentumFirstAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdDecayMomentumFirstNesterovAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdDecayMomentumAVX2(p, g, b []float32, lr, wd, mu, c float32)

//go:noescape
func sgdDecayMomentumNesterovAVX2(p, g, b []float32, lr, wd, mu, c float32)

func softmaxRowAVX2(dst, src []float32) {
	src = src[:len(dst)]
	if len(dst) == 0 {
		return
	}
	m := maxAVX2(src)
	s := expSubSumAVX2(dst, src, m)
	scaleAVX2(dst, dst, 1/s)
}

func logSoftmaxRowAVX2(dst, src []float32) {
	src = src[:len(dst)]
	if len(dst) == 0 {
		return
	}
	m := maxAVX2(src)
	s := sumExpSubAVX2(src, m)
	subSubAVX2(dst, src, m, float32(math.Log(float64(s))))
}

func softmaxRowBackwardAVX2(dx, y, dy []float32) {
	y, dy = y[:len(dx)], dy[:len(dx)]
	mulSubAVX2(dx, y, dy, dotAVX2(dy, y))
}

func logSoftmaxRowBackwardAVX2(dx, y, dy []float32) {
	y, dy = y[:len(dx)], dy[:len(dx)]
	expMulSubAVX2(dx, y, dy, sumAVX2(dy))
}

func layerNormRowAVX2(dst, x, gamma, beta []float32, eps float32) (float32, float32) {
	x = x[:len(dst)]
	n := float32(len(x))
	mean := sumAVX2(x) / n
	ss := sumSqDevAVX2(x, mean)
	rstd := float32(1 / math.Sqrt(float64(ss/n)+float64(eps)))
	switch {
	case gamma != nil && beta != nil:
		normAffineAVX2(dst, x, gamma[:len(x)], beta[:len(x)], mean, rstd)
	case gamma != nil:
		normGammaAVX2(dst, x, gamma[:len(x)], mean, rstd)
	default:
		normAVX2(dst, x, mean, rstd)
		if beta != nil {
			addAVX2(dst, dst, beta[:len(x)])
		}
	}
	return mean, rstd
}

func rmsNormRowAVX2(dst, x, gamma []float32, eps float32) float32 {
	x = x[:len(dst)]
	ss := dotAVX2(x, x)
	rstd := float32(1 / math.Sqrt(float64(ss)/float64(len(x))+float64(eps)))
	if gamma != nil {
		normGammaAVX2(dst, x, gamma[:len(x)], 0, rstd)
	} else {
		scaleAVX2(dst, x, rstd)
	}
	return rstd
}

func layerNormBackwardRowAVX2(dx, dy, x, gamma []float32, mean, rstd float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	n := float32(len(dx))
	var sg, sgx float32
	if gamma != nil {
		gamma = gamma[:len(dx)]
		sg, sgx = lnBackSumsAVX2(dy, x, gamma, mean)
	} else {
		sg, sgx = lnBackSumsNoGammaAVX2(dy, x, mean)
	}
	a, b := sg/n, sgx*rstd/n
	if gamma != nil {
		lnBackDxAVX2(dx, dy, x, gamma, mean, rstd, a, b)
	} else {
		lnBackDxNoGammaAVX2(dx, dy, x, mean, rstd, a, b)
	}
}

func rmsNormBackwardRowAVX2(dx, dy, x, gamma []float32, rstd float32) {
	dy, x = dy[:len(dx)], x[:len(dx)]
	var dot float32
	if gamma != nil {
		gamma = gamma[:len(dx)]
		dot = dotGammaAVX2(dy, gamma, x)
	} else {
		dot = dotAVX2(dy, x)
	}
	k := dot * rstd * rstd / float32(len(dx))
	if gamma != nil {
		rmsBackDxAVX2(dx, dy, x, gamma, rstd, k)
	} else {
		rmsBackDxNoGammaAVX2(dx, dy, x, rstd, k)
	}
}

func adamWAVX2Go(p, g, m, v []float32, h AdamWParams) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	if h.DecayAfter != 0 {
		c := [10]float32{h.Beta1, h.OneMinusBeta1, h.Beta2, h.OneMinusBeta2, h.Eps, h.StepSize, h.DenomScale, h.DecayPre, h.DecayPost, h.DecayAfter}
		adamWDecayAfterAVX2(p, g, m, v, &c)
		return
	}
	c := [9]float32{h.Beta1, h.OneMinusBeta1, h.Beta2, h.OneMinusBeta2, h.Eps, h.StepSize, h.DenomScale, h.DecayPre, h.DecayPost}
	adamWAVX2(p, g, m, v, &c)
}

func lionAVX2Go(p, g, m []float32, h LionParams) {
	g, m = g[:len(p)], m[:len(p)]
	c := [6]float32{h.LR, h.Beta1, h.OneMinusBeta1, h.Beta2, h.OneMinusBeta2, h.Decay}
	lionAVX2(p, g, m, &c)
}

// sgdAVX2Kernels are the SGD kernels by [weight decay][no momentum, first
// step, later step][Nesterov]. Without momentum there is no Nesterov form.
var sgdAVX2Kernels = [2][3][2]func(p, g, b []float32, lr, wd, mu, c float32){
	{
		{sgdAVX2, sgdAVX2},
		{sgdMomentumFirstAVX2, sgdMomentumFirstNesterovAVX2},
		{sgdMomentumAVX2, sgdMomentumNesterovAVX2},
	},
	{
		{sgdDecayAVX2, sgdDecayAVX2},
		{sgdDecayMomentumFirstAVX2, sgdDecayMomentumFirstNesterovAVX2},
		{sgdDecayMomentumAVX2, sgdDecayMomentumNesterovAVX2},
	},
}

func sgdAVX2Go(p, g, b []float32, h SGDParams) {
	g = g[:len(p)]
	decay, mode, nesterov := 0, 0, 0
	if h.WeightDecay != 0 {
		decay = 1
	}
	if h.Momentum != 0 {
		b = b[:len(p)]
		mode = 2
		if h.First {
			mode = 1
		}
		if h.Nesterov {
			nesterov = 1
		}
	}
	sgdAVX2Kernels[decay][mode][nesterov](p, g, b, h.LR, h.WeightDecay, h.Momentum, h.OneMinusDampening)
}
