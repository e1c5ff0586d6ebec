package train

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/kernels"
	"github.com/kiln-ml/kiln/models/data"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/optim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullRun is a complete run (AdamW, dropout, clipping, a schedule,
// evaluation and checkpoints) on shapes large enough that the kernels split
// their work: the logits are [128 x 256], the AdamW updates of the
// embeddings span two blocks.
type fullRun struct {
	params  [][]float32
	records []Record
	ckpt    []byte
	res     Result
}

func runFull(t *testing.T, threads int) fullRun {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(threads)

	text := strings.Repeat("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ", 30)
	ids := make([]int, len(text))
	for i := range text {
		ids[i] = int(text[i])
	}
	trainIDs, valIDs, err := data.Split(ids, 0.1)
	require.NoError(t, err)
	ds := &data.Dataset{Train: trainIDs, Val: valIDs, VocabSize: 256}
	m, err := gpt.New(gpt.Config{Vocab: 256, Context: 32, Dim: 96, Layers: 1, Heads: 4, Dropout: 0.1}, rand.New(rand.NewPCG(11, 12)))
	require.NoError(t, err)
	opt, err := optim.New("adamw", m.Parameters(), 3e-3, 0.1)
	require.NoError(t, err)
	dir := t.TempDir()
	tr, err := New(Config{Steps: 6, Batch: 4, Context: 32, LR: 3e-3, Schedule: optim.LinearDecay{Warmup: 2, Total: 6},
		ClipNorm: 0.5, EvalEvery: 3, EvalBatches: 2, OutDir: dir, Seed: 13}, m, opt, ds)
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)

	var out fullRun
	for _, p := range m.Parameters() {
		out.params = append(out.params, append([]float32(nil), p.Value().Contiguous().Data()...))
	}
	recs, err := ReadMetrics(tr.MetricsPath())
	require.NoError(t, err)
	out.records = stripTiming(recs)
	out.ckpt, err = os.ReadFile(tr.CheckpointPath())
	require.NoError(t, err)
	res.Elapsed, res.TokensPerSec = 0, 0
	out.res = res
	return out
}

// TestRunIsIndependentOfThreads checks that a whole run gives bitwise the
// same weights, metrics and checkpoint on one thread as on two.
func TestRunIsIndependentOfThreads(t *testing.T) {
	one := runFull(t, 1)
	two := runFull(t, 2)
	require.Len(t, two.params, len(one.params))
	for i := range one.params {
		for j := range one.params[i] {
			if math.Float32bits(one.params[i][j]) != math.Float32bits(two.params[i][j]) {
				t.Fatalf("parameter %d element %d: %v on one thread, %v on two", i, j, one.params[i][j], two.params[i][j])
			}
		}
	}
	require.Len(t, one.records, 6)
	assert.NotNil(t, one.records[2].ValLoss, "step 3 evaluated")
	assert.Equal(t, one.records, two.records)
	assert.Equal(t, one.res, two.res)
	assert.True(t, string(one.ckpt) == string(two.ckpt), "the checkpoints differ")
}
