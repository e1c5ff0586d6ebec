// Package data turns a text corpus into batches of token ids for training a
// language model.
//
// Load reads a corpus (by default Isaac Newton's Opticks, which every Go
// installation ships as GOROOT/src/testdata/Isaac.Newton-Opticks.txt),
// tokenizes it and splits it into a training part and a validation part at
// its end. A Sampler draws random training windows from a seeded PCG whose
// state can be saved and restored, so a resumed run sees the same batches it
// would have seen without the interruption. A Sequential iterator walks the
// validation part in fixed windows for evaluation. UnigramEntropy gives the
// loss of a model that knows only token frequencies, the baseline a trained
// model must beat.
//
//	ds, err := data.Load("", tokenizer.ByteLevel{}, 0.1)
//	s, err := data.NewSampler(ds.Train, 8, 64, rand.NewPCG(1, 2))
//	var b data.Batch
//	s.NextInto(&b) // b.X, b.Y: 8 rows of 64 ids, Y is X shifted by one
package data
