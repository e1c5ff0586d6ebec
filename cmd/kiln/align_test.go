package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-ml/kiln/align"
	"github.com/kiln-ml/kiln/models/gpt"
	"github.com/kiln-ml/kiln/models/tokenizer"
	"github.com/kiln-ml/kiln/train"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAlignFlags(t *testing.T) {
	var out bytes.Buffer
	f, err := parseAlignFlags(nil, &out)
	require.NoError(t, err)
	assert.Equal(t, "sigmoid", f.loss)
	assert.Equal(t, "contains:light", f.rule)
	assert.False(t, f.ruleSet)
	f, err = parseAlignFlags([]string{"--loss", "kto", "--rule", "avoid:e", "--loss-options", "beta=0.2"}, &out)
	require.NoError(t, err)
	assert.True(t, f.ruleSet)

	cases := map[string][]string{
		`unknown loss "dpo"`:                     {"--loss", "dpo"},
		`unknown rule "rhymes"`:                  {"--rule", "rhymes"},
		`option "beta": want name=value`:         {"--loss-options", "beta"},
		"value is not a number":                  {"--loss-options", "beta=x"},
		"--steps 0 must be positive":             {"--steps", "0"},
		"--batch -1 must be positive":            {"--batch", "-1"},
		"need at least 2 samples per prompt":     {"--samples", "1"},
		"--lr -1 must be a positive number":      {"--lr", "-1"},
		"--eval-fraction 1 must be in [0, 1)":    {"--eval-fraction", "1"},
		"--rounds 5 exceeds --steps 4":           {"--rounds", "5", "--steps", "4"},
		"with --data the data is fixed":          {"--data", "x.jsonl", "--rounds", "2"},
		`--schedule "autolrs": want one of`:      {"--schedule", "autolrs"},
		`unexpected arguments ["extra"]`:         {"extra"},
		"--temperature 0 must be positive":       {"--temperature", "0"},
		"--report-samples 0 must be positive":    {"--report-samples", "0"},
		"must not be negative":                   {"--eval-pairs", "-1"},
		"--threads 0 must be positive":           {"--threads", "0"},
		"--tokens 0 must be positive":            {"--tokens", "0"},
		"--prompt-bytes 0 must be positive":      {"--prompt-bytes", "0"},
		"--pairs 0 must be positive":             {"--pairs", "0"},
		"--rounds 0 must be positive":            {"--rounds", "0"},
		"--samples 0: need at least 2 samples":   {"--samples", "0"},
		"--lr NaN must be a positive number":     {"--lr", "NaN"},
		"--temperature -1 must be positive":      {"--temperature", "-1"},
		"--eval-fraction -0.1 must be in [0, 1)": {"--eval-fraction", "-0.1"},
	}
	for msg, args := range cases {
		_, err := parseAlignFlags(args, &out)
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), msg, args)
	}
	out.Reset()
	_, err = parseAlignFlags([]string{"--no-such-flag"}, &out)
	assert.ErrorIs(t, err, errUsage)
	assert.Contains(t, out.String(), "flag provided but not defined")

	out.Reset()
	_, err = parseAlignFlags([]string{"-h"}, &out)
	assert.ErrorIs(t, err, errUsage)
	for _, name := range align.Names() {
		assert.Contains(t, out.String(), "\n  "+name+" ", "-h lists loss %s", name)
	}
	assert.Contains(t, out.String(), "contains:WORD")
	assert.Contains(t, out.String(), "-loss-options")
}

// writeTinyCheckpoint saves a small untrained model the way kiln train
// does, and a corpus to cut prompts from.
func writeTinyCheckpoint(t *testing.T) (ckpt, corpus string) {
	dir := t.TempDir()
	cfg := gpt.Config{Vocab: 256, Context: 32, Dim: 16, Layers: 1, Heads: 2}
	m, err := gpt.New(cfg, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	ckpt = filepath.Join(dir, "start.safetensors")
	require.NoError(t, (&train.Checkpoint{Params: m.Parameters(), Meta: modelMeta(cfg, tokenizer.ByteLevel{})}).Save(ckpt))
	var text strings.Builder
	words := strings.Fields("the light of the sun is made of rays which differ in colour and in refrangibility as the prism shows")
	rng := rand.New(rand.NewPCG(3, 4))
	for text.Len() < 40000 {
		text.WriteString(words[rng.IntN(len(words))])
		text.WriteByte(" \n"[rng.IntN(2)])
	}
	corpus = filepath.Join(dir, "corpus.txt")
	require.NoError(t, os.WriteFile(corpus, []byte(text.String()), 0o644))
	return ckpt, corpus
}

// TestRunAlign runs the command end to end on a small model: self-built
// pairs for a paired and an unpaired loss, then a JSONL file; the report
// and a checkpoint that opens as a model are written.
func TestRunAlign(t *testing.T) {
	ckpt, corpus := writeTinyCheckpoint(t)
	common := []string{"--checkpoint", ckpt, "--corpus", corpus, "--prompt-bytes", "12", "--tokens", "6", "--steps", "4",
		"--batch", "4", "--pairs", "8", "--eval-pairs", "4", "--eval-samples", "8", "--report-samples", "16", "--threads", "1"}
	for _, loss := range []string{"sigmoid", "kto", "npo_rt", "lipo", "simpo"} {
		out := filepath.Join(t.TempDir(), "run")
		require.NoError(t, runAlign(context.Background(), append(common, "--loss", loss, "--out", out, "--rule", "avoid:e")))
		raw, err := os.ReadFile(filepath.Join(out, "report.json"))
		require.NoError(t, err)
		var rep map[string]any
		require.NoError(t, json.Unmarshal(raw, &rep))
		assert.Equal(t, loss, rep["loss"])
		assert.Equal(t, 16.0, rep["before"].(map[string]any)["samples"])
		assert.Equal(t, 0.0, rep["before"].(map[string]any)["kl_per_token"], "the start model against itself")
		assert.FileExists(t, filepath.Join(out, "report.md"))
		m, _, _, err := openModel(filepath.Join(out, "checkpoint.safetensors"))
		require.NoError(t, err, "kiln generate can load the aligned model")
		assert.Equal(t, 32, m.Config.Context)
	}

	data := filepath.Join(t.TempDir(), "prefs.jsonl")
	require.NoError(t, os.WriteFile(data, []byte(strings.Repeat(`{"prompt": "the light ", "chosen": "of the sun", "rejected": "is made"}`+"\n", 10)), 0o644))
	out := filepath.Join(t.TempDir(), "file")
	require.NoError(t, runAlign(context.Background(), append(common, "--data", data, "--rounds", "1", "--loss", "ipo", "--out", out)))
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| model | KL to start", "with --data and no --rule only the KL is measured")
	assert.NotContains(t, string(md), "contains:light")

	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(`{"prompt": "a", "chosen": "b", "rejected": "c"}`+"\n"+`{"prompt": "a", "chosen": "", "rejected": "c"}`), 0o644))
	err = runAlign(context.Background(), append(common, "--data", bad, "--rounds", "1", "--out", t.TempDir()))
	assert.ErrorContains(t, err, `bad.jsonl:2: field "chosen": empty string`)
	err = runAlign(context.Background(), append(common, "--checkpoint", filepath.Join(t.TempDir(), "none"), "--out", t.TempDir()))
	assert.ErrorContains(t, err, "no such file")
	err = runAlign(context.Background(), append(common, "--prompt-bytes", "40", "--out", t.TempDir()))
	assert.ErrorContains(t, err, "--prompt-bytes 40 and --tokens 6 need 46 positions; the model's context is 32")
}
