package benchgo

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes(b *testing.B) uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatalf("reading /proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		b.Fatalf("unexpected /proc/self/statm: %q", data)
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		b.Fatalf("unexpected /proc/self/statm: %q", data)
	}
	return pages * uint64(os.Getpagesize())
}

// parkedGoroutines is the number of goroutines BenchmarkMemParked parks.
const parkedGoroutines = 100_000

// BenchmarkMemParked parks 100,000 goroutines on one channel and reports
// (RSS after - RSS before) / 100,000 as B/goroutine (gort: the mem_parked
// bench). Run it with -benchtime=1x.
func BenchmarkMemParked(b *testing.B) {
	var perG float64
	for iter := 0; iter < b.N; iter++ {
		ch := make(chan struct{})
		var parked, done sync.WaitGroup
		runtime.GC()
		before := rssBytes(b)
		parked.Add(parkedGoroutines)
		done.Add(parkedGoroutines)
		for i := 0; i < parkedGoroutines; i++ {
			go func() {
				parked.Done()
				<-ch
				done.Done()
			}()
		}
		parked.Wait()
		for i := 0; i < 10; i++ {
			runtime.Gosched()
		}
		after := rssBytes(b)
		close(ch)
		done.Wait()
		perG = float64(int64(after)-int64(before)) / parkedGoroutines
	}
	b.ReportMetric(perG, "B/goroutine")
}
