//go:build !race

package optim

// raceEnabled reports a build with the race detector.
const raceEnabled = false
