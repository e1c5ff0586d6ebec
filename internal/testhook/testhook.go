// Package testhook holds the failure-injection points that tests inside the
// module use to reach error paths a real system hits only by accident, such
// as a disk that fills up while a checkpoint is being written. Being
// internal, it is out of reach of programs outside the module; nothing in
// the module sets a hook outside its tests.
package testhook

import (
	"io"
	"sync/atomic"
)

var fileWriter atomic.Pointer[func(path string, w io.Writer) io.Writer]

// SetFileWriter makes FileWriter wrap writers with wrap until the returned
// function restores the previous hook. A nil wrap removes the hook.
func SetFileWriter(wrap func(path string, w io.Writer) io.Writer) (restore func()) {
	var p *func(string, io.Writer) io.Writer
	if wrap != nil {
		p = &wrap
	}
	old := fileWriter.Swap(p)
	return func() { fileWriter.Store(old) }
}

// FileWriter returns w, or w wrapped by the hook SetFileWriter installed.
// path is the file the bytes are meant for (its final name, not the
// temporary one).
func FileWriter(path string, w io.Writer) io.Writer {
	if p := fileWriter.Load(); p != nil {
		return (*p)(path, w)
	}
	return w
}
