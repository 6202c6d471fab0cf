package ports_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The throughput ratio moves with whatever else runs on the machine (the
// two phases run one after the other, and other load may come and go
// between them). The CPU each operation costs, counted over this process
// and its descendants only, does not: the benchmark reports it next to the
// rates. On a CPU-bound 2-core machine the throughput ratio approaches
// the inverse ratio of the CPU costs (pgbench-cpu-ms / redeem-cpu-ms).

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// treeCPU is the CPU time (user and system) used so far by this process
// and every descendant: the throwaway PostgreSQL cluster with its
// backends, and pgbench. Descendants that have exited and were waited for
// count through their parent's children times. ok is false where /proc
// cannot be read (not Linux); the CPU metrics are then left out.
func treeCPU() (cpu time.Duration, ok bool) {
	type proc struct {
		ppid  int
		ticks int64
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	procs := make(map[int]proc, len(dirs))
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The command name (field 2) may hold spaces; the fields after
		// its closing parenthesis are space separated.
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(raw[i+1:])
		// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		var ticks int64
		for _, s := range f[11:15] {
			n, _ := strconv.ParseInt(string(s), 10, 64)
			ticks += n
		}
		procs[pid] = proc{ppid: ppid, ticks: ticks}
	}
	self := os.Getpid()
	if _, found := procs[self]; !found {
		return 0, false
	}
	var ticks int64
	for pid, p := range procs {
		for q, hops := pid, 0; hops < 64; hops++ {
			if q == self {
				ticks += p.ticks
				break
			}
			up, found := procs[q]
			if !found || up.ppid == q {
				break
			}
			q = up.ppid
		}
	}
	return time.Duration(ticks) * clockTick, true
}

// cpuMeter measures the CPU used by this process tree between start and
// perOp.
type cpuMeter struct {
	at time.Duration
	ok bool
}

func startCPU() cpuMeter {
	at, ok := treeCPU()
	return cpuMeter{at: at, ok: ok}
}

// perOp is the CPU used since start per operation, in milliseconds.
func (m cpuMeter) perOp(ops float64) (float64, bool) {
	now, ok := treeCPU()
	if !m.ok || !ok || ops <= 0 {
		return 0, false
	}
	return float64((now - m.at).Microseconds()) / 1000 / ops, true
}
