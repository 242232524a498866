// The Go side of the scale benchmark (scripts/bench-scale): N goroutines each
// parked on one channel receive, woken by closing the channel, joined through
// a done channel; benches/scale.rs runs the same program on gort.
//
// Usage: scale N [--long]. Run it with GOMAXPROCS set; prints one line:
//
//	scale: side=go n=N procs=P spawn_park_s=S wake_join_s=W rss_before=B rss_after=A bytes_per_goroutine=X page_table_bytes_per_goroutine=T
//
// spawn+park runs from the first go statement until every goroutine has
// reported, just before its receive, and ten Gosched calls let the last ones
// reach it; RSS (from /proc/self/statm) is read then, and again before the
// spawning began, and so is the page-table memory (VmPTE), which RSS does
// not count. wake+join runs from close(ch) until the last goroutine
// has sent on done.
//
// With --long, the goroutines stay parked for longParkWait with two forced
// collections and a return of free memory to the OS around it (Go's stack
// shrinking runs in the collector), and the line adds long_wait_s and
// bytes_per_goroutine_long: RSS growth per goroutine then; wake_join_s is
// then the wake-up after that wait (benches/scale.rs --long is the gort side).
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

func rssBytes() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale: reading /proc/self/statm:", err)
		os.Exit(1)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		fmt.Fprintf(os.Stderr, "scale: unexpected /proc/self/statm: %q\n", data)
		os.Exit(1)
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scale: unexpected /proc/self/statm: %q\n", data)
		os.Exit(1)
	}
	return pages * uint64(os.Getpagesize())
}

// pageTableBytes reads VmPTE from /proc/self/status (0 if absent).
func pageTableBytes() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmPTE:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// How long --long keeps the goroutines parked.
const longParkWait = 3 * time.Second

func main() {
	long := len(os.Args) == 3 && os.Args[2] == "--long"
	if len(os.Args) != 2 && !long {
		fmt.Fprintln(os.Stderr, "usage: scale N [--long]")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "scale: N must be a positive integer, got %q\n", os.Args[1])
		os.Exit(2)
	}
	ch := make(chan struct{})
	done := make(chan struct{})
	var parked sync.WaitGroup
	// Warm up: one goroutine through the same path.
	parked.Add(1)
	go func() { parked.Done(); done <- struct{}{} }()
	parked.Wait()
	<-done
	runtime.GC()
	before := rssBytes()
	pteBefore := pageTableBytes()

	t0 := time.Now()
	parked.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-ch
			done <- struct{}{}
		}()
	}
	parked.Wait()
	for i := 0; i < 10; i++ {
		runtime.Gosched()
	}
	spawnPark := time.Since(t0)
	after := rssBytes()
	pte := int64(pageTableBytes()) - int64(pteBefore)
	longFields := ""
	if long {
		t := time.Now()
		runtime.GC()
		time.Sleep(longParkWait)
		runtime.GC()
		debug.FreeOSMemory()
		rss := rssBytes()
		longFields = fmt.Sprintf(" long_wait_s=%.3f bytes_per_goroutine_long=%.0f",
			time.Since(t).Seconds(), float64(int64(rss)-int64(before))/float64(n))
	}

	t1 := time.Now()
	close(ch)
	for i := 0; i < n; i++ {
		<-done
	}
	wakeJoin := time.Since(t1)

	per := float64(int64(after)-int64(before)) / float64(n)
	fmt.Printf("scale: side=go n=%d procs=%d spawn_park_s=%.6f wake_join_s=%.6f rss_before=%d rss_after=%d bytes_per_goroutine=%.0f page_table_bytes_per_goroutine=%.0f%s\n",
		n, runtime.GOMAXPROCS(0), spawnPark.Seconds(), wakeJoin.Seconds(), before, after, per, float64(pte)/float64(n), longFields)
}
