// Package benchgo holds the Go side of scripts/bench-vs-go: the same work as
// gort's criterion benches (benches/*.rs), measured with Go 1.23's runtime.
//
// Each benchmark has sub-benchmarks trace=off and trace=on (runtime/trace
// writing into io.Discard). GOMAXPROCS comes from go test's -cpu flag.
package benchgo

import (
	"io"
	"iter"
	"runtime"
	"runtime/trace"
	"sync"
	"testing"
)

// withTrace runs body as sub-benchmarks trace=off and trace=on; trace.Start
// and trace.Stop stay outside the timing.
func withTrace(b *testing.B, body func(b *testing.B)) {
	b.Run("trace=off", body)
	b.Run("trace=on", func(b *testing.B) {
		b.StopTimer()
		if err := trace.Start(io.Discard); err != nil {
			b.Fatalf("trace.Start: %v", err)
		}
		b.StartTimer()
		body(b)
		b.StopTimer()
		trace.Stop()
	})
}

func naturals(yield func(uint64) bool) {
	for i := uint64(0); yield(i); i++ {
	}
}

var sink uint64

// BenchmarkPullNext: next() round trip of iter.Pull on an endless sequence
// (gort: switch/pull_next, pull/next).
func BenchmarkPullNext(b *testing.B) {
	withTrace(b, func(b *testing.B) {
		next, stop := iter.Pull(naturals)
		defer stop()
		next()
		b.ResetTimer()
		var s uint64
		for i := 0; i < b.N; i++ {
			v, _ := next()
			s += v
		}
		b.StopTimer()
		sink = s
	})
}

// BenchmarkPullCreateNextStop: iter.Pull, one next, stop
// (gort: pull/create_next_stop).
func BenchmarkPullCreateNextStop(b *testing.B) {
	withTrace(b, func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			start := uint64(i)
			next, stop := iter.Pull(func(yield func(uint64) bool) {
				for v := start; yield(v); v++ {
				}
			})
			if v, ok := next(); !ok || v != start {
				b.Fatalf("first next: got %d, %v", v, ok)
			}
			stop()
		}
	})
}

// BenchmarkSpawnWait: go f() and wait for it, one goroutine at a time
// (gort: spawn/spawn_join, go + join).
func BenchmarkSpawnWait(b *testing.B) {
	withTrace(b, func(b *testing.B) {
		var wg sync.WaitGroup
		for i := 0; i < b.N; i++ {
			wg.Add(1)
			go func() { wg.Done() }()
			wg.Wait()
		}
	})
}

// BenchmarkPingPong: round trip over two unbuffered channels
// (gort: chan/pingpong_unbuffered).
func BenchmarkPingPong(b *testing.B) {
	withTrace(b, func(b *testing.B) {
		toB, toA := make(chan uint64), make(chan uint64)
		done := make(chan struct{})
		go func() {
			for v := range toB {
				toA <- v
			}
			close(done)
		}()
		for i := 0; i < b.N; i++ {
			toB <- uint64(i)
			if v := <-toA; v != uint64(i) {
				b.Fatalf("echo: got %d, want %d", v, i)
			}
		}
		close(toB)
		<-done
	})
}

// BenchmarkGosched: two goroutines each call runtime.Gosched b.N times;
// one op is one Gosched of each (gort: chan/yield_round_trip).
func BenchmarkGosched(b *testing.B) {
	withTrace(b, func(b *testing.B) {
		n := b.N
		done := make(chan struct{})
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			close(done)
		}()
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		<-done
	})
}

// BenchmarkSelectReady: a value put on a buffered channel, then a select
// over it and an empty channel (gort: select/ready_of_two).
func BenchmarkSelectReady(b *testing.B) {
	a, c := make(chan uint64, 1), make(chan uint64, 1)
	for i := 0; i < b.N; i++ {
		a <- uint64(i)
		select {
		case v := <-a:
			sink = v
		case v := <-c:
			sink = v
		}
	}
}

// BenchmarkSelectBlocking: an echo goroutine blocked in a select over two
// channels, woken by a send on one, answering on a third (gort:
// select/blocking_wake). The answer channel holds one value, so that the
// echo is back in its select before the benchmark's next send (unbuffered,
// at GOMAXPROCS=1 the next send would find the echo still answering and its
// select would find that sender waiting, never blocking).
func BenchmarkSelectBlocking(b *testing.B) {
	a, c, reply := make(chan uint64), make(chan uint64), make(chan uint64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case v, ok := <-a:
				if !ok {
					return
				}
				reply <- v
			case <-c:
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		a <- uint64(i)
		if v := <-reply; v != uint64(i) {
			b.Fatalf("echo: got %d, want %d", v, i)
		}
	}
	close(a)
	<-done
}
