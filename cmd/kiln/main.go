// Command kiln trains, aligns, benchmarks and samples small language models
// on the CPU.
//
//	kiln train      train a GPT on a text corpus (default: a book that ships with Go)
//	kiln generate   continue a prompt with a trained model
//	kiln align      align a trained model with a preference loss (DPO, IPO, SimPO, ...)
//	kiln bench      compare optimizers and schedules on small tasks
//
// Run "kiln COMMAND -h" for a command's flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kiln-ml/kiln/kernels"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

func usage() {
	fmt.Fprintf(os.Stderr, "kiln: train, align, benchmark and sample small language models on the CPU.\n\nUsage: kiln COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'kiln COMMAND -h' for a command's flags. Kernels: %s on %s.\n", kernels.Path(), kernels.CPU())
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			err := c.run(ctx, os.Args[2:])
			if err == nil {
				return
			}
			if errors.Is(err, errUsage) {
				os.Exit(2)
			}
			fmt.Fprintf(os.Stderr, "kiln %s: %v\n", c.name, err)
			if errors.Is(err, context.Canceled) {
				os.Exit(130)
			}
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "kiln: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

// errUsage reports that flag parsing failed and the flag package already
// said why.
var errUsage = errors.New("usage")
