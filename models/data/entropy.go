package data

import (
	"fmt"
	"math"
	"slices"
)

// UnigramEntropy returns the entropy, in nats per token, of the token
// frequencies in tokens: the average loss of a model that predicts every
// token from its overall frequency and ignores context. It is 0 for an
// empty or constant sequence.
func UnigramEntropy(tokens []int) float64 {
	if len(tokens) == 0 {
		return 0
	}
	// H = ln n - (1/n) sum_c c ln c, summed in a fixed order so the result
	// does not depend on map iteration.
	counts := countTokens(tokens)
	n := float64(len(tokens))
	var s float64
	for _, c := range counts {
		s += c * math.Log(c)
	}
	return math.Max(0, math.Log(n)-s/n)
}

// countTokens returns the count of each distinct id, ordered by id.
func countTokens(tokens []int) []float64 {
	m := make(map[int]int)
	for _, t := range tokens {
		m[t]++
	}
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	counts := make([]float64, len(ids))
	for i, id := range ids {
		counts[i] = float64(m[id])
	}
	return counts
}

// UnigramCrossEntropy returns the loss, in nats per token, on val of the
// unigram model estimated from train with add-one smoothing over a
// vocabulary of vocab ids: the validation loss a model would reach by
// learning token frequencies alone. Every id must be in [0, vocab).
func UnigramCrossEntropy(train, val []int, vocab int) (float64, error) {
	if vocab < 1 {
		return 0, fmt.Errorf("data: vocabulary size %d; expected at least 1", vocab)
	}
	if len(val) == 0 {
		return 0, fmt.Errorf("data: no validation tokens to measure")
	}
	counts := make([]float64, vocab)
	for i, t := range train {
		if t < 0 || t >= vocab {
			return 0, fmt.Errorf("data: training token %d is id %d, outside the vocabulary [0, %d)", i, t, vocab)
		}
		counts[t]++
	}
	logTotal := math.Log(float64(len(train) + vocab))
	var s float64
	for i, t := range val {
		if t < 0 || t >= vocab {
			return 0, fmt.Errorf("data: validation token %d is id %d, outside the vocabulary [0, %d)", i, t, vocab)
		}
		s += logTotal - math.Log(counts[t]+1)
	}
	return s / float64(len(val)), nil
}
