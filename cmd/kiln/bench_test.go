package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kiln-ml/kiln/bench"
	"github.com/kiln-ml/kiln/kernels"
)

func TestParseSeeds(t *testing.T) {
	for in, want := range map[string][]uint64{
		"3":      {1, 2, 3},
		"1":      {1},
		"1,5,9":  {1, 5, 9},
		" 4-6 ":  {4, 5, 6},
		"7,":     {7},
		"10-10":  {10},
		"2, 3,4": {2, 3, 4},
	} {
		got, err := parseSeeds(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "x", "6-4", "1,x", ",", "-3"} {
		_, err := parseSeeds(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseBenchFlags(t *testing.T) {
	var out bytes.Buffer
	_, cfg, err := parseBenchFlags([]string{"--tasks", "gpt,logreg", "--optimizers", "adamw, lion", "--seeds", "2",
		"--steps-scale", "0.5", "--rank", "8", "--rerun"}, &out)
	require.NoError(t, err)
	assert.Equal(t, []string{"gpt", "logreg"}, cfg.Tasks)
	assert.Equal(t, []string{"adamw", "lion"}, cfg.Optimizers)
	assert.Equal(t, bench.ScheduleNames(), cfg.Schedules)
	assert.Equal(t, []uint64{1, 2}, cfg.Seeds)
	assert.Equal(t, 0.5, cfg.StepsScale)
	assert.Equal(t, 8, cfg.Rank)
	assert.True(t, cfg.Rerun)

	for _, args := range [][]string{{"--threads", "0"}, {"--seeds", "x"}, {"--sweep", "0"}, {"--evals", "0"}, {"extra"}, {"--nope"}} {
		_, _, err := parseBenchFlags(args, &out)
		assert.Error(t, err, "%v", args)
	}
}

func TestCommandLineQuotes(t *testing.T) {
	assert.Equal(t, `kiln bench --tasks mlp --out "my runs"`, commandLine([]string{"--tasks", "mlp", "--out", "my runs"}))
}

// TestBenchCommand runs a tiny suite through the command: it writes the
// summary, the curves and the plots, prints the tables and the claims, and
// a second invocation loads every run instead of running it.
func TestBenchCommand(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	out := t.TempDir()
	args := []string{"--tasks", "logreg-iso", "--optimizers", "adamw,lion", "--schedules", "cosine,linear",
		"--seeds", "2", "--sweep", "1", "--steps-scale", "0.1", "--evals", "3", "--threads", "1", "--out", out}
	var stdout, stderr bytes.Buffer
	require.NoError(t, benchMain(context.Background(), args, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "Lion matches AdamW with less optimizer memory")
	assert.Contains(t, stdout.String(), "| adamw | cosine |")
	assert.Contains(t, stderr.String(), "8 runs")
	for _, f := range []string{bench.SummaryMarkdownFile, bench.SummaryJSONFile, bench.CurvesCSVFile,
		filepath.Join(bench.PlotDir, "logreg-iso-optimizers-step.png"), filepath.Join(bench.PlotDir, "logreg-iso-optimizers-time.png")} {
		st, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
		assert.Positive(t, st.Size(), f)
	}
	md, err := os.ReadFile(filepath.Join(out, bench.SummaryMarkdownFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "kiln bench --tasks logreg-iso")
	entries, err := os.ReadDir(filepath.Join(out, "results"))
	require.NoError(t, err)
	assert.Len(t, entries, 8)

	stderr.Reset()
	stdout.Reset()
	require.NoError(t, benchMain(context.Background(), args, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "(0 runs run, 8 loaded)")

	stderr.Reset()
	require.NoError(t, benchMain(context.Background(), append(args, "--list"), &stdout, &stderr))
	assert.True(t, strings.HasPrefix(stderr.String(), "kiln bench: 8 runs"), stderr.String())
}

// TestBenchCommandInterrupted cancels the command before it starts and
// finds it reporting what is kept.
func TestBenchCommandInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := benchMain(ctx, []string{"--tasks", "logreg-iso", "--optimizers", "sgd", "--seeds", "1", "--sweep", "1",
		"--steps-scale", "0.1", "--out", t.TempDir()}, &stdout, &stderr)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, stderr.String(), "interrupted: 0 of 4 runs are finished")
}
