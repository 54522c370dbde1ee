// Package examples runs the documentation's shell examples against the dev
// stack that `make run` starts, as a reader would paste them, and checks the
// documented webhook body against what that stack really sends (issue 16:
// "Examples that run"). docs/development.md, "Examples that run", explains
// the markers that say which blocks run and why the others do not.
package examples
