package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a run's progress: a bar with ETA on a terminal, a line
// every few seconds otherwise (logs, CI).
type progress struct {
	bar      *progressbar.ProgressBar
	w        io.Writer
	total    int
	last     time.Time
	interval time.Duration
}

func newProgress(total, done int, what string) *progress {
	p := &progress{w: os.Stderr, total: total, interval: 10 * time.Second}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("steps"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetRenderBlankState(true),
		)
		if done > 0 {
			p.bar.Set(done)
		}
	}
	return p
}

// update moves the bar to step and shows the status text.
func (p *progress) update(step int, status string) {
	if p.bar != nil {
		p.bar.Describe(status)
		p.bar.Set(step)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= p.interval || step == p.total {
		p.last = now
		fmt.Fprintf(p.w, "step %d/%d  %s\n", step, p.total, status)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
}
