//go:build !kilndebug

package tensor

const poisonDefault = false
