package optim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kiln-ml/kiln/autograd"
	"github.com/kiln-ml/kiln/lowrank"
	"github.com/kiln-ml/kiln/nn/safetensors"
)

// metaLowRankBase is the metadata key under which a low-rank optimizer
// records its base, so that the state of one base is not loaded into
// another with the same slot names (AdamHF and AdamTorch).
const metaLowRankBase = "optim.lowrank.base"

// Names of the tensors a low-rank optimizer adds to a projected parameter's
// state, after "<name>.".
const (
	keyProjStep = "projector.step" // int64 scalar: the projector's step
	keyProjP    = "projector.p"    // float32 rows x rank: left factor
	keyProjQ    = "projector.q"    // float32 rank x cols: right factor
	keyHistory  = "fisher_history" // float32 len x k: Natural GaLore's history, oldest first
	keyScaling  = "scaling_grad"   // float32 scalar: Fira's previous residual norm
)

// State returns a copy of the state. Beside "<name>.step" and the base's
// buffers ("<name>.exp_avg", ...; of the low-rank shape for a projected
// matrix), a projected matrix has "<name>.projector.step",
// "<name>.projector.p" and/or "<name>.projector.q" (the factors),
// "<name>.fisher_history" (Natural GaLore) and "<name>.scaling_grad" (Fira).
// Meta records the base optimizer.
func (o *LowRank) State() *StateDict {
	sd := &StateDict{Kind: o.kind, LR: o.lr, Tensors: map[string]safetensors.Tensor{}, Meta: map[string]string{metaLowRankBase: o.baseName}}
	for i := range o.slots {
		s := &o.slots[i]
		shape := s.v.Shape()
		m := o.mats[i]
		if m != nil {
			rr, rc := m.proj.LowRankShape()
			shape = []int{rr, rc}
		}
		sd.Tensors[s.key+".step"] = safetensors.I64([]int{}, []int64{s.st.Step})
		for k, name := range o.names {
			sd.Tensors[s.key+"."+name] = safetensors.F32(shape, s.st.Buf[k])
		}
		if m == nil {
			continue
		}
		ps := m.proj.State()
		sd.Tensors[s.key+"."+keyProjStep] = safetensors.I64([]int{}, []int64{int64(ps.Step)})
		if !ps.P.Empty() {
			sd.Tensors[s.key+"."+keyProjP] = safetensors.F32([]int{ps.P.Rows, ps.P.Cols}, ps.P.Data)
		}
		if !ps.Q.Empty() {
			sd.Tensors[s.key+"."+keyProjQ] = safetensors.F32([]int{ps.Q.Rows, ps.Q.Cols}, ps.Q.Data)
		}
		if m.fisher != nil {
			h := m.fisher.State().History
			sd.Tensors[s.key+"."+keyHistory] = safetensors.F32([]int{h.Rows, m.fisher.Dim()}, h.Data)
		}
		if o.fira {
			sd.Tensors[s.key+"."+keyScaling] = safetensors.F32([]int{}, []float32{m.prevNorm})
		}
	}
	return sd
}

// lowRankLoad is the parsed state of one parameter.
type lowRankLoad struct {
	step    int64
	bufs    [][]float32
	proj    lowrank.ProjectorState
	history lowrank.WoodburyState
	scaling float32
}

// LoadState replaces the state with sd after checking that it fits: same
// kind and base, and exactly the expected tensors with the expected shapes
// (so the same rank and projection type) and finite factors and history. On
// error nothing changes.
func (o *LowRank) LoadState(sd *StateDict) error {
	if sd == nil {
		return errors.New("optim.LoadState: nil state")
	}
	if sd.Kind != o.kind {
		return fmt.Errorf("optim.LoadState: the state is of a %q optimizer, this one is %q", sd.Kind, o.kind)
	}
	if b := sd.Meta[metaLowRankBase]; b != o.baseName {
		return fmt.Errorf("optim.LoadState: the %s state was written with base optimizer %q, this one runs %q", o.kind, b, o.baseName)
	}
	if !finite(sd.LR) || sd.LR < 0 {
		return fmt.Errorf("optim.LoadState: learning rate %v in the state must be finite and at least 0", sd.LR)
	}
	want := make(map[string]bool, len(sd.Tensors))
	var missing []string
	var errs []error
	get := func(key string) (safetensors.Tensor, bool) {
		want[key] = true
		t, ok := sd.Tensors[key]
		if !ok {
			missing = append(missing, key)
		}
		return t, ok
	}
	step := func(key string) int64 {
		t, ok := get(key)
		if !ok {
			return 0
		}
		v, err := stepValue(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return v
	}
	floats := func(key string, shape []int, checkFinite bool) []float32 {
		t, ok := get(key)
		if !ok {
			return nil
		}
		if !slices.Equal(t.Shape, shape) {
			errs = append(errs, fmt.Errorf("%s has shape %v, want %v", key, t.Shape, shape))
			return nil
		}
		v, err := t.Float32s()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return nil
		}
		if checkFinite && !allFinite(v) {
			errs = append(errs, fmt.Errorf("%s holds a NaN or an infinity", key))
			return nil
		}
		return v
	}
	loads := make([]lowRankLoad, len(o.slots))
	for i := range o.slots {
		s, m, ld := &o.slots[i], o.mats[i], &loads[i]
		shape := s.v.Shape()
		if m != nil {
			rr, rc := m.proj.LowRankShape()
			shape = []int{rr, rc}
		}
		ld.step = step(s.key + ".step")
		ld.bufs = make([][]float32, len(o.names))
		for k, name := range o.names {
			ld.bufs[k] = floats(s.key+"."+name, shape, false)
		}
		if m == nil {
			continue
		}
		ld.proj.Step = int(step(s.key + "." + keyProjStep))
		if p := m.proj.P(); !p.Empty() {
			ld.proj.P = lowrank.Matrix{Rows: p.Rows, Cols: p.Cols, Data: floats(s.key+"."+keyProjP, []int{p.Rows, p.Cols}, true)}
		}
		if q := m.proj.Q(); !q.Empty() {
			ld.proj.Q = lowrank.Matrix{Rows: q.Rows, Cols: q.Cols, Data: floats(s.key+"."+keyProjQ, []int{q.Rows, q.Cols}, true)}
		}
		if m.fisher != nil {
			key, dim, hist := s.key+"."+keyHistory, m.fisher.Dim(), m.fisher.History()
			if t, ok := get(key); ok {
				if len(t.Shape) != 2 || t.Shape[0] > hist || t.Shape[1] != dim {
					errs = append(errs, fmt.Errorf("%s has shape %v, want [n %d] with n at most the history length %d", key, t.Shape, dim, hist))
				} else if v := floats(key, t.Shape, true); v != nil {
					ld.history.History = lowrank.Matrix{Rows: t.Shape[0], Cols: dim, Data: v}
				}
			}
		}
		if o.fira {
			if v := floats(s.key+"."+keyScaling, []int{}, true); v != nil {
				ld.scaling = v[0]
			}
		}
	}
	errs = append(errs, keyErrors(missing, want, sd)...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("optim.LoadState: the %s state does not fit this optimizer: %w", o.kind, err)
	}
	// Everything is checked: the setters below cannot fail.
	for i := range o.slots {
		s, m, ld := &o.slots[i], o.mats[i], &loads[i]
		s.st.Step = ld.step
		for k := range o.names {
			copy(s.st.Buf[k], ld.bufs[k])
		}
		if m == nil {
			continue
		}
		if err := m.proj.SetState(ld.proj); err != nil {
			panic(fmt.Sprintf("optim.LoadState: checked projector state of %q rejected: %v", s.key, err))
		}
		if m.fisher != nil {
			if err := m.fisher.SetState(ld.history); err != nil {
				panic(fmt.Sprintf("optim.LoadState: checked history of %q rejected: %v", s.key, err))
			}
		}
		m.prevNorm = ld.scaling
	}
	o.lr = sd.LR
	return nil
}

