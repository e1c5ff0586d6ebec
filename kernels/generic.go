package kernels

// genericImpl is the portable path: plain Go, used with -tags purego, with
// KILN_KERNELS=generic, and for every kernel a faster path does not replace.
var genericImpl = impl{
	name:                  "generic",
	gemm:                  gemmGeneric,
	add:                   addGeneric,
	sub:                   subGeneric,
	mul:                   mulGeneric,
	div:                   divGeneric,
	scale:                 scaleGeneric,
	axpy:                  axpyGeneric,
	sum:                   sumGeneric,
	dot:                   dotGeneric,
	maxVal:                maxGeneric,
	exp:                   expGeneric,
	tanh:                  tanhGeneric,
	sigmoid:               sigmoidGeneric,
	gelu:                  geluGeneric,
	geluBackward:          geluBackwardGeneric,
	softmaxRow:            softmaxRowGeneric,
	logSoftmaxRow:         logSoftmaxRowGeneric,
	softmaxRowBackward:    softmaxRowBackwardGeneric,
	logSoftmaxRowBackward: logSoftmaxRowBackwardGeneric,
	layerNormRow:          layerNormRowGeneric,
	rmsNormRow:            rmsNormRowGeneric,
	adamW:                 adamWGeneric,
	sgd:                   sgdGeneric,
	normBackward:          &genericNormBackward,
	lion:                  lionGeneric,
}
