package lowrank

import (
	"fmt"
	"testing"
)

// benchShapes are the MLP weight shapes of a small GPT (d = 384).
var benchShapes = [][2]int{{384, 1536}, {1536, 384}}

var benchGradients = map[[2]int]Matrix{}

// benchGradient returns an m x n matrix with a decaying spectrum like a real
// gradient's, plus noise (built once per shape).
func benchGradient(m, n int) Matrix {
	if g, ok := benchGradients[[2]int{m, n}]; ok {
		return g
	}
	spec := geometric(min(m, n), 0.98)
	g := withSpectrum(newRNG(99), m, n, spec)
	noise := randn(newRNG(98), m, n)
	for i := range g.Data {
		g.Data[i] += 1e-3 * noise.Data[i]
	}
	benchGradients[[2]int{m, n}] = g
	return g
}

func BenchmarkSVD(b *testing.B) {
	for _, sh := range benchShapes {
		m, n := sh[0], sh[1]
		g := benchGradient(m, n)
		for _, r := range []int{64, 128} {
			side := ProjStd.SideFor(m, n)
			b.Run(fmt.Sprintf("exact/%dx%d/r%d", m, n, r), func(b *testing.B) {
				var d SVD
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d.Factorize(g, r, side); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("randomized/%dx%d/r%d", m, n, r), func(b *testing.B) {
				d, err := NewRandomizedSVD(DefaultRandomizedConfig())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d.Factorize(g, r, side, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkProjector(b *testing.B) {
	for _, sh := range benchShapes {
		m, n := sh[0], sh[1]
		g := benchGradient(m, n)
		for _, r := range []int{64, 128} {
			for _, typ := range []ProjType{ProjStd, ProjFull} {
				p, err := NewProjector(m, n, ProjectorConfig{Rank: r, Type: typ, UpdateGap: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				low := NewMatrix(p.LowRankShape())
				if err := p.Project(low, g); err != nil { // the refresh
					b.Fatal(err)
				}
				full := NewMatrix(m, n)
				name := fmt.Sprintf("%v/%dx%d/r%d", typ, m, n, r)
				b.Run("Project/"+name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if err := p.Project(low, g); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run("ProjectBack/"+name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						p.ProjectBack(full, low)
					}
				})
				b.Run("ProjectBackAdd/"+name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						p.ProjectBackAdd(full, -1e-3, low)
					}
				})
			}
		}
	}
}

func BenchmarkWoodburyPushApply(b *testing.B) {
	for _, k := range []int{384 * 128, 1536 * 128} {
		b.Run(fmt.Sprintf("k%d/s20", k), func(b *testing.B) {
			w, err := NewWoodbury(k, WoodburyConfig{})
			if err != nil {
				b.Fatal(err)
			}
			g := randVec(newRNG(97), k, 1)
			dst := make([]float32, k)
			for range 20 {
				if err := w.Push(g); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := w.PushApply(dst, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