// StateBytes returns the memory the state holds: the base's buffers and
// step counters, the projectors' factors and step counters, Natural GaLore's
// histories with their Gram matrices and solve buffers, and Fira's one
// float32 per matrix.
func (o *LowRank) StateBytes() int64 {
	n := o.base.StateBytes()
	for _, m := range o.mats {
		if m == nil {
			continue
		}
		n += int64(m.proj.StateBytes())
		if m.fisher != nil {
			n += int64(m.fisher.Bytes())
		}
		if o.fira {
			n += 4
		}
	}
	return n
}

// WorkspaceBytes returns the memory of the scratch buffers shared by all
// matrices (sized for the largest), which StateBytes does not count.
func (o *LowRank) WorkspaceBytes() int64 {
	w := &o.work
	n := 4 * (len(w.full) + len(w.r) + len(w.n) + len(w.phi) + len(w.oldP) + len(w.oldQ) + len(w.cl) + len(w.cr) + len(w.sq) + len(w.tmp))
	n += 8 * (len(w.colN) + len(w.colR) + cap(o.firaPass.out))
	return int64(n)
}

// LowRankStateBytes returns the optimizer-state memory in bytes that the
// formula of shared/specs/optimizers.md (§3.5, §4.3, §8) gives for the
// optimizer NewLowRank(kind, params, cfg) would build: for each projected
// m x n matrix at effective rank r, with b state buffers in the base (2 for
// Adam) and a low-rank gradient of k elements (m·r for a right projection,
// r·n for a left one, r² for both sides),
//
//	factors + b·k floats       (std: r·min(m, n) + b·r·max(m, n))
//	+ s·k floats               Natural GaLore's history, with s² float64 of
//	                           Gram matrix and s² + s of Cholesky system
//	+ 1 float                  Fira's previous residual norm
//
// and b floats per element of every other parameter, all as 4-byte floats,
// plus an 8-byte step counter per parameter and per projector.
func LowRankStateBytes(kind string, params []*autograd.Var, cfg LowRankConfig) (int64, error) {
	if !slices.Contains(LowRankKinds(), kind) {
		return 0, fmt.Errorf("optim.LowRankStateBytes: unknown kind %q (want one of galore, natural-galore, fira)", kind)
	}
	cfg, pt, err := cfg.resolve(kind)
	if err != nil {
		return 0, fmt.Errorf("optim.LowRankStateBytes: invalid config: %w", err)
	}
	b := int64(len(cfg.Base.Slots()))
	var total int64
	for _, p := range params {
		total += 8
		shape := p.Shape()
		if !cfg.Target(p) {
			total += 4 * b * int64(p.Value().Size())
			continue
		}
		if len(shape) != 2 {
			return 0, fmt.Errorf("optim.LowRankStateBytes: %w", notMatrix(p.Name(), shape))
		}
		m, n := int64(shape[0]), int64(shape[1])
		r := min(int64(cfg.Rank), m, n)
		var factors, k int64
		switch pt.SideFor(shape[0], shape[1]) {
		case lowrank.SideRight:
			factors, k = r*n, m*r
		case lowrank.SideLeft:
			factors, k = m*r, r*n
		default:
			factors, k = m*r+r*n, r*r
		}
		total += 4*(factors+b*k) + 8
		switch kind {
		case KindNaturalGaLore:
			s := int64(cfg.History)
			total += 4*s*k + 8*s*s + 8*(s*s+s)
		case KindFira:
			total += 4
		}
	}
	return total, nil
}
