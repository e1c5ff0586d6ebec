//go:build !race

package optim

// lrRace reports a race-detector build, where sync.Pool drops items on
// purpose and allocation counts mean nothing.
const lrRace = false
