package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Record is one line of a run's metrics (JSONL): a training step, with the
// validation loss on steps that evaluated.
type Record struct {
	Step         int                `json:"step"`               // steps done, counting this one
	Loss         float64            `json:"loss"`               // training loss of this step's batch
	ValLoss      *float64           `json:"val_loss,omitempty"` // validation loss, on evaluation steps
	LR           float64            `json:"lr"`                 // learning rate used by this step
	GradNorm     float64            `json:"grad_norm"`          // global l2 gradient norm before clipping
	GradNormL1   float64            `json:"grad_norm_l1"`       // global l1 gradient norm before clipping
	Skipped      bool               `json:"skipped,omitempty"`  // the step was skipped (non-finite gradients)
	Tokens       int64              `json:"tokens"`             // training tokens seen so far
	TokensPerSec float64            `json:"tokens_per_sec"`     // throughput over the last logging interval
	Elapsed      float64            `json:"elapsed_sec"`        // wall time since the run (or resume) started
	Extra        map[string]float64 `json:"extra,omitempty"`    // anything a callback adds
}

// recordJSON is Record as written: non-finite numbers become null.
type recordJSON struct {
	Step         int                `json:"step"`
	Loss         *float64           `json:"loss"`
	ValLoss      *float64           `json:"val_loss,omitempty"`
	LR           float64            `json:"lr"`
	GradNorm     *float64           `json:"grad_norm"`
	GradNormL1   *float64           `json:"grad_norm_l1"`
	Skipped      bool               `json:"skipped,omitempty"`
	Tokens       int64              `json:"tokens"`
	TokensPerSec float64            `json:"tokens_per_sec"`
	Elapsed      float64            `json:"elapsed_sec"`
	Extra        map[string]float64 `json:"extra,omitempty"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes non-finite losses and norms as null, so that a diverged
// run still produces valid JSON.
func (r Record) MarshalJSON() ([]byte, error) {
	var val *float64
	if r.ValLoss != nil {
		val = finite(*r.ValLoss)
	}
	return json.Marshal(recordJSON{r.Step, finite(r.Loss), val, r.LR, finite(r.GradNorm), finite(r.GradNormL1), r.Skipped,
		r.Tokens, r.TokensPerSec, r.Elapsed, r.Extra})
}

// UnmarshalJSON reads what MarshalJSON writes; null becomes NaN.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Record{Step: j.Step, Loss: orNaN(j.Loss), ValLoss: j.ValLoss, LR: j.LR, GradNorm: orNaN(j.GradNorm), GradNormL1: orNaN(j.GradNormL1),
		Skipped: j.Skipped, Tokens: j.Tokens, TokensPerSec: j.TokensPerSec, Elapsed: j.Elapsed, Extra: j.Extra}
	return nil
}

// MetricsWriter appends Records to a JSONL file.
type MetricsWriter struct {
	f *os.File
	w *bufio.Writer
}

// OpenMetrics opens path for appending, first dropping records after step
// keep (those of an interrupted run past its last checkpoint), so a resumed
// run's file reads as if it had never stopped. keep < 0 starts a new file.
func OpenMetrics(path string, keep int) (*MetricsWriter, error) {
	if keep < 0 {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("train: metrics file: %w", err)
		}
		return &MetricsWriter{f: f, w: bufio.NewWriter(f)}, nil
	}
	recs, err := ReadMetrics(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var buf bytes.Buffer
	for _, r := range recs {
		if r.Step > keep {
			break
		}
		b, _ := json.Marshal(r)
		buf.Write(append(b, '\n'))
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("train: metrics file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: metrics file: %w", err)
	}
	return &MetricsWriter{f: f, w: bufio.NewWriter(f)}, nil
}

// Write appends one record.
func (m *MetricsWriter) Write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	m.w.Write(b)
	return m.w.WriteByte('\n')
}

// Flush writes buffered records to the file.
func (m *MetricsWriter) Flush() error { return m.w.Flush() }

// Close flushes and closes the file.
func (m *MetricsWriter) Close() error {
	err := m.w.Flush()
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadMetrics reads a JSONL metrics file. A torn last line (a crash while
// writing) is ignored; a malformed line elsewhere is an error naming it.
func ReadMetrics(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeMetrics(f)
}

// DecodeMetrics reads JSONL records from r, as ReadMetrics.
func DecodeMetrics(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var out []Record
	var pending error
	line := 0
	for sc.Scan() {
		line++
		if pending != nil {
			return nil, pending
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			pending = fmt.Errorf("train: metrics line %d: %w", line, err)
			continue
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}
