//go:build amd64 && !purego

package kernels

// useAVX2Vec installs the AVX2+FMA elementwise, reduction, softmax, norm and
// optimizer-update kernels into p.
func useAVX2Vec(p *impl) {}
